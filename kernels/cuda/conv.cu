// 2-D convolution on the GPU: the forward pass and the data gradient by implicit GEMM, the
// weight gradient by im2col + our SGEMM (kernels/cuda/gemm.cu), the bias gradient by a
// deterministic reduction. The semantics are those of kernels/cpu/conv.h;
// kernels/cuda/api/conv.inc has the launchers.
//
//   forward          per group g: Y_g[o][(n, p)] = W_g @ X_col, one launch for every image and
//   (implicit GEMM)  group; v5's warp tiling with the B tile gathered from x as it is loaded
//                    (no col buffer) and the bias added in the epilogue. Where the grid would
//                    not fill the GPU (AlexNet's 13x13 layers at batch 16: 44-66 tiles), K is cut
//                    into the slices gemm_plan::choose_implicit_conv plans, as for the data
//                    gradient below. The forward by im2col + SGEMM that it replaced is kept, for
//                    comparison, only in the development file bench/kernels/conv2d_forward.cu.
//   backward-data    per group g: dX_g[c][(n, q)] = W_g^T @ dY_col, the same kernel with the B
//   (implicit GEMM)  tile gathered from dy in col2im's gather form (each dx element written
//                    once: no atomics, no zeroing). Its M is C/groups, often a few dozen, so
//                    its K (O/groups*kh*kw) is cut into the slices gemm_plan::choose_implicit_conv
//                    plans to fill the GPU: partial tiles in the workspace, added in slice order
//                    (deterministic) by implicit_reduce_kernel. It replaced a batched GEMM into a
//                    col buffer [C*kh*kw][Ho*Wo] per image and a col2im pass, which wrote and
//                    read that buffer (kh*kw times dx's size) through DRAM; that version lives in
//                    bench/kernels/conv2d_backward_data.cu. A pointwise conv (1x1, stride 1, no
//                    padding) stays one batched GEMM: its dx planes are the GEMM's output.
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
#include "kernels/cuda/conv_implicit.cuh"
#include "kernels/cuda/gemm_plan.h"
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

// The forward's implicit GEMM: M = O/groups, N = N*Ho*Wo, K = C/groups*kh*kw, count = groups.
gemm_plan::Plan forward_plan(const ConvGeometry& g) {
  const int64_t G = g.groups;
  return gemm_plan::choose_implicit_conv(g.O / G, g.N * g.Ho * g.Wo, g.C / G * g.kh * g.kw, G);
}

// The data gradient's implicit GEMM: M = C/groups, N = N*H*W, K = O/groups*kh*kw, count = groups.
gemm_plan::Plan backward_data_plan(const ConvGeometry& g) {
  const int64_t G = g.groups;
  return gemm_plan::choose_implicit_conv(g.C / G, g.N * g.H * g.W, g.O / G * g.kh * g.kw, G);
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
  if (pass == ConvPass::backward_data) return is_pointwise(g) || g.N == 0 ? 0 : backward_data_plan(g).workspace_floats;
  if (pass == ConvPass::forward) return g.N * g.O == 0 ? 0 : forward_plan(g).workspace_floats;
  return chunked_workspace_floats(g, floats_per_image(g, pass));
}

// a's K-slices: whole BK steps, as gemm_plan::evaluate makes them (a count that would leave a
// slice empty shrinks to the slices needed; K = 0, a conv without channels, is one empty slice),
// their partial tiles in the workspace, which must hold them all.
void set_k_slices(ImplicitConvArgs& a, int64_t G, int splits, float* workspace, int64_t workspace_floats,
                  const char* what) {
  const int64_t steps = std::max<int64_t>(1, (a.Kg + 15) / 16);
  splits = (int)std::clamp<int64_t>(splits, 1, steps);
  a.k_slice = (int)((steps + splits - 1) / splits * 16);
  a.splits = (int)std::max<int64_t>(1, (a.Kg + a.k_slice - 1) / a.k_slice);
  if (a.splits == 1) return;
  const int64_t need = a.splits * G * a.rows * a.cols;
  if (!workspace || workspace_floats < need)
    throw std::runtime_error(std::string(what) + ": " + std::to_string(a.splits) + " K-slices need " +
                             std::to_string(need) + " floats of workspace, given " + std::to_string(workspace_floats));
  a.partial = workspace;
}

