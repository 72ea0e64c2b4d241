// 2-D convolution on the GPU: the forward pass and the data gradient by implicit GEMM, the
// weight gradient by im2col + our SGEMM (kernels/cuda/gemm.cu), the bias gradient by a
// deterministic reduction. The semantics are those of kernels/cpu/conv.h;
// kernels/cuda/api/conv.inc has the launchers.
//
//   forward          per group g: Y_g[o][(n, p)] = W_g @ X_col, one launch for every image and
//   (implicit GEMM)  group; v5's warp tiling with the B tile gathered from x as it is loaded
//                    (no col buffer, no workspace) and the bias added in the epilogue. The
//                    forward by im2col + SGEMM that it replaced is kept, for comparison, only
//                    in the development file bench/kernels/conv2d_forward.cu.
//   backward-data    per group g: dX_g[c][(n, q)] = W_g^T @ dY_col, the same kernel with the B
//   (implicit GEMM)  tile gathered from dy in col2im's gather form (each dx element written
//                    once: no atomics, no zeroing, no workspace). It replaced a batched GEMM
//                    into a col buffer [C*kh*kw][Ho*Wo] per image and a col2im pass, which wrote
//                    and read that buffer (kh*kw times dx's size) through DRAM. A pointwise
//                    conv (1x1, stride 1, no padding) stays one batched GEMM: its dx planes
//                    are the GEMM's output.
//   backward-weight  col = im2col(x[chunk])                [C*kh*kw][nb*Ho*Wo]: images side by
//                    dyT = dy[chunk] as [O][nb*Ho*Wo]      side, so that the sum over images
//                    dW_g (+)= dyT_g @ col_g^T             is the GEMM's own K-loop; one GEMM
//                                                          batched over groups per chunk, the
//                                                          chunks accumulated with beta = 1
//   backward-bias    part[o][b] = sum of chunk b of        a block per (channel, chunk of
//                    channel o's N*Ho*Wo values            4096 values): fills the GPU even
//                    db[o] = sum over b of part[o][b]      for few channels; fixed splits
//                                                          and a fixed merge order
// The weight gradient works on chunks of images whose unfolded input fits the workspace the
// caller passes (64 MiB budget).
//
// Expected on an H100 (not measured here; bench/bench_cuda_gemm.cpp compares with cuDNN): the
// GEMMs run near the SGEMM's speed for the AlexNet/VGG layers (O/g and Ho*Wo in the tens or
// more). im2col is a memory-bound copy costing about the col buffer's size in DRAM traffic
// twice (written, then read by the GEMM), which the implicit passes avoid at the price of
// scalar, less regular loads of x or dy (the data gradient's gather also tests each tap for the
// stride). The weight gradient has long K (nb*Ho*Wo) and few output tiles (O/g x C/g*kh*kw):
// the SGEMM dispatcher splits its K into slices summed in a fixed order (deterministic split-K,
// kernels/cuda/gemm.cu) so that it fills the GPU. Depthwise convs (O/g = 1) get nothing from
// the GEMM.
#include "kernels/cuda/compat.cuh"
#include "kernels/cuda/gemm_tiles.cuh"
#include "kernels/cuda/grid.cuh"
#include "kernels/cuda/profile.cuh"

