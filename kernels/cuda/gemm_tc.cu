// GEMM on the tensor cores, C = alpha * op(A) op(B) + beta * C in row-major storage, with the
// semantics of sgemm_batched (kernels/cuda/api/gemm.inc) and the inputs rounded to TF32 or BF16,
// FP32 accumulate (kernels/cuda/api/gemm_tc.inc: the precision setting that routes the engine's
// GEMMs here). One kernel template, two number formats:
//
//   TF32   mma.sync.m16n8k8: A and B fragments rounded with cvt.rna.tf32 (10 mantissa bits,
//          unit roundoff 2^-11). Operands whose tile has k contiguous in shared memory (A plain,
//          B transposed) are loaded with ldmatrix: ldmatrix moves 8x8 matrices of 16-bit
//          elements, i.e. 8 rows of 16 bytes = 8 x 4 floats, and gives lane i the 32 bits at
//          row i / 4, column i % 4 -- exactly the m16n8k8 .tf32 fragment (row groupID, column
//          threadID_in_group), so one ldmatrix.x4 loads A's 16x8 fragment and one .x2 B's 8x8.
//          Tiles with m or n contiguous (A transposed, B plain) would need a transpose of
//          32-bit elements, which ldmatrix.trans (16-bit) does not do: those fragments are plain
//          32-bit shared loads, conflict-free with the padding below.
//   BF16   mma.sync.m16n8k16: the fragments are built from the same FP32 tiles, each pair of
//          consecutive k converted with cvt.rn.bf16x2 (round to nearest even, 7 mantissa bits,
//          unit roundoff 2^-8). The inputs are FP32 tensors, and cp.async cannot convert, so the
//          conversion happens on the way from shared memory to registers; ldmatrix (16-bit
//          data) does not apply to FP32 tiles.
//
// Tiles: a 64 x 64 block tile, BK = 16, 128 threads = 4 warps as 2 x 2, each warp owning a
// 32 x 32 warp tile = 2 x 4 mma tiles of 16 x 8 (32 accumulators per thread). The K loop is a
// 3-stage cp.async pipeline: while tile t is multiplied, tiles t+1 and t+2 are in flight; one
// barrier per tile. Global tiles are copied as stored (16-byte cp.async.cg where the operand is
// 16-byte aligned with a leading dimension and batch strides that are multiples of 4 floats,
// else 4-byte cp.async.ca per element); elements past the matrix edge are zero-filled by the
// copy's source size, so any M, N, K works. beta == 0 never reads C.
//
// Expected: on an H100 the TF32 tensor-core peak is ~495 TFLOP/s dense against 67 for FP32, but
// this first kernel (small tiles, 16-deep stages, no swizzle) is bound by shared-memory traffic
// long before that; not tuned and not measured on a GPU (bench/RESULTS.md: "not run"). simt
// checks it against the CPU on every test run (tests/device_checks/gemm_tc.cpp).
#include "kernels/cuda/compat.cuh"
#include "kernels/cuda/mma.cuh"

