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
//   v3 1-D blocking     64x64 tiles, BK = 8, 512 threads; each thread computes a column of
//                       TM = 8 results, keeping the B value in a register across them:
//                       9 shared loads per 8 FMAs.                         ~30-40% of cuBLAS
//                       (v2 and v3 stay in the dispatcher's table, but v5's smaller tiles
//                       are estimated faster wherever they would be chosen.)
//   (v4 2-D blocking    128x128 tiles, 8x8 results per thread, float4 loads: only in
//    + float4           bench/kernels/gemm.cu; v5 does everything it does, better.)
//   v5 warp tiling      the block tile is split into warp tiles (64x32, or 32x32 in the
//                       64x64 tile) and each warp's lanes own interleaved 4x4 sub-tiles of
//                       it, so a warp's shared loads are distinct contiguous float4s: no
//                       bank conflicts, and the warp's working set matches the register
//                       file. BK = 16 and double-buffered shared memory: the next tile is
//                       fetched into registers while the current one is multiplied, one
//                       barrier per tile. Global memory is read and written with float4
//                       accesses where the pointer, leading dimension and batch strides
//                       allow it (16-byte aligned), with scalar accesses otherwise and at the
//                       matrix edges. Block tiles 128x128 (256 threads), 128x64, 64x128 and
//                       64x64 (128 threads): the smaller ones give problems with few output
//                       tiles more blocks. Blocks are swizzled in groups of 8 tile rows for
//                       L2 reuse.                                          ~75-90% of cuBLAS
//                       Split-K: when the output tiles are too few to fill the GPU and K is
//                       long (the conv weight gradients, small-batch Linear layers), each
//                       block multiplies one K-slice and writes its raw partial tile to a
//                       workspace; a second kernel sums the slices in slice order (the same
//                       bits on every run, whatever order the blocks ran in) and applies
//                       alpha and beta.
//
// The dispatcher (kernels/cuda/gemm_plan.h) scores every tile shape and split count by
// estimated waves and per-block work on the GPU's SM count (an H100's 132 on simt) and runs the
// fastest estimate; its table is estimates until a GPU measures them.
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
// of C is one thread's fixed-order sum, or split-K's fixed-order sum of such sums). A batch of problems of one shape
// runs in one launch (blockIdx.z), which conv2d and batched matmul use.
#include "kernels/cuda/compat.cuh"
#include "kernels/cuda/gemm_plan.h"
#include "kernels/cuda/gemm_tiles.cuh"
#include "kernels/cuda/grid.cuh"
#include "kernels/cuda/profile.cuh"

