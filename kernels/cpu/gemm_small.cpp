// SGEMM for a few rows of C (M <= kSmallRows, kernels/cpu/gemm_blocking.h): a Linear layer at
// a small batch, y = x W^T forward (B = W stored [N, K]: dot products along W's rows) and
// dx = dy W backward (B = W stored [K, N]: rows of W added into rows of sums). Both read B once,
// unpacked and in storage order, with M multiply-adds per element read, so they run at the
// memory's speed; the packed path (gemm.cpp) reads B, writes its packed copy to a block larger
// than L2 and reads that back, and fills only M of every MR-row tile. Threads split the columns
// of C. op(A) is first copied into M contiguous rows.
//
// Measured with bench/bench_linear.cpp (bench/RESULTS.md): at batch 16 the packed path read
// AlexNet's and VGG's classifier weights at 4.5-5.8 GB/s of the machine's ~30; these read them
// 2.4-3.1x faster.
//
// Sums: every element of C is computed by one thread in an order fixed by M, N and K alone, so
// results are the same for any thread count. The dot products keep one vector of lanes per
// (row, column) over all of K and add the lanes in a fixed tree at the end; the row updates add
// B's rows in order.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/cpu/gemm_blocking.h"
#include "kernels/cpu/scratch.h"

namespace pw::kernels::cpu::gemm_detail {
namespace {

// The widest vector of the build (GCC/Clang vector extension; -march=native picks the
// instructions) and the register tiles that fit its register file: 32 zmm registers hold a 4 x 4
// tile of dot products plus its operands, 16 ymm registers a 4 x 3 tile.
#if defined(__AVX512F__)
constexpr int kLanes = 16;
constexpr int kTileCols = 4;
constexpr int kAxpyRows = 16;  // rows of B added per pass over the sums (one register each)
#else
constexpr int kLanes = 8;
constexpr int kTileCols = 3;
constexpr int kAxpyRows = 8;
#endif
constexpr int kTileRows = 4;
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

// Vectors by reference: by value they change the calling convention between builds (-Wpsabi).
inline void load(Vec& v, const float* p) { std::memcpy(&v, p, sizeof v); }  // unaligned
inline void store_vec(float* p, const Vec& v) { std::memcpy(p, &v, sizeof v); }

// ---- sums of lanes ----
// The lane sums of kLanes vectors at once, by log2(kLanes) levels of pairwise adds: each level
// adds the halves of every group of lanes of two vectors, packing both results into one vector
// (two shuffles and an add), so after the last level lane o holds the sum of vector o. The order
// of the adds is fixed (a pairwise tree over each vector's lanes).
typedef int32_t Mask __attribute__((vector_size(kLanes * sizeof(int32_t))));

// Lane o of a level's result on (x, y) with groups of g lanes: x's groups fill the first half,
// y's the second; each group of g becomes g / 2 lanes, from the group's lower (or upper) half.
constexpr int level_lane(int g, bool upper, int o) {
  const int half = kLanes / 2, q = o % half, group = q / (g / 2), within = q % (g / 2);
  return (o / half) * kLanes + group * g + (upper ? g / 2 : 0) + within;
}
template <int g, bool upper, int... o>
constexpr Mask level_mask(std::integer_sequence<int, o...>) {
  return Mask{level_lane(g, upper, o)...};
}
template <int g>
inline void level(const Vec& x, const Vec& y, Vec& out) {
  constexpr Mask lo = level_mask<g, false>(std::make_integer_sequence<int, kLanes>{});
  constexpr Mask hi = level_mask<g, true>(std::make_integer_sequence<int, kLanes>{});
  out = __builtin_shuffle(x, y, lo) + __builtin_shuffle(x, y, hi);
}

// v[0..kLanes) -> v[0], whose lane o is the sum of v[o]'s lanes (the rest of v is overwritten).
template <int g = kLanes>
inline void lane_sums(Vec* v, int n = kLanes) {
  if constexpr (g > 1) {
    for (int m = 0; m < n / 2; ++m) level<g>(v[2 * m], v[2 * m + 1], v[m]);
    lane_sums<g / 2>(v, n / 2);
  }
}

inline void store(float* c, float v, float alpha, float beta) { *c = beta == 0.f ? alpha * v : alpha * v + beta * *c; }

// ---- forward: C = op(A) B^T, B stored [N, K] ----
//
// A block of kDotRows rows of B is read once, in storage order, kDotChunk columns at a time:
// each chunk of the block and the same chunk of A's M rows stay in L1 while the R x C register
// tiles of dot products pass over them, and the block's chunk kDotAhead further on is fetched
// into L2 meanwhile (without it the first row tile over each chunk waited on memory). The
// tiles' lanes are kept in a buffer across the chunks and added up at the end of the block.
constexpr int64_t kDotRows = 8;     // rows of B per block
constexpr int64_t kDotChunk = 256;  // A: M x 256 floats (16 KB at M = 16), B: 8 KB
constexpr int64_t kDotAhead = 2;    // chunks of the block fetched ahead, into L2

// acc[i * C + j] += the lanes of the dot products of rows a[i * K + ...] with rows b[j * ldb + ...]
// over k in [0, kc / kLanes * kLanes), and lines of the rows pf[0..npf) are fetched into L2.
template <int R, int C>
void dot_tile(const float* a, int64_t K, const float* b, int64_t ldb, int64_t kc, const float* const* pf, int npf,
              Vec* acc_buf) {
  Vec acc[R][C];
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) acc[i][j] = acc_buf[i * C + j];
  for (int64_t p = 0; p + kLanes <= kc; p += kLanes) {
    for (int f = 0; f < npf; ++f) __builtin_prefetch(pf[f] + p, 0, 2);
    Vec bv[C];
    for (int j = 0; j < C; ++j) load(bv[j], b + j * ldb + p);
    for (int i = 0; i < R; ++i) {
      Vec av;
      load(av, a + i * K + p);
      for (int j = 0; j < C; ++j) acc[i][j] += av * bv[j];
    }
  }
  for (int i = 0; i < R; ++i)
    for (int j = 0; j < C; ++j) acc_buf[i * C + j] = acc[i][j];
}

using DotTile = void (*)(const float*, int64_t, const float*, int64_t, int64_t, const float* const*, int, Vec*);

template <int R, int... C>
constexpr std::array<DotTile, sizeof...(C)> dot_row(std::integer_sequence<int, C...>) {
  return {dot_tile<R, C + 1>...};
}
template <int... R>
constexpr std::array<std::array<DotTile, kTileCols>, sizeof...(R)> dot_table(std::integer_sequence<int, R...>) {
  return {dot_row<R + 1>(std::make_integer_sequence<int, kTileCols>{})...};
}
// kDotTiles[r - 1][c - 1] computes an r x c tile.
constexpr auto kDotTiles = dot_table(std::make_integer_sequence<int, kTileRows>{});

// The tile [i0, i0 + rows) x [j, j + cols) of C from its lane vectors acc[r * cols + c] and the
// last K % kLanes products.
void store_tile(const float* a, int64_t K, const float* B, int64_t ldb, int64_t i0, int rows, int64_t j, int cols,
                Vec* acc, float alpha, float beta, float* C, int64_t ldc) {
  const int n = rows * cols;
  const int64_t k_end = K / kLanes * kLanes;
  for (int g = 0; g < n; g += kLanes) {
    Vec v[kLanes] = {};
    for (int e = g; e < std::min(n, g + kLanes); ++e) v[e - g] = acc[e];
    lane_sums(v);
    for (int e = g; e < std::min(n, g + kLanes); ++e) {
      const int64_t i = i0 + e / cols, jj = j + e % cols;
      float total = v[0][e - g];
      for (int64_t q = k_end; q < K; ++q) total += a[i * K + q] * B[jj * ldb + q];
      store(C + i * ldc + jj, total, alpha, beta);
    }
  }
}

// Columns [j0, j1) of C = alpha * a B^T + beta * C, a M contiguous rows of K.
void dot_columns(const float* a, int64_t M, int64_t K, const float* B, int64_t ldb, int64_t j0, int64_t j1, float alpha,
                 float beta, float* C, int64_t ldc) {
  // The lanes of the tile at rows i.., columns j.. of a block start at acc[i * kDotRows + (j - jb)
  // * kTileRows]: row tiles kTileRows * kDotRows vectors apart, within one the column tiles' R x C
  // vectors side by side.
  const int64_t row_tiles = (M + kTileRows - 1) / kTileRows;
  const int64_t tiles_per_block = row_tiles * ((kDotRows + kTileCols - 1) / kTileCols);
  Vec* acc = thread_scratch<Vec>(kGemmRowSums, size_t(row_tiles * kTileRows * kDotRows));
  for (int64_t jb = j0; jb < j1; jb += kDotRows) {
    const int64_t block = std::min(kDotRows, j1 - jb);
    std::fill(acc, acc + row_tiles * kTileRows * kDotRows, Vec{});
    for (int64_t k0 = 0; k0 < K; k0 += kDotChunk) {
      const int64_t kc = std::min(kDotChunk, K - k0);
      // Tile t of this chunk fetches rows t, t + tiles_per_block, ... of the block kDotAhead chunks on.
      const bool fetch = k0 + kDotAhead * kDotChunk < K;
      int64_t t = 0;
      for (int64_t j = jb; j < jb + block; j += kTileCols) {
        const int cols = int(std::min<int64_t>(kTileCols, jb + block - j));
        for (int64_t i = 0; i < M; i += kTileRows, ++t) {
          const int rows = int(std::min<int64_t>(kTileRows, M - i));
          const float* pf[kDotRows];
          int npf = 0;
          for (int64_t r = t; r < block && fetch; r += tiles_per_block)
            pf[npf++] = B + (jb + r) * ldb + k0 + kDotAhead * kDotChunk;
          kDotTiles[rows - 1][cols - 1](a + i * K + k0, K, B + j * ldb + k0, ldb, kc, pf, npf,
                                        acc + (i * kDotRows + (j - jb) * kTileRows));
        }
      }
    }
    for (int64_t j = jb; j < jb + block; j += kTileCols)
      for (int64_t i = 0; i < M; i += kTileRows) {
        const int rows = int(std::min<int64_t>(kTileRows, M - i)),
                  cols = int(std::min<int64_t>(kTileCols, jb + block - j));
        store_tile(a, K, B, ldb, i, rows, j, cols, acc + (i * kDotRows + (j - jb) * kTileRows), alpha, beta, C, ldc);
      }
  }
}

// ---- backward: C = op(A) B, B stored [K, N] ----

// sums[i * w + c] += sum over the P rows p0.. of B of a[i * K + p] * B[p, j0 + c], for the w
// columns from j0: P rows of B in registers, each row of sums loaded and stored once per pass.
template <int P>
void add_rows(const float* a, int64_t M, int64_t K, int64_t p0, const float* B, int64_t ldb, int64_t j0, int64_t w,
              float* sums) {
  int64_t c = 0;
  for (; c + kLanes <= w; c += kLanes) {
    Vec bv[P];
    for (int q = 0; q < P; ++q) load(bv[q], B + (p0 + q) * ldb + j0 + c);
    for (int64_t i = 0; i < M; ++i) {
      Vec s;
      load(s, sums + i * w + c);
      for (int q = 0; q < P; ++q) s += a[i * K + p0 + q] * bv[q];
      store_vec(sums + i * w + c, s);
    }
  }
  for (; c < w; ++c)
    for (int64_t i = 0; i < M; ++i) {
      float s = sums[i * w + c];
      for (int q = 0; q < P; ++q) s += a[i * K + p0 + q] * B[(p0 + q) * ldb + j0 + c];
      sums[i * w + c] = s;
    }
}

// Columns [j0, j1) of C = alpha * a B + beta * C, a M contiguous rows of K: B is read row by row
// in storage order while the M x w sums stay in L2.
void add_columns(const float* a, int64_t M, int64_t K, const float* B, int64_t ldb, int64_t j0, int64_t j1, float alpha,
                 float beta, float* C, int64_t ldc) {
  const int64_t w = j1 - j0;  // rows of sums, 64-byte aligned as B's rows (j0 is a multiple of 16)
  float* sums = reinterpret_cast<float*>(thread_scratch<Vec>(kGemmRowSums, size_t((M * w + kLanes - 1) / kLanes)));
  std::fill(sums, sums + M * w, 0.f);
  int64_t p = 0;
  for (; p + kAxpyRows <= K; p += kAxpyRows) add_rows<kAxpyRows>(a, M, K, p, B, ldb, j0, w, sums);
  for (; p < K; ++p) add_rows<1>(a, M, K, p, B, ldb, j0, w, sums);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t c = 0; c < w; ++c) store(C + i * ldc + j0 + c, sums[i * w + c], alpha, beta);
}

}  // namespace

