// Softmax, log-softmax and the fused softmax cross-entropy over the middle axis of a
// contiguous [outer, R, inner] block (R = the softmax dimension). Pairs with
// kernels/cpu/softmax.cpp; the formulas are the same, computed in f32 (the CPU uses double
// inside a line, so the two agree to rounding).
//
// A "line" is the R values of one (o, i). Three versions, picked by the shape:
//   1. rows, short (inner == 1, R <= 1024): a warp per row, 8 rows per 256-thread block. The
//      max and the sum of exponentials are warp butterflies (__shfl_xor_sync), so no shared
//      memory and no __syncthreads; each lane strides the row by 32 (coalesced).
//   2. rows, long (inner == 1, R > 1024): a block of 256 threads per row; the warp results go
//      through shared memory and every thread folds them in the same fixed order.
//   3. columns (inner > 1, e.g. softmax over the channels of NCHW): one thread per line; the
//      threads of a warp take adjacent i, so each step along R is one coalesced load. Best for
//      large inner; a large R with very few lines leaves the GPU mostly idle (not a shape the
//      engine's models use).
// Every version reads the line three times (max, sum, write); the re-reads of a row hit L1/L2
// for the row sizes of classifiers, so the expected speed is close to the DRAM floor of one
// read and one write. Not yet measured on a GPU.
//
// Cross-entropy: the forward is version 1/2 on the logits rows (it writes the per-row loss and
// the log-sum-exp for the backward); the mean/sum is one block summing the per-row losses in
// double, in a fixed order; the backward is elementwise, softmax recomputed as exp(x - lse).
// Labels are checked on the host by the engine before any launch (the error names the label
// and its index), so the kernels trust them.
#include "kernels/cuda/compat.cuh"

#define PW_LAUNCHER_NS PW_KERNEL_NS
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

namespace pw::kernels::PW_KERNEL_NS {

namespace {

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;
constexpr int64_t kWarpRowMax = 1024;  // rows up to this long get a warp each, longer a block
constexpr int64_t kMaxBlocks = 8192;

int blocks_for(int64_t work_items, int64_t items_per_block) {
  int64_t b = (work_items + items_per_block - 1) / items_per_block;
  return (int)(b < kMaxBlocks ? (b > 0 ? b : 1) : kMaxBlocks);
}

struct MaxF {
  __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct AddF {
  __device__ __forceinline__ float operator()(float a, float b) const { return a + b; }
};

// All 32 lanes end with the same value (a + b == b + a exactly, so the butterfly is symmetric).
template <class Op>
__device__ __forceinline__ float warp_allreduce(float v, Op op) {
  for (int lane_mask = 16; lane_mask > 0; lane_mask >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, lane_mask));
  return v;
}

// The threads that share a row: a warp (kBlockPerRow false) or the whole block. `smem` holds
// one value per warp; every thread folds them in the same order, so all get the same result.
template <bool kBlockPerRow, class Op>
__device__ __forceinline__ float row_allreduce(float v, Op op, float* smem) {
  v = warp_allreduce(v, op);
  if constexpr (kBlockPerRow) {
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) smem[warp] = v;
    __syncthreads();
    v = smem[0];
    for (int w = 1; w < kWarpsPerBlock; ++w) v = op(v, smem[w]);
    __syncthreads();  // smem is reused by the next reduction
  }
  return v;
}

// Which rows a thread's group works on: group `first`, then every `stride`-th. The loop bound
// is uniform over the group, so the group's collectives are reached by all of its threads.
template <bool kBlockPerRow>
struct RowGroup {
  int64_t first, stride;
  int lane, width;
  __device__ RowGroup() {
    if constexpr (kBlockPerRow) {
      first = blockIdx.x;
      stride = gridDim.x;
      lane = threadIdx.x;
      width = kThreads;
    } else {
      first = blockIdx.x * (int64_t)kWarpsPerBlock + (threadIdx.x >> 5);
      stride = (int64_t)gridDim.x * kWarpsPerBlock;
      lane = threadIdx.x & 31;
      width = 32;
    }
  }
};

// The row's maximum and sum of exp(x - max), as every thread of the group sees them.
template <bool kBlockPerRow>
__device__ __forceinline__ void row_max_sumexp(const float* xr, int64_t R, const RowGroup<kBlockPerRow>& g, float* smem,
                                               float& mx, float& sum) {
  mx = -INFINITY;
  for (int64_t r = g.lane; r < R; r += g.width) mx = fmaxf(mx, xr[r]);
  mx = row_allreduce<kBlockPerRow>(mx, MaxF{}, smem);
  sum = 0.0f;
  for (int64_t r = g.lane; r < R; r += g.width) sum += expf(xr[r] - mx);
  sum = row_allreduce<kBlockPerRow>(sum, AddF{}, smem);
}

// ---- versions 1 and 2: rows (inner == 1) ----

template <bool kBlockPerRow, bool kLog>
__global__ void __launch_bounds__(kThreads)
    softmax_rows_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t rows, int64_t R) {
  __shared__ float smem[kWarpsPerBlock];
  const RowGroup<kBlockPerRow> g;
  for (int64_t row = g.first; row < rows; row += g.stride) {
    const float* xr = x + row * R;
    float* yr = y + row * R;
    float mx, sum;
    row_max_sumexp<kBlockPerRow>(xr, R, g, smem, mx, sum);
    if constexpr (kLog) {
      const float lse = mx + logf(sum);
      for (int64_t r = g.lane; r < R; r += g.width) yr[r] = xr[r] - lse;
    } else {
      for (int64_t r = g.lane; r < R; r += g.width) yr[r] = expf(xr[r] - mx) / sum;
    }
  }
}

