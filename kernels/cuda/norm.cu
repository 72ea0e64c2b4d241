// Batch normalization on the GPU: per-channel statistics, the running-stat update, the
// normalization and its backward, on a contiguous input viewed as [N, C, S] (see
// kernels/cpu/norm.h for the semantics).
//
// Reductions (statistics; the backward's sum(dy) and sum(dy * (x - mean))) run in two kernels,
// in a fixed order, so they are deterministic and do not depend on thread timing:
//   1. A channel's N*S values, in logical order k = n*S + s, are cut into chunks of kChunk
//      (4096) values; one 256-thread block per (channel, chunk). Each thread sums its 16 values
//      in float (k strided by the block size, so a warp reads 32 consecutive floats of a
//      plane), then the block reduces with warp shuffles and one shared-memory step. For the
//      statistics the block makes two passes over its chunk (the second from L1/L2): a centre
//      (the chunk's mean in float), then the sums of deviations d and d^2 from it, giving the
//      chunk's mean and M2 = sum d^2 - (sum d)^2 / n exactly as in the CPU's fast path. So a
//      mean far from zero does not cancel the variance away, and no float sum runs over more
//      than 16 values serially. The chunk's results go to a workspace in double.
//   2. One thread per channel merges its chunks in chunk order, in double (Chan et al.'s
//      pairwise formula for (count, mean, M2); plain sums for the gradient terms), and writes
//      the statistics, or dweight / dbias and three per-channel coefficients for dx.
// Every block has work for any shape: [64, 64, 56, 56] gives 64 * 49 blocks. [N, C] features
// (S = 1) read a channel with stride C, uncoalesced, but such inputs are small.
// The normalization and dx are elementwise (grid-stride, per-channel constants from L1):
// memory-bound, one read and one write (dx: two reads) per element; expect 70-85 % of DRAM
// bandwidth on an H100, and about three passes over x for a training forward in all.
#include "kernels/cuda/compat.cuh"
#include "kernels/cuda/grid.cuh"

#define PW_LAUNCHER_NS PW_KERNEL_NS
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

