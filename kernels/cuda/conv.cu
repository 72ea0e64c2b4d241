// 2-D convolution on the GPU: the forward pass by implicit GEMM, the data and weight
// gradients by im2col / col2im + our SGEMM (kernels/cuda/gemm.cu), the bias gradient by a
// deterministic reduction. The semantics are those of kernels/cpu/conv.h;
// kernels/cuda/api/conv.inc has the launchers.
//
//   forward          per group g: Y_g[o][(n, p)] = W_g @ X_col, one launch for every image and
//   (implicit GEMM)  group; v5's warp tiling with the B tile gathered from x as it is loaded
//                    (no col buffer, no workspace) and the bias added in the epilogue. The
//                    forward by im2col + SGEMM that it replaced is kept, for comparison, only
//                    in the development file bench/kernels/conv2d_forward.cu.
//   backward-data    col[n, g] = W_g^T @ dy[n, g]          one batched GEMM over (image, group)
//                    dx[n] = col2im(col[n])                gather form: one thread per dx
//                                                          element sums its taps, no atomics
//   backward-weight  col = im2col(x[chunk])                [C*kh*kw][nb*Ho*Wo]: images side by
//                    dyT = dy[chunk] as [O][nb*Ho*Wo]      side, so that the sum over images
//                    dW_g (+)= dyT_g @ col_g^T             is the GEMM's own K-loop; one GEMM
//                                                          batched over groups per chunk, the
//                                                          chunks accumulated with beta = 1
//   backward-bias    part[o][b] = sum of chunk b of        a block per (channel, chunk of
//                    channel o's N*Ho*Wo values            4096 values): fills the GPU even
//                    db[o] = sum over b of part[o][b]      for few channels; fixed splits
//                                                          and a fixed merge order
// The im2col passes work on chunks of images whose unfolded input fits the workspace the
// caller passes (64 MiB budget). A pointwise conv (1x1, stride 1, no padding) needs no
// unfolding: in the backward-data pass the dx plane already is the col matrix.
//
// Expected on an H100 (not measured here; bench/bench_cuda_gemm.cpp compares with cuDNN): the
// GEMMs run near the SGEMM's speed for the AlexNet/VGG layers (O/g and Ho*Wo in the tens or
// more). im2col and col2im are memory-bound copies costing about the col buffer's size in
// DRAM traffic twice (written, then read by the GEMM), which the implicit forward avoids at
// the price of scalar, less regular loads of x. The weight gradient has long K (nb*Ho*Wo)
// and few output tiles (O/g x C/g*kh*kw): the SGEMM dispatcher splits its K into slices summed
// in a fixed order (deterministic split-K, kernels/cuda/gemm.cu) so that it fills the GPU.
// Depthwise convs (O/g = 1) get nothing from the GEMM.
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

// The index math of im2col, col2im and the channel gather in index type I: int when every
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