// softmax: dx = y (dy - sum(dy y)); log_softmax: dx = dy - exp(y) sum(dy).
template <bool kBlockPerRow, bool kLog>
__global__ void __launch_bounds__(kThreads)
    softmax_backward_rows_kernel(const float* __restrict__ y, const float* __restrict__ dy, float* __restrict__ dx,
                                 int64_t rows, int64_t R) {
  __shared__ float smem[kWarpsPerBlock];
  const RowGroup<kBlockPerRow> g;
  for (int64_t row = g.first; row < rows; row += g.stride) {
    const float* yr = y + row * R;
    const float* dyr = dy + row * R;
    float* dxr = dx + row * R;
    float dot = 0.0f;
    for (int64_t r = g.lane; r < R; r += g.width) dot += kLog ? dyr[r] : dyr[r] * yr[r];
    dot = row_allreduce<kBlockPerRow>(dot, AddF{}, smem);
    for (int64_t r = g.lane; r < R; r += g.width) dxr[r] = kLog ? dyr[r] - expf(yr[r]) * dot : yr[r] * (dyr[r] - dot);
  }
}

// ---- version 3: columns (inner > 1), one thread per line ----

template <bool kLog>
__global__ void softmax_columns_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t outer, int64_t R,
                                       int64_t inner) {
  const int64_t lines = outer * inner;
  for (int64_t line = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; line < lines;
       line += (int64_t)gridDim.x * blockDim.x) {
    const int64_t o = line / inner, i = line - o * inner;
    const float* xp = x + o * R * inner + i;
    float* yp = y + o * R * inner + i;
    float mx = -INFINITY;
    for (int64_t r = 0; r < R; ++r) mx = fmaxf(mx, xp[r * inner]);
    float sum = 0.0f;
    for (int64_t r = 0; r < R; ++r) sum += expf(xp[r * inner] - mx);
    if constexpr (kLog) {
      const float lse = mx + logf(sum);
      for (int64_t r = 0; r < R; ++r) yp[r * inner] = xp[r * inner] - lse;
    } else {
      for (int64_t r = 0; r < R; ++r) yp[r * inner] = expf(xp[r * inner] - mx) / sum;
    }
  }
}

template <bool kLog>
__global__ void softmax_backward_columns_kernel(const float* __restrict__ y, const float* __restrict__ dy,
                                                float* __restrict__ dx, int64_t outer, int64_t R, int64_t inner) {
  const int64_t lines = outer * inner;
  for (int64_t line = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; line < lines;
       line += (int64_t)gridDim.x * blockDim.x) {
    const int64_t o = line / inner, i = line - o * inner;
    const int64_t base = o * R * inner + i;
    float dot = 0.0f;
    for (int64_t r = 0; r < R; ++r) {
      const int64_t k = base + r * inner;
      dot += kLog ? dy[k] : dy[k] * y[k];
    }
    for (int64_t r = 0; r < R; ++r) {
      const int64_t k = base + r * inner;
      dx[k] = kLog ? dy[k] - expf(y[k]) * dot : y[k] * (dy[k] - dot);
    }
  }
}

// ---- cross-entropy ----

template <bool kBlockPerRow>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_forward_kernel(const float* __restrict__ logits, const int32_t* __restrict__ target,
                                 float* __restrict__ loss, float* __restrict__ lse, int64_t N, int64_t C) {
  __shared__ float smem[kWarpsPerBlock];
  const RowGroup<kBlockPerRow> g;
  for (int64_t n = g.first; n < N; n += g.stride) {
    const float* row = logits + n * C;
    float mx, sum;
    row_max_sumexp<kBlockPerRow>(row, C, g, smem, mx, sum);
    if (g.lane == 0) {
      const float l = mx + logf(sum);
      lse[n] = l;
      loss[n] = l - row[target[n]];
    }
  }
}

// One block: each thread sums a strided share of the rows in double, then a fixed tree.
__global__ void __launch_bounds__(kThreads)
    cross_entropy_reduce_kernel(const float* __restrict__ loss_rows, int64_t N, bool mean, float* __restrict__ out) {
  __shared__ double smem[kWarpsPerBlock];
  double acc = 0.0;
  for (int64_t n = threadIdx.x; n < N; n += kThreads) acc += (double)loss_rows[n];
  for (int lane_mask = 16; lane_mask > 0; lane_mask >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, lane_mask);
  if ((threadIdx.x & 31) == 0) smem[threadIdx.x >> 5] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    double total = smem[0];
    for (int w = 1; w < kWarpsPerBlock; ++w) total += smem[w];
    out[0] = (float)(mean ? total / (double)N : total);
  }
}

