// The tensor-core instructions for kernel files (after kernels/cuda/compat.cuh): warp-level
// mma.sync (TF32 m16n8k8 and BF16 m16n8k16 with FP32 accumulate), ldmatrix (.x1/.x2/.x4, .trans),
// cp.async (4/8/16 bytes, .ca/.cg, with zero-fill) with commit/wait_group, and the conversions
// to TF32 (cvt.rna) and BF16 (cvt.rn). Under nvcc they are inline PTX, for sm_80 and later
// (#if PW_ARCH_SM >= 800; older architectures trap); under simt the same names come from
// kernels/simt/mma.h, which emulates them from the PTX ISA's fragment tables (and checks that
// all 32 lanes take part, that addresses are aligned, and makes data read before its
// cp.async completed visible as NaN). So a kernel calls them unqualified in both builds:
//
//   uint32_t a[4], b[2];  float acc[4];
//   ldmatrix_x4(a, &As[row][col]);            // this lane's row address, 16-byte aligned
//   mma_tf32_m16n8k8(acc, a, b, acc);         // D = A B + C, d may alias c
//   cp_async_cg_16(&S[i], &G[j], src_bytes);  // src_bytes < 16: the rest zero-filled
//   cp_async_commit();  cp_async_wait<1>();   // all but the newest group complete
//
// Fragment layouts (groupID g = lane / 4, t = lane % 4): see kernels/simt/mma.cpp, where the
// tables are written once as index formulas.
#pragma once
#include <cstdint>

#include "kernels/cuda/compat.cuh"

#ifdef __CUDACC__
namespace pw::kernels::PW_KERNEL_NS {

// Shared-memory address of a generic pointer, as ldmatrix and cp.async take it.
__device__ __forceinline__ unsigned smem_address(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

__device__ __forceinline__ uint32_t cvt_tf32(float x) {
#if PW_ARCH_SM >= 800
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
#else
  return __float_as_uint(x);
#endif
}

__device__ __forceinline__ uint32_t cvt_bf16x2(float lo, float hi) {
#if PW_ARCH_SM >= 800
  uint32_t r;
  asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));  // the first source goes high
  return r;
#else
  __trap();
  return 0;
#endif
}

__device__ __forceinline__ void mma_tf32_m16n8k8(float* d, const uint32_t* a, const uint32_t* b, const float* c) {
#if PW_ARCH_SM >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%10, %11, %12, %13};"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
#else
  __trap();
#endif
}

__device__ __forceinline__ void mma_bf16_m16n8k16(float* d, const uint32_t* a, const uint32_t* b, const float* c) {
#if PW_ARCH_SM >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%10, %11, %12, %13};"
      : "=f"(d[0]), "=f"(d[1]), "=f"(d[2]), "=f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]), "f"(c[0]), "f"(c[1]), "f"(c[2]), "f"(c[3]));
#else
  __trap();
#endif
}

__device__ __forceinline__ void ldmatrix_x1(uint32_t* r, const void* row) {
#if PW_ARCH_SM >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];" : "=r"(r[0]) : "r"(smem_address(row)));
#else
  __trap();
#endif
}
__device__ __forceinline__ void ldmatrix_x2(uint32_t* r, const void* row) {
#if PW_ARCH_SM >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(smem_address(row)));
#else
  __trap();
#endif
}
__device__ __forceinline__ void ldmatrix_x4(uint32_t* r, const void* row) {
#if PW_ARCH_SM >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_address(row)));
#else
  __trap();
#endif
}
__device__ __forceinline__ void ldmatrix_x1_trans(uint32_t* r, const void* row) {
#if PW_ARCH_SM >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];" : "=r"(r[0]) : "r"(smem_address(row)));
#else
  __trap();
#endif
}
__device__ __forceinline__ void ldmatrix_x2_trans(uint32_t* r, const void* row) {
#if PW_ARCH_SM >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(smem_address(row)));
#else
  __trap();
#endif
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t* r, const void* row) {
#if PW_ARCH_SM >= 800
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_address(row)));
#else
  __trap();
#endif
}

// cp.async with a source size: bytes past src_bytes are zero-filled (0 reads nothing).
__device__ __forceinline__ void cp_async_cg_16(void* smem, const void* gmem, int src_bytes = 16) {
#if PW_ARCH_SM >= 800
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(smem_address(smem)), "l"(gmem), "r"(src_bytes)
               : "memory");
#else
  __trap();
#endif
}
__device__ __forceinline__ void cp_async_ca_16(void* smem, const void* gmem, int src_bytes = 16) {
#if PW_ARCH_SM >= 800
  asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;" ::"r"(smem_address(smem)), "l"(gmem), "r"(src_bytes)
               : "memory");
#else
  __trap();
#endif
}
__device__ __forceinline__ void cp_async_ca_8(void* smem, const void* gmem, int src_bytes = 8) {
#if PW_ARCH_SM >= 800
  asm volatile("cp.async.ca.shared.global [%0], [%1], 8, %2;" ::"r"(smem_address(smem)), "l"(gmem), "r"(src_bytes)
               : "memory");
#else
  __trap();
#endif
}
__device__ __forceinline__ void cp_async_ca_4(void* smem, const void* gmem, int src_bytes = 4) {
#if PW_ARCH_SM >= 800
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(smem_address(smem)), "l"(gmem), "r"(src_bytes)
               : "memory");
#else
  __trap();
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if PW_ARCH_SM >= 800
  asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if PW_ARCH_SM >= 800
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
#endif
}

}  // namespace pw::kernels::PW_KERNEL_NS
#endif  // __CUDACC__ (the simt build takes these names from kernels/simt/mma.h)
