// Local response normalization across channels (AlexNet's LRN, PyTorch's definition; see
// kernels/cpu/lrn.h for the formulas), forward and backward.
//
// One thread per element (n, c, i), grid-stride over the flat [N, C, inner] index. Each thread
// reads the `size` channel rows of its window at the same spatial position i: consecutive
// threads take consecutive i, so every one of those reads is coalesced, and the window's rows
// are shared by `size` neighbouring channels through L1/L2. Memory-bound: the floor is one read
// of x and two writes (y, scale) forward, four reads and one write backward; with size 5 the
// extra window reads come from cache, so expect 60-80 % of DRAM bandwidth on an H100.
// The backward is a gather over the channels whose window holds j (no atomics, deterministic).
// Sums and the power run in float (the CPU in double): a few ulps apart.
#include "kernels/cuda/compat.cuh"
#include "kernels/cuda/grid.cuh"

#define PW_LAUNCHER_NS PW_KERNEL_NS
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

namespace pw::kernels::PW_KERNEL_NS {

namespace {

constexpr int kThreads = 256;

// scale_c = k + alpha/size * sum_{c' in [c - size/2, c + (size-1)/2] ∩ [0, C)} x_c'^2.
__global__ void lrn_forward_kernel(const float* __restrict__ x, float* __restrict__ y, float* __restrict__ scale,
                                   int64_t C, int64_t inner, int64_t size, float a, float neg_beta, float k,
                                   int64_t n) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = e % inner, nc = e / inner;
    const int64_t c = nc % C;
    const float* column = x + (nc - c) * inner + i;  // channel 0 of this image, position i
    const int64_t lo = max(c - size / 2, (int64_t)0), hi = min(c + (size - 1) / 2, C - 1);
    float sq = 0.0f;
    for (int64_t cc = lo; cc <= hi; ++cc) {
      const float v = column[cc * inner];
      sq += v * v;
    }
    const float s = k + a * sq;
    scale[e] = s;
    y[e] = x[e] * powf(s, neg_beta);
  }
}

// dx_j = dy_j * scale_j^-beta - (2 alpha beta / size) * x_j * sum_c dy_c * y_c / scale_c over
// the channels c whose window holds j: c in [j - (size-1)/2, j + size/2] ∩ [0, C).
__global__ void lrn_backward_kernel(const float* __restrict__ x, const float* __restrict__ y,
                                    const float* __restrict__ scale, const float* __restrict__ dy,
                                    float* __restrict__ dx, int64_t C, int64_t inner, int64_t size, float ratio,
                                    float neg_beta, int64_t n) {
  for (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < n; e += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = e % inner, nc = e / inner;
    const int64_t j = nc % C;
    const int64_t base = (nc - j) * inner + i;
    const int64_t lo = max(j - (size - 1) / 2, (int64_t)0), hi = min(j + size / 2, C - 1);
    float acc = 0.0f;
    for (int64_t c = lo; c <= hi; ++c) {
      const int64_t o = base + c * inner;
      acc += dy[o] * y[o] / scale[o];
    }
    dx[e] = dy[e] * powf(scale[e], neg_beta) - ratio * x[e] * acc;
  }
}

}  // namespace

void lrn_forward(Tag, const float* x, float* y, float* scale, int64_t N, int64_t C, int64_t inner, int64_t size,
                 double alpha, double beta, double k) {
  const int64_t n = N * C * inner;
  if (n == 0) return;
  PW_LAUNCH(lrn_forward_kernel, grid_blocks(n, kThreads), kThreads, 0, 0)
  (x, y, scale, C, inner, size, (float)(alpha / double(size)), (float)-beta, (float)k, n);
  PW_CUDA_CHECK_LAUNCH();
}

void lrn_backward(Tag, const float* x, const float* y, const float* scale, const float* dy, float* dx, int64_t N,
                  int64_t C, int64_t inner, int64_t size, double alpha, double beta) {
  const int64_t n = N * C * inner;
  if (n == 0) return;
  PW_LAUNCH(lrn_backward_kernel, grid_blocks(n, kThreads), kThreads, 0, 0)
  (x, y, scale, dy, dx, C, inner, size, (float)(2.0 * alpha * beta / double(size)), (float)-beta, n);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace pw::kernels::PW_KERNEL_NS
