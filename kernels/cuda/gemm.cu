// SGEMM on the GPU, C = alpha * op(A) op(B) + beta * C in row-major storage: the rungs of the
// SGEMM ladder that the engine's dispatcher chooses from. The semantics are those of
// kernels::cpu::sgemm (kernels/cuda/api/gemm.inc says them in full). The whole ladder, v1 ..
// v5 with its CPU reference, validation and timing, is the development file
// bench/kernels/gemm.cu; it includes this file and adds v4, which the engine never runs.
//
//   v1 naive            one thread per element of C, K-loop straight from global memory.
//                       threadIdx.x runs along n, so a warp's loads of B and stores of C are
//                       coalesced and its loads of A are one broadcast. Bound by L1/L2
//                       traffic: ~2 global loads per FMA.                 ~5-10% of cuBLAS
//                       Chosen for tiny problems and K <= 8, where staging tiles costs more
//                       than it saves.
//   v2 shared 32x32     a 32x32 block stages 32x32 tiles of op(A) and op(B) in shared memory;
//                       each loaded element is reused 32 times. Bound by shared-memory
//                       traffic: 2 shared loads per FMA.                  ~10-15% of cuBLAS
//                       Chosen for small problems with too few 64x64 tiles for v3.
//   v3 1-D blocking     64x64 tiles, BK = 8, 512 threads; each thread computes a column of
//                       TM = 8 results, keeping the B value in a register across them:
//                       9 shared loads per 8 FMAs.                         ~30-40% of cuBLAS
//                       Chosen for medium problems, too few 128x128 tiles to fill the GPU.
//   (v4 2-D blocking    128x128 tiles, 8x8 results per thread, float4 loads: only in
//    + float4           bench/kernels/gemm.cu; v5 does everything it does, better.)
//   v5 warp tiling      the block tile is split into warp tiles (64x32) and each warp's
//                       lanes own interleaved 4x4 sub-tiles of it, so a warp's shared loads
//                       are 8 (A) and 4 (B) distinct contiguous float4s: no bank conflicts,
//                       and the warp's working set matches the register file. BK = 16 and
//                       double-buffered shared memory: the next tile is fetched into
//                       registers while the current one is multiplied, one barrier per tile.
//                       Global memory is read and written with float4 accesses where the
//                       pointer, leading dimension and batch strides allow it (16-byte
//                       aligned), with scalar accesses otherwise and at the matrix edges.
//                                                                          ~75-90% of cuBLAS
//                       Chosen for large problems (the conv layers, the classifiers).
//
// The percentages are expectations for large square problems (4096^3) on an H100, from the
// published behaviour of this ladder of kernels (Simon Boehm's "How to optimize a CUDA matmul
// kernel"); they have not been measured on a GPU here: bench/kernels/gemm.cu measures every
// rung (and cuBLAS) on a GPU, bench/bench_cuda_gemm.cpp the dispatcher against cuBLAS.
//
// All versions: transposes of A and B are handled in the load indexing (template parameters
// TA, TB; the tile loaders read along the storage's contiguous dimension so that loads stay
// coalesced either way); every load and store is bounds-checked, so any M, N, K works (tiles
// past the edge read zeros); beta == 0 never reads C; results are deterministic (each element
// of C is one thread's fixed-order sum). A batch of problems of one shape runs in one launch
// (blockIdx.z), which conv2d and batched matmul use.
#include "kernels/cuda/compat.cuh"
#include "kernels/cuda/gemm_tiles.cuh"

