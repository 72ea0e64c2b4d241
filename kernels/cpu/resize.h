// Resize (F.interpolate) kernels for planes of a contiguous [planes, H, W] block (planes = N*C):
// nearest and bilinear, forward and backward, with PyTorch's source-index arithmetic.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace pw::kernels::cpu {

// Nearest: src = min(floor(dst * scale), in - 1) with scale = (float)in / out, in single
// precision exactly as PyTorch computes it (CPU and CUDA), so indices agree with PyTorch even
// where float rounding makes them differ from the exact floor(dst * in / out) (e.g. in 2,
// out 82, dst 41 gives 0, not 1).
inline int64_t resize_nearest_source(int64_t dst, int64_t in, int64_t out) {
  if (out == in) return dst;
  const float scale = float(in) / float(out);
  return std::min<int64_t>(int64_t(std::floor(float(dst) * scale)), in - 1);
}

// One output coordinate's bilinear sources: value = w0 * x[i0] + w1 * x[i1].
struct LinearTap {
  int64_t i0, i1;
  double w0, w1;
};

// PyTorch's area_pixel_compute_source_index + guard_index_and_lambda, in double:
//   align_corners: src = dst * (in - 1) / (out - 1)   (0 when out == 1)
//   otherwise:     src = max((dst + 0.5) * in / out - 0.5, 0)
//   i0 = min(floor(src), in - 1), i1 = i0 + (i0 < in - 1), w1 = clamp(src - i0, 0, 1), w0 = 1 - w1.
inline LinearTap resize_linear_source(int64_t dst, int64_t in, int64_t out, bool align_corners) {
  double src;
  if (align_corners) {
    src = out > 1 ? double(dst) * double(in - 1) / double(out - 1) : 0.0;
  } else {
    src = std::max((double(dst) + 0.5) * double(in) / double(out) - 0.5, 0.0);
  }
  const int64_t i0 = std::min<int64_t>(int64_t(std::floor(src)), in - 1);
  const int64_t i1 = i0 + (i0 < in - 1 ? 1 : 0);
  const double w1 = std::clamp(src - double(i0), 0.0, 1.0);
  return {i0, i1, 1.0 - w1, w1};
}

template <typename T>
void resize_nearest_forward(const T* x, T* y, int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w);
// dx (all of it written: zeroed, then every dy element added to its source).
template <typename T>
void resize_nearest_backward(const T* dy, T* dx, int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                             int64_t out_w);

template <typename T>
void resize_bilinear_forward(const T* x, T* y, int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
                             bool align_corners);
// dx (all of it written): each dy element scattered to its four sources with the forward weights.
template <typename T>
void resize_bilinear_backward(const T* dy, T* dx, int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                              int64_t out_w, bool align_corners);

}  // namespace pw::kernels::cpu