void sgemm_small_m(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  // op(A) as M contiguous rows of K, 64-byte aligned: vector loads that straddle two cache lines
  // cost twice (measured on 16 x 256 x 1024, one thread: 53 GFLOP/s unaligned, 79 aligned).
  float* a = aligned_thread_scratch(kGemmRows, size_t(M * K));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t p = 0; p < K; ++p) a[i * K + p] = trans_a ? A[p * lda + i] : A[i * lda + p];
  const auto fn = trans_b ? dot_columns : add_columns;
  int nt = omp_in_parallel() || M * N * K < kParallelMinMacs ? 1 : omp_get_max_threads();
  nt = int(std::max<int64_t>(1, std::min<int64_t>(nt, N / 16)));
  if (nt == 1) {
    fn(a, M, K, B, ldb, 0, N, alpha, beta, C, ldc);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    // Whole 16-column groups per thread, so no two threads write one cache line of C.
    const int t = omp_get_thread_num(), n = omp_get_num_threads();
    const int64_t groups = (N + 15) / 16;
    const int64_t j0 = std::min(N, groups * t / n * 16), j1 = std::min(N, groups * (t + 1) / n * 16);
    if (j0 < j1) fn(a, M, K, B, ldb, j0, j1, alpha, beta, C, ldc);
  }
}

}  // namespace pw::kernels::cpu::gemm_detail
