// CPU 2-D pooling over contiguous NCHW planes: max (with arg-max indices), average, and
// adaptive average; forward and backward. Direct loops over each window (no unfolding):
// pooling does a handful of operations per loaded element, so it is memory-bound once the
// loops are free of unpredictable branches. Planes (N*C of them) are split over threads.
// f32 max pooling with square 2x2 or 3x3 windows, column stride 1-3 and no dilation runs the
// windows that lie wholly inside the input through a branch-free, vectorized loop (the rest
// through the reference loop); its values and indices are identical to the reference's.
// Sizes are not checked here: engine/ops/pool.cpp checks its arguments.
#pragma once
#include <cstdint>

namespace pw::kernels::cpu {

struct Pool2dShape {
  int64_t planes;  // N * C
  int64_t H, W;    // input plane
  int64_t Ho, Wo;  // output plane
  int64_t kh, kw, stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
};

// y = max over each (dilated) window, padding ignored; idx = flat position ih*W + iw of the
// maximum in its input plane, the first one on ties; NaN counts as the maximum (as PyTorch).
// A window with no element inside the input gives -inf and index -1.
template <typename T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int32_t* idx);
// dx = dy scattered to the saved arg-max positions. Every element of dx is written.
template <typename T>
void max_pool2d_backward(const Pool2dShape& s, const T* dy, const int32_t* idx, T* dx);

// PyTorch's average: the window is clipped to the padded input (this matters in ceil mode);
// the divisor is that clipped window's size with count_include_pad, else the number of input
// elements in it. Dilation is ignored (avg_pool2d has none).
template <typename T>
void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, const T* x, T* y);
template <typename T>
void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, const T* dy, T* dx);

// Adaptive average: output cell (i, j) averages rows [floor(i*H/Ho), ceil((i+1)*H/Ho)) and
// the columns likewise. Only planes, H, W, Ho, Wo of the shape are used.
template <typename T>
void adaptive_avg_pool2d_forward(const Pool2dShape& s, const T* x, T* y);
template <typename T>
void adaptive_avg_pool2d_backward(const Pool2dShape& s, const T* dy, T* dx);

}  // namespace pw::kernels::cpu
