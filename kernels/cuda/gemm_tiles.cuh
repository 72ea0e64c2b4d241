// Building blocks of the warp-tiled SGEMM (v5 of kernels/cuda/gemm.cu, where the reasons are;
// the tile loader also serves v4 in the ladder's development file bench/kernels/gemm.cu),
// shared with the implicit-GEMM convolution of kernels/cuda/conv.cu: the
// float4 tile loader of a stored row-major matrix, and the warp tile's geometry and its
// multiply step. For kernel files only (after kernels/cuda/compat.cuh).
#pragma once
#include "kernels/cuda/compat.cuh"

namespace pw::kernels::PW_KERNEL_NS::gemm_tiles {

// Four floats from 16-byte-aligned shared memory into a register array.
__device__ __forceinline__ void load4(const float* s, float* out) {
  const float4 v = *reinterpret_cast<const float4*>(s);
  out[0] = v.x;
  out[1] = v.y;
  out[2] = v.z;
  out[3] = v.w;
}

// Loads a tile of op(A) (BMN = BM rows m, BK columns k) or of op(B) (BK rows k, BMN = BN
// columns n) into shared memory as S[k][mn] (row length LDS), so that the multiply reads a
// thread's mn values contiguously. It moves float4 units along the stored matrix's
// contiguous dimension:
//   K_MAJOR (A transposed, B plain): the stored rows are k; a unit is 4 consecutive mn of one
//            k row and goes to shared memory as one float4;
//   otherwise (A plain, B transposed): the stored rows are mn; a unit is 4 consecutive k of
//            one mn row and is scattered to S[k..k+3][mn].
// A unit is one float4 global load when vec (16-byte aligned base, leading dimension a
// multiple of 4) and all four elements exist, else up to four scalar loads (zeros past the
// edge). fetch() and stash() are separate so that a kernel can fetch the next tile into
// registers while it multiplies the current one.
template <bool K_MAJOR, int BMN, int BK, int NT, int LDS>
struct TileLoader {
  static constexpr int kUnits = BMN * BK / 4;
  static constexpr int kPerThread = kUnits / NT;
  static_assert(kUnits % NT == 0, "the tile must split evenly over the threads");
  static constexpr int kUnitsPerRow = (K_MAJOR ? BMN : BK) / 4;

  // X: the stored matrix, MN x K (K x MN when K_MAJOR), leading dimension ld.
  __device__ __forceinline__ static void fetch(const float* X, int64_t ld, bool vec, int MN, int K, int mn0, int k0,
                                               float4 (&r)[kPerThread]) {
    for (int i = 0; i < kPerThread; ++i) {
      const int u = threadIdx.x + i * NT;
      const int row = u / kUnitsPerRow, col = (u % kUnitsPerRow) * 4;
      // Stored (row, col) of the unit's first element, and the stored matrix's extent.
      const int sr = K_MAJOR ? k0 + row : mn0 + row, sc = K_MAJOR ? mn0 + col : k0 + col;
      const int rows = K_MAJOR ? K : MN, cols = K_MAJOR ? MN : K;
      float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (sr < rows) {
        const float* src = X + (int64_t)sr * ld + sc;
        if (vec && sc + 3 < cols) {
          v = *reinterpret_cast<const float4*>(src);
        } else {
          if (sc < cols) v.x = src[0];
          if (sc + 1 < cols) v.y = src[1];
          if (sc + 2 < cols) v.z = src[2];
          if (sc + 3 < cols) v.w = src[3];
        }
      }
      r[i] = v;
    }
  }