#define PW_LAUNCHER_NS PW_KERNEL_NS
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace pw::kernels::PW_KERNEL_NS {

namespace {

// Everything a GEMM kernel needs, passed by value (one parameter keeps the ladder's kernels'
// signatures identical). Dimensions fit in int (checked on the host); offsets are 64-bit.
struct GemmArgs {
  int M, N, K;
  float alpha, beta;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float* C;
  int64_t ldc;
  // Problem z of the batch: X + (z / inner) * x_outer + (z % inner) * x_inner (gemm.inc).
  int64_t z0, inner, a_outer, a_inner, b_outer, b_inner, c_outer, c_inner;
  // float4 global accesses are allowed: the base pointer is 16-byte aligned and the leading
  // dimension and batch strides are multiples of 4 floats (used by v5, and v4 in the ladder).
  bool vec_a, vec_b, vec_c;
};

// The pointers of this block's problem in the batch.
__device__ __forceinline__ void batch_pointers(const GemmArgs& p, const float*& A, const float*& B, float*& C) {
  const int64_t z = p.z0 + blockIdx.z;
  const int64_t outer = z / p.inner, inner = z - outer * p.inner;
  A = p.A + outer * p.a_outer + inner * p.a_inner;
  B = p.B + outer * p.b_outer + inner * p.b_inner;
  C = p.C + outer * p.c_outer + inner * p.c_inner;
}

// op(A)[m][k] and op(B)[k][n], zero outside the matrix.
template <bool TA>
__device__ __forceinline__ float load_a(const GemmArgs& p, const float* A, int m, int k) {
  if (m >= p.M || k >= p.K) return 0.0f;
  return TA ? A[(int64_t)k * p.lda + m] : A[(int64_t)m * p.lda + k];
}
template <bool TB>
__device__ __forceinline__ float load_b(const GemmArgs& p, const float* B, int k, int n) {
  if (k >= p.K || n >= p.N) return 0.0f;
  return TB ? B[(int64_t)n * p.ldb + k] : B[(int64_t)k * p.ldb + n];
}

// C[m][n] = alpha * acc + beta * C[m][n], not reading C when beta == 0. The caller checks
// that (m, n) is inside C.
__device__ __forceinline__ void store_c(const GemmArgs& p, float* C, int m, int n, float acc) {
  float* c = C + (int64_t)m * p.ldc + n;
  *c = p.beta == 0.0f ? p.alpha * acc : p.alpha * acc + p.beta * *c;
}

// Four consecutive results C[m][n..n+3] (the caller checks m < M): one float4 access when
// allowed and all four columns exist, else element by element up to the edge.
__device__ __forceinline__ void store_c4(const GemmArgs& p, float* C, int m, int n, float a0, float a1, float a2,
                                         float a3) {
  float* c = C + (int64_t)m * p.ldc + n;
  if (p.vec_c && n + 3 < p.N) {
    float4 v = make_float4(p.alpha * a0, p.alpha * a1, p.alpha * a2, p.alpha * a3);
    if (p.beta != 0.0f) {
      const float4 old = *reinterpret_cast<const float4*>(c);
      v.x += p.beta * old.x;
      v.y += p.beta * old.y;
      v.z += p.beta * old.z;
      v.w += p.beta * old.w;
    }
    *reinterpret_cast<float4*>(c) = v;
    return;
  }
  const float a[4] = {a0, a1, a2, a3};
  for (int q = 0; q < 4 && n + q < p.N; ++q) store_c(p, C, m, n + q, a[q]);
}

// ------------------------------------------------------------------------- v1: naive
// Block 32 x 8: threadIdx.x along n (coalesced B and C), threadIdx.y along m.
constexpr int kV1X = 32, kV1Y = 8;

template <bool TA, bool TB>
__global__ void __launch_bounds__(kV1X* kV1Y) sgemm_v1_naive(GemmArgs p) {
  const float *A, *B;
  float* C;
  batch_pointers(p, A, B, C);
  const int n = blockIdx.x * kV1X + threadIdx.x;
  const int m = blockIdx.y * kV1Y + threadIdx.y;
  if (m >= p.M || n >= p.N) return;
  float acc = 0.0f;
  for (int k = 0; k < p.K; ++k) acc += load_a<TA>(p, A, m, k) * load_b<TB>(p, B, k, n);
  store_c(p, C, m, n, acc);
}

// ------------------------------------------------------------------------- v2: shared 32x32
// Block 32 x 32 threads, one element of C each. Per K-step of 32, every thread loads one
// element of each tile. The loads follow the storage order (consecutive threadIdx.x read
// consecutive addresses whether or not the operand is transposed), and the tile is stored
// [m][k] / [k][n] in shared memory; the +1 padding keeps the transposed stores free of bank
// conflicts.
constexpr int kV2 = 32;

template <bool TA, bool TB>
__global__ void __launch_bounds__(kV2* kV2) sgemm_v2_shared(GemmArgs p) {
  __shared__ float As[kV2][kV2 + 1];  // As[m][k]
  __shared__ float Bs[kV2][kV2 + 1];  // Bs[k][n]
  const float *A, *B;
  float* C;
  batch_pointers(p, A, B, C);
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int m0 = blockIdx.y * kV2, n0 = blockIdx.x * kV2;
  float acc = 0.0f;
  for (int k0 = 0; k0 < p.K; k0 += kV2) {
    if (TA)
      As[tx][ty] = load_a<TA>(p, A, m0 + tx, k0 + ty);  // stored [K][M]: m contiguous
    else
      As[ty][tx] = load_a<TA>(p, A, m0 + ty, k0 + tx);
    if (TB)
      Bs[tx][ty] = load_b<TB>(p, B, k0 + tx, n0 + ty);  // stored [N][K]: k contiguous
    else
      Bs[ty][tx] = load_b<TB>(p, B, k0 + ty, n0 + tx);
    __syncthreads();
    for (int k = 0; k < kV2; ++k) acc += As[ty][k] * Bs[k][tx];  // As: broadcast in a warp
    __syncthreads();
  }
  if (m0 + ty < p.M && n0 + tx < p.N) store_c(p, C, m0 + ty, n0 + tx, acc);
}

// ------------------------------------------------------------------------- v3: 1-D blocking
// Tiles BM x BN = 64 x 64, BK = 8, 512 threads. Thread t owns column t % 64 and the TM = 8
// rows 8 * (t / 64) ..: per k it reads one B value into a register and 8 A values, which
// sit next to each other because A's tile is stored transposed (As[k][m]). Loads are scalar,
// one element of each tile per thread, in storage order; the row length BM + 4 spreads the
// transposed stores over the banks.
constexpr int kV3BM = 64, kV3BN = 64, kV3BK = 8, kV3TM = 8;
constexpr int kV3Threads = kV3BM * kV3BN / kV3TM;  // 512

template <bool TA, bool TB>
__global__ void __launch_bounds__(kV3Threads) sgemm_v3_blocktile_1d(GemmArgs p) {
  constexpr int BM = kV3BM, BN = kV3BN, BK = kV3BK, TM = kV3TM, LDA = BM + 4, LDB = BN + 4;
  __shared__ float As[BK * LDA];  // As[k][m]
  __shared__ float Bs[BK * LDB];  // Bs[k][n]
  const float *A, *B;
  float* C;
  batch_pointers(p, A, B, C);
  const int t = threadIdx.x;
  const int col = t % BN, row0 = (t / BN) * TM;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  static_assert(BM * BK == kV3Threads && BK * BN == kV3Threads, "one element per thread");
  // This thread's element of each tile, chosen so that consecutive threads read consecutive
  // addresses of the stored matrix.
  const int am = TA ? t % BM : t / BK, ak = TA ? t / BM : t % BK;
  const int bk = TB ? t % BK : t / BN, bn = TB ? t / BK : t % BN;
  float acc[TM] = {};
  for (int k0 = 0; k0 < p.K; k0 += BK) {
    As[ak * LDA + am] = load_a<TA>(p, A, m0 + am, k0 + ak);
    Bs[bk * LDB + bn] = load_b<TB>(p, B, k0 + bk, n0 + bn);
    __syncthreads();
    for (int k = 0; k < BK; ++k) {
      const float b = Bs[k * LDB + col];
      for (int i = 0; i < TM; ++i) acc[i] += As[k * LDA + row0 + i] * b;
    }
    __syncthreads();
  }
  const int n = n0 + col;
  if (n < p.N)
    for (int i = 0; i < TM; ++i)
      if (m0 + row0 + i < p.M) store_c(p, C, m0 + row0 + i, n, acc[i]);
}

// ------------------------------------------------------------------------- float4 tile loads
// v5 (and v4 in bench/kernels/gemm.cu) loads tiles with gemm_tiles::TileLoader
// (kernels/cuda/gemm_tiles.cuh): float4 units along the stored matrix's contiguous dimension
// (coalesced whether or not the operand is transposed), one float4 load where the layout
// allows it, scalar loads at the edges, and the tile written to shared memory as S[k][mn] so
// that the multiply reads contiguous values.
using gemm_tiles::load4;
using gemm_tiles::TileLoader;
using gemm_tiles::WarpTile;

// ------------------------------------------------------------------------- v5: warp tiling
// Tiles 128 x 128, BK = 16, 256 threads = 8 warps as 2 (m) x 4 (n), each warp owning a
// 64 x 32 warp tile; gemm_tiles::WarpTile has the geometry and the multiply step (shared with
// the implicit-GEMM convolution). Within the warp tile, lane (lm, ln) owns four interleaved
// 4 x 4 sub-tiles, so that per k a warp reads A at 8 distinct consecutive float4s and B at 4:
// conflict-free shared loads. Shared memory is double-buffered: the next tile's float4s are
// fetched into registers before the current tile is multiplied and stored into the other
// buffer after, so one barrier per tile suffices and the global latency hides behind the FMAs.
constexpr int kV5BM = WarpTile::BM, kV5BN = WarpTile::BN;
constexpr int kV5Threads = WarpTile::kThreads;  // 256

template <bool TA, bool TB>
__global__ void __launch_bounds__(kV5Threads) sgemm_v5_warptile(GemmArgs p) {
  constexpr int BM = WarpTile::BM, BN = WarpTile::BN, BK = WarpTile::BK;
  constexpr int LDA = WarpTile::LDA, LDB = WarpTile::LDB;
  using LoadA = TileLoader<TA, BM, BK, kV5Threads, LDA>;
  using LoadB = TileLoader<!TB, BN, BK, kV5Threads, LDB>;
  __shared__ __align__(16) float As[2][BK * LDA];  // As[buf][k][m]
  __shared__ __align__(16) float Bs[2][BK * LDB];  // Bs[buf][k][n]
  const float *A, *B;
  float* C;
  batch_pointers(p, A, B, C);
  const WarpTile wt;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int tiles = (p.K + BK - 1) / BK;

  float acc[WarpTile::TM][WarpTile::TN] = {};
  float4 ra[LoadA::kPerThread], rb[LoadB::kPerThread];
  if (tiles > 0) {
    LoadA::fetch(A, p.lda, p.vec_a, p.M, p.K, m0, 0, ra);
    LoadB::fetch(B, p.ldb, p.vec_b, p.N, p.K, n0, 0, rb);
    LoadA::stash(ra, As[0]);
    LoadB::stash(rb, Bs[0]);
  }
  __syncthreads();
  for (int t = 0; t < tiles; ++t) {
    const int cur = t & 1;
    const bool more = t + 1 < tiles;
    if (more) {  // in flight while the FMAs below run
      LoadA::fetch(A, p.lda, p.vec_a, p.M, p.K, m0, (t + 1) * BK, ra);
      LoadB::fetch(B, p.ldb, p.vec_b, p.N, p.K, n0, (t + 1) * BK, rb);
    }
    wt.multiply(As[cur], Bs[cur], acc);
    if (more) {  // the other buffer was last read before the previous barrier
      LoadA::stash(ra, As[cur ^ 1]);
      LoadB::stash(rb, Bs[cur ^ 1]);
    }
    __syncthreads();
  }
  for (int i = 0; i < WarpTile::TM; ++i) {
    const int m = m0 + wt.row(i);
    if (m >= p.M) continue;
    for (int j = 0; j < WarpTile::TN; j += 4) {  // 4 consecutive columns
      const int n = n0 + wt.col(j);
      if (n < p.N) store_c4(p, C, m, n, acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]);
    }
  }
}

// ------------------------------------------------------------------------- C = beta * C
// For alpha == 0 or K == 0, where A and B must not be read.
__global__ void scale_c_kernel(GemmArgs p, int64_t count) {
  const int64_t per = (int64_t)p.M * p.N;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < per * count;
       i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t z = i / per, e = i - z * per;
    const int64_t outer = z / p.inner, inner = z - outer * p.inner;
    float* c = p.C + outer * p.c_outer + inner * p.c_inner + (e / p.N) * p.ldc + e % p.N;
    *c = p.beta == 0.0f ? 0.0f : p.beta * *c;
  }
}

