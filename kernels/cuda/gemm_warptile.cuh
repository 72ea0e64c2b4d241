// v5 of the SGEMM ladder, the warp-tiled kernel, in the block tiles of gemm_tiles.cuh, with its
// deterministic split-K: the kernel can multiply one K-slice per block and write its raw
// partial tile into a workspace, and a reduction kernel then sums the slices in a fixed order.
// Part of kernels/cuda/gemm.cu (which includes it after GemmArgs and the store helpers, inside
// its unnamed namespace; the reasons and expectations are in gemm.cu's header). Include it
// nowhere else.
#pragma once

// ------------------------------------------------------------------------- v5: warp tiling
// The block tile (WT: 128x128, 128x64, 64x128 or 64x64, BK = 16) is split into warp tiles;
// gemm_tiles::WarpTileShape has the geometry and the multiply step (shared with the
// implicit-GEMM convolution). Within a warp tile, lane (lm, ln) owns interleaved 4 x 4
// sub-tiles, so that per k a warp reads A and B at distinct consecutive float4s: conflict-free
// shared loads. Shared memory is double-buffered: the next tile's float4s are fetched into
// registers before the current tile is multiplied and stored into the other buffer after, so
// one barrier per tile suffices and the global latency hides behind the FMAs.
//
// Block order (L2 reuse): the grid's blocks are renumbered so that consecutive blocks walk
// down a column of kSwizzleRows tile rows before moving right: the blocks resident at one time
// share a few tiles of B and of A instead of sweeping a whole row of B tiles each.
//
// Split-K (p.splits > 1): blockIdx.z = problem * splits + slice; the block multiplies the
// K-range [slice * k_slice, min(K, (slice + 1) * k_slice)) (k_slice a multiple of BK, so the
// float4 loads stay aligned) and writes its raw sums, without alpha, beta or C, to
// p.partial[blockIdx.z][m][n] (row length N). splitk_reduce_kernel finishes C.
constexpr int kSwizzleRows = 8;

// This block's tile (row, column) in the grid, after the swizzle above (a bijection).
__device__ __forceinline__ void swizzled_tile(int& tile_m, int& tile_n) {
  const int64_t cols = gridDim.x, rows = gridDim.y;  // 64-bit: cols x rows may pass 2^31
  const int64_t id = blockIdx.y * cols + blockIdx.x;
  const int64_t per_group = kSwizzleRows * cols;
  const int64_t first = (id / per_group) * kSwizzleRows;
  const int64_t group_rows = min(rows - first, (int64_t)kSwizzleRows);
  const int64_t in_group = id % per_group;
  tile_m = (int)(first + in_group % group_rows);
  tile_n = (int)(in_group / group_rows);
}

// The raw sums of a split-K block: four consecutive columns of row m of its partial tile.
__device__ __forceinline__ void store_partial4(const GemmArgs& p, float* W, int m, int n, float a0, float a1, float a2,
                                               float a3) {
  float* w = W + (int64_t)m * p.N + n;
  if (p.vec_w && n + 3 < p.N) {
    *reinterpret_cast<float4*>(w) = make_float4(a0, a1, a2, a3);
    return;
  }
  const float a[4] = {a0, a1, a2, a3};
  for (int q = 0; q < 4 && n + q < p.N; ++q) w[q] = a[q];
}

template <class WT, bool TA, bool TB>
__global__ void __launch_bounds__(WT::kThreads, WT::kMinBlocks) sgemm_v5_warptile(GemmArgs p) {
  constexpr int BM = WT::BM, BN = WT::BN, BK = WT::BK, NT = WT::kThreads;
  using LoadA = TileLoader<TA, BM, BK, NT, WT::LDA>;
  using LoadB = TileLoader<!TB, BN, BK, NT, WT::LDB>;
  __shared__ __align__(16) float As[2][BK * WT::LDA];  // As[buf][k][m]
  __shared__ __align__(16) float Bs[2][BK * WT::LDB];  // Bs[buf][k][n]
  const float *A, *B;
  float* C;
  problem_pointers(p, blockIdx.z / p.splits, A, B, C);
  const WT wt;
  int tile_m, tile_n;
  swizzled_tile(tile_m, tile_n);
  const int m0 = tile_m * BM, n0 = tile_n * BN;
  // This block's K-range; the loaders treat k_end as the edge of K (zeros past it).
  const int k_begin = (int)(blockIdx.z % p.splits) * p.k_slice, k_end = k_begin + min(p.K - k_begin, p.k_slice);
  const int tiles = (k_end - k_begin + BK - 1) / BK;

  float acc[WT::TM][WT::TN] = {};
  float4 ra[LoadA::kPerThread], rb[LoadB::kPerThread];
  if (tiles > 0) {
    LoadA::fetch(A, p.lda, p.vec_a, p.M, k_end, m0, k_begin, ra);
    LoadB::fetch(B, p.ldb, p.vec_b, p.N, k_end, n0, k_begin, rb);
    LoadA::stash(ra, As[0]);
    LoadB::stash(rb, Bs[0]);
  }
  __syncthreads();
  for (int t = 0; t < tiles; ++t) {
    const int cur = t & 1;
    const bool more = t + 1 < tiles;
    if (more) {  // in flight while the FMAs below run
      LoadA::fetch(A, p.lda, p.vec_a, p.M, k_end, m0, k_begin + (t + 1) * BK, ra);
      LoadB::fetch(B, p.ldb, p.vec_b, p.N, k_end, n0, k_begin + (t + 1) * BK, rb);
    }
    wt.multiply(As[cur], Bs[cur], acc);
    if (more) {  // the other buffer was last read before the previous barrier
      LoadA::stash(ra, As[cur ^ 1]);
      LoadB::stash(rb, Bs[cur ^ 1]);
    }
    __syncthreads();
  }
  float* W = p.partial ? p.partial + (int64_t)blockIdx.z * p.M * p.N : nullptr;
  for (int i = 0; i < WT::TM; ++i) {
    const int m = m0 + wt.row(i);
    if (m >= p.M) continue;
    for (int j = 0; j < WT::TN; j += 4) {  // 4 consecutive columns
      const int n = n0 + wt.col(j);
      if (n >= p.N) continue;
      if (W)
        store_partial4(p, W, m, n, acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]);
      else
        store_c4(p, C, m, n, acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]);
    }
  }
}

// ------------------------------------------------------------------------- split-K reduction
// C[m][n] = alpha * (sum over slices s = 0, 1, .., splits-1 of partial[z][s][m][n]) + beta * C:
// one thread per element of C, the slices added in index order whatever order the blocks of
// the partial launch ran in, so the result has the same bits on every run. blockIdx.y = the
// problem z of this launch. Memory-bound: it reads splits + 1 (beta != 0) floats per element.
__global__ void splitk_reduce_kernel(GemmArgs p) {
  const int64_t per = (int64_t)p.M * p.N;
  const int64_t z = blockIdx.y;
  const float* W = p.partial + z * p.splits * per;
  const int64_t gz = p.z0 + z, outer = gz / p.inner, inner = gz - outer * p.inner;
  float* C = p.C + outer * p.c_outer + inner * p.c_inner;
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < per; e += (int64_t)gridDim.x * blockDim.x) {
    float sum = 0.0f;
    for (int s = 0; s < p.splits; ++s) sum += W[s * per + e];
    const int64_t m = e / p.N;
    float* c = C + m * p.ldc + (e - m * p.N);
    *c = p.beta == 0.0f ? p.alpha * sum : p.alpha * sum + p.beta * *c;
  }
}
