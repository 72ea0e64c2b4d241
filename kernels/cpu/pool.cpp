// CPU 2-D pooling: direct window loops, one plane per thread (see pool.h).
#include "kernels/cpu/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace pw::kernels::cpu {

namespace {
constexpr int64_t kParallelWork = 1 << 15;

// PyTorch's average-pool window along one axis: [start, end) clipped to the padded input,
// then to the input; `size` is the clipped-to-padding length (the count_include_pad divisor).
struct AvgWindow {
  int64_t start, end, size;
};
AvgWindow avg_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t in) {
  int64_t start = o * stride - pad;
  int64_t end = std::min(start + k, in + pad);
  AvgWindow w{start, end, end - start};
  w.start = std::max<int64_t>(w.start, 0);
  w.end = std::min(w.end, in);
  return w;
}

int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
int64_t adaptive_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }
}  // namespace

template <typename T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int32_t* idx) {
  const int64_t work = s.planes * s.Ho * s.Wo * s.kh * s.kw;
#pragma omp parallel for schedule(static) if (work > kParallelWork && s.planes > 1)
  for (int64_t p = 0; p < s.planes; ++p) {
    const T* xp = x + p * s.H * s.W;
    T* yp = y + p * s.Ho * s.Wo;
    int32_t* ip = idx + p * s.Ho * s.Wo;
    for (int64_t oh = 0; oh < s.Ho; ++oh)
      for (int64_t ow = 0; ow < s.Wo; ++ow) {
        T best = -std::numeric_limits<T>::infinity();
        int64_t arg = -1;
        for (int64_t i = 0; i < s.kh; ++i) {
          const int64_t ih = oh * s.stride_h - s.pad_h + i * s.dilation_h;
          if (ih < 0 || ih >= s.H) continue;
          for (int64_t j = 0; j < s.kw; ++j) {
            const int64_t iw = ow * s.stride_w - s.pad_w + j * s.dilation_w;
            if (iw < 0 || iw >= s.W) continue;
            const T v = xp[ih * s.W + iw];
            // Strictly greater keeps the first of equal values; the first NaN wins and stays.
            if (arg < 0 || v > best || (std::isnan(v) && !std::isnan(best))) {
              best = v;
              arg = ih * s.W + iw;
            }
          }
        }
        yp[oh * s.Wo + ow] = best;
        ip[oh * s.Wo + ow] = int32_t(arg);
      }
  }
}

template <typename T>
void max_pool2d_backward(const Pool2dShape& s, const T* dy, const int32_t* idx, T* dx) {
#pragma omp parallel for schedule(static) if (s.planes * s.H * s.W > kParallelWork && s.planes > 1)
  for (int64_t p = 0; p < s.planes; ++p) {
    T* dxp = dx + p * s.H * s.W;
    const T* dyp = dy + p * s.Ho * s.Wo;
    const int32_t* ip = idx + p * s.Ho * s.Wo;
    std::fill(dxp, dxp + s.H * s.W, T(0));
    for (int64_t q = 0; q < s.Ho * s.Wo; ++q)
      if (ip[q] >= 0) dxp[ip[q]] += dyp[q];
  }
}

template <typename T>
void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, const T* x, T* y) {
  const int64_t work = s.planes * s.Ho * s.Wo * s.kh * s.kw;
#pragma omp parallel for schedule(static) if (work > kParallelWork && s.planes > 1)
  for (int64_t p = 0; p < s.planes; ++p) {
    const T* xp = x + p * s.H * s.W;
    T* yp = y + p * s.Ho * s.Wo;
    for (int64_t oh = 0; oh < s.Ho; ++oh) {
      const AvgWindow wh = avg_window(oh, s.stride_h, s.pad_h, s.kh, s.H);
      for (int64_t ow = 0; ow < s.Wo; ++ow) {
        const AvgWindow ww = avg_window(ow, s.stride_w, s.pad_w, s.kw, s.W);
        const int64_t inside = (wh.end - wh.start) * (ww.end - ww.start);
        if (wh.start >= wh.end || ww.start >= ww.end) {
          yp[oh * s.Wo + ow] = T(0);
          continue;
        }
        double acc = 0;
        for (int64_t ih = wh.start; ih < wh.end; ++ih)
          for (int64_t iw = ww.start; iw < ww.end; ++iw) acc += xp[ih * s.W + iw];
        const int64_t divisor = count_include_pad ? wh.size * ww.size : inside;
        yp[oh * s.Wo + ow] = T(acc / double(divisor));
      }
    }
  }
}

