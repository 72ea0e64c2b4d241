// Packing of the SGEMM's operands into the panels its micro-kernels read (kernels/cpu/gemm_blocking.h).
//
// B is the operand whose packing costs: it is the whole weight of a Linear layer (stored
// transposed, [N, K]) and the whole column matrix of a convolution's weight gradient (also
// transposed). Element by element, a transposed panel is a scattered store per element and
// was measured at 4.5x the micro-kernel's time on fc6's forward at batch 16 (perf, one thread).
// The AVX2 packer moves full panels in 8 x 8 blocks: eight rows of eight floats loaded, transposed
// in registers, stored as eight contiguous runs of a panel's rows; the untransposed full panel is
// a copy of NR floats per k. Edge panels (nr < NR) and the k tail take the portable loops.
#include <algorithm>

#include "kernels/cpu/gemm_blocking.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>  // also SSE's _MM_TRANSPOSE4_PS, used on every x86-64 build
#define PW_PACK_X86 1
#define PW_TARGET_AVX2 __attribute__((target("avx2,fma")))
#endif

namespace pw::kernels::cpu::gemm_detail {

namespace {

// Rows [i0, i0 + 4) of a full untransposed panel: 4 x 4 blocks transposed in SSE registers (x86-64's
// baseline), so that each k's four values are one store instead of four scattered ones.
void pack_a_rows4(int64_t MR, int64_t i0, int64_t kc, const float* a, int64_t lda, float* dst) {
#if defined(__x86_64__) && defined(__SSE__)
  const float* r0 = a + i0 * lda;
  const int64_t k4 = kc / 4 * 4;
  for (int64_t p = 0; p < k4; p += 4) {
    __m128 x0 = _mm_loadu_ps(r0 + p), x1 = _mm_loadu_ps(r0 + lda + p);
    __m128 x2 = _mm_loadu_ps(r0 + 2 * lda + p), x3 = _mm_loadu_ps(r0 + 3 * lda + p);
    _MM_TRANSPOSE4_PS(x0, x1, x2, x3);
    _mm_storeu_ps(dst + p * MR + i0, x0);
    _mm_storeu_ps(dst + (p + 1) * MR + i0, x1);
    _mm_storeu_ps(dst + (p + 2) * MR + i0, x2);
    _mm_storeu_ps(dst + (p + 3) * MR + i0, x3);
  }
  for (int64_t i = i0; i < i0 + 4; ++i)
    for (int64_t p = k4; p < kc; ++p) dst[p * MR + i] = a[i * lda + p];
#else
  for (int64_t i = i0; i < i0 + 4; ++i)
    for (int64_t p = 0; p < kc; ++p) dst[p * MR + i] = a[i * lda + p];
#endif
}

}  // namespace

void pack_a(bool trans, int64_t MR, int64_t mc, int64_t kc, const float* a, int64_t lda, float* dst) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR, dst += MR * kc) {
    const int64_t mr = std::min(MR, mc - i0);
    if (trans) {  // op(A)(i, p) = a[p * lda + i]: contiguous in i
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = a + p * lda + i0;
        for (int64_t i = 0; i < MR; ++i) dst[p * MR + i] = i < mr ? src[i] : 0.f;
      }
      continue;
    }
    // op(A)(i, p) = a[i * lda + p]: whole groups of four rows through registers, then the rest
    // row by row (each read once, contiguously); rows past mr are zero.
    const float* panel = a + i0 * lda;
    const int64_t full = mr / 4 * 4;
    for (int64_t i = 0; i < full; i += 4) pack_a_rows4(MR, i, kc, panel, lda, dst);
    for (int64_t i = full; i < MR; ++i) {
      const float* src = panel + i * lda;
      if (i < mr) {
        for (int64_t p = 0; p < kc; ++p) dst[p * MR + i] = src[p];
      } else {
        for (int64_t p = 0; p < kc; ++p) dst[p * MR + i] = 0.f;
      }
    }
  }
}

void pack_b_portable(bool trans, int64_t NR, int64_t kc, int64_t j0, int64_t nr, const float* b, int64_t ldb,
                     float* dst) {
  if (trans) {  // op(B)(p, j) = b[j * ldb + p]: read each stored row once
    for (int64_t j = 0; j < NR; ++j) {
      const float* src = b + (j0 + j) * ldb;
      if (j < nr) {
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = src[p];
      } else {
        for (int64_t p = 0; p < kc; ++p) dst[p * NR + j] = 0.f;
      }
    }
  } else {  // op(B)(p, j) = b[p * ldb + j]: NR contiguous floats per k
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = b + p * ldb + j0;
      for (int64_t j = 0; j < NR; ++j) dst[p * NR + j] = j < nr ? src[j] : 0.f;
    }
  }
}

#ifdef PW_PACK_X86
namespace {

// dst[k * ldd + r] = src[r * lds + k] for r, k in [0, 8).
PW_TARGET_AVX2 inline void transpose8x8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds);
  const __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
  const __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
  const __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
  // Pairs of rows interleaved, then quadruples, then the 128-bit halves exchanged.
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  const __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
  _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(s1, s5, 0x20));
  _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(s2, s6, 0x20));
  _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(s3, s7, 0x20));
  _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(s0, s4, 0x31));
  _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(s1, s5, 0x31));
  _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(s2, s6, 0x31));
  _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(s3, s7, 0x31));
}

}  // namespace

PW_TARGET_AVX2 void pack_b_avx2(bool trans, int64_t NR, int64_t kc, int64_t j0, int64_t nr, const float* b, int64_t ldb,
                                float* dst) {
  if (nr < NR || NR % 8 != 0) {
    pack_b_portable(trans, NR, kc, j0, nr, b, ldb, dst);
    return;
  }
  if (!trans) {  // 8-float moves: memcpy with a run-time size of 64 or 128 bytes was a library call per k
    for (int64_t p = 0; p < kc; ++p) {
      const float* src = b + p * ldb + j0;
      for (int64_t j = 0; j < NR; j += 8) _mm256_storeu_ps(dst + p * NR + j, _mm256_loadu_ps(src + j));
    }
    return;
  }
  const int64_t k8 = kc / 8 * 8;
  for (int64_t p = 0; p < k8; p += 8)
    for (int64_t j = 0; j < NR; j += 8) transpose8x8(b + (j0 + j) * ldb + p, ldb, dst + p * NR + j, NR);
  for (int64_t p = k8; p < kc; ++p)
    for (int64_t j = 0; j < NR; ++j) dst[p * NR + j] = b[(j0 + j) * ldb + p];
}
#else
void pack_b_avx2(bool trans, int64_t NR, int64_t kc, int64_t j0, int64_t nr, const float* b, int64_t ldb, float* dst) {
  pack_b_portable(trans, NR, kc, j0, nr, b, ldb, dst);
}
#endif

}  // namespace pw::kernels::cpu::gemm_detail