// ------------------------------------------------------------------------- host side

// A rung of the ladder as the host runs it: its block tile (for the grid), its threads, and
// its kernel for each transpose combination. bench/kernels/gemm.cu runs the rungs the engine
// does not keep (v4) through the same runner.
using GemmKernel = void (*)(GemmArgs);
struct GemmVersion {
  int number;               // the rung, as numbered in the ladder
  const char* name;         // "v5 warp tiling"
  int bm, bn;               // block tile
  dim3 block;               // threads
  GemmKernel kernel[2][2];  // [trans_a][trans_b]
};
// The four instantiations of a kernel template, for GemmVersion::kernel.
#define PW_GEMM_KERNELS(k)                                               \
  {                                                                      \
    {k<false, false>, k<false, true>}, { k<true, false>, k<true, true> } \
  }

const GemmVersion kNaive{1, "v1 naive", kV1Y, kV1X, dim3(kV1X, kV1Y), PW_GEMM_KERNELS(sgemm_v1_naive)};
const GemmVersion kShared{2, "v2 shared 32x32", kV2, kV2, dim3(kV2, kV2), PW_GEMM_KERNELS(sgemm_v2_shared)};
const GemmVersion kBlocktile1d{3,     "v3 1-D register blocking", kV3BM,
                               kV3BN, dim3(kV3Threads),           PW_GEMM_KERNELS(sgemm_v3_blocktile_1d)};
