// Resize (F.interpolate) on the GPU: nearest and bilinear, forward and backward, with the
// source-index rules of kernels/cpu/resize.h (PyTorch's).
//
// Forward: one thread per output element (grid-stride); the source taps of its row and column
// are recomputed per element (a handful of float operations, cheaper than a table in a
// memory-bound kernel). Writes are coalesced; reads of neighbouring threads share cache lines.
// Expect 70-85 % of DRAM bandwidth (one read of x, one write of y) on an H100 when upsampling.
//
// Backward: a gather, not a scatter. One thread per *input* element finds the output rows and
// columns whose taps touch it and sums their weighted gradients -- no atomics, so the result is
// deterministic, and the terms come in row-major output order like the CPU's scatter (nearest's
// input gradient is bitwise the CPU's). The outputs touching input row i form a contiguous
// range, because the source index is non-decreasing in the output index: rows with
// i0 in {i - 1, i} for bilinear (i1 = i0 + 1, or i0 at the last row), rows with source i for
// nearest. The range is found from an estimate and then walked with the very tap function the
// forward uses, so float rounding can never make the two disagree.
//
// Bilinear source positions are exact rationals, num / den with integer num and den: the tap
// index is an integer division and the weight the remainder over den, rounded to float once.
// (PyTorch's CUDA kernels compute the position in float, whose rounding near src = 64 is
// already 4e-6, visible in the values; the CPU reference computes it in double.) Values then
// agree with the CPU's to float rounding of the four-term sum. Nearest uses PyTorch's
// single-precision index rule on both sides, so the same source is picked.
#include "kernels/cuda/compat.cuh"
#include "kernels/cuda/grid.cuh"

#define PW_LAUNCHER_NS PW_KERNEL_NS
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