template <typename T>
void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, const T* dy, T* dx) {
  const int64_t work = s.planes * s.Ho * s.Wo * s.kh * s.kw;
#pragma omp parallel for schedule(static) if (work > kParallelWork && s.planes > 1)
  for (int64_t p = 0; p < s.planes; ++p) {
    T* dxp = dx + p * s.H * s.W;
    const T* dyp = dy + p * s.Ho * s.Wo;
    std::fill(dxp, dxp + s.H * s.W, T(0));
    for (int64_t oh = 0; oh < s.Ho; ++oh) {
      const AvgWindow wh = avg_window(oh, s.stride_h, s.pad_h, s.kh, s.H);
      for (int64_t ow = 0; ow < s.Wo; ++ow) {
        const AvgWindow ww = avg_window(ow, s.stride_w, s.pad_w, s.kw, s.W);
        if (wh.start >= wh.end || ww.start >= ww.end) continue;
        const int64_t divisor =
            count_include_pad ? wh.size * ww.size : (wh.end - wh.start) * (ww.end - ww.start);
        const T g = T(double(dyp[oh * s.Wo + ow]) / double(divisor));
        for (int64_t ih = wh.start; ih < wh.end; ++ih)
          for (int64_t iw = ww.start; iw < ww.end; ++iw) dxp[ih * s.W + iw] += g;
      }
    }
  }
}

template <typename T>
void adaptive_avg_pool2d_forward(const Pool2dShape& s, const T* x, T* y) {
#pragma omp parallel for schedule(static) if (s.planes * s.H * s.W > kParallelWork && s.planes > 1)
  for (int64_t p = 0; p < s.planes; ++p) {
    const T* xp = x + p * s.H * s.W;
    T* yp = y + p * s.Ho * s.Wo;
    for (int64_t oh = 0; oh < s.Ho; ++oh) {
      const int64_t h0 = adaptive_start(oh, s.H, s.Ho), h1 = adaptive_end(oh, s.H, s.Ho);
      for (int64_t ow = 0; ow < s.Wo; ++ow) {
        const int64_t w0 = adaptive_start(ow, s.W, s.Wo), w1 = adaptive_end(ow, s.W, s.Wo);
        double acc = 0;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) acc += xp[ih * s.W + iw];
        yp[oh * s.Wo + ow] = T(acc / double((h1 - h0) * (w1 - w0)));
      }
    }
  }
}

template <typename T>
void adaptive_avg_pool2d_backward(const Pool2dShape& s, const T* dy, T* dx) {
#pragma omp parallel for schedule(static) if (s.planes * s.H * s.W > kParallelWork && s.planes > 1)
  for (int64_t p = 0; p < s.planes; ++p) {
    T* dxp = dx + p * s.H * s.W;
    const T* dyp = dy + p * s.Ho * s.Wo;
    std::fill(dxp, dxp + s.H * s.W, T(0));
    for (int64_t oh = 0; oh < s.Ho; ++oh) {
      const int64_t h0 = adaptive_start(oh, s.H, s.Ho), h1 = adaptive_end(oh, s.H, s.Ho);
      for (int64_t ow = 0; ow < s.Wo; ++ow) {
        const int64_t w0 = adaptive_start(ow, s.W, s.Wo), w1 = adaptive_end(ow, s.W, s.Wo);
        const T g = T(double(dyp[oh * s.Wo + ow]) / double((h1 - h0) * (w1 - w0)));
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) dxp[ih * s.W + iw] += g;
      }
    }
  }
}

#define PW_INSTANTIATE_POOL(T)                                                                     \
  template void max_pool2d_forward<T>(const Pool2dShape&, const T*, T*, int32_t*);                 \
  template void max_pool2d_backward<T>(const Pool2dShape&, const T*, const int32_t*, T*);          \
  template void avg_pool2d_forward<T>(const Pool2dShape&, bool, const T*, T*);                     \
  template void avg_pool2d_backward<T>(const Pool2dShape&, bool, const T*, T*);                    \
  template void adaptive_avg_pool2d_forward<T>(const Pool2dShape&, const T*, T*);                  \
  template void adaptive_avg_pool2d_backward<T>(const Pool2dShape&, const T*, T*);

PW_INSTANTIATE_POOL(float)
PW_INSTANTIATE_POOL(double)
#undef PW_INSTANTIATE_POOL

}  // namespace pw::kernels::cpu