const GemmVersion kWarptile{5, "v5 warp tiling", kV5BM, kV5BN, dim3(kV5Threads), PW_GEMM_KERNELS(sgemm_v5_warptile)};
// The rungs the dispatcher chooses from, in ladder order.
const GemmVersion* const kEngineVersions[] = {&kNaive, &kShared, &kBlocktile1d, &kWarptile};

constexpr unsigned kMaxGridYZ = 65535;

// The dispatcher's choice. Thresholds are by the number of blocks each tile size would
// launch (an H100 has 132 SMs): the 128x128 tiles of v5 only when there are enough of them
// to occupy the GPU, v3's 64x64 tiles for medium problems, the naive kernel when the whole
// problem is tiny (2^18 FMAs) or K too short (<= 8) for staging tiles to pay off. Not tuned
// on a GPU yet (bench/kernels/gemm.cu times every rung at a given shape and says which one
// this picks; bench/bench_cuda_gemm.cpp times the dispatcher against cuBLAS).
const GemmVersion& choose_version(int64_t M, int64_t N, int64_t K, int64_t count) {
  const auto tiles = [&](int64_t bm, int64_t bn) { return ((M + bm - 1) / bm) * ((N + bn - 1) / bn) * count; };
  if (tiles(kV5BM, kV5BN) >= 64 && K >= 32) return kWarptile;
  if (tiles(kV3BM, kV3BN) >= 32 && K >= 16) return kBlocktile1d;
  if ((double)M * N * K * count <= 262144.0 || K <= 8) return kNaive;
  return kShared;
}