namespace pw::kernels::PW_KERNEL_NS {

namespace {

constexpr int kThreads = 256;
constexpr int kValuesPerThread = 16;
constexpr int64_t kChunk = (int64_t)kThreads * kValuesPerThread;

int64_t chunks_per_channel(int64_t count) {
  const int64_t p = (count + kChunk - 1) / kChunk;
  return p > 0 ? p : 1;
}

// The workspace: two doubles per (channel, chunk), then three floats per channel.
struct Workspace {
  double* part_a;     // [C, P]: chunk mean, or chunk sum(dy)
  double* part_b;     // [C, P]: chunk M2, or chunk sum(dy * (x - mean))
  float* coef_k;      // [C]: weight * invstd
  float* coef_mdy;    // [C]: mean(dy) over the channel (0 in eval)
  float* coef_slope;  // [C]: invstd * mean(dy * xhat) (0 in eval)
};

size_t workspace_bytes(int64_t C, int64_t P) {
  return sizeof(double) * 2 * (size_t)(C * P) + sizeof(float) * 3 * (size_t)C;
}

Workspace carve(void* ws, int64_t C, int64_t P) {
  double* d = static_cast<double*>(ws);
  float* f = reinterpret_cast<float*>(d + 2 * C * P);
  return {d, d + C * P, f, f + C, f + 2 * C};
}

// Flat offset of value k (= n*S + s) of channel c. I: the kernels' index type, int when N*C*S
// fits (grid.cuh's fits_int32: one 32-bit division per value instead of a 64-bit sequence).
template <typename I>
__device__ __forceinline__ I channel_offset(I k, I c, I C, I S) {
  const I n = k / S;
  return (n * C + c) * S + (k - n * S);
}

__device__ __forceinline__ float warp_sum(float v) {
  // Butterfly: every lane ends with the same, bitwise identical, total.
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// The sum of v over the block (blockDim.x a multiple of 32), returned to every thread, in a
// fixed order: lanes by the butterfly, then the warps' totals by one more butterfly.
__device__ float block_sum(float v) {
  __shared__ float warp_totals[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  if (lane == 0) warp_totals[warp] = v;
  __syncthreads();
  v = lane < (int)(blockDim.x >> 5) ? warp_totals[lane] : 0.0f;
  v = warp_sum(v);
  __syncthreads();  // warp_totals is reused by the next call
  return v;
}

// Stage 1 of the statistics: the (mean, M2) of chunk b of channel c, two passes.
template <typename I>
__global__ void __launch_bounds__(kThreads)
    chunk_stats_kernel(const float* __restrict__ x, double* __restrict__ part_mean, double* __restrict__ part_m2, I C,
                       I S, I count, I P) {
  const I c = (I)blockIdx.x / P, b = (I)blockIdx.x - c * P;
  const I k0 = b * (I)kChunk, k1 = min(k0 + (I)kChunk, count);
  float sum = 0.0f;
  for (I k = k0 + (I)threadIdx.x; k < k1; k += (I)blockDim.x) sum += x[channel_offset(k, c, C, S)];
  const float n = (float)(k1 - k0);
  const float centre = block_sum(sum) / n;
  float sum_d = 0.0f, sum_d2 = 0.0f;
  for (I k = k0 + (I)threadIdx.x; k < k1; k += (I)blockDim.x) {
    const float d = x[channel_offset(k, c, C, S)] - centre;
    sum_d += d;
    sum_d2 += d * d;
  }
  sum_d = block_sum(sum_d);
  sum_d2 = block_sum(sum_d2);
  if (threadIdx.x == 0) {
    // The correction (sum d)^2 / n makes up for the centre not being the exact mean.
    const double nd = (double)(k1 - k0), sd = (double)sum_d;
    part_mean[c * P + b] = (double)centre + sd / nd;
    part_m2[c * P + b] = max(0.0, (double)sum_d2 - sd * sd / nd);
  }
}

// Stage 2: merge channel c's chunks in order (Chan et al.), in double.
__global__ void merge_stats_kernel(const double* __restrict__ part_mean, const double* __restrict__ part_m2,
                                   float* __restrict__ mean, float* __restrict__ var, int64_t C, int64_t count,
                                   int64_t P) {
  for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < C; c += (int64_t)gridDim.x * blockDim.x) {
    double total = 0.0, m = 0.0, m2 = 0.0;
    for (int64_t b = 0; b < P; ++b) {
      const double nb = (double)min(kChunk, count - b * kChunk);
      const double merged = total + nb;
      const double delta = part_mean[c * P + b] - m;
      m += delta * nb / merged;
      m2 += part_m2[c * P + b] + delta * delta * total * nb / merged;
      total = merged;
    }
    mean[c] = (float)m;
    var[c] = (float)(m2 / total);
  }
}

__global__ void update_running_kernel(float* __restrict__ running_mean, float* __restrict__ running_var,
                                      const float* __restrict__ mean, const float* __restrict__ var, int64_t C,
                                      double unbias, double momentum) {
  for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < C; c += (int64_t)gridDim.x * blockDim.x) {
    running_mean[c] = (float)((1.0 - momentum) * (double)running_mean[c] + momentum * (double)mean[c]);
    running_var[c] = (float)((1.0 - momentum) * (double)running_var[c] + momentum * (double)var[c] * unbias);
  }
}

// y = x * scale + shift with scale = weight * invstd, shift = bias - mean * scale (per channel,
// recomputed per element in float: cheaper than a pass to fold them, the kernel is memory-bound).
template <typename I>
__global__ void forward_kernel(const float* __restrict__ x, const float* __restrict__ mean,
                               const float* __restrict__ var, const float* __restrict__ weight,
                               const float* __restrict__ bias, float* __restrict__ y, I C, I S, float eps, I n) {
  for (I e = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; e < n; e += (I)gridDim.x * (I)blockDim.x) {
    const I c = (e / S) % C;
    const float invstd = 1.0f / sqrtf(var[c] + eps);
    const float scale = (weight ? weight[c] : 1.0f) * invstd;
    const float shift = (bias ? bias[c] : 0.0f) - mean[c] * scale;
    y[e] = x[e] * scale + shift;
  }
}

// Stage 1 of the backward: sum(dy) and sum(dy * (x - mean)) of chunk b of channel c.
template <typename I>
__global__ void __launch_bounds__(kThreads)
    chunk_grad_sums_kernel(const float* __restrict__ x, const float* __restrict__ dy, const float* __restrict__ mean,
                           double* __restrict__ part_dy, double* __restrict__ part_dy_xc, I C, I S, I count, I P) {
  const I c = (I)blockIdx.x / P, b = (I)blockIdx.x - c * P;
  const I k0 = b * (I)kChunk, k1 = min(k0 + (I)kChunk, count);
  const float m = mean[c];
  float sum_dy = 0.0f, sum_dy_xc = 0.0f;
  for (I k = k0 + (I)threadIdx.x; k < k1; k += (I)blockDim.x) {
    const I o = channel_offset(k, c, C, S);
    const float g = dy[o];
    sum_dy += g;
    sum_dy_xc += g * (x[o] - m);
  }
  sum_dy = block_sum(sum_dy);
  sum_dy_xc = block_sum(sum_dy_xc);
  if (threadIdx.x == 0) {
    part_dy[c * P + b] = (double)sum_dy;
    part_dy_xc[c * P + b] = (double)sum_dy_xc;
  }
}

// Stage 2 of the backward: per channel, the chunk sums in order; dweight, dbias and the
// coefficients of dx = k * ((dy - mdy) - (x - mean) * slope).
__global__ void merge_grad_kernel(const double* __restrict__ part_dy, const double* __restrict__ part_dy_xc,
                                  const float* __restrict__ var, const float* __restrict__ weight,
                                  float* __restrict__ dweight, float* __restrict__ dbias, float* __restrict__ coef_k,
                                  float* __restrict__ coef_mdy, float* __restrict__ coef_slope, int64_t C,
                                  int64_t count, int64_t P, double eps, bool batch_stats) {
  for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < C; c += (int64_t)gridDim.x * blockDim.x) {
    double sum_dy = 0.0, sum_dy_xc = 0.0;
    for (int64_t b = 0; b < P; ++b) {
      sum_dy += part_dy[c * P + b];
      sum_dy_xc += part_dy_xc[c * P + b];
    }
    const double invstd = 1.0 / sqrt((double)var[c] + eps);
    const double sum_dy_xhat = sum_dy_xc * invstd;
    if (dweight) dweight[c] = (float)sum_dy_xhat;
    if (dbias) dbias[c] = (float)sum_dy;
    const double w = weight ? (double)weight[c] : 1.0;
    coef_k[c] = (float)(w * invstd);
    coef_mdy[c] = batch_stats ? (float)(sum_dy / (double)count) : 0.0f;
    coef_slope[c] = batch_stats ? (float)(invstd * sum_dy_xhat / (double)count) : 0.0f;
  }
}

template <typename I>
__global__ void dx_kernel(const float* __restrict__ x, const float* __restrict__ dy, const float* __restrict__ mean,
                          const float* __restrict__ coef_k, const float* __restrict__ coef_mdy,
                          const float* __restrict__ coef_slope, float* __restrict__ dx, I C, I S, I n) {
  for (I e = (I)blockIdx.x * (I)blockDim.x + (I)threadIdx.x; e < n; e += (I)gridDim.x * (I)blockDim.x) {
    const I c = (e / S) % C;
    dx[e] = coef_k[c] * ((dy[e] - coef_mdy[c]) - (x[e] - mean[c]) * coef_slope[c]);
  }
}

// Per-channel kernels (merge, running update): C threads in all.
int channel_blocks(int64_t C) { return grid_blocks(C, kThreads); }

}  // namespace

