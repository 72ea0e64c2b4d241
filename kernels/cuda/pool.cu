// 2-D pooling on the GPU: max (with arg-max indices), average and adaptive average, forward and
// backward, with the semantics of kernels/cpu/pool.cpp (PyTorch's).
//
// Forward: one thread per output element (grid-stride), reading its window straight from
// global memory. Windows overlap (3x3 stride 2 reads each input ~2.25 times), so the reads of
// neighbouring threads hit L1/L2 and the kernels run near DRAM bandwidth: the floor is one read
// of x plus one write of y (and of the i32 indices); expect 60-80 % of it on an H100.
//
// Backward: a gather, not a scatter. One thread per *input* element sums the output gradients
// of the windows that cover it (max pool: only those whose saved arg-max is this element). No
// atomics, so the result does not depend on thread order, and the terms are added in the same
// order as the CPU's scatter (output row-major), which makes max and average pooling's input
// gradients bitwise equal to the CPU's. Each input visits its kh*kw candidate windows; the
// cost is of the same order as the forward.
//
// Max pool compares exactly as the CPU reference (strict > keeps the first of equal values, the
// first NaN wins and stays), so values and indices are identical. Average pooling sums its
// window in float (the CPU in double): a window of k*k values, relative error ~k*k*2^-24.
#include "kernels/cuda/compat.cuh"
#include "kernels/cuda/grid.cuh"

#define PW_LAUNCHER_NS PW_KERNEL_NS
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

namespace pw::kernels::PW_KERNEL_NS {

namespace {

constexpr int kThreads = 256;

// The pooling geometry with 32-bit sizes: coordinates inside a plane use int arithmetic (64-bit
// division is emulated on the GPU); flat indices over all planes stay 64-bit.
struct Geom {
  int H, W, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw;
};

Geom to_geom(const cpu::Pool2dShape& s, const char* op) {
  const int64_t kMax = 0x7fffffff;
  if (s.H * s.W > kMax || s.Ho * s.Wo > kMax || s.kh * s.kw > kMax)
    throw CudaError(std::string(op) + ": planes of more than 2^31 elements are not supported");
  return {(int)s.H,        (int)s.W,        (int)s.Ho,    (int)s.Wo,    (int)s.kh,         (int)s.kw,
          (int)s.stride_h, (int)s.stride_w, (int)s.pad_h, (int)s.pad_w, (int)s.dilation_h, (int)s.dilation_w};
}

__device__ __forceinline__ float neg_infinity() { return __int_as_float((int)0xff800000u); }

// ---------------------------------------------------------------- max pooling

__global__ void max_pool_forward_kernel(Geom g, const float* __restrict__ x, float* __restrict__ y,
                                        int32_t* __restrict__ idx, int64_t n) {
  const int plane_out = g.Ho * g.Wo;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = i / plane_out;
    const int r = (int)(i - p * plane_out);
    const int oh = r / g.Wo, ow = r - oh * g.Wo;
    const float* xp = x + p * g.H * (int64_t)g.W;
    const int h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
    float best = neg_infinity();
    int arg = -1;
    for (int a = 0; a < g.kh; ++a) {
      const int ih = h0 + a * g.dh;
      if (ih < 0 || ih >= g.H) continue;
      for (int b = 0; b < g.kw; ++b) {
        const int iw = w0 + b * g.dw;
        if (iw < 0 || iw >= g.W) continue;
        const float v = xp[ih * g.W + iw];
        // The reference's rule: strictly greater wins (first index on ties); NaN beats a number.
        if (arg < 0 || v > best || (isnan(v) && !isnan(best))) {
          best = v;
          arg = ih * g.W + iw;
        }
      }
    }
    y[i] = best;
    idx[i] = arg;
  }
}

// dx[e] = sum of dy[q] over the outputs q whose window covers e and whose arg-max is e. Tap a
// of a window starting at row oh*sh - ph lies on row ih when oh*sh = ih + ph - a*dh; running a
// downwards visits the covering rows in increasing oh (each oh at most once), i.e. row-major
// output order, the order in which the CPU scatter adds.
__global__ void max_pool_backward_kernel(Geom g, const float* __restrict__ dy, const int32_t* __restrict__ idx,
                                         float* __restrict__ dx, int64_t n) {
  const int plane_in = g.H * g.W, plane_out = g.Ho * g.Wo;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = i / plane_in;
    const int r = (int)(i - p * plane_in);
    const int ih = r / g.W, iw = r - ih * g.W;
    const float* dyp = dy + p * plane_out;
    const int32_t* ip = idx + p * plane_out;
    float acc = 0.0f;
    for (int a = g.kh - 1; a >= 0; --a) {
      const int th = ih + g.ph - a * g.dh;
      if (th < 0 || th % g.sh != 0) continue;
      const int oh = th / g.sh;
      if (oh >= g.Ho) continue;
      for (int b = g.kw - 1; b >= 0; --b) {
        const int tw = iw + g.pw - b * g.dw;
        if (tw < 0 || tw % g.sw != 0) continue;
        const int ow = tw / g.sw;
        if (ow >= g.Wo) continue;
        const int q = oh * g.Wo + ow;
        if (ip[q] == r) acc += dyp[q];
      }
    }
    dx[i] = acc;
  }
}