#define PW_LAUNCHER_NS PW_KERNEL_NS
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace pw::kernels::PW_KERNEL_NS {

namespace {

#include "kernels/cuda/gemm_args.cuh"

// The pointers of problem z0 + z of the batch.
__device__ __forceinline__ void problem_pointers(const GemmArgs& p, int64_t z, const float*& A, const float*& B,
                                                 float*& C) {
  z += p.z0;
  const int64_t outer = z / p.inner, inner = z - outer * p.inner;
  A = p.A + outer * p.a_outer + inner * p.a_inner;
  B = p.B + outer * p.b_outer + inner * p.b_inner;
  C = p.C + outer * p.c_outer + inner * p.c_inner;
}
// The pointers of this block's problem (blockIdx.z; split-K's v5 divides it by the splits).
__device__ __forceinline__ void batch_pointers(const GemmArgs& p, const float*& A, const float*& B, float*& C) {
  problem_pointers(p, blockIdx.z, A, B, C);
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

#include "kernels/cuda/gemm_warptile.cuh"  // v5 in four tile shapes, split-K and its reduction

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
// v5 in the four block tiles of gemm_tiles.cuh; the first is the rung's own (version 5 forced).
#define PW_GEMM_WARP(WT)                                                                                 \
  {                                                                                                      \
    {sgemm_v5_warptile<gemm_tiles::WT, false, false>, sgemm_v5_warptile<gemm_tiles::WT, false, true>}, { \
      sgemm_v5_warptile<gemm_tiles::WT, true, false>, sgemm_v5_warptile<gemm_tiles::WT, true, true>      \
    }                                                                                                    \
  }
const GemmVersion kWarptile{5, "v5 warp tiling 128x128", 128, 128, dim3(WarpTile::kThreads), PW_GEMM_WARP(WarpTile)};
const GemmVersion kWarptile128x64{
    5, "v5 warp tiling 128x64", 128, 64, dim3(gemm_tiles::WarpTile128x64::kThreads), PW_GEMM_WARP(WarpTile128x64)};
const GemmVersion kWarptile64x128{
    5, "v5 warp tiling 64x128", 64, 128, dim3(gemm_tiles::WarpTile64x128::kThreads), PW_GEMM_WARP(WarpTile64x128)};
const GemmVersion kWarptile64x64{
    5, "v5 warp tiling 64x64", 64, 64, dim3(gemm_tiles::WarpTile64x64::kThreads), PW_GEMM_WARP(WarpTile64x64)};
// The rungs sgemm_versions() names, in ladder order, and every kernel a plan can name.
const GemmVersion* const kEngineVersions[] = {&kNaive, &kShared, &kBlocktile1d, &kWarptile};
const GemmVersion* const kPlannable[] = {&kNaive,          &kShared,         &kBlocktile1d,  &kWarptile,
                                         &kWarptile128x64, &kWarptile64x128, &kWarptile64x64};

constexpr unsigned kMaxGridYZ = 65535;

// The SM count the dispatcher plans for: the GPU's own (asked once per device) under nvcc;
// an H100's 132 on simt, so that the CPU checks run the paths (tiles, splits) an H100 takes.
int planning_sms() {
#ifdef __CUDACC__
  int device = 0;
  PW_CUDA_CHECK(cudaGetDevice(&device));
  static std::mutex mu;
  static std::map<int, int> sms;
  const std::lock_guard<std::mutex> lock(mu);
  auto it = sms.find(device);
  if (it == sms.end()) {
    int n = 0;
    PW_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    it = sms.emplace(device, n).first;
  }
  return it->second;
#else
  return gemm_plan::kH100Sms;
#endif
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

// The split-K workspace: per device one cached cudaMalloc buffer of the largest plan's size
// (plans stay under gemm_plan::kMaxWorkspaceFloats, 32 MiB), made at the first split-K GEMM and
// kept for the process's life, like cuBLAS's workspace; it is not in the engine allocator's
// counters. Made at full size so that it never grows: growing frees the old buffer, and that
// waits for the device (cudaDeviceSynchronize, cudaFree), which a training step must not. Only
// when the device cannot give the full size is a smaller one made, and grown when needed. Its lock is
// held from taking the buffer until the reduction is enqueued: every launch here goes to the
// legacy default stream, which runs them in order, so another thread's partial tiles cannot
// land between ours and our reduction.
class SplitWorkspace {
 public:
  static SplitWorkspace& instance() {
    static SplitWorkspace w;
    return w;
  }
  std::mutex& mutex() { return mu_; }
  // `floats` of workspace on the current device (the caller holds mutex()), or null when the
  // device has no memory for it (the caller then runs unsplit).
  float* get(int64_t floats) {
    int device = 0;
    PW_CUDA_CHECK(cudaGetDevice(&device));
    Buffer& b = buffers_[device];
    if (b.floats >= floats) return b.ptr;
    if (b.ptr) {
      PW_CUDA_CHECK(cudaDeviceSynchronize());  // launches still reading the old buffer
      PW_CUDA_CHECK(cudaFree(b.ptr));
      b = Buffer{};
    }
    void* p = nullptr;
    for (int64_t want : {std::max(floats, gemm_plan::kMaxWorkspaceFloats), floats})
      if (cudaMalloc(&p, size_t(want) * sizeof(float)) == cudaSuccess) {
        b = Buffer{static_cast<float*>(p), want};
        return b.ptr;
      }
    cudaGetLastError();  // out of memory is not an error here: split-K is optional
    return nullptr;
  }

 private:
  struct Buffer {
    float* ptr = nullptr;
    int64_t floats = 0;
  };
  std::mutex mu_;
  std::map<int, Buffer> buffers_;
};

// Runs `v` over the whole batch, in `splits` K-slices of k_slice (v5; 1 and K otherwise) with
// the partial tiles in `workspace`. grid.y (row tiles) and grid.z (problems x slices) are
// limited to 65535 per launch: larger problems go in several launches, moving the row origin
// (a multiple of the tile height, which keeps float4 alignment) and the first problem.
void launch_version(const GemmVersion& v, const GemmArgs& p, int64_t count, bool ta, bool tb, int splits = 1,
                    int64_t k_slice = 0, float* workspace = nullptr) {
  const GemmKernel kernel = v.kernel[ta][tb];
  const int64_t rows_per_launch = (int64_t)kMaxGridYZ * v.bm;
  const int64_t z_per_launch = kMaxGridYZ / splits;
  for (int64_t z0 = 0; z0 < count; z0 += z_per_launch) {
    const int64_t nz = std::min<int64_t>(z_per_launch, count - z0);
    for (int64_t r0 = 0; r0 < p.M; r0 += rows_per_launch) {
      const int64_t rows = std::min<int64_t>(rows_per_launch, p.M - r0);
      GemmArgs q = p;
      q.z0 = z0;
      q.M = (int)rows;
      q.A = ta ? p.A + r0 : p.A + r0 * p.lda;
      q.C = p.C + r0 * p.ldc;
      q.splits = splits;
      q.k_slice = splits > 1 ? (int)k_slice : p.K;
      q.partial = splits > 1 ? workspace : nullptr;
      q.vec_w = p.N % 4 == 0;
      const dim3 grid((unsigned)((p.N + v.bn - 1) / v.bn), (unsigned)((rows + v.bm - 1) / v.bm),
                      (unsigned)(nz * splits));
      PW_PROFILE_FLOPS(2.0 * (double)rows * p.N * p.K * nz);  // one FMA per (row, column, k, problem)
      PW_LAUNCH(kernel, grid, v.block, 0, 0)(q);
      PW_CUDA_CHECK_LAUNCH();
      if (splits == 1) continue;
      const dim3 reduce_grid((unsigned)grid_blocks(rows * p.N, 256, 4096), (unsigned)nz);
      PW_PROFILE_FLOPS((double)rows * p.N * nz * splits);  // one add per partial tile element
      PW_LAUNCH(splitk_reduce_kernel, reduce_grid, 256, 0, 0)(q);
      PW_CUDA_CHECK_LAUNCH();
    }
  }
}

// The kernel a plan names, or an error naming the plan.
const GemmVersion& plannable(const gemm_plan::Plan& plan) {
  for (const GemmVersion* v : kPlannable)
    if (v->number == plan.version && (v->number != 5 || (v->bm == plan.bm && v->bn == plan.bn))) return *v;
  throw std::runtime_error("sgemm: no kernel for the plan " + plan.describe() +
                           " (v1, v2, v3, or v5 in 128x128, 128x64, 64x128, 64x64)");
}

// Runs `plan` (made for this problem by gemm_plan::choose or evaluate), split or not.
void run_plan(const GemmArgs& p, int64_t count, bool ta, bool tb, const gemm_plan::Plan& plan) {
  const GemmVersion& v = plannable(plan);
  if (plan.splits <= 1) {
    launch_version(v, p, count, ta, tb);
    return;
  }
  SplitWorkspace& ws = SplitWorkspace::instance();
  const std::lock_guard<std::mutex> lock(ws.mutex());
  float* workspace = ws.get(plan.workspace_floats);
  if (!workspace) {
    launch_version(v, p, count, ta, tb);
    return;
  }
  launch_version(v, p, count, ta, tb, plan.splits, plan.k_slice, workspace);
}

// gemm_plan::choose, remembered per thread for the last shapes seen: scoring every tile and
// split count takes microseconds, as long as a small kernel launch, and a training step runs
// the same few shapes again and again.
gemm_plan::Plan cached_choice(int64_t M, int64_t N, int64_t K, int64_t count, bool ta, bool tb, int sms) {
  struct Entry {
    int64_t key[6];
    gemm_plan::Plan plan;
  };
  thread_local std::vector<Entry> cache;
  const int64_t key[6] = {M, N, K, count, (int64_t)ta * 2 + tb, sms};
  for (const Entry& e : cache)
    if (std::equal(key, key + 6, e.key)) return e.plan;
  if (cache.size() >= 64) cache.clear();
  Entry e{{M, N, K, count, key[4], sms}, gemm_plan::choose(M, N, K, count, ta, tb, sms)};
  cache.push_back(e);
  return e.plan;
}

// The dispatcher's plan, or `forced` (a rung, or a v5 tile and split count) made for this
// problem: normalized and estimated as the dispatcher would.
gemm_plan::Plan make_plan(int64_t M, int64_t N, int64_t K, int64_t count, bool ta, bool tb,
                          const gemm_plan::Plan* forced) {
  const int sms = planning_sms();
  if (!forced) return cached_choice(M, N, K, count, ta, tb, sms);
  if (forced->version == 1) return gemm_plan::Plan{};
  const GemmVersion& v = plannable(*forced);
  for (const gemm_plan::TileShape& shape : gemm_plan::kShapes)
    if (shape.version == v.number && shape.bm == v.bm && shape.bn == v.bn)
      return gemm_plan::evaluate(shape, forced->splits, M, N, K, count, sms);
  throw std::runtime_error("sgemm: " + std::string(v.name) + " has no row in gemm_plan::kShapes");
}

// The whole operation: with rung `version` unsplit, else with `forced`, else as planned.
void run(const GemmBatch& batch, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
         int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const GemmVersion* version,
         const gemm_plan::Plan* forced = nullptr) {
  const GemmArgs p = make_args("sgemm", batch, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (M == 0 || N == 0 || batch.count == 0) return;
  if (alpha == 0.0f || K == 0) {
    const int64_t total = M * N * batch.count;
    const int blocks = (int)std::min<int64_t>((total + 255) / 256, 4096);
    PW_LAUNCH(scale_c_kernel, blocks, 256, 0, 0)(p, batch.count);
    PW_CUDA_CHECK_LAUNCH();
    return;
  }
  if (version) {
    launch_version(*version, p, batch.count, ta, tb);
    return;
  }
  // The matmul precision tf32 / bf16 (kernels/cuda/api/gemm_tc.inc) sends the dispatcher's GEMMs
  // to the tensor cores; a forced plan (sgemm_with_plan) keeps the FP32 kernel it names.
  if (!forced && matmul_precision() != MatmulPrecision::fp32 && tensor_cores_available(Tag{})) {
    gemm_tensor_core(Tag{}, matmul_precision(), batch, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  run_plan(p, batch.count, ta, tb, make_plan(M, N, K, batch.count, ta, tb, forced));
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

gemm_plan::Plan sgemm_plan(Tag, int64_t M, int64_t N, int64_t K, int64_t count, bool trans_a, bool trans_b) {
  return make_plan(std::max<int64_t>(M, 1), std::max<int64_t>(N, 1), std::max<int64_t>(K, 1),
                   std::max<int64_t>(count, 1), trans_a, trans_b, nullptr);
}

void sgemm_with_plan(Tag, const GemmBatch& batch, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                     float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                     int64_t ldc, const gemm_plan::Plan& plan) {
  run(batch, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, nullptr, &plan);
}

std::vector<int> sgemm_versions(Tag) {
  std::vector<int> numbers;
  for (const GemmVersion* v : kEngineVersions) numbers.push_back(v->number);
  return numbers;
}

}  // namespace pw::kernels::PW_KERNEL_NS