size_t batch_norm_workspace_bytes(Tag, int64_t N, int64_t C, int64_t S) {
  return workspace_bytes(C, chunks_per_channel(N * S));
}

void batch_norm_stats(Tag, const float* x, float* mean, float* var, int64_t N, int64_t C, int64_t S, void* workspace) {
  if (C == 0) return;
  const int64_t count = N * S, P = chunks_per_channel(count);
  if (C * P > 0x7fffffff) throw CudaError("batch_norm: too many channels and chunks for one grid");
  const Workspace w = carve(workspace, C, P);
  const unsigned blocks = (unsigned)(C * P);
  if (fits_int32({N * C * S, C * P})) {
    PW_LAUNCH(chunk_stats_kernel<int>, blocks, kThreads, 0, 0)
    (x, w.part_a, w.part_b, (int)C, (int)S, (int)count, (int)P);
  } else {
    PW_LAUNCH(chunk_stats_kernel<int64_t>, blocks, kThreads, 0, 0)(x, w.part_a, w.part_b, C, S, count, P);
  }
  PW_CUDA_CHECK_LAUNCH();
  PW_LAUNCH(merge_stats_kernel, channel_blocks(C), kThreads, 0, 0)(w.part_a, w.part_b, mean, var, C, count, P);
  PW_CUDA_CHECK_LAUNCH();
}