// dlogits[n, c] = grad[n * stride] * scale * (exp(logits[n, c] - lse[n]) - [c == target[n]]).
__global__ void cross_entropy_backward_kernel(const float* __restrict__ logits, const int32_t* __restrict__ target,
                                              const float* __restrict__ lse, const float* __restrict__ grad,
                                              int64_t grad_stride, float scale, float* __restrict__ dlogits, int64_t N,
                                              int64_t C) {
  const int64_t total = N * C;
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < total; k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t n = k / C, c = k - n * C;
    const float g = grad[n * grad_stride] * scale;
    const float onehot = c == target[n] ? 1.0f : 0.0f;
    dlogits[k] = g * (expf(logits[k] - lse[n]) - onehot);
  }
}

template <bool kLog>
void launch_softmax_forward(const float* x, float* y, int64_t outer, int64_t R, int64_t inner) {
  if (inner > 1) {
    PW_LAUNCH(softmax_columns_kernel<kLog>, blocks_for(outer * inner, kThreads), kThreads, 0, 0)(x, y, outer, R, inner);
  } else if (R <= kWarpRowMax) {
    PW_LAUNCH((softmax_rows_kernel<false, kLog>), blocks_for(outer, kWarpsPerBlock), kThreads, 0, 0)(x, y, outer, R);
  } else {
    PW_LAUNCH((softmax_rows_kernel<true, kLog>), blocks_for(outer, 1), kThreads, 0, 0)(x, y, outer, R);
  }
  PW_CUDA_CHECK_LAUNCH();
}

template <bool kLog>
void launch_softmax_backward(const float* y, const float* dy, float* dx, int64_t outer, int64_t R, int64_t inner) {
  if (inner > 1) {
    PW_LAUNCH(softmax_backward_columns_kernel<kLog>, blocks_for(outer * inner, kThreads), kThreads, 0, 0)
    (y, dy, dx, outer, R, inner);
  } else if (R <= kWarpRowMax) {
    PW_LAUNCH((softmax_backward_rows_kernel<false, kLog>), blocks_for(outer, kWarpsPerBlock), kThreads, 0, 0)
    (y, dy, dx, outer, R);
  } else {
    PW_LAUNCH((softmax_backward_rows_kernel<true, kLog>), blocks_for(outer, 1), kThreads, 0, 0)(y, dy, dx, outer, R);
  }
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace

void softmax_forward(Tag, const float* x, float* y, int64_t outer, int64_t R, int64_t inner, bool log) {
  if (outer * R * inner == 0) return;
  if (log)
    launch_softmax_forward<true>(x, y, outer, R, inner);
  else
    launch_softmax_forward<false>(x, y, outer, R, inner);
}

void softmax_backward(Tag, const float* y, const float* dy, float* dx, int64_t outer, int64_t R, int64_t inner,
                      bool log) {
  if (outer * R * inner == 0) return;
  if (log)
    launch_softmax_backward<true>(y, dy, dx, outer, R, inner);
  else
    launch_softmax_backward<false>(y, dy, dx, outer, R, inner);
}

void cross_entropy_forward(Tag, const float* logits, const int32_t* target, float* loss, float* lse, int64_t N,
                           int64_t C) {
  if (N == 0) return;
  if (C <= kWarpRowMax) {
    PW_LAUNCH(cross_entropy_forward_kernel<false>, blocks_for(N, kWarpsPerBlock), kThreads, 0, 0)
    (logits, target, loss, lse, N, C);
  } else {
    PW_LAUNCH(cross_entropy_forward_kernel<true>, blocks_for(N, 1), kThreads, 0, 0)(logits, target, loss, lse, N, C);
  }
  PW_CUDA_CHECK_LAUNCH();
}

void cross_entropy_reduce(Tag, const float* loss_rows, int64_t N, bool mean, float* out) {
  if (N == 0) throw CudaError("cross_entropy_reduce: no rows");
  PW_LAUNCH(cross_entropy_reduce_kernel, 1, kThreads, 0, 0)(loss_rows, N, mean, out);
  PW_CUDA_CHECK_LAUNCH();
}

void cross_entropy_backward(Tag, const float* logits, const int32_t* target, const float* lse, const float* grad_loss,
                            int64_t grad_stride, double scale, float* dlogits, int64_t N, int64_t C) {
  if (N * C == 0) return;
  PW_LAUNCH(cross_entropy_backward_kernel, blocks_for(N * C, kThreads), kThreads, 0, 0)
  (logits, target, lse, grad_loss, grad_stride, (float)scale, dlogits, N, C);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace pw::kernels::PW_KERNEL_NS