namespace pw::kernels::PW_KERNEL_NS {

namespace {

constexpr int kThreads = 256;

// One axis of a resize: input and output lengths, and the rule's parameters.
struct Axis {
  int in, out;
  float scale;         // nearest: (float)in / out, PyTorch's single-precision scale
  bool align_corners;  // bilinear
};

Axis nearest_axis(int64_t in, int64_t out) { return {(int)in, (int)out, (float)in / (float)out, false}; }
Axis linear_axis(int64_t in, int64_t out, bool align_corners) { return {(int)in, (int)out, 0.0f, align_corners}; }

// ---- the tap rules (the same arithmetic for forward and backward) ----

// PyTorch's legacy nearest: min(floor(d * (float)in / out), in - 1) in single precision.
__device__ __forceinline__ int nearest_source(int d, const Axis& a) {
  if (a.in == a.out) return d;
  return min((int)floorf((float)d * a.scale), a.in - 1);
}

struct Tap {
  int i0, i1;
  float w0, w1;
};

// align_corners: src = d * (in - 1) / (out - 1) (0 when out == 1); otherwise
// src = max((d + 0.5) * in/out - 0.5, 0) = max(((2d + 1) * in - out) / (2 out), 0).
// i0 = min(floor(src), in - 1), i1 = i0 + (i0 < in - 1), w1 = clamp(src - i0, 0, 1): src is
// num / den, so i0 and the fraction come from one integer division (32-bit when it fits).
__device__ __forceinline__ Tap linear_source(int d, const Axis& a) {
  int64_t num, den;
  if (a.align_corners) {
    num = a.out > 1 ? (int64_t)d * (a.in - 1) : 0;
    den = a.out > 1 ? a.out - 1 : 1;
  } else {
    num = max((2 * (int64_t)d + 1) * a.in - a.out, (int64_t)0);
    den = 2 * (int64_t)a.out;
  }
  int64_t q;
  if (num <= 0x7fffffff && den <= 0x7fffffff)
    q = (int64_t)((unsigned)num / (unsigned)den);
  else
    q = num / den;
  const int64_t rem = num - q * den;
  Tap t;
  if (q >= a.in - 1) {  // the last row: both taps on it (src never passes in - 1 by much)
    t.i0 = t.i1 = a.in - 1;
    t.w1 = q > a.in - 1 ? 1.0f : (float)rem / (float)den;
  } else {
    t.i0 = (int)q;
    t.i1 = (int)q + 1;
    t.w1 = (float)rem / (float)den;
  }
  t.w0 = 1.0f - t.w1;
  return t;
}

// The first output d in [0, out] whose source (i0 for bilinear) is >= t; out when there is
// none. The estimate comes from the exact rule; the walk makes it exact for the float rule.
__device__ int first_nearest_at_least(int t, const Axis& a) {
  if (t <= 0) return 0;
  int d = (int)min((int64_t)a.out, ((int64_t)t * a.out + a.in - 1) / a.in);
  while (d > 0 && nearest_source(d - 1, a) >= t) --d;
  while (d < a.out && nearest_source(d, a) < t) ++d;
  return d;
}

__device__ int first_linear_at_least(int t, const Axis& a) {
  if (t <= 0) return 0;
  int64_t est;
  if (a.align_corners) {
    // d * (in-1)/(out-1) >= t; with in == 1 or out == 1 every source is 0.
    est = (a.in > 1 && a.out > 1) ? ((int64_t)t * (a.out - 1) + a.in - 2) / (a.in - 1) : a.out;
  } else {
    // (d + 0.5) * in/out - 0.5 >= t  <=>  d >= ((2t + 1) * out - in) / (2 in)
    const int64_t num = (2 * (int64_t)t + 1) * a.out - a.in;
    est = num <= 0 ? 0 : (num + 2 * (int64_t)a.in - 1) / (2 * (int64_t)a.in);
  }
  int d = (int)min((int64_t)a.out, est);
  while (d > 0 && linear_source(d - 1, a).i0 >= t) --d;
  while (d < a.out && linear_source(d, a).i0 < t) ++d;
  return d;
}

// The weight with which output tap `tp` reads input position i (both taps may be i at the edge).
__device__ __forceinline__ float weight_on(const Tap& tp, int i) {
  return (tp.i0 == i ? tp.w0 : 0.0f) + (tp.i1 == i ? tp.w1 : 0.0f);
}

// ---- kernels ----

__global__ void nearest_forward_kernel(const float* __restrict__ x, float* __restrict__ y, Axis ah, Axis aw,
                                       int64_t n) {
  const int plane_out = ah.out * aw.out;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = i / plane_out;
    const int r = (int)(i - p * plane_out);
    const int oh = r / aw.out, ow = r - oh * aw.out;
    const float* xp = x + p * ah.in * (int64_t)aw.in;
    y[i] = xp[nearest_source(oh, ah) * aw.in + nearest_source(ow, aw)];
  }
}

__global__ void nearest_backward_kernel(const float* __restrict__ dy, float* __restrict__ dx, Axis ah, Axis aw,
                                        int64_t n) {
  const int plane_in = ah.in * aw.in, plane_out = ah.out * aw.out;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = i / plane_in;
    const int r = (int)(i - p * plane_in);
    const int ih = r / aw.in, iw = r - ih * aw.in;
    const int oh0 = first_nearest_at_least(ih, ah), oh1 = first_nearest_at_least(ih + 1, ah);
    const int ow0 = first_nearest_at_least(iw, aw), ow1 = first_nearest_at_least(iw + 1, aw);
    const float* gp = dy + p * plane_out;
    float acc = 0.0f;
    for (int oh = oh0; oh < oh1; ++oh)
      for (int ow = ow0; ow < ow1; ++ow) acc += gp[oh * aw.out + ow];
    dx[i] = acc;
  }
}

__global__ void bilinear_forward_kernel(const float* __restrict__ x, float* __restrict__ y, Axis ah, Axis aw,
                                        int64_t n) {
  const int plane_out = ah.out * aw.out;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = i / plane_out;
    const int r = (int)(i - p * plane_out);
    const int oh = r / aw.out, ow = r - oh * aw.out;
    const Tap th = linear_source(oh, ah), tw = linear_source(ow, aw);
    const float* top = x + p * ah.in * (int64_t)aw.in + th.i0 * aw.in;
    const float* bottom = x + p * ah.in * (int64_t)aw.in + th.i1 * aw.in;
    y[i] = th.w0 * (tw.w0 * top[tw.i0] + tw.w1 * top[tw.i1]) + th.w1 * (tw.w0 * bottom[tw.i0] + tw.w1 * bottom[tw.i1]);
  }
}