void batch_norm_update_running(Tag, float* running_mean, float* running_var, const float* mean, const float* var,
                               int64_t C, int64_t count, double momentum) {
  if (C == 0) return;
  const double unbias = (double)count / (double)(count - 1);
  PW_LAUNCH(update_running_kernel, channel_blocks(C), kThreads, 0, 0)
  (running_mean, running_var, mean, var, C, unbias, momentum);
  PW_CUDA_CHECK_LAUNCH();
}

void batch_norm_forward(Tag, const float* x, const float* mean, const float* var, const float* weight,
                        const float* bias, float* y, int64_t N, int64_t C, int64_t S, double eps) {
  const int64_t n = N * C * S;
  if (n == 0) return;
  const int blocks = grid_blocks(n, kThreads);
  if (fits_int32({n})) {
    PW_LAUNCH(forward_kernel<int>, blocks, kThreads, 0, 0)
    (x, mean, var, weight, bias, y, (int)C, (int)S, (float)eps, (int)n);
  } else {
    PW_LAUNCH(forward_kernel<int64_t>, blocks, kThreads, 0, 0)(x, mean, var, weight, bias, y, C, S, (float)eps, n);
  }
  PW_CUDA_CHECK_LAUNCH();
}

void batch_norm_backward(Tag, const float* x, const float* dy, const float* mean, const float* var, const float* weight,
                         float* dx, float* dweight, float* dbias, int64_t N, int64_t C, int64_t S, double eps,
                         bool batch_stats, void* workspace) {
  if (C == 0 || (!dx && !dweight && !dbias)) return;
  const int64_t count = N * S, P = chunks_per_channel(count);
  if (C * P > 0x7fffffff) throw CudaError("batch_norm: too many channels and chunks for one grid");
  const Workspace w = carve(workspace, C, P);
  const bool small = fits_int32({N * C * S, C * P});
  const unsigned chunks = (unsigned)(C * P);
  if (small) {
    PW_LAUNCH(chunk_grad_sums_kernel<int>, chunks, kThreads, 0, 0)
    (x, dy, mean, w.part_a, w.part_b, (int)C, (int)S, (int)count, (int)P);
  } else {
    PW_LAUNCH(chunk_grad_sums_kernel<int64_t>, chunks, kThreads, 0, 0)(x, dy, mean, w.part_a, w.part_b, C, S, count, P);
  }
  PW_CUDA_CHECK_LAUNCH();
  PW_LAUNCH(merge_grad_kernel, channel_blocks(C), kThreads, 0, 0)
  (w.part_a, w.part_b, var, weight, dweight, dbias, w.coef_k, w.coef_mdy, w.coef_slope, C, count, P, eps, batch_stats);
  PW_CUDA_CHECK_LAUNCH();
  if (!dx || count == 0) return;
  const int64_t n = N * C * S;
  const int blocks = grid_blocks(n, kThreads);
  if (small) {
    PW_LAUNCH(dx_kernel<int>, blocks, kThreads, 0, 0)
    (x, dy, mean, w.coef_k, w.coef_mdy, w.coef_slope, dx, (int)C, (int)S, (int)n);
  } else {
    PW_LAUNCH(dx_kernel<int64_t>, blocks, kThreads, 0, 0)(x, dy, mean, w.coef_k, w.coef_mdy, w.coef_slope, dx, C, S, n);
  }
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace pw::kernels::PW_KERNEL_NS