// ---------------------------------------------------------------- average pooling

// PyTorch's window along one axis: [start, end) clipped to the padded input, then to the
// input; `size` is the length clipped to the padding only (the count_include_pad divisor).
struct Window {
  int start, end, size;
};

__device__ __forceinline__ Window avg_window(int o, int stride, int pad, int k, int in) {
  const int start = o * stride - pad;
  const int end = min(start + k, in + pad);
  return {max(start, 0), min(end, in), end - start};
}

__device__ __forceinline__ int avg_divisor(const Window& wh, const Window& ww, bool include_pad) {
  return include_pad ? wh.size * ww.size : (wh.end - wh.start) * (ww.end - ww.start);
}

__global__ void avg_pool_forward_kernel(Geom g, bool include_pad, const float* __restrict__ x, float* __restrict__ y,
                                        int64_t n) {
  const int plane_out = g.Ho * g.Wo;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = i / plane_out;
    const int r = (int)(i - p * plane_out);
    const int oh = r / g.Wo, ow = r - oh * g.Wo;
    const Window wh = avg_window(oh, g.sh, g.ph, g.kh, g.H);
    const Window ww = avg_window(ow, g.sw, g.pw, g.kw, g.W);
    if (wh.start >= wh.end || ww.start >= ww.end) {
      y[i] = 0.0f;
      continue;
    }
    const float* xp = x + p * g.H * (int64_t)g.W;
    float acc = 0.0f;
    for (int ih = wh.start; ih < wh.end; ++ih)
      for (int iw = ww.start; iw < ww.end; ++iw) acc += xp[ih * g.W + iw];
    y[i] = acc / (float)avg_divisor(wh, ww, include_pad);
  }
}

// The outputs along one axis whose (unclipped) window [o*stride - pad, o*stride - pad + k)
// holds input position v: o in [ceil((v + pad - k + 1) / stride), floor((v + pad) / stride)].
// Clipping to the padded input never removes v (v < in <= in + pad).
__device__ __forceinline__ void covering_outputs(int v, int stride, int pad, int k, int out, int& lo, int& hi) {
  const int t = v + pad - k + 1;
  lo = t <= 0 ? 0 : (t + stride - 1) / stride;
  hi = min(out - 1, (v + pad) / stride);
}

// dx[e] = sum over the covering windows of dy / divisor, added in row-major output order like
// the CPU scatter; dy / divisor is one correctly rounded division on both sides.
__global__ void avg_pool_backward_kernel(Geom g, bool include_pad, const float* __restrict__ dy, float* __restrict__ dx,
                                         int64_t n) {
  const int plane_in = g.H * g.W, plane_out = g.Ho * g.Wo;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = i / plane_in;
    const int r = (int)(i - p * plane_in);
    const int ih = r / g.W, iw = r - ih * g.W;
    const float* dyp = dy + p * plane_out;
    int oh0, oh1, ow0, ow1;
    covering_outputs(ih, g.sh, g.ph, g.kh, g.Ho, oh0, oh1);
    covering_outputs(iw, g.sw, g.pw, g.kw, g.Wo, ow0, ow1);
    float acc = 0.0f;
    for (int oh = oh0; oh <= oh1; ++oh) {
      const Window wh = avg_window(oh, g.sh, g.ph, g.kh, g.H);
      for (int ow = ow0; ow <= ow1; ++ow) {
        const Window ww = avg_window(ow, g.sw, g.pw, g.kw, g.W);
        acc += dyp[oh * g.Wo + ow] / (float)avg_divisor(wh, ww, include_pad);
      }
    }
    dx[i] = acc;
  }
}

// ---------------------------------------------------------------- adaptive average pooling

__device__ __forceinline__ int adaptive_start(int i, int in, int out) { return (int)(((int64_t)i * in) / out); }
__device__ __forceinline__ int adaptive_end(int i, int in, int out) {
  return (int)(((int64_t)(i + 1) * in + out - 1) / out);
}

__global__ void adaptive_avg_forward_kernel(Geom g, const float* __restrict__ x, float* __restrict__ y, int64_t n) {
  const int plane_out = g.Ho * g.Wo;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = i / plane_out;
    const int r = (int)(i - p * plane_out);
    const int oh = r / g.Wo, ow = r - oh * g.Wo;
    const int h0 = adaptive_start(oh, g.H, g.Ho), h1 = adaptive_end(oh, g.H, g.Ho);
    const int w0 = adaptive_start(ow, g.W, g.Wo), w1 = adaptive_end(ow, g.W, g.Wo);
    const float* xp = x + p * g.H * (int64_t)g.W;
    float acc = 0.0f;
    for (int ih = h0; ih < h1; ++ih)
      for (int iw = w0; iw < w1; ++iw) acc += xp[ih * g.W + iw];
    y[i] = acc / (float)((h1 - h0) * (w1 - w0));
  }
}