// The engine's rung numbered `number`, or an error naming the ones it has.
const GemmVersion& engine_version(int number) {
  std::string have;
  for (const GemmVersion* v : kEngineVersions) {
    if (v->number == number) return *v;
    have += (have.empty() ? "" : ", ") + std::to_string(v->number);
  }
  throw std::runtime_error("sgemm: the engine has no version " + std::to_string(number) + " (it keeps " + have +
                           "; the whole ladder is in bench/kernels/gemm.cu)");
}

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

void check_dim(int64_t v, const char* what) {
  if (v < 0 || v > INT32_MAX)
    throw std::runtime_error(std::string("sgemm: ") + what + " = " + std::to_string(v) + " is outside [0, 2^31)");
}

// The kernels' argument block for one problem shape and batch (dimensions checked).
GemmArgs make_args(const GemmBatch& batch, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                   const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  check_dim(M, "M");
  check_dim(N, "N");
  check_dim(K, "K");
  if (batch.count < 0 || batch.inner < 1) throw std::runtime_error("sgemm: batch count must be >= 0 and inner >= 1");
  GemmArgs p{};
  p.M = (int)M;
  p.N = (int)N;
  p.K = (int)K;
  p.alpha = alpha;
  p.beta = beta;
  p.A = A;
  p.lda = lda;
  p.B = B;
  p.ldb = ldb;
  p.C = C;
  p.ldc = ldc;
  p.inner = batch.inner;
  p.a_outer = batch.a_outer;
  p.a_inner = batch.a_inner;
  p.b_outer = batch.b_outer;
  p.b_inner = batch.b_inner;
  p.c_outer = batch.c_outer;
  p.c_inner = batch.c_inner;
  const auto vec_ok = [](const void* ptr, int64_t ld, int64_t s1, int64_t s2) {
    return aligned16(ptr) && ld % 4 == 0 && s1 % 4 == 0 && s2 % 4 == 0;
  };
  p.vec_a = vec_ok(A, lda, batch.a_outer, batch.a_inner);
  p.vec_b = vec_ok(B, ldb, batch.b_outer, batch.b_inner);
  p.vec_c = vec_ok(C, ldc, batch.c_outer, batch.c_inner);
  return p;
}