// The adjoint of im2col in gather form: dx[n, c, ih, iw] = the sum of every col entry that
// im2col would have read from (ih, iw), i.e. over the taps (i, j) with ih = oh*sh - ph + i*dh
// for an integer oh in [0, Ho) (likewise for w). One thread per dx element, a fixed order,
// every element written: deterministic, no zeroing, no atomics.
template <class I>
__global__ void col2im_kernel(const float* __restrict__ col, ConvDims dims, I nb, I img_stride, I row_stride,
                              float* __restrict__ dx) {
  const IndexDims<I> d(dims);
  const I total = nb * d.C * d.H * d.W;
  for (I idx = blockIdx.x * (I)blockDim.x + threadIdx.x; idx < total; idx += (I)gridDim.x * blockDim.x) {
    const I iw = idx % d.W, ih = (idx / d.W) % d.H, c = (idx / (d.W * d.H)) % d.C, n = idx / (d.W * d.H * d.C);
    const float* cn = col + n * img_stride;
    float acc = 0.0f;
    for (I i = 0; i < d.kh; ++i) {
      const I th = ih + d.ph - i * d.dh;  // = oh * sh
      if (th < 0) break;                  // th only decreases with i
      if (th % d.sh != 0 || th / d.sh >= d.Ho) continue;
      const I oh = th / d.sh;
      for (I j = 0; j < d.kw; ++j) {
        const I tw = iw + d.pw - j * d.dw;
        if (tw < 0) break;
        if (tw % d.sw != 0 || tw / d.sw >= d.Wo) continue;
        const I k = (c * d.kh + i) * d.kw + j;
        acc += cn[k * row_stride + oh * d.Wo + tw / d.sw];
      }
    }
    dx[idx] = acc;
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

// ---- implicit GEMM forward: the GEMM of the im2col path without the col buffer ----
//
// Per group g: Y_g[o][(n, p)] = sum over k = (c, i, j) of W_g[o][k] * X_col[k][(n, p)], one
// GEMM whose columns run over every image and output pixel (M = O/g, N = N*Ho*Wo, K =
// C/g*kh*kw), blockIdx.z = group. It is v5 of kernels/cuda/gemm.cu (gemm_tiles::WarpTile,
// double-buffered shared memory) except for two things: the B tile is gathered from x while
// it is loaded (X_col is never stored), and the epilogue writes NCHW y directly and adds the
// bias. A thread's B columns are fixed for the whole K-loop (cb + 32q, q = 0..3, so that a
// warp's loads of one q are consecutive output pixels), so their image, input row and column
// origins are computed once; per K-tile only the two rows' (c, i, j) are decoded. Two tile
// shapes (WT): 128 x 128 (256 threads), and 64 x 128 (128 threads) where a group has at most 64
// output channels (AlexNet's conv1, the small networks' first layers), which would leave half
// of a 128-row tile empty.
struct ImplicitConvArgs {
  ConvDims d;
  int64_t O, Og, Cg;
  int Kg, cols;  // GEMM K and N (N = images * Ho * Wo)
  bool vec_w;    // float4 loads of the weight rows (Kg % 4 == 0, aligned)
  bool vec_y;    // float4 stores of the output (Ho*Wo % 4 == 0, y aligned)
};

template <class WT>
__global__ void __launch_bounds__(WT::kThreads, WT::kMinBlocks)
    conv2d_forward_implicit_kernel(const float* __restrict__ x, const float* __restrict__ w,
                                   const float* __restrict__ bias, float* __restrict__ y, ImplicitConvArgs a) {
  constexpr int BM = WT::BM, BN = WT::BN, BK = WT::BK, NT = WT::kThreads;
  static_assert(BN == 128, "a thread gathers the B columns cb + 32q, q = 0..3");
  using LoadA = gemm_tiles::TileLoader<false, BM, BK, NT, WT::LDA>;  // W_g rows: [o][k]
  constexpr int kRowsPerPass = NT / 32, kBRows = BK / kRowsPerPass;  // 8 rows apart, 2 rows
  __shared__ __align__(16) float As[2][BK * WT::LDA];
  __shared__ __align__(16) float Bs[2][BK * WT::LDB];
  const ConvDims& d = a.d;
  const int64_t g = blockIdx.z, P = d.Ho * d.Wo;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const float* wg = w + g * a.Og * a.Kg;
  const int Og = (int)a.Og;

  // This thread's B columns and rows of every K-tile. Coordinates inside one input plane fit
  // in int (checked by the launcher); the plane offsets are 64-bit.
  const int cb = threadIdx.x % 32, br = threadIdx.x / 32;
  const int H = (int)d.H, W = (int)d.W, kw = (int)d.kw, KK = (int)(d.kh * d.kw);
  int64_t plane[4];  // offset of (image n, first channel of group g) in x; -1 past the end
  int ih0[4], iw0[4];
  for (int q = 0; q < 4; ++q) {
    const int col = n0 + cb + 32 * q;
    plane[q] = -1;
    ih0[q] = iw0[q] = 0;
    if (col < a.cols) {
      const int n = col / (int)P, p = col % (int)P;
      plane[q] = ((int64_t)n * d.C + g * a.Cg) * H * W;
      ih0[q] = (p / (int)d.Wo) * (int)d.sh - (int)d.ph;
      iw0[q] = (p % (int)d.Wo) * (int)d.sw - (int)d.pw;
    }
  }
  auto fetch_b = [&](int k0, float(&rb)[kBRows][4]) {
    for (int r = 0; r < kBRows; ++r) {
      const int k = k0 + br + r * kRowsPerPass;
      const int c = k / KK, i = (k % KK) / kw, j = k % kw;
      const int dh = i * (int)d.dh, dw = j * (int)d.dw;
      for (int q = 0; q < 4; ++q) {
        const int ih = ih0[q] + dh, iw = iw0[q] + dw;
        rb[r][q] = (k < a.Kg && plane[q] >= 0 && ih >= 0 && ih < H && iw >= 0 && iw < W)
                       ? x[plane[q] + (c * H + ih) * W + iw]
                       : 0.0f;
      }
    }
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
    LoadA::fetch(wg, a.Kg, a.vec_w, Og, a.Kg, m0, 0, ra);
    fetch_b(0, rb);
    LoadA::stash(ra, As[0]);
    stash_b(rb, Bs[0]);
  }
  __syncthreads();
  for (int t = 0; t < tiles; ++t) {
    const int cur = t & 1;
    const bool more = t + 1 < tiles;
    if (more) {
      LoadA::fetch(wg, a.Kg, a.vec_w, Og, a.Kg, m0, (t + 1) * BK, ra);
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
  // Ho*Wo is a multiple of 4 (and y 16-byte aligned, a.vec_y), those 4 are consecutive pixels
  // of one image at a 16-byte boundary and go out as one float4: a warp's store then fills
  // whole sectors (8 rows x 64 bytes) instead of touching 8 rows x 4 scattered floats.
  for (int jj = 0; jj < WT::TN / 4; ++jj) {
    const int col0 = n0 + wt.col(4 * jj);
    if (a.vec_y && col0 + 3 < a.cols) {
      const int n = col0 / (int)P, p = col0 % (int)P;
      float* yn = y + (int64_t)n * a.O * P + p;  // y[n, 0, p]
      for (int i = 0; i < WT::TM; ++i) {
        const int o = m0 + wt.row(i);
        if (o >= Og) continue;
        const int64_t oc = g * a.Og + o;  // output channel
        const float b = bias ? bias[oc] : 0.0f;
        const float4 v =
            make_float4(acc[i][4 * jj] + b, acc[i][4 * jj + 1] + b, acc[i][4 * jj + 2] + b, acc[i][4 * jj + 3] + b);
        *reinterpret_cast<float4*>(yn + oc * P) = v;
      }
      continue;
    }
    for (int j = 4 * jj; j < 4 * jj + 4; ++j) {
      const int col = n0 + wt.col(j);
      if (col >= a.cols) continue;
      const int n = col / (int)P, p = col % (int)P;
      float* yn = y + (int64_t)n * a.O * P + p;
      for (int i = 0; i < WT::TM; ++i) {
        const int o = m0 + wt.row(i);
        if (o >= Og) continue;
        const int64_t oc = g * a.Og + o;
        yn[oc * P] = acc[i][j] + (bias ? bias[oc] : 0.0f);
      }
    }
  }
}

bool is_pointwise(const ConvGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// Workspace floats one image needs in `pass` (0: none).
int64_t floats_per_image(const ConvGeometry& g, ConvPass pass) {
  const int64_t P = g.Ho * g.Wo, Kt = g.C * g.kh * g.kw;
  switch (pass) {
    case ConvPass::backward_data: return is_pointwise(g) ? 0 : Kt * P;
    case ConvPass::backward_weight: return (Kt + g.O) * P;
    case ConvPass::backward_bias: return 0;  // not per image: see conv2d_workspace_floats
  }
  return 0;
}

// Images per chunk for the workspace the caller gave.
int64_t chunk_images(const ConvGeometry& g, ConvPass pass, int64_t workspace_floats, const char* what) {
  const int64_t per = floats_per_image(g, pass);
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
  const int64_t per = floats_per_image(g, pass);
  if (per == 0 || g.N == 0) return 0;
  return per * std::clamp<int64_t>(kWorkspaceBudgetFloats / per, 1, g.N);
}

// One launch of the implicit forward in tile shape WT.
template <class WT>
void launch_implicit(const float* x, const float* w, const float* bias, float* y, const ImplicitConvArgs& a, int64_t Og,
                     int64_t G) {
  const dim3 grid((unsigned)((a.cols + WT::BN - 1) / WT::BN), (unsigned)((Og + WT::BM - 1) / WT::BM), (unsigned)G);
  PW_PROFILE_FLOPS(2.0 * (double)a.cols * Og * a.Kg * G);  // one FMA per output element and reduction term
  PW_LAUNCH(conv2d_forward_implicit_kernel<WT>, grid, WT::kThreads, 0, 0)(x, w, bias, y, a);
  PW_CUDA_CHECK_LAUNCH();
}

void conv2d_forward_implicit(Tag, const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y) {
  const int64_t P = g.Ho * g.Wo, cols = g.N * P;
  const int64_t G = g.groups, Og = g.O / G, Cg = g.C / G, Kg = Cg * g.kh * g.kw;
  if (cols == 0 || g.O == 0) return;
  if (cols > INT32_MAX || Kg > INT32_MAX || Cg * g.H * g.W > INT32_MAX || G > 65535)
    throw std::runtime_error("conv2d_forward_implicit: N*Ho*Wo = " + std::to_string(cols) +
                             ", C/groups*H*W = " + std::to_string(Cg * g.H * g.W) + ", groups = " + std::to_string(G) +
                             ": too large for one launch");
  ImplicitConvArgs a{dims_of(g),
                     g.O,
                     Og,
                     Cg,
                     (int)Kg,
                     (int)cols,
                     Kg % 4 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0,
                     P % 4 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0};
  if (Og <= 64)
    launch_implicit<gemm_tiles::WarpTile64x128>(x, w, bias, y, a, Og, G);
  else
    launch_implicit<gemm_tiles::WarpTile>(x, w, bias, y, a, Og, G);
}

void conv2d_backward_data(Tag, const ConvGeometry& g, const float* dy, const float* w, float* dx, float* workspace,
                          int64_t workspace_floats) {
  const int64_t P = g.Ho * g.Wo, HW = g.H * g.W, Kt = g.C * g.kh * g.kw;
  const int64_t G = g.groups, Cg = g.C / G, Og = g.O / G, Kg = Cg * g.kh * g.kw;
  if (g.N * g.C * HW == 0) return;
  const bool pointwise = is_pointwise(g);
  const int64_t nb_max = chunk_images(g, ConvPass::backward_data, workspace_floats, "conv2d_backward_data");
  for (int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.N - n0);
    GemmBatch batch;
    batch.count = nb * G;
    batch.inner = G;
    batch.a_inner = Og * Kg;
    batch.b_outer = g.O * P;
    batch.b_inner = Og * P;
    // col[n, g] = W_g^T @ dy[n, g]: W_g is stored [Og][Kg], so it goes in transposed.
    float* C = pointwise ? dx + n0 * g.C * HW : workspace;
    batch.c_outer = pointwise ? g.C * HW : Kt * P;
    batch.c_inner = pointwise ? Cg * HW : Kg * P;
    sgemm_batched(Tag{}, batch, true, false, Kg, P, Og, 1.0f, w, Kg, dy + n0 * g.O * P, P, 0.0f, C, P);
    if (!pointwise) {
      const int64_t total = nb * g.C * HW;
      // The largest col index read is below nb * Kt * P, the workspace's part in use.
      const int blocks = grid_blocks(total, kThreads);
      float* dxn = dx + n0 * g.C * HW;
      if (fits_int32({total, nb * Kt * P})) {
        PW_LAUNCH(col2im_kernel<int>, blocks, kThreads, 0, 0)
        (workspace, dims_of(g), (int)nb, (int)(Kt * P), (int)P, dxn);
      } else {
        PW_LAUNCH(col2im_kernel<int64_t>, blocks, kThreads, 0, 0)(workspace, dims_of(g), nb, Kt * P, P, dxn);
      }
      PW_CUDA_CHECK_LAUNCH();
    }
  }
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
  const int64_t nb_max = chunk_images(g, ConvPass::backward_weight, workspace_floats, "conv2d_backward_weight");
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
