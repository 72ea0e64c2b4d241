// The implicit-GEMM convolution kernel of kernels/cuda/conv.cu (the forward pass and the data
// gradient) and the reduction of its K-slices: device code and the arguments it takes, for
// conv.cu only (and the development files that include conv.cu), after kernels/cuda/compat.cuh.
// Its names live in conv.cu's unnamed namespace.
#pragma once
#include <cstdint>
#include <type_traits>

#include "kernels/common/conv_geometry.h"
#include "kernels/cuda/gemm_tiles.cuh"

namespace pw::kernels::PW_KERNEL_NS {
namespace {

// The sizes the kernels need, as a by-value kernel parameter.
struct ConvDims {
  int64_t C, H, W, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw;
};
ConvDims dims_of(const ConvGeometry& g) {
  return {g.C, g.H, g.W, g.kh, g.kw, g.Ho, g.Wo, g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dilation_h, g.dilation_w};
}

// ---- implicit GEMM: the GEMMs of the im2col passes without the col buffer ----
//
// Forward, per group g: Y_g[o][(n, p)] = sum over k = (c, i, j) of W_g[o][k] * X_col[k][(n, p)],
// one GEMM whose columns run over every image and output pixel (M = O/g, N = N*Ho*Wo, K =
// C/g*kh*kw). Backward-data, per group: dX_g[c][(n, q)] = sum over k = (o, i, j) of W[o][c][i][j]
// * dY_col[k][(n, q)], columns over every image and input pixel q = (ih, iw) (M = C/g, N =
// N*H*W, K = O/g*kh*kw), where dY_col[(o, i, j)][(n, ih, iw)] = dy[n, o, oh, ow] for the output
// pixel whose tap (i, j) reads (ih, iw), 0 where there is none (the gather form of col2im, so
// every dx element is written once: no atomics, no zeroing). blockIdx.z = group x K-slice.
//
// Both are v5 of kernels/cuda/gemm.cu (gemm_tiles::WarpTile, double-buffered shared memory)
// except that the B tile is gathered from x (forward) or dy (backward-data) while it is loaded,
// so no col matrix is stored, and the epilogue writes the NCHW output directly (the forward adds
// the bias). The backward's A tile is gathered from W too ([o][c][i][j] read as [c][(o, i, j)]).
// A thread's B columns are fixed for the whole K-loop (cb + 32q, q = 0..3, so that a warp's
// loads of one q are consecutive pixels), so their image and pixel origins are computed once;
// per K-tile only the two rows' k are decoded. Two tile shapes (WT): 128 x 128 (256 threads) and
// 64 x 128 (128 threads). Each pass takes the tile and the number of K-slices its plan names
// (gemm_plan::choose_implicit_conv): with several, each block multiplies one slice of K and
// writes its partial tile, and implicit_reduce_kernel adds the slices (and the forward's bias).
// The forward's store after the bias (ConvPostOps, inference): v * scale + shift with a channel's
// scale = weight * invstd and shift = bias - mean * scale computed as batch_norm_forward's kernel
// computes them (kernels/cuda/norm.cu), then max(v, 0) (NaN -> 0, as relu).
struct StorePost {
  const float *mean = nullptr, *var = nullptr, *weight = nullptr, *bias = nullptr;
  float eps = 0;
  bool relu = false;
  __device__ __forceinline__ float operator()(int64_t c, float v) const {
    if (mean) {
      const float invstd = 1.0f / sqrtf(var[c] + eps);
      const float scale = (weight ? weight[c] : 1.0f) * invstd;
      const float shift = (bias ? bias[c] : 0.0f) - mean[c] * scale;
      v = v * scale + shift;
    }
    return relu ? (v > 0.0f ? v : 0.0f) : v;
  }
};

struct ImplicitConvArgs {
  ConvDims d;
  int64_t O, Og, Cg;         // the convolution's output channels, per group; input channels per group
  int64_t rows, out_ch;      // GEMM rows per group, channels of the output tensor (Og, O or Cg, C)
  int64_t out_plane;         // pixels of an output plane (Ho*Wo or H*W)
  int Kg, cols;              // GEMM K and N (N = images * out_plane)
  bool vec_w;                // float4 loads of the weight rows (forward, Kg % 4 == 0, aligned)
  bool vec_y;                // float4 stores of the output (out_plane % 4 == 0, output aligned)
  int splits = 1;            // K-slices (gemm_plan::choose_implicit_conv): blockIdx.z = g * splits + s
  int k_slice = 0;           // K per slice, a multiple of BK (the last is shorter)
  float* partial = nullptr;  // splits > 1: slice s of group g's [rows][cols] tile, at (g*splits + s)
  StorePost post;            // the forward's batch norm and ReLU (inference), none by default
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
  const int64_t g = blockIdx.z / a.splits;
  const int slice = (int)(blockIdx.z % a.splits);
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

