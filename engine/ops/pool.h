// 2-D pooling (PyTorch semantics): max, average, adaptive average.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace pw {

struct Pool2dParams {
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg_pool2d only
};

// Output size per axis: floor or ceil of (in + 2*pad - dilation*(k-1) - 1) / stride, plus 1;
// in ceil mode the last window must start inside the input or its left padding. Padding may
// be at most half the kernel.
int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation, bool ceil_mode);

// x [N, C, H, W] -> [N, C, Ho, Wo]; padding never wins the max.
Tensor max_pool2d(const Tensor& x, const Pool2dParams& p);

// max_pool2d plus the i32 positions of the maxima (flat ih*W + iw in each input plane, the
// first on ties), as PyTorch's return_indices: what unpooling needs.
struct MaxPool2dResult {
  Tensor values;   // differentiable
  Tensor indices;  // i32, not differentiable
};
MaxPool2dResult max_pool2d_with_indices(const Tensor& x, const Pool2dParams& p);

// Average over each window; dilation must be 1. count_include_pad counts the zero padding in
// the divisor; in ceil mode the part of a window past the padded input never counts.
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p);

// x [N, C, H, W] -> [N, C, out_h, out_w]; cell i averages [floor(i*H/out), ceil((i+1)*H/out)).
Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w);

}  // namespace pw
