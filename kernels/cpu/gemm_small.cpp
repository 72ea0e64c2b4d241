// SGEMM for at most four rows of C (kernels/cpu/gemm_blocking.h): a Linear layer at batch 1-4,
// y = x W^T forward (B = W stored [N, K], dot products along W's rows) and dx = dy W backward (B
// = W stored [K, N], rows of W added into a block of accumulators). Both read B once, in storage
// order, with M multiply-adds per element read, so they run at the memory's speed; the packed
// path (gemm.cpp) would read B, write its packed copy and read that, and waste MR - M of its MR
// rows. Threads split the columns of C. op(A) is first copied into M contiguous rows.
//
// Sums: the dot products keep 16 lanes per row and add the lanes in a fixed tree; the row
// updates add B's rows in order. Both are deterministic for any thread count.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/cpu/gemm_blocking.h"
#include "kernels/cpu/lane_sums.h"

namespace pw::kernels::cpu::gemm_detail {
namespace {

using lanes::load;
using lanes::Vec8;

// The 16 lanes of (lo, hi) and a scalar tail added in a fixed pairwise tree.
inline float lane_total(const Vec8& lo, const Vec8& hi, float tail) {
  float s[8];
  for (int l = 0; l < 8; ++l) s[l] = lo[l] + hi[l];
  for (int w = 4; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) s[l] += s[l + w];
  return s[0] + tail;
}

inline void store(float* c, float v, float alpha, float beta) { *c = beta == 0.f ? alpha * v : alpha * v + beta * *c; }

// Columns [j0, j1) of C = op(A) B^T with B stored [N, K]: one dot product per (row of a, row of B).
template <int R>
void dot_rows(const float* a, int64_t K, const float* B, int64_t ldb, int64_t j0, int64_t j1, float alpha, float beta,
              float* C, int64_t ldc) {
  for (int64_t j = j0; j < j1; ++j) {
    const float* b = B + j * ldb;
    Vec8 lo[R] = {}, hi[R] = {};
    int64_t p = 0;
    for (; p + 16 <= K; p += 16) {
      Vec8 b0, b1;
      load(b0, b + p);
      load(b1, b + p + 8);
      for (int i = 0; i < R; ++i) {
        Vec8 a0, a1;
        load(a0, a + i * K + p);
        load(a1, a + i * K + p + 8);
        lo[i] += a0 * b0;
        hi[i] += a1 * b1;
      }
    }
    for (int i = 0; i < R; ++i) {
      float tail = 0.f;
      for (int64_t q = p; q < K; ++q) tail += a[i * K + q] * b[q];
      store(C + i * ldc + j, lane_total(lo[i], hi[i], tail), alpha, beta);
    }
  }
}

// Columns [j0, j1) of C = op(A) B with B stored [K, N]: C's rows accumulate B's rows, kChunk
// columns at a time in an L1-resident block of sums.
constexpr int64_t kChunk = 1024;

template <int R>
void add_rows(const float* a, int64_t K, const float* B, int64_t ldb, int64_t j0, int64_t j1, float alpha, float beta,
              float* C, int64_t ldc) {
  alignas(64) float acc[R][kChunk];
  for (int64_t c0 = j0; c0 < j1; c0 += kChunk) {
    const int64_t w = std::min(kChunk, j1 - c0);
    for (int i = 0; i < R; ++i) std::fill(acc[i], acc[i] + w, 0.f);
    for (int64_t p = 0; p < K; ++p) {
      const float* __restrict b = B + p * ldb + c0;
      for (int i = 0; i < R; ++i) {
        const float ai = a[i * K + p];
        float* __restrict s = acc[i];
        for (int64_t c = 0; c < w; ++c) s[c] += ai * b[c];
      }
    }
    for (int i = 0; i < R; ++i)
      for (int64_t c = 0; c < w; ++c) store(C + i * ldc + c0 + c, acc[i][c], alpha, beta);
  }
}

using ColumnsFn = void (*)(const float*, int64_t, const float*, int64_t, int64_t, int64_t, float, float, float*,
                           int64_t);

template <int R>
ColumnsFn columns_fn(bool trans_b) {
  return trans_b ? dot_rows<R> : add_rows<R>;
}

ColumnsFn pick(int64_t M, bool trans_b) {
  switch (M) {
    case 1: return columns_fn<1>(trans_b);
    case 2: return columns_fn<2>(trans_b);
    case 3: return columns_fn<3>(trans_b);
    default: return columns_fn<4>(trans_b);
  }
}

}  // namespace

void sgemm_small_m(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  // op(A) as M contiguous rows of K.
  std::vector<float> a(size_t(M * K));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t p = 0; p < K; ++p) a[size_t(i * K + p)] = trans_a ? A[p * lda + i] : A[i * lda + p];
  const ColumnsFn fn = pick(M, trans_b);
  int nt = omp_in_parallel() || M * N * K < kParallelMinMacs ? 1 : omp_get_max_threads();
  nt = int(std::max<int64_t>(1, std::min<int64_t>(nt, N / 16)));
  if (nt == 1) {
    fn(a.data(), K, B, ldb, 0, N, alpha, beta, C, ldc);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    // Whole 16-column groups per thread, so no two threads write one cache line of C.
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    const int64_t groups = (N + 15) / 16;
    const int64_t j0 = std::min(N, groups * t / n * 16), j1 = std::min(N, groups * (t + 1) / n * 16);
    if (j0 < j1) fn(a.data(), K, B, ldb, j0, j1, alpha, beta, C, ldc);
  }
}

}  // namespace pw::kernels::cpu::gemm_detail