// Runs `v` over the whole batch. grid.y (row tiles) and grid.z (problems) are limited to
// 65535 per launch: larger problems go in several launches, moving the row origin (a
// multiple of the tile height, which keeps float4 alignment) and the first problem.
void launch_version(const GemmVersion& v, const GemmArgs& p, int64_t count, bool ta, bool tb) {
  const GemmKernel kernel = v.kernel[ta][tb];
  const int64_t rows_per_launch = (int64_t)kMaxGridYZ * v.bm;
  for (int64_t z0 = 0; z0 < count; z0 += kMaxGridYZ) {
    const int64_t nz = std::min<int64_t>(kMaxGridYZ, count - z0);
    for (int64_t r0 = 0; r0 < p.M; r0 += rows_per_launch) {
      const int64_t rows = std::min<int64_t>(rows_per_launch, p.M - r0);
      GemmArgs q = p;
      q.z0 = z0;
      q.M = (int)rows;
      q.A = ta ? p.A + r0 : p.A + r0 * p.lda;
      q.C = p.C + r0 * p.ldc;
      const dim3 grid((unsigned)((p.N + v.bn - 1) / v.bn), (unsigned)((rows + v.bm - 1) / v.bm), (unsigned)nz);
      PW_LAUNCH(kernel, grid, v.block, 0, 0)(q);
      PW_CUDA_CHECK_LAUNCH();
    }
  }
}

// The whole operation with rung `version`, or the dispatcher's choice when it is null.
void run(const GemmBatch& batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
         int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmVersion* version) {
  const GemmArgs p = make_args(batch, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (M == 0 || N == 0 || batch.count == 0) return;
  if (alpha == 0.0f || K == 0) {
    const int64_t total = M * N * batch.count;
    const int blocks = (int)std::min<int64_t>((total + 255) / 256, 4096);
    PW_LAUNCH(scale_c_kernel, blocks, 256, 0, 0)(p, batch.count);
    PW_CUDA_CHECK_LAUNCH();
    return;
  }
  // The matmul precision tf32 / bf16 (kernels/cuda/api/gemm_tc.inc) sends the dispatcher's GEMMs to the tensor cores.
  if (!version && matmul_precision() != MatmulPrecision::fp32 && tensor_cores_available(Tag{})) {
    gemm_tensor_core(Tag{}, matmul_precision(), batch, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const GemmVersion& v = version ? *version : choose_version(M, N, K, batch.count);
  launch_version(v, p, batch.count, ta, tb);
}

}  // namespace

void sgemm(Tag, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  run(GemmBatch{}, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, nullptr);
}

void sgemm_batched(Tag, const GemmBatch& batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                   float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                   int64_t ldc, int version) {
  run(batch, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
      version == 0 ? nullptr : &engine_version(version));
}

std::vector<int> sgemm_versions(Tag) {
  std::vector<int> numbers;
  for (const GemmVersion* v : kEngineVersions) numbers.push_back(v->number);
  return numbers;
}

}  // namespace pw::kernels::PW_KERNEL_NS