__global__ void bilinear_backward_kernel(const float* __restrict__ dy, float* __restrict__ dx, Axis ah, Axis aw,
                                         int64_t n) {
  const int plane_in = ah.in * aw.in, plane_out = ah.out * aw.out;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = i / plane_in;
    const int r = (int)(i - p * plane_in);
    const int ih = r / aw.in, iw = r - ih * aw.in;
    // Outputs whose i0 is ih - 1 or ih: the ones that can read row ih through i0 or i1.
    const int oh0 = first_linear_at_least(ih - 1, ah), oh1 = first_linear_at_least(ih + 1, ah);
    const int ow0 = first_linear_at_least(iw - 1, aw), ow1 = first_linear_at_least(iw + 1, aw);
    const float* gp = dy + p * plane_out;
    float acc = 0.0f;
    for (int oh = oh0; oh < oh1; ++oh) {
      const float wh = weight_on(linear_source(oh, ah), ih);
      for (int ow = ow0; ow < ow1; ++ow) {
        const float ww = weight_on(linear_source(ow, aw), iw);
        acc += (wh * ww) * gp[oh * aw.out + ow];
      }
    }
    dx[i] = acc;
  }
}

void check_sizes(int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w, const char* op) {
  const int64_t kMax = (int64_t)1 << 30;  // 2*t*out and similar stay inside int64; planes in int
  if (in_h * in_w >= kMax || out_h * out_w >= kMax)
    throw CudaError(std::string(op) + ": planes of 2^30 or more elements are not supported");
}

}  // namespace

void resize_nearest_forward(Tag, const float* x, float* y, int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                            int64_t out_w) {
  const int64_t n = planes * out_h * out_w;
  if (n == 0) return;
  check_sizes(in_h, in_w, out_h, out_w, "resize");
  PW_LAUNCH(nearest_forward_kernel, grid_blocks(n, kThreads), kThreads, 0, 0)
  (x, y, nearest_axis(in_h, out_h), nearest_axis(in_w, out_w), n);
  PW_CUDA_CHECK_LAUNCH();
}

void resize_nearest_backward(Tag, const float* dy, float* dx, int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                             int64_t out_w) {
  const int64_t n = planes * in_h * in_w;
  if (n == 0) return;
  check_sizes(in_h, in_w, out_h, out_w, "resize_backward");
  PW_LAUNCH(nearest_backward_kernel, grid_blocks(n, kThreads), kThreads, 0, 0)
  (dy, dx, nearest_axis(in_h, out_h), nearest_axis(in_w, out_w), n);
  PW_CUDA_CHECK_LAUNCH();
}

void resize_bilinear_forward(Tag, const float* x, float* y, int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                             int64_t out_w, bool align_corners) {
  const int64_t n = planes * out_h * out_w;
  if (n == 0) return;
  check_sizes(in_h, in_w, out_h, out_w, "resize");
  PW_LAUNCH(bilinear_forward_kernel, grid_blocks(n, kThreads), kThreads, 0, 0)
  (x, y, linear_axis(in_h, out_h, align_corners), linear_axis(in_w, out_w, align_corners), n);
  PW_CUDA_CHECK_LAUNCH();
}

void resize_bilinear_backward(Tag, const float* dy, float* dx, int64_t planes, int64_t in_h, int64_t in_w,
                              int64_t out_h, int64_t out_w, bool align_corners) {
  const int64_t n = planes * in_h * in_w;
  if (n == 0) return;
  check_sizes(in_h, in_w, out_h, out_w, "resize_backward");
  PW_LAUNCH(bilinear_backward_kernel, grid_blocks(n, kThreads), kThreads, 0, 0)
  (dy, dx, linear_axis(in_h, out_h, align_corners), linear_axis(in_w, out_w, align_corners), n);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace pw::kernels::PW_KERNEL_NS