// The cells along one axis whose bin holds input position v: start(o) <= v < end(o), i.e.
// o in [floor(v*out/in), ceil((v+1)*out/in) - 1]; the bounds are re-checked exactly.
__device__ __forceinline__ void adaptive_covering(int v, int in, int out, int& lo, int& hi) {
  lo = (int)(((int64_t)v * out) / in);
  hi = min(out - 1, (int)(((int64_t)(v + 1) * out + in - 1) / in) - 1);
}

__global__ void adaptive_avg_backward_kernel(Geom g, const float* __restrict__ dy, float* __restrict__ dx, int64_t n) {
  const int plane_in = g.H * g.W, plane_out = g.Ho * g.Wo;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t p = i / plane_in;
    const int r = (int)(i - p * plane_in);
    const int ih = r / g.W, iw = r - ih * g.W;
    const float* dyp = dy + p * plane_out;
    int oh0, oh1, ow0, ow1;
    adaptive_covering(ih, g.H, g.Ho, oh0, oh1);
    adaptive_covering(iw, g.W, g.Wo, ow0, ow1);
    float acc = 0.0f;
    for (int oh = oh0; oh <= oh1; ++oh) {
      const int h0 = adaptive_start(oh, g.H, g.Ho), h1 = adaptive_end(oh, g.H, g.Ho);
      if (ih < h0 || ih >= h1) continue;
      for (int ow = ow0; ow <= ow1; ++ow) {
        const int w0 = adaptive_start(ow, g.W, g.Wo), w1 = adaptive_end(ow, g.W, g.Wo);
        if (iw < w0 || iw >= w1) continue;
        acc += dyp[oh * g.Wo + ow] / (float)((h1 - h0) * (w1 - w0));
      }
    }
    dx[i] = acc;
  }
}

}  // namespace

void max_pool2d_forward(Tag, const cpu::Pool2dShape& s, const float* x, float* y, int32_t* idx) {
  const int64_t n = s.planes * s.Ho * s.Wo;
  if (n == 0) return;
  PW_LAUNCH(max_pool_forward_kernel, grid_blocks(n, kThreads), kThreads, 0, 0)(to_geom(s, "max_pool2d"), x, y, idx, n);
  PW_CUDA_CHECK_LAUNCH();
}

void max_pool2d_backward(Tag, const cpu::Pool2dShape& s, const float* dy, const int32_t* idx, float* dx) {
  const int64_t n = s.planes * s.H * s.W;
  if (n == 0) return;
  PW_LAUNCH(max_pool_backward_kernel, grid_blocks(n, kThreads), kThreads, 0, 0)
  (to_geom(s, "max_pool2d_backward"), dy, idx, dx, n);
  PW_CUDA_CHECK_LAUNCH();
}

void avg_pool2d_forward(Tag, const cpu::Pool2dShape& s, bool count_include_pad, const float* x, float* y) {
  const int64_t n = s.planes * s.Ho * s.Wo;
  if (n == 0) return;
  PW_LAUNCH(avg_pool_forward_kernel, grid_blocks(n, kThreads), kThreads, 0, 0)
  (to_geom(s, "avg_pool2d"), count_include_pad, x, y, n);
  PW_CUDA_CHECK_LAUNCH();
}

void avg_pool2d_backward(Tag, const cpu::Pool2dShape& s, bool count_include_pad, const float* dy, float* dx) {
  const int64_t n = s.planes * s.H * s.W;
  if (n == 0) return;
  PW_LAUNCH(avg_pool_backward_kernel, grid_blocks(n, kThreads), kThreads, 0, 0)
  (to_geom(s, "avg_pool2d_backward"), count_include_pad, dy, dx, n);
  PW_CUDA_CHECK_LAUNCH();
}

void adaptive_avg_pool2d_forward(Tag, const cpu::Pool2dShape& s, const float* x, float* y) {
  const int64_t n = s.planes * s.Ho * s.Wo;
  if (n == 0) return;
  PW_LAUNCH(adaptive_avg_forward_kernel, grid_blocks(n, kThreads), kThreads, 0, 0)
  (to_geom(s, "adaptive_avg_pool2d"), x, y, n);
  PW_CUDA_CHECK_LAUNCH();
}

void adaptive_avg_pool2d_backward(Tag, const cpu::Pool2dShape& s, const float* dy, float* dx) {
  const int64_t n = s.planes * s.H * s.W;
  if (n == 0) return;
  PW_LAUNCH(adaptive_avg_backward_kernel, grid_blocks(n, kThreads), kThreads, 0, 0)
  (to_geom(s, "adaptive_avg_pool2d_backward"), dy, dx, n);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace pw::kernels::PW_KERNEL_NS
