// Strided N-d copy with element conversion, and fills: the GPU side of contiguous(), to(dtype),
// copy_ and fill_. One thread per destination element, grid-stride; the source index is
// recovered from the flat logical index with the layout's shape (up to 8 dimensions).
#include "kernels/cuda/compat.cuh"
#include "kernels/cuda/grid.cuh"

#define PW_LAUNCHER_NS PW_KERNEL_NS
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

namespace pw::kernels::PW_KERNEL_NS {

namespace {

constexpr int kThreads = 256;

// I: the index type, int when every index fits in 32 bits (fits_int32, grid.cuh), so that the
// per-dimension division and remainder are 32-bit ones, not 64-bit sequences; int64_t else.
// The offsets computed, hence the copy, are the same either way.
template <typename S, typename D, typename I>
__global__ void copy_strided_kernel(const S* __restrict__ src, D* __restrict__ dst, StridedLayout l, int64_t n64) {
  const I n = (I)n64;
  for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
    I rem = i, so = 0, dof = 0;
    for (int d = l.ndim - 1; d >= 0; --d) {
      const I extent = (I)l.shape[d], k = rem % extent;
      rem /= extent;
      so += k * (I)l.src_strides[d];
      dof += k * (I)l.dst_strides[d];
    }
    dst[dof] = static_cast<D>(src[so]);
  }
}

template <typename T>
__global__ void fill_kernel(T* __restrict__ dst, int64_t n, T value) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    dst[i] = value;
}

template <typename S, typename D>
void launch_copy(const void* src, void* dst, const StridedLayout& l, int64_t n) {
  const S* s = static_cast<const S*>(src);
  D* d = static_cast<D*>(dst);
  if (fits_int32(l, n)) {
    PW_LAUNCH((copy_strided_kernel<S, D, int>), grid_blocks(n, kThreads), kThreads, 0, 0)(s, d, l, n);
  } else {
    PW_LAUNCH((copy_strided_kernel<S, D, int64_t>), grid_blocks(n, kThreads), kThreads, 0, 0)(s, d, l, n);
  }
  PW_CUDA_CHECK_LAUNCH();
}

template <typename S>
void launch_copy_from(const void* src, ElemType dt, void* dst, const StridedLayout& l, int64_t n) {
  switch (dt) {
    case ElemType::f32: launch_copy<S, float>(src, dst, l, n); break;
    case ElemType::f64: launch_copy<S, double>(src, dst, l, n); break;
    case ElemType::i32: launch_copy<S, int32_t>(src, dst, l, n); break;
  }
}

}  // namespace

void copy_strided(Tag, const void* src, ElemType st, void* dst, ElemType dt, const StridedLayout& l) {
  int64_t n = 1;
  for (int d = 0; d < l.ndim; ++d) n *= l.shape[d];
  if (n == 0) return;
  switch (st) {
    case ElemType::f32: launch_copy_from<float>(src, dt, dst, l, n); break;
    case ElemType::f64: launch_copy_from<double>(src, dt, dst, l, n); break;
    case ElemType::i32: launch_copy_from<int32_t>(src, dt, dst, l, n); break;
  }
}

void fill(Tag, void* dst, ElemType type, int64_t n, double value) {
  if (n == 0) return;
  switch (type) {
    case ElemType::f32:
      PW_LAUNCH(fill_kernel<float>, grid_blocks(n, kThreads), kThreads, 0, 0)
      (static_cast<float*>(dst), n, (float)value);
      break;
    case ElemType::f64:
      PW_LAUNCH(fill_kernel<double>, grid_blocks(n, kThreads), kThreads, 0, 0)(static_cast<double*>(dst), n, value);
      break;
    case ElemType::i32:
      PW_LAUNCH(fill_kernel<int32_t>, grid_blocks(n, kThreads), kThreads, 0, 0)
      (static_cast<int32_t*>(dst), n, (int32_t)value);
      break;
  }
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace pw::kernels::PW_KERNEL_NS