  // This block's K-tiles: its slice's (slices are whole K-tiles; only the last ends at Kg).
  const WT wt;
  const int k_begin = slice * a.k_slice, k_end = a.splits > 1 ? min(a.Kg, k_begin + a.k_slice) : a.Kg;
  const int t0 = k_begin / BK, tiles = (k_end + BK - 1) / BK - t0;
  float acc[WT::TM][WT::TN] = {};
  float4 ra[LoadA::kPerThread];
  float rb[kBRows][4];
  if (tiles > 0) {
    fetch_a(t0 * BK, ra);
    fetch_b(t0 * BK, rb);
    LoadA::stash(ra, As[0]);
    stash_b(rb, Bs[0]);
  }
  __syncthreads();
  for (int t = 0; t < tiles; ++t) {
    const int cur = t & 1;
    const bool more = t + 1 < tiles;
    if (more) {
      fetch_a((t0 + t + 1) * BK, ra);
      fetch_b((t0 + t + 1) * BK, rb);
    }
    wt.multiply(As[cur], Bs[cur], acc);
    if (more) {
      LoadA::stash(ra, As[cur ^ 1]);
      stash_b(rb, Bs[cur ^ 1]);
    }
    __syncthreads();
  }
  if (a.splits > 1) {  // the slice's partial tile, [rows][cols]; implicit_reduce_kernel adds them
    float* part = a.partial + (int64_t)blockIdx.z * a.rows * a.cols;
    PW_UNROLL
    for (int j = 0; j < WT::TN; ++j) {
      const int col = n0 + wt.col(j);
      if (col >= a.cols) continue;
      PW_UNROLL
      for (int i = 0; i < WT::TM; ++i) {
        const int m = m0 + wt.row(i);
        if (m < a.rows) part[(int64_t)m * a.cols + col] = acc[i][j];
      }
    }
    return;
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
        const float4 v = make_float4(a.post(ch, acc[i][4 * jj] + b), a.post(ch, acc[i][4 * jj + 1] + b),
                                     a.post(ch, acc[i][4 * jj + 2] + b), a.post(ch, acc[i][4 * jj + 3] + b));
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
        on[ch * P] = a.post(ch, acc[i][j] + (kForward && bias ? bias[ch] : 0.0f));
      }
    }
  }
}

// out[n, g*rows + m, p] = the sum of the K-slices' partial tiles at (g, m, n*P + p), in slice
// order (+ bias[ch] and the post ops in the forward): a fixed order, so the result does not depend on how the
// slices' blocks ran. One thread per output element; consecutive threads read consecutive
// columns of each partial tile. I: int when every index fits in 32 bits (checked by the
// launcher, grid.cuh's fits_int32), which makes its divisions 32-bit ones; int64_t otherwise.
template <class I>
__global__ void implicit_reduce_kernel(const float* __restrict__ bias, float* __restrict__ out, ImplicitConvArgs a,
                                       I G) {
  const I rows = (I)a.rows, cols = (I)a.cols, P = (I)a.out_plane, total = G * rows * cols;
  for (I idx = blockIdx.x * (I)blockDim.x + threadIdx.x; idx < total; idx += (I)gridDim.x * blockDim.x) {
    const I col = idx % cols, m = (idx / cols) % rows, g = idx / (cols * rows);
    const float* part = a.partial + (g * (I)a.splits * rows + m) * cols + col;
    float sum = 0.0f;
    for (int s = 0; s < a.splits; ++s) sum += part[(I)s * rows * cols];
    const I ch = g * rows + m, n = col / P;
    out[(n * (I)a.out_ch + ch) * P + col % P] = a.post(ch, sum + (bias ? bias[ch] : 0.0f));
  }
}

}  // namespace
}  // namespace pw::kernels::PW_KERNEL_NS
