// The SGEMM's micro-kernels, their blocking, and the choice between them at run time.
//
//   avx512  12 x 32: 24 zmm accumulators, 2 zmm of B and one broadcast of A per k step (27 of 32
//           registers), 24 FMAs per 14 loads. KC = 256 (B micro-panel 32 KiB in a 48 KiB L1d),
//           MC = 240 (A block 240 KiB in L2), NC = 4096 (B block 4 MiB in L3).
//   avx2    6 x 16: 12 ymm accumulators, 2 ymm of B and one broadcast (15 of 16 registers), 12
//           FMAs per 8 loads. KC = 256 (16 KiB B micro-panel), MC = 144, NC = 4080: sized for
//           Zen 3 (32 KiB L1d, 512 KiB L2 per core).
//   portable  the avx2 tile in plain loops, for CPUs without AVX2/FMA (an order of magnitude slower).
//
// Both vector kernels are compiled on every x86-64 build through target attributes and chosen at
// run time (the widest the CPU has, or PW_GEMM_KERNEL), so a build without -march=native
// (PW_NATIVE=OFF) still runs them, and tests run every kernel the CPU supports.
#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "kernels/cpu/gemm_blocking.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PW_GEMM_X86 1
#define PW_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define PW_TARGET_AVX512 __attribute__((target("avx512f")))
#endif

namespace pw::kernels::cpu {
namespace gemm_detail {
namespace {

#ifdef PW_GEMM_X86
// kStream: C is written past the caches (non-temporal stores, rows 32-byte aligned) and not read:
// beta is 0 (micro_stream in gemm_blocking.h).
template <bool kStream>
PW_TARGET_AVX2 inline void store_row8x2(float* row, __m256 x0, __m256 x1, __m256 va, float beta) {
  x0 = _mm256_mul_ps(x0, va);
  x1 = _mm256_mul_ps(x1, va);
  if constexpr (kStream) {
    _mm256_stream_ps(row, x0);
    _mm256_stream_ps(row + 8, x1);
    return;
  }
  if (beta != 0.f) {
    const __m256 vb = _mm256_set1_ps(beta);
    x0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row), x0);
    x1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(row + 8), x1);
  }
  _mm256_storeu_ps(row, x0);
  _mm256_storeu_ps(row + 8, x1);
}

template <bool kStream>
PW_TARGET_AVX2 void micro_avx2(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                               float beta) {
  constexpr int64_t MR = 6, NR = 16;
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  // C is touched only after the k loop: start fetching its rows now (not when it is only written).
  if constexpr (!kStream)
    for (int64_t i = 0; i < MR; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
#define PW_ROW(r)                                 \
  {                                               \
    const __m256 ar = _mm256_broadcast_ss(a + r); \
    c##r##0 = _mm256_fmadd_ps(ar, b0, c##r##0);   \
    c##r##1 = _mm256_fmadd_ps(ar, b1, c##r##1);   \
  }
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; ++p) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    PW_ROW(0) PW_ROW(1) PW_ROW(2) PW_ROW(3) PW_ROW(4) PW_ROW(5) a += MR;
    b += NR;
  }
#undef PW_ROW
  const __m256 va = _mm256_set1_ps(alpha);
  store_row8x2<kStream>(c + 0 * ldc, c00, c01, va, beta);
  store_row8x2<kStream>(c + 1 * ldc, c10, c11, va, beta);
  store_row8x2<kStream>(c + 2 * ldc, c20, c21, va, beta);
  store_row8x2<kStream>(c + 3 * ldc, c30, c31, va, beta);
  store_row8x2<kStream>(c + 4 * ldc, c40, c41, va, beta);
  store_row8x2<kStream>(c + 5 * ldc, c50, c51, va, beta);
}

template <bool kStream>
PW_TARGET_AVX512 inline void store_row16x2(float* row, __m512 x0, __m512 x1, __m512 va, float beta) {
  x0 = _mm512_mul_ps(x0, va);
  x1 = _mm512_mul_ps(x1, va);
  if constexpr (kStream) {  // rows 64-byte aligned
    _mm512_stream_ps(row, x0);
    _mm512_stream_ps(row + 16, x1);
    return;
  }
  if (beta != 0.f) {
    const __m512 vb = _mm512_set1_ps(beta);
    x0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(row), x0);
    x1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(row + 16), x1);
  }
  _mm512_storeu_ps(row, x0);
  _mm512_storeu_ps(row + 16, x1);
}

template <bool kStream>
PW_TARGET_AVX512 void micro_avx512(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                                   float beta) {
  constexpr int64_t MR = 12, NR = 32;
  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
  __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(), c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
  __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
  __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
  __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps(), c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps();
  __m512 cA0 = _mm512_setzero_ps(), cA1 = _mm512_setzero_ps(), cB0 = _mm512_setzero_ps(), cB1 = _mm512_setzero_ps();
  if constexpr (!kStream)
    for (int64_t i = 0; i < MR; ++i) {
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16), _MM_HINT_T0);
    }