#define PW_LAUNCHER_NS PW_KERNEL_NS
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace pw::kernels::PW_KERNEL_NS {

namespace {

#include "kernels/cuda/gemm_args.cuh"
using TcArgs = GemmArgs;  // vec_c and the split-K fields are unused here

constexpr int kBM = 64, kBN = 64, kBK = 16, kStages = 3, kThreads = 128;
constexpr int kWM = 32, kWN = 32;             // warp tile: 2 x 2 warps
constexpr int kMI = kWM / 16, kNI = kWN / 8;  // mma tiles per warp tile

// One operand's tile of one stage in shared memory, stored as in global memory:
//   K_CONTIG (A plain, B transposed): S[mn][k], rows of BK + 4 floats;
//   otherwise (A transposed, B plain): S[k][mn], rows of MN + 8 floats.
// Rows stay 16-byte aligned for cp.async; the padding makes the fragment reads conflict-free
// (lane (g, t) reads row g, column t: banks 20 g + t, resp. 8 t + g, all distinct mod 32) and
// puts the 8 rows of an ldmatrix phase in 8 different 16-byte bank groups (rows 80 bytes apart).
template <bool K_CONTIG, int MN>
struct OperandTile {
  static constexpr bool kKContig = K_CONTIG;
  static constexpr int kLd = K_CONTIG ? kBK + 4 : MN + 8;
  static constexpr int kFloats = (K_CONTIG ? MN : kBK) * kLd;
  __device__ __forceinline__ static int index(int mn, int k) { return K_CONTIG ? mn * kLd + k : k * kLd + mn; }

  // Issues this thread's copies of the tile at (mn0, k0) of X (stored MN x K when K_CONTIG, else
  // K x MN; leading dimension ld) into S; zero-fills what lies outside the matrix.
  __device__ __forceinline__ static void load(float* S, const float* X, int64_t ld, bool vec, int mn_extent, int K,
                                              int mn0, int k0) {
    constexpr int kRowLen = K_CONTIG ? kBK : MN, kRows = K_CONTIG ? MN : kBK;
    constexpr int kChunksPerRow = kRowLen / 4, kChunks = kRows * kChunksPerRow;
    static_assert(kChunks % kThreads == 0, "the tile must split evenly over the threads");
    const int rows = K_CONTIG ? mn_extent : K, cols = K_CONTIG ? K : mn_extent;
    for (int i = 0; i < kChunks / kThreads; ++i) {
      const int u = threadIdx.x + i * kThreads;
      const int row = u / kChunksPerRow, col = (u % kChunksPerRow) * 4;
      const int sr = (K_CONTIG ? mn0 : k0) + row, sc = (K_CONTIG ? k0 : mn0) + col;  // stored coordinates
      const int valid = sr < rows ? max(0, min(4, cols - sc)) : 0;                   // floats inside X
      const float* src = valid > 0 ? X + (int64_t)sr * ld + sc : X;
      float* dst = S + row * kLd + col;
      if (vec) {
        cp_async_cg_16(dst, src, 4 * valid);
      } else {
        for (int e = 0; e < 4; ++e) cp_async_ca_4(dst + e, e < valid ? src + e : X, e < valid ? 4 : 0);
      }
    }
  }
};

__device__ __forceinline__ int lane_id() { return threadIdx.x % 32; }

// TF32: m16n8k8. Fragments (g = lane / 4, t = lane % 4): a[r] = A[g + 8 (r % 2)][t + 4 (r / 2)],
// b[r] = B[t + 4 r][g] (PTX ISA, "Matrix fragments for mma.m16n8k8", .tf32).
struct Tf32 {
  static constexpr int kK = 8;
  template <class Tile>
  __device__ __forceinline__ static void load_a(uint32_t (&a)[4], const float* S, int m0, int k0) {
    const int l = lane_id();
    if constexpr (Tile::kKContig) {  // matrices: (rows 0-7 | 8-15) x (k 0-3 | 4-7), addressed by lanes 8j..8j+7
      ldmatrix_x4(a, &S[Tile::index(m0 + l % 8 + 8 * (l / 8 % 2), k0 + 4 * (l / 16))]);
      for (int r = 0; r < 4; ++r) a[r] = cvt_tf32(__uint_as_float(a[r]));
    } else {
      for (int r = 0; r < 4; ++r) a[r] = cvt_tf32(S[Tile::index(m0 + l / 4 + 8 * (r % 2), k0 + l % 4 + 4 * (r / 2))]);
    }
  }
  template <class Tile>
  __device__ __forceinline__ static void load_b(uint32_t (&b)[2], const float* S, int n0, int k0) {
    const int l = lane_id();
    if constexpr (Tile::kKContig) {  // S[n][k]: matrices n 0-7 x (k 0-3 | 4-7), lanes 0-15
      ldmatrix_x2(b, &S[Tile::index(n0 + l % 8, k0 + 4 * (l / 8 % 2))]);
      for (int r = 0; r < 2; ++r) b[r] = cvt_tf32(__uint_as_float(b[r]));
    } else {
      for (int r = 0; r < 2; ++r) b[r] = cvt_tf32(S[Tile::index(n0 + l / 4, k0 + l % 4 + 4 * r)]);
    }
  }
  __device__ __forceinline__ static void mma(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    mma_tf32_m16n8k8(acc, a, b, acc);
  }
};

// BF16: m16n8k16. Each register holds two consecutive k (the lower in the low half):
// a[r] = A[g + 8 (r % 2)][2t + 8 (r / 2) + {0, 1}], b[r] = B[2t + 8 r + {0, 1}][g].
struct Bf16 {
  static constexpr int kK = 16;
  template <class Tile>
  __device__ __forceinline__ static void load_a(uint32_t (&a)[4], const float* S, int m0, int k0) {
    const int l = lane_id();
    for (int r = 0; r < 4; ++r) {
      const int m = m0 + l / 4 + 8 * (r % 2), k = k0 + 2 * (l % 4) + 8 * (r / 2);
      a[r] = cvt_bf16x2(S[Tile::index(m, k)], S[Tile::index(m, k + 1)]);
    }
  }
  template <class Tile>
  __device__ __forceinline__ static void load_b(uint32_t (&b)[2], const float* S, int n0, int k0) {
    const int l = lane_id();
    for (int r = 0; r < 2; ++r) {
      const int n = n0 + l / 4, k = k0 + 2 * (l % 4) + 8 * r;
      b[r] = cvt_bf16x2(S[Tile::index(n, k)], S[Tile::index(n, k + 1)]);
    }
  }
  __device__ __forceinline__ static void mma(float (&acc)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
    mma_bf16_m16n8k16(acc, a, b, acc);
  }
};

// acc += this warp's part of one stage: BK / Format::kK mma steps of 2 x 4 tiles.
template <class Format, class TileA, class TileB>
__device__ __forceinline__ void multiply_stage(const float* As, const float* Bs, int wm, int wn,
                                               float (&acc)[kMI][kNI][4]) {
  for (int kk = 0; kk < kBK; kk += Format::kK) {
    uint32_t a[kMI][4], b[kNI][2];
    for (int i = 0; i < kMI; ++i) Format::template load_a<TileA>(a[i], As, wm + 16 * i, kk);
    for (int j = 0; j < kNI; ++j) Format::template load_b<TileB>(b[j], Bs, wn + 8 * j, kk);
    for (int i = 0; i < kMI; ++i)
      for (int j = 0; j < kNI; ++j) Format::mma(acc[i][j], a[i], b[j]);
  }
}

// C fragment: acc[i][j][r] is C[wm + 16 i + g + 8 (r / 2)][wn + 8 j + 2 t + r % 2].
__device__ __forceinline__ void store_tile(const TcArgs& p, float* C, int m0, int n0, int wm, int wn,
                                           const float (&acc)[kMI][kNI][4]) {
  const int l = lane_id();
  for (int i = 0; i < kMI; ++i)
    for (int j = 0; j < kNI; ++j)
      for (int r = 0; r < 4; ++r) {
        const int m = m0 + wm + 16 * i + l / 4 + 8 * (r / 2), n = n0 + wn + 8 * j + 2 * (l % 4) + r % 2;
        if (m >= p.M || n >= p.N) continue;
        float* c = C + (int64_t)m * p.ldc + n;
        *c = p.beta == 0.0f ? p.alpha * acc[i][j][r] : p.alpha * acc[i][j][r] + p.beta * *c;
      }
}

template <class Format, bool TA, bool TB>
__global__ void __launch_bounds__(kThreads) gemm_tc_kernel(TcArgs p) {
  using TileA = OperandTile<!TA, kBM>;  // A is stored M x K (k contiguous) unless transposed
  using TileB = OperandTile<TB, kBN>;   // B is stored K x N unless transposed (N x K: k contiguous)
  __shared__ __align__(16) float As[kStages][TileA::kFloats];
  __shared__ __align__(16) float Bs[kStages][TileB::kFloats];
  const int64_t z = p.z0 + blockIdx.z, outer = z / p.inner, inner = z - outer * p.inner;
  const float* A = p.A + outer * p.a_outer + inner * p.a_inner;
  const float* B = p.B + outer * p.b_outer + inner * p.b_inner;
  float* C = p.C + outer * p.c_outer + inner * p.c_inner;
  const int warp = threadIdx.x / 32, wm = (warp / 2) * kWM, wn = (warp % 2) * kWN;
  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN, tiles = (p.K + kBK - 1) / kBK;
  const auto load_stage = [&](int stage, int tile) {
    TileA::load(As[stage], A, p.lda, p.vec_a, p.M, p.K, m0, tile * kBK);
    TileB::load(Bs[stage], B, p.ldb, p.vec_b, p.N, p.K, n0, tile * kBK);
  };
  float acc[kMI][kNI][4] = {};
  for (int s = 0; s < kStages - 1; ++s) {  // one group per stage, empty past the last tile
    if (s < tiles) load_stage(s, s);
    cp_async_commit();
  }
  for (int t = 0; t < tiles; ++t) {
    cp_async_wait<kStages - 2>();  // this thread's copies of tile t have landed ...
    __syncthreads();               // ... everyone's, and everyone is done with tile t - 1's stage
    if (t + kStages - 1 < tiles) load_stage((t + kStages - 1) % kStages, t + kStages - 1);
    cp_async_commit();
    multiply_stage<Format, TileA, TileB>(As[t % kStages], Bs[t % kStages], wm, wn, acc);
  }
  cp_async_wait<0>();  // only empty groups remain; leave none behind
  store_tile(p, C, m0, n0, wm, wn, acc);
}

// ------------------------------------------------------------------------- host side

using TcKernel = void (*)(TcArgs);
template <class Format>
TcKernel kernel_for(bool ta, bool tb) {
  if (ta) return tb ? gemm_tc_kernel<Format, true, true> : gemm_tc_kernel<Format, true, false>;
  return tb ? gemm_tc_kernel<Format, false, true> : gemm_tc_kernel<Format, false, false>;
}

constexpr int64_t kMaxGridYZ = 65535;

// grid.y (row tiles) and grid.z (problems) hold at most 65535 per launch: larger problems go
// in several launches, moving the first row (a multiple of 64, which keeps 16-byte alignment).
void launch_all(TcKernel kernel, const TcArgs& p, int64_t count, bool ta) {
  for (int64_t z0 = 0; z0 < count; z0 += kMaxGridYZ)
    for (int64_t r0 = 0; r0 < p.M; r0 += kMaxGridYZ * kBM) {
      TcArgs q = p;
      q.z0 = z0;
      q.M = (int)std::min<int64_t>(kMaxGridYZ * kBM, p.M - r0);
      q.A = ta ? p.A + r0 : p.A + r0 * p.lda;
      q.C = p.C + r0 * p.ldc;
      const dim3 grid((unsigned)((p.N + kBN - 1) / kBN), (unsigned)((q.M + kBM - 1) / kBM),
                      (unsigned)std::min<int64_t>(kMaxGridYZ, count - z0));
      PW_LAUNCH(kernel, grid, kThreads, 0, 0)(q);
      PW_CUDA_CHECK_LAUNCH();
    }
}

}  // namespace

bool tensor_cores_available(Tag) {
#ifdef __CUDACC__
  int device = 0, major = 0;
  PW_CUDA_CHECK(cudaGetDevice(&device));
  PW_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  return major >= 8;
#else
  return true;  // simt emulates mma.sync, ldmatrix and cp.async (kernels/simt/mma.h)
#endif
}

void gemm_tensor_core(Tag, MatmulPrecision precision, const GemmBatch& batch, bool trans_a, bool trans_b, int64_t M,
                      int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                      float beta, float* C, int64_t ldc) {
  if (precision == MatmulPrecision::fp32)
    throw std::runtime_error("gemm_tensor_core: precision fp32 is sgemm's (tf32 or bf16 here)");
  const TcArgs p = make_args("gemm_tensor_core", batch, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (M == 0 || N == 0 || batch.count == 0) return;
  // alpha == 0 or K == 0 must not read A and B: sgemm's path for C = beta C handles it.
  if (alpha == 0.0f || K == 0) {
    sgemm_batched(Tag{}, batch, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const TcKernel kernel =
      precision == MatmulPrecision::tf32 ? kernel_for<Tf32>(trans_a, trans_b) : kernel_for<Bf16>(trans_a, trans_b);
  launch_all(kernel, p, batch.count, trans_a);
}

}  // namespace pw::kernels::PW_KERNEL_NS