#define PW_LAUNCHER_NS PW_KERNEL_NS
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace pw::kernels::PW_KERNEL_NS {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kWorkspaceBudgetFloats = int64_t(1) << 24;  // 64 MiB

// The sizes the kernels need, as a by-value kernel parameter.
struct ConvDims {
  int64_t C, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw;
};
ConvDims dims_of(const ConvGeometry& g) {
  return {g.C, g.H, g.W, g.kh, g.kw, g.Ho, g.Wo, g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dilation_h, g.dilation_w};
}

// The index math of im2col and the channel gather in index type I: int when every
// index of the launch fits in 32 bits (checked on the host, fits_int32), which turns each of
// their several divisions per element from a 64-bit division (a long instruction sequence on a
// GPU) into a 32-bit one; int64_t otherwise. The values computed, hence the results, are the
// same either way.
template <class I>
struct IndexDims {
  I C, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw;
  __device__ __forceinline__ explicit IndexDims(const ConvDims& d)
      : C((I)d.C),
        H((I)d.H),
        W((I)d.W),
        kh((I)d.kh),
        kw((I)d.kw),
        Ho((I)d.Ho),
        Wo((I)d.Wo),
        sh((I)d.sh),
        sw((I)d.sw),
        ph((I)d.ph),
        pw((I)d.pw),
        dh((I)d.dh),
        dw((I)d.dw) {}
};

// col[n * img_stride + k * row_stride + p] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw] (0 in
// the padding), for k = (c*kh + i)*kw + j and p = oh*Wo + ow, images n in [0, nb) of x (which
// points at the chunk's first image). One thread per col element: consecutive threads write
// consecutive p and read along an input row.
template <class I>
__global__ void im2col_kernel(const float* __restrict__ x, ConvDims dims, I nb, float* __restrict__ col, I img_stride,
                              I row_stride) {
  const IndexDims<I> d(dims);
  const I P = d.Ho * d.Wo, Kt = d.C * d.kh * d.kw, total = nb * Kt * P;
  for (I idx = blockIdx.x * (I)blockDim.x + threadIdx.x; idx < total; idx += (I)gridDim.x * blockDim.x) {
    const I p = idx % P, k = (idx / P) % Kt, n = idx / (P * Kt);
    const I j = k % d.kw, i = (k / d.kw) % d.kh, c = k / (d.kw * d.kh);
    const I oh = p / d.Wo, ow = p % d.Wo;
    const I ih = oh * d.sh - d.ph + i * d.dh, iw = ow * d.sw - d.pw + j * d.dw;
    float v = 0.0f;
    if (ih >= 0 && ih < d.H && iw >= 0 && iw < d.W) v = x[((n * d.C + c) * d.H + ih) * d.W + iw];
    col[n * img_stride + k * row_stride + p] = v;
  }
}

// dyT[o][n * P + p] = dy[n, o, p] for the chunk's nb images: the weight gradient's left
// operand with the images side by side.
template <class I>
__global__ void gather_channels_kernel(const float* __restrict__ dy, I O, I P, I nb, float* __restrict__ dyT) {
  const I total = O * nb * P;
  for (I idx = blockIdx.x * (I)blockDim.x + threadIdx.x; idx < total; idx += (I)gridDim.x * blockDim.x) {
    const I p = idx % P, n = (idx / P) % nb, o = idx / (P * nb);
    dyT[idx] = dy[(n * O + o) * P + p];
  }
}

// The bias gradient, db[o] = sum over n, p of dy[n, o, p], in two stages: block (o, b) sums
// chunk b (values k = n*P + p in [b*kBiasChunk, (b+1)*kBiasChunk)) of channel o -- thread t the
// values t, t + 256, ... in order, then a shared-memory tree and a warp shuffle -- and one
// thread per channel adds its chunks' sums in chunk order, in double. One block per channel
// alone would leave most of an H100's 132 SMs idle for the tens to hundreds of channels of
// these networks (AlexNet's conv1 gradient at batch 128: 64 blocks of 387,200 values each;
// chunked, 6,080 blocks). The splits and the orders are fixed, so the result does not depend on
// the order in which threads or blocks run.
constexpr int64_t kBiasChunk = int64_t(kThreads) * 16;

int64_t bias_chunks(const ConvGeometry& g) {
  return std::max<int64_t>(1, (g.N * g.Ho * g.Wo + kBiasChunk - 1) / kBiasChunk);
}

// The sum of v over the block (kThreads threads), for thread 0, in a fixed order.
__device__ float block_total(float v) {
  __shared__ float partial[kThreads];
  const int t = threadIdx.x;
  partial[t] = v;
  __syncthreads();
  for (int s = kThreads / 2; s >= 32; s /= 2) {
    if (t < s) partial[t] += partial[t + s];
    __syncthreads();
  }
  if (t < 32) {
    v = partial[t];
    for (int s = 16; s > 0; s /= 2) v += __shfl_down_sync(0xffffffffu, v, s);
  }
  return v;
}

// I: int when N*O*P fits (grid.cuh's fits_int32), int64_t otherwise.
template <typename I>
__global__ void __launch_bounds__(kThreads)
    bias_chunk_kernel(const float* __restrict__ dy, I O, I P, I count, I chunks, float* __restrict__ part) {
  const I o = (I)blockIdx.x / chunks, b = (I)blockIdx.x - o * chunks;
  const I k0 = b * (I)kBiasChunk, k1 = min(k0 + (I)kBiasChunk, count);
  float acc = 0.0f;
  for (I k = k0 + (I)threadIdx.x; k < k1; k += (I)kThreads) {
    const I n = k / P;
    acc += dy[(n * O + o) * P + (k - n * P)];
  }
  acc = block_total(acc);
  if (threadIdx.x == 0) part[(int64_t)o * chunks + b] = acc;
}

__global__ void bias_merge_kernel(const float* __restrict__ part, int64_t O, int64_t chunks, float* __restrict__ db) {
  for (int64_t o = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; o < O; o += (int64_t)gridDim.x * blockDim.x) {
    double total = 0.0;
    for (int64_t b = 0; b < chunks; ++b) total += (double)part[o * chunks + b];
    db[o] = (float)total;
  }
}

// ---- implicit GEMM: the GEMMs of the im2col passes without the col buffer ----
//
// Forward, per group g: Y_g[o][(n, p)] = sum over k = (c, i, j) of W_g[o][k] * X_col[k][(n, p)],
// one GEMM whose columns run over every image and output pixel (M = O/g, N = N*Ho*Wo, K =
// C/g*kh*kw). Backward-data, per group: dX_g[c][(n, q)] = sum over k = (o, i, j) of W[o][c][i][j]
// * dY_col[k][(n, q)], columns over every image and input pixel q = (ih, iw) (M = C/g, N =
// N*H*W, K = O/g*kh*kw), where dY_col[(o, i, j)][(n, ih, iw)] = dy[n, o, oh, ow] for the output
// pixel whose tap (i, j) reads (ih, iw), 0 where there is none (the gather form of col2im, so
// every dx element is written once: no atomics, no zeroing). blockIdx.z = group.
//
// Both are v5 of kernels/cuda/gemm.cu (gemm_tiles::WarpTile, double-buffered shared memory)
// except that the B tile is gathered from x (forward) or dy (backward-data) while it is loaded,
// so no col matrix is stored, and the epilogue writes the NCHW output directly (the forward adds
// the bias). The backward's A tile is gathered from W too ([o][c][i][j] read as [c][(o, i, j)]).
// A thread's B columns are fixed for the whole K-loop (cb + 32q, q = 0..3, so that a warp's
// loads of one q are consecutive pixels), so their image and pixel origins are computed once;
// per K-tile only the two rows' k are decoded. Two tile shapes (WT): 128 x 128 (256 threads), and
// 64 x 128 (128 threads) where a group has at most 64 GEMM rows (AlexNet's conv1 forward, the
// small networks' first layers), which would leave half of a 128-row tile empty.
struct ImplicitConvArgs {
  ConvDims d;
  int64_t O, Og, Cg;     // the convolution's output channels, per group; input channels per group
  int64_t rows, out_ch;  // GEMM rows per group, channels of the output tensor (Og, O or Cg, C)
  int64_t out_plane;     // pixels of an output plane (Ho*Wo or H*W)
  int Kg, cols;          // GEMM K and N (N = images * out_plane)
  bool vec_w;            // float4 loads of the weight rows (forward, Kg % 4 == 0, aligned)
  bool vec_y;            // float4 stores of the output (out_plane % 4 == 0, output aligned)
};

// The forward's B: X_col[k = (c, i, j)][(n, p)] = x[n, g*Cg + c, oh*sh - ph + i*dh, ow*sw - pw + j*dw].
// Coordinates inside one input plane fit in int (checked by the launcher); plane offsets are 64-bit.
struct ForwardGather {
  int64_t plane[4];  // offset of (image n, first channel of group g) in x; -1 past the end
  int ih0[4], iw0[4];
  __device__ __forceinline__ ForwardGather(const ImplicitConvArgs& a, int64_t g, int first_col) {
    const ConvDims& d = a.d;
    const int P = (int)(d.Ho * d.Wo);
    for (int q = 0; q < 4; ++q) {
      const int col = first_col + 32 * q;
      plane[q] = -1;
      ih0[q] = iw0[q] = 0;
      if (col < a.cols) {
        const int n = col / P, p = col % P;
        plane[q] = ((int64_t)n * d.C + g * a.Cg) * d.H * d.W;
        ih0[q] = (p / (int)d.Wo) * (int)d.sh - (int)d.ph;
        iw0[q] = (p % (int)d.Wo) * (int)d.sw - (int)d.pw;
      }
    }
  }
  // Row k of the four columns.
  __device__ __forceinline__ void fetch(const float* __restrict__ x, const ImplicitConvArgs& a, int k,
                                        float (&v)[4]) const {
    const ConvDims& d = a.d;
    const int H = (int)d.H, W = (int)d.W, kw = (int)d.kw, KK = (int)(d.kh * d.kw);
    const int c = k / KK, i = (k % KK) / kw, j = k % kw;
    const int dh = i * (int)d.dh, dw = j * (int)d.dw;
    for (int q = 0; q < 4; ++q) {
      const int ih = ih0[q] + dh, iw = iw0[q] + dw;
      v[q] = (k < a.Kg && plane[q] >= 0 && ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[plane[q] + (c * H + ih) * W + iw]
                                                                                   : 0.0f;
    }
  }
};

// The backward-data's B: dY_col[k = (o, i, j)][(n, ih, iw)] = dy[n, g*Og + o, oh, ow] where
// oh*sh = ih + ph - i*dh and ow*sw = iw + pw - j*dw have integer solutions inside the output
// plane, else 0. Og*Ho*Wo fits in int (checked by the launcher).
struct BackwardDataGather {
  int64_t plane[4];    // offset of (image n, first channel of group g) in dy; -1 past the end
  int th0[4], tw0[4];  // ih + ph, iw + pw
  __device__ __forceinline__ BackwardDataGather(const ImplicitConvArgs& a, int64_t g, int first_col) {
    const ConvDims& d = a.d;
    const int HW = (int)(d.H * d.W);
    for (int q = 0; q < 4; ++q) {
      const int col = first_col + 32 * q;
      plane[q] = -1;
      th0[q] = tw0[q] = 0;
      if (col < a.cols) {
        const int n = col / HW, p = col % HW;
        plane[q] = ((int64_t)n * a.O + g * a.Og) * d.Ho * d.Wo;
        th0[q] = p / (int)d.W + (int)d.ph;
        tw0[q] = p % (int)d.W + (int)d.pw;
      }
    }
  }
  __device__ __forceinline__ void fetch(const float* __restrict__ dy, const ImplicitConvArgs& a, int k,
                                        float (&v)[4]) const {
    const ConvDims& d = a.d;
    const int Ho = (int)d.Ho, Wo = (int)d.Wo, sh = (int)d.sh, sw = (int)d.sw, kw = (int)d.kw;
    const int KK = (int)(d.kh * d.kw);
    const int o = k / KK, i = (k % KK) / kw, j = k % kw;
    const int dh = i * (int)d.dh, dw = j * (int)d.dw;
    for (int q = 0; q < 4; ++q) {
      const int th = th0[q] - dh, tw = tw0[q] - dw;
      const bool ok = k < a.Kg && plane[q] >= 0 && th >= 0 && tw >= 0 && th % sh == 0 && tw % sw == 0 && th / sh < Ho &&
                      tw / sw < Wo;
      v[q] = ok ? dy[plane[q] + (o * Ho + th / sh) * Wo + tw / sw] : 0.0f;
    }
  }
};

// The backward-data's A tile: rows c of W_g read as [c][k = (o, i, j)], element (c, k) at
// wg[o*Cg*KK + c*KK + i*kw + j], in the unit layout of TileLoader<false, ...> (four consecutive
// k of one row per unit) so that its stash stores it. W is small and read by every block: these
// scalar loads hit the caches.
template <class LoadA, int NT>
__device__ __forceinline__ void fetch_weight_columns(const float* __restrict__ wg, const ImplicitConvArgs& a, int m0,
                                                     int k0, float4 (&r)[LoadA::kPerThread]) {
  const int KK = (int)(a.d.kh * a.d.kw), Cg = (int)a.Cg;
  for (int u = 0; u < LoadA::kPerThread; ++u) {
    const int unit = threadIdx.x + u * NT;
    const int c = m0 + unit / LoadA::kUnitsPerRow, kb = k0 + (unit % LoadA::kUnitsPerRow) * 4;
    float v[4];
    for (int e = 0; e < 4; ++e) {
      const int k = kb + e;
      v[e] = c < Cg && k < a.Kg ? wg[(int64_t)(k / KK) * Cg * KK + c * KK + k % KK] : 0.0f;
    }
    r[u] = make_float4(v[0], v[1], v[2], v[3]);
  }
}

// GATHER: ForwardGather (src = x, A = W_g rows) or BackwardDataGather (src = dy, A = W_g's columns).
template <class WT, class GATHER>
__global__ void __launch_bounds__(WT::kThreads, WT::kMinBlocks)
    conv2d_implicit_kernel(const float* __restrict__ src, const float* __restrict__ w, const float* __restrict__ bias,
                           float* __restrict__ out, ImplicitConvArgs a) {
  constexpr int BM = WT::BM, BN = WT::BN, BK = WT::BK, NT = WT::kThreads;
  constexpr bool kForward = std::is_same<GATHER, ForwardGather>::value;
  static_assert(BN == 128, "a thread gathers the B columns cb + 32q, q = 0..3");
  using LoadA = gemm_tiles::TileLoader<false, BM, BK, NT, WT::LDA>;  // A rows: [m][k]
  constexpr int kRowsPerPass = NT / 32, kBRows = BK / kRowsPerPass;  // 8 rows apart, 2 rows
  __shared__ __align__(16) float As[2][BK * WT::LDA];
  __shared__ __align__(16) float Bs[2][BK * WT::LDB];
  const int64_t g = blockIdx.z;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const float* wg = w + g * a.Og * a.Cg * a.d.kh * a.d.kw;  // W_g: [Og][Cg*kh*kw]
  const int rows = (int)a.rows;
  const int cb = threadIdx.x % 32, br = threadIdx.x / 32;
  const GATHER gather(a, g, n0 + cb);

  auto fetch_a = [&](int k0, float4(&ra)[LoadA::kPerThread]) {
    if constexpr (kForward)
      LoadA::fetch(wg, a.Kg, a.vec_w, rows, a.Kg, m0, k0, ra);
    else
      fetch_weight_columns<LoadA, NT>(wg, a, m0, k0, ra);
  };
  auto fetch_b = [&](int k0, float(&rb)[kBRows][4]) {
    for (int r = 0; r < kBRows; ++r) gather.fetch(src, a, k0 + br + r * kRowsPerPass, rb[r]);
  };
  auto stash_b = [&](const float(&rb)[kBRows][4], float* bs) {
    for (int r = 0; r < kBRows; ++r)
      for (int q = 0; q < 4; ++q) bs[(br + r * kRowsPerPass) * WT::LDB + cb + 32 * q] = rb[r][q];
  };

  const WT wt;
  const int tiles = (a.Kg + BK - 1) / BK;
  float acc[WT::TM][WT::TN] = {};
  float4 ra[LoadA::kPerThread];
  float rb[kBRows][4];
  if (tiles > 0) {
    fetch_a(0, ra);
    fetch_b(0, rb);
    LoadA::stash(ra, As[0]);
    stash_b(rb, Bs[0]);
  }
  __syncthreads();
  for (int t = 0; t < tiles; ++t) {
    const int cur = t & 1;
    const bool more = t + 1 < tiles;
    if (more) {
      fetch_a((t + 1) * BK, ra);
      fetch_b((t + 1) * BK, rb);
    }
    wt.multiply(As[cur], Bs[cur], acc);
    if (more) {
      LoadA::stash(ra, As[cur ^ 1]);
      stash_b(rb, Bs[cur ^ 1]);
    }
    __syncthreads();
  }
  // The store: a lane holds 4 consecutive columns (j = 4jj .. 4jj + 3) of each of its rows. When
  // the output plane is a multiple of 4 pixels (and the output 16-byte aligned, a.vec_y), those 4
  // are consecutive pixels of one image at a 16-byte boundary and go out as one float4: a warp's
  // store then fills whole sectors (8 rows x 64 bytes) instead of touching 8 rows x 4 scattered
  // floats. The loops are unrolled so that acc stays in registers (indexed by a loop counter it
  // went to local memory: ptxas showed a 256-byte stack frame).
  const int P = (int)a.out_plane;
  PW_UNROLL
  for (int jj = 0; jj < WT::TN / 4; ++jj) {
    const int col0 = n0 + wt.col(4 * jj);
    if (a.vec_y && col0 + 3 < a.cols) {
      const int n = col0 / P, p = col0 % P;
      float* on = out + (int64_t)n * a.out_ch * P + p;  // out[n, 0, p]
      PW_UNROLL
      for (int i = 0; i < WT::TM; ++i) {
        const int m = m0 + wt.row(i);
        if (m >= rows) continue;
        const int64_t ch = g * a.rows + m;  // output channel
        const float b = kForward && bias ? bias[ch] : 0.0f;
        const float4 v =
            make_float4(acc[i][4 * jj] + b, acc[i][4 * jj + 1] + b, acc[i][4 * jj + 2] + b, acc[i][4 * jj + 3] + b);
        *reinterpret_cast<float4*>(on + ch * P) = v;
      }
      continue;
    }
    PW_UNROLL
    for (int j = 4 * jj; j < 4 * jj + 4; ++j) {
      const int col = n0 + wt.col(j);
      if (col >= a.cols) continue;
      const int n = col / P, p = col % P;
      float* on = out + (int64_t)n * a.out_ch * P + p;
      PW_UNROLL
      for (int i = 0; i < WT::TM; ++i) {
        const int m = m0 + wt.row(i);
        if (m >= rows) continue;
        const int64_t ch = g * a.rows + m;
        on[ch * P] = acc[i][j] + (kForward && bias ? bias[ch] : 0.0f);
      }
    }
  }
}

bool is_pointwise(const ConvGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// Workspace floats one image needs in `pass` (0: none). The data gradient is an implicit GEMM
// and the bias gradient's partial sums are not per image (conv2d_workspace_floats).
int64_t floats_per_image(const ConvGeometry& g, ConvPass pass) {
  const int64_t P = g.Ho * g.Wo, Kt = g.C * g.kh * g.kw;
  return pass == ConvPass::backward_weight ? (Kt + g.O) * P : 0;
}

// Workspace floats for chunks of images that need `per` floats each: as many images as fit the
// budget, at least one (0 when per is 0).
int64_t chunked_workspace_floats(const ConvGeometry& g, int64_t per) {
  if (per == 0 || g.N == 0) return 0;
  return per * std::clamp<int64_t>(kWorkspaceBudgetFloats / per, 1, g.N);
}

// Images per chunk when one image needs `per` floats of the workspace the caller gave.
int64_t chunk_images(const ConvGeometry& g, int64_t per, int64_t workspace_floats, const char* what) {
  if (per == 0) return g.N;
  if (workspace_floats < per)
    throw std::runtime_error(std::string(what) + ": the workspace holds " + std::to_string(workspace_floats) +
                             " floats, one image needs " + std::to_string(per) + " (ask conv2d_workspace_floats)");
  return std::min(g.N, workspace_floats / per);
}

// col [Kt][nb * P] = im2col of the nb images at x (the weight gradient's layout: images side
// by side, row length L = nb * P), in 32-bit index math when x's and col's indices fit.
void launch_im2col(const float* x, const ConvGeometry& g, int64_t nb, float* col, int64_t L) {
  const int64_t P = g.Ho * g.Wo, ncol = g.C * g.kh * g.kw * L;
  const int blocks = grid_blocks(ncol, kThreads);
  if (fits_int32({ncol, nb * g.C * g.H * g.W})) {
    PW_LAUNCH(im2col_kernel<int>, blocks, kThreads, 0, 0)(x, dims_of(g), (int)nb, col, (int)P, (int)L);
  } else {
    PW_LAUNCH(im2col_kernel<int64_t>, blocks, kThreads, 0, 0)(x, dims_of(g), nb, col, P, L);
  }
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace

int64_t conv2d_workspace_floats(Tag, const ConvGeometry& g, ConvPass pass) {
  if (pass == ConvPass::backward_bias) return g.O * bias_chunks(g);
  return chunked_workspace_floats(g, floats_per_image(g, pass));
}

// One launch of an implicit-GEMM pass (GATHER) in tile shape WT.
template <class WT, class GATHER>
void launch_implicit(const float* src, const float* w, const float* bias, float* out, const ImplicitConvArgs& a,
                     int64_t G) {
  const dim3 grid((unsigned)((a.cols + WT::BN - 1) / WT::BN), (unsigned)((a.rows + WT::BM - 1) / WT::BM), (unsigned)G);
  PW_PROFILE_FLOPS(2.0 * (double)a.cols * a.rows * a.Kg * G);  // one FMA per output element and reduction term
  PW_LAUNCH((conv2d_implicit_kernel<WT, GATHER>), grid, WT::kThreads, 0, 0)(src, w, bias, out, a);
  PW_CUDA_CHECK_LAUNCH();
}

// The tile shape by the rows of a group: 64 x 128 tiles for at most 64 rows.
template <class GATHER>
void launch_implicit(const float* src, const float* w, const float* bias, float* out, const ImplicitConvArgs& a,
                     int64_t G) {
  if (a.rows <= 64)
    launch_implicit<gemm_tiles::WarpTile64x128, GATHER>(src, w, bias, out, a, G);
  else
    launch_implicit<gemm_tiles::WarpTile, GATHER>(src, w, bias, out, a, G);
}

void conv2d_forward_implicit(Tag, const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  const int64_t P = g.Ho * g.Wo, cols = g.N * P;
  const int64_t G = g.groups, Og = g.O / G, Cg = g.C / G, Kg = Cg * g.kh * g.kw;
  if (cols == 0 || g.O == 0) return;
  if (cols > INT32_MAX || Kg > INT32_MAX || Cg * g.H * g.W > INT32_MAX || G > 65535)
    throw std::runtime_error("conv2d_forward_implicit: N*Ho*Wo = " + std::to_string(cols) +
                             ", C/groups*H*W = " + std::to_string(Cg * g.H * g.W) + ", groups = " + std::to_string(G) +
                             ": too large for one launch");
  const ImplicitConvArgs a{dims_of(g),
                           g.O,
                           Og,
                           Cg,
                           Og,
                           g.O,
                           P,
                           (int)Kg,
                           (int)cols,
                           Kg % 4 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0,
                           P % 4 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0};
  launch_implicit<ForwardGather>(x, w, bias, y, a, G);
}

// dx by implicit GEMM (no workspace); a pointwise conv's dx planes are the GEMM's own output, so
// it stays one batched GEMM over (image, group).
void conv2d_backward_data(Tag, const ConvGeometry& g, const float* dy, const float* w, float* dx, float*, int64_t) {
  const int64_t P = g.Ho * g.Wo, HW = g.H * g.W, cols = g.N * HW;
  const int64_t G = g.groups, Cg = g.C / G, Og = g.O / G, Kg = Og * g.kh * g.kw;
  if (cols * g.C == 0) return;
  if (is_pointwise(g)) {
    GemmBatch batch;
    batch.count = g.N * G;
    batch.inner = G;
    batch.a_inner = Og * Cg;
    batch.b_outer = g.O * P;
    batch.b_inner = Og * P;
    batch.c_outer = g.C * HW;
    batch.c_inner = Cg * HW;
    // dx[n, g] = W_g^T @ dy[n, g]: W_g is stored [Og][Cg], so it goes in transposed.
    sgemm_batched(Tag{}, batch, true, false, Cg, P, Og, 1.0f, w, Cg, dy, P, 0.0f, dx, P);
    return;
  }
  if (cols > INT32_MAX || Kg > INT32_MAX || Og * P > INT32_MAX || Og * Cg * g.kh * g.kw > INT32_MAX || G > 65535)
    throw std::runtime_error("conv2d_backward_data: N*H*W = " + std::to_string(cols) + ", O/groups*Ho*Wo = " +
                             std::to_string(Og * P) + ", groups = " + std::to_string(G) + ": too large for one launch");
  const ImplicitConvArgs a{dims_of(g),
                           g.O,
                           Og,
                           Cg,
                           Cg,
                           g.C,
                           HW,
                           (int)Kg,
                           (int)cols,
                           false,
                           HW % 4 == 0 && reinterpret_cast<uintptr_t>(dx) % 16 == 0};
  launch_implicit<BackwardDataGather>(dy, w, nullptr, dx, a, G);
}

void conv2d_backward_weight(Tag, const ConvGeometry& g, const float* x, const float* dy, float* dw, float* workspace,
                            int64_t workspace_floats) {
  const int64_t P = g.Ho * g.Wo, HW = g.H * g.W, Kt = g.C * g.kh * g.kw;
  const int64_t G = g.groups, Cg = g.C / G, Og = g.O / G, Kg = Cg * g.kh * g.kw;
  if (g.O * Kg == 0) return;
  if (g.N * P == 0) {  // nothing to sum: the gradient is zero
    sgemm(Tag{}, false, false, g.O, Kg, 0, 1.0f, dw, Kg, dw, Kg, 0.0f, dw, Kg);
    return;
  }
  const int64_t nb_max =
      chunk_images(g, floats_per_image(g, ConvPass::backward_weight), workspace_floats, "conv2d_backward_weight");
  for (int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.N - n0), L = nb * P;  // L: the GEMM's K
    float* col = workspace;                                     // [Kt][L]
    float* dyT = workspace + Kt * L;                            // [O][L]
    const int64_t ndy = g.O * L;
    launch_im2col(x + n0 * g.C * HW, g, nb, col, L);
    const float* dyn = dy + n0 * g.O * P;
    if (fits_int32({ndy})) {
      PW_LAUNCH(gather_channels_kernel<int>, grid_blocks(ndy, kThreads), kThreads, 0, 0)
      (dyn, (int)g.O, (int)P, (int)nb, dyT);
    } else {
      PW_LAUNCH(gather_channels_kernel<int64_t>, grid_blocks(ndy, kThreads), kThreads, 0, 0)(dyn, g.O, P, nb, dyT);
    }
    PW_CUDA_CHECK_LAUNCH();
    // dW_g [Og][Kg] (+)= dyT_g [Og][L] @ col_g^T, col_g stored [Kg][L].
    GemmBatch batch;
    batch.count = G;
    batch.inner = G;
    batch.a_inner = Og * L;
    batch.b_inner = Kg * L;
    batch.c_inner = Og * Kg;
    sgemm_batched(Tag{}, batch, false, true, Og, Kg, L, 1.0f, dyT, L, col, L, n0 == 0 ? 0.0f : 1.0f, dw, Kg);
  }
}

void conv2d_backward_bias(Tag, const ConvGeometry& g, const float* dy, float* db, float* workspace,
                          int64_t workspace_floats) {
  if (g.O == 0) return;
  const int64_t P = g.Ho * g.Wo, count = g.N * P, chunks = bias_chunks(g), blocks = g.O * chunks;
  if (workspace_floats < blocks)
    throw std::runtime_error("conv2d_backward_bias: the workspace holds " + std::to_string(workspace_floats) +
                             " floats, it needs " + std::to_string(blocks) + " (ask conv2d_workspace_floats)");
  if (blocks > 0x7fffffff) throw std::runtime_error("conv2d_backward_bias: too many channels and chunks for one grid");
  if (fits_int32({g.N * g.O * P, blocks})) {
    PW_LAUNCH(bias_chunk_kernel<int>, (unsigned)blocks, kThreads, 0, 0)
    (dy, (int)g.O, (int)P, (int)count, (int)chunks, workspace);
  } else {
    PW_LAUNCH(bias_chunk_kernel<int64_t>, (unsigned)blocks, kThreads, 0, 0)(dy, g.O, P, count, chunks, workspace);
  }
  PW_CUDA_CHECK_LAUNCH();
  PW_LAUNCH(bias_merge_kernel, grid_blocks(g.O, kThreads), kThreads, 0, 0)(workspace, g.O, chunks, db);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace pw::kernels::PW_KERNEL_NS