// An implicit-GEMM pass (GATHER) in tile shape WT, in a.splits K-slices (then their reduction).
template <class WT, class GATHER>
void launch_implicit(const float* src, const float* w, const float* bias, float* out, const ImplicitConvArgs& a,
                     int64_t G) {
  const dim3 grid((unsigned)((a.cols + WT::BN - 1) / WT::BN), (unsigned)((a.rows + WT::BM - 1) / WT::BM),
                  (unsigned)(G * a.splits));
  PW_PROFILE_FLOPS(2.0 * (double)a.cols * a.rows * a.Kg * G);  // one FMA per output element and reduction term
  PW_LAUNCH((conv2d_implicit_kernel<WT, GATHER>), grid, WT::kThreads, 0, 0)(src, w, bias, out, a);
  PW_CUDA_CHECK_LAUNCH();
  if (a.splits == 1) return;
  const int64_t total = G * a.rows * a.cols;
  PW_PROFILE_FLOPS((double)total * a.splits);  // one add per partial tile element
  const int blocks = grid_blocks(total, kThreads);
  if (fits_int32({total * a.splits, a.cols * a.out_ch})) {  // the partial tiles, the output
    PW_LAUNCH(implicit_reduce_kernel<int>, blocks, kThreads, 0, 0)(bias, out, a, (int)G);
  } else {
    PW_LAUNCH(implicit_reduce_kernel<int64_t>, blocks, kThreads, 0, 0)(bias, out, a, G);
  }
  PW_CUDA_CHECK_LAUNCH();
}

// In 64 x 128 tiles (bm 64) or 128 x 128.
template <class GATHER>
void launch_implicit(int bm, const float* src, const float* w, const float* bias, float* out, const ImplicitConvArgs& a,
                     int64_t G) {
  if (bm == 64)
    launch_implicit<gemm_tiles::WarpTile64x128, GATHER>(src, w, bias, out, a, G);
  else
    launch_implicit<gemm_tiles::WarpTile, GATHER>(src, w, bias, out, a, G);
}

void conv2d_forward_implicit(Tag, const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                             float* workspace, int64_t workspace_floats, const ConvPostOps& post) {
  if (g.N * g.Ho * g.Wo == 0 || g.O == 0) return;
  const gemm_plan::Plan plan = forward_plan(g);
  const bool room = plan.splits > 1 && workspace && workspace_floats >= plan.workspace_floats;
  conv2d_forward_implicit_with(Tag{}, g, plan.bm, room ? plan.splits : 1, x, w, bias, y, workspace, workspace_floats,
                               post);
}

void conv2d_forward_implicit_with(Tag, const ConvGeometry& g, int bm, int splits, const float* x, const float* w,
                                  const float* bias, float* y, float* workspace, int64_t workspace_floats,
                                  const ConvPostOps& post) {
  const int64_t P = g.Ho * g.Wo, cols = g.N * P;
  const int64_t G = g.groups, Og = g.O / G, Cg = g.C / G, Kg = Cg * g.kh * g.kw;
  if (cols == 0 || g.O == 0) return;
  if (cols > INT32_MAX || Kg > INT32_MAX || Cg * g.H * g.W > INT32_MAX || G * splits > 65535)
    throw std::runtime_error("conv2d_forward_implicit: N*Ho*Wo = " + std::to_string(cols) +
                             ", C/groups*H*W = " + std::to_string(Cg * g.H * g.W) + ", groups = " + std::to_string(G) +
                             ": too large for one launch");
  ImplicitConvArgs a{dims_of(g),
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
  set_k_slices(a, G, splits, workspace, workspace_floats, "conv2d_forward_implicit");
  a.post = {post.bn_mean, post.bn_var, post.bn_weight, post.bn_bias, (float)post.bn_eps, post.relu};
  launch_implicit<ForwardGather>(bm, x, w, bias, y, a, G);
}

// dx by implicit GEMM in the plan's tile and K-slices (its partial tiles in the workspace; with
// less workspace than they need, one slice); a pointwise conv's dx planes are the GEMM's own
// output, so it stays one batched GEMM over (image, group).
void conv2d_backward_data(Tag, const ConvGeometry& g, const float* dy, const float* w, float* dx, float* workspace,
                          int64_t workspace_floats) {
  if (g.N * g.C * g.H * g.W == 0) return;
  const gemm_plan::Plan plan = backward_data_plan(g);
  const bool room = plan.splits > 1 && workspace && workspace_floats >= plan.workspace_floats;
  conv2d_backward_data_with(Tag{}, g, plan.bm, room ? plan.splits : 1, dy, w, dx, workspace, workspace_floats);
}

void conv2d_backward_data_with(Tag, const ConvGeometry& g, int bm, int splits, const float* dy, const float* w,
                               float* dx, float* workspace, int64_t workspace_floats) {
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
  if (cols > INT32_MAX || Kg > INT32_MAX || Og * P > INT32_MAX || Og * Cg * g.kh * g.kw > INT32_MAX ||
      G * splits > 65535)
    throw std::runtime_error("conv2d_backward_data: N*H*W = " + std::to_string(cols) + ", O/groups*Ho*Wo = " +
                             std::to_string(Og * P) + ", groups = " + std::to_string(G) + ": too large for one launch");
  ImplicitConvArgs a{dims_of(g),
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
  set_k_slices(a, G, splits, workspace, workspace_floats, "conv2d_backward_data");
  launch_implicit<BackwardDataGather>(bm, dy, w, nullptr, dx, a, G);
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