#define PW_ROW(r, at)                           \
  {                                             \
    const __m512 ar = _mm512_set1_ps(a[at]);    \
    c##r##0 = _mm512_fmadd_ps(ar, b0, c##r##0); \
    c##r##1 = _mm512_fmadd_ps(ar, b1, c##r##1); \
  }
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; ++p) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
    PW_ROW(0, 0) PW_ROW(1, 1) PW_ROW(2, 2) PW_ROW(3, 3) PW_ROW(4, 4) PW_ROW(5, 5);
    PW_ROW(6, 6) PW_ROW(7, 7) PW_ROW(8, 8) PW_ROW(9, 9) PW_ROW(A, 10) PW_ROW(B, 11);
    a += MR;
    b += NR;
  }
#undef PW_ROW
  const __m512 va = _mm512_set1_ps(alpha);
  store_row16x2<kStream>(c + 0 * ldc, c00, c01, va, beta);
  store_row16x2<kStream>(c + 1 * ldc, c10, c11, va, beta);
  store_row16x2<kStream>(c + 2 * ldc, c20, c21, va, beta);
  store_row16x2<kStream>(c + 3 * ldc, c30, c31, va, beta);
  store_row16x2<kStream>(c + 4 * ldc, c40, c41, va, beta);
  store_row16x2<kStream>(c + 5 * ldc, c50, c51, va, beta);
  store_row16x2<kStream>(c + 6 * ldc, c60, c61, va, beta);
  store_row16x2<kStream>(c + 7 * ldc, c70, c71, va, beta);
  store_row16x2<kStream>(c + 8 * ldc, c80, c81, va, beta);
  store_row16x2<kStream>(c + 9 * ldc, c90, c91, va, beta);
  store_row16x2<kStream>(c + 10 * ldc, cA0, cA1, va, beta);
  store_row16x2<kStream>(c + 11 * ldc, cB0, cB1, va, beta);
}
#endif

void micro_portable(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha, float beta) {
  constexpr int64_t MR = 6, NR = 16;
  float acc[MR][NR] = {};
  for (int64_t p = 0; p < kc; ++p, a += MR, b += NR)
    for (int64_t i = 0; i < MR; ++i)
      for (int64_t j = 0; j < NR; ++j) acc[i][j] += a[i] * b[j];
  for (int64_t i = 0; i < MR; ++i)
    for (int64_t j = 0; j < NR; ++j) {
      float& y = c[i * ldc + j];
      y = beta == 0.f ? alpha * acc[i][j] : alpha * acc[i][j] + beta * y;
    }
}

GemmKernel best_supported() {
  if (gemm_kernel_supported(GemmKernel::avx512)) return GemmKernel::avx512;
  if (gemm_kernel_supported(GemmKernel::avx2)) return GemmKernel::avx2;
  return GemmKernel::portable;
}

// The kernel PW_GEMM_KERNEL names, or the best one; a name that is unknown or that this CPU cannot
// run is an error at the first product, not a silent fallback.
GemmKernel initial_kernel() {
  const char* env = std::getenv("PW_GEMM_KERNEL");
  if (!env || !*env) return best_supported();
  for (GemmKernel k : {GemmKernel::portable, GemmKernel::avx2, GemmKernel::avx512})
    if (std::string(env) == gemm_kernel_name(k)) {
      if (!gemm_kernel_supported(k))
        throw std::invalid_argument("PW_GEMM_KERNEL: this CPU cannot run the " + std::string(env) + " kernel");
      return k;
    }
  throw std::invalid_argument("PW_GEMM_KERNEL: unknown kernel '" + std::string(env) +
                              "' (expected portable, avx2 or avx512)");
}

std::atomic<int>& chosen() {
  static std::atomic<int> k{int(initial_kernel())};
  return k;
}

}  // namespace

const Blocking& blocking(GemmKernel k) {
#ifdef PW_GEMM_X86
  static const Blocking avx512{12, 32, 240, 256, 4096, micro_avx512<false>, pack_b_avx2, micro_avx512<true>};
  static const Blocking avx2{6, 16, 144, 256, 4080, micro_avx2<false>, pack_b_avx2, micro_avx2<true>};
  if (k == GemmKernel::avx512) return avx512;
  if (k == GemmKernel::avx2) return avx2;
#endif
  static const Blocking portable{6, 16, 144, 256, 4080, micro_portable, pack_b_portable, nullptr};
  (void)k;
  return portable;
}

}  // namespace gemm_detail

bool gemm_kernel_supported(GemmKernel k) {
  switch (k) {
    case GemmKernel::portable: return true;
#ifdef PW_GEMM_X86
    case GemmKernel::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case GemmKernel::avx512: return __builtin_cpu_supports("avx512f");
#endif
    default: return false;
  }
}

const char* gemm_kernel_name(GemmKernel k) {
  switch (k) {
    case GemmKernel::avx512: return "avx512";
    case GemmKernel::avx2: return "avx2";
    default: return "portable";
  }
}

GemmKernel gemm_kernel() { return GemmKernel(gemm_detail::chosen().load(std::memory_order_relaxed)); }

void set_gemm_kernel(GemmKernel k) {
  if (!gemm_kernel_supported(k))
    throw std::invalid_argument(std::string("gemm kernel ") + gemm_kernel_name(k) + " is not supported by this CPU");
  gemm_detail::chosen().store(int(k), std::memory_order_relaxed);
}

}  // namespace pw::kernels::cpu