  __device__ __forceinline__ static void stash(const float4 (&r)[kPerThread], float* S) {
    for (int i = 0; i < kPerThread; ++i) {
      const int u = threadIdx.x + i * NT;
      const int row = u / kUnitsPerRow, col = (u % kUnitsPerRow) * 4;
      if (K_MAJOR) {
        *reinterpret_cast<float4*>(&S[row * LDS + col]) = r[i];  // S[k][mn..mn+3]
      } else {
        S[(col + 0) * LDS + row] = r[i].x;  // S[k..k+3][mn]
        S[(col + 1) * LDS + row] = r[i].y;
        S[(col + 2) * LDS + row] = r[i].z;
        S[(col + 3) * LDS + row] = r[i].w;
      }
    }
  }
};

// The warp tiling of v5, for a block tile BM x BN (BK = 16) split into warp tiles WM x WN
// (one warp each: (BM / WM) x (BN / WN) warps). Within a warp tile, the 32 lanes form 8 (m)
// x 4 (n) groups that own 4 x 4 sub-tiles, repeated ITER_M = WM / 32 times along m and
// ITER_N = WN / 16 times along n: lane (lm = lane / 4, ln = lane % 4) owns rows
// 32*wi + 4*lm.., columns 16*wj + 4*ln.. for every (wi, wj), TM x TN results per thread,
// acc[i][j] at block-tile row row(i) and column col(j). Per k a warp reads A at 8 distinct
// consecutive float4s per wi (each broadcast to 4 lanes) and B at 4 per wj: no shared-memory
// bank conflicts, whatever the shape. MIN_BLOCKS is the __launch_bounds__ residency the
// kernels ask for (it caps registers at 64K / (threads x MIN_BLOCKS); ptxas -v must show no
// spills, bench/RESULTS.md).
template <int BM_, int BN_, int WM_, int WN_, int MIN_BLOCKS_>
struct WarpTileShape {
  static constexpr int BM = BM_, BN = BN_, BK = 16;
  static constexpr int WM = WM_, WN = WN_;                        // warp tile
  static constexpr int ITER_M = WM / 32, ITER_N = WN / 16;        // sub-tiles per lane along m and n
  static constexpr int SUB_M = WM / ITER_M, SUB_N = WN / ITER_N;  // 32 x 16 = 8 x 4 lanes of 4x4
  static constexpr int TM = ITER_M * 4, TN = ITER_N * 4;          // results per thread
  static constexpr int kThreads = (BM / WM) * (BN / WN) * 32;
  static constexpr int kMinBlocks = MIN_BLOCKS_;
  static constexpr int LDA = BM + 4, LDB = BN + 4;  // shared rows, 16-byte aligned
  static_assert(BM % WM == 0 && BN % WN == 0 && WM % 32 == 0 && WN % 16 == 0, "warp tiles must tile the block");
  static_assert(SUB_M == 32 && SUB_N == 16, "a sub-tile row is 8 x 4 lanes of 4 x 4 results");

  int wm, wn, lm, ln;  // warp tile origin in the block tile; lane's 4x4 origin in a sub-tile

  __device__ __forceinline__ WarpTileShape() {
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    wm = (warp / (BN / WN)) * WM;
    wn = (warp % (BN / WN)) * WN;
    lm = (lane / (SUB_N / 4)) * 4;
    ln = (lane % (SUB_N / 4)) * 4;
  }
  __device__ __forceinline__ int row(int i) const { return wm + (i / 4) * SUB_M + lm + i % 4; }
  __device__ __forceinline__ int col(int j) const { return wn + (j / 4) * SUB_N + ln + j % 4; }

  // acc += the product of one BK-deep tile pair: as = As[k][m] (row length LDA), bs = Bs[k][n].
  __device__ __forceinline__ void multiply(const float* as, const float* bs, float (&acc)[TM][TN]) const {
    for (int k = 0; k < BK; ++k) {
      float a[TM], b[TN];
      for (int wi = 0; wi < ITER_M; ++wi) load4(&as[k * LDA + wm + wi * SUB_M + lm], &a[wi * 4]);
      for (int wj = 0; wj < ITER_N; ++wj) load4(&bs[k * LDB + wn + wj * SUB_N + ln], &b[wj * 4]);
      for (int i = 0; i < TM; ++i)
        for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
    }
  }
};

// The shapes the SGEMM dispatcher chooses from (kernels/cuda/gemm_plan.h has the table). The
// first, 128 x 128 with 64 x 32 warp tiles (8 warps), is v5's original tile and the one the
// implicit-GEMM convolution uses; the 128-thread shapes double (or quadruple) the number of
// blocks for problems whose 128 x 128 tiles do not fill the GPU. Residency (ptxas, sm_90): 2
// blocks of 128x128 and 4 of 64x64 fit 128 registers without spilling; 128x64 and 64x128 spilled
// at 4 (24-28 bytes) and need up to 160 registers, hence 3.
using WarpTile = WarpTileShape<128, 128, 64, 32, 2>;
using WarpTile128x64 = WarpTileShape<128, 64, 64, 32, 3>;
using WarpTile64x128 = WarpTileShape<64, 128, 64, 32, 3>;
using WarpTile64x64 = WarpTileShape<64, 64, 32, 32, 4>;

}  // namespace pw::kernels::PW_KERNEL_NS::gemm_tiles
