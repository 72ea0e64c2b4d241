// The sizes of one 2-D convolution (PyTorch's conv2d: contiguous NCHW, weight [O, C/groups, kh,
// kw]) as every convolution kernel takes them: the CPU kernels (kernels/cpu/conv.h) and both
// builds of the CUDA kernels (kernels/cuda/api/conv.inc). engine/ops/conv.cpp checks the
// arguments and fills one in; the kernels trust it.
#pragma once
#include <cstdint>

namespace pw::kernels {

struct ConvGeometry {
  int64_t N, C, H, W;  // input
  int64_t O, kh, kw;   // weight [O, C/groups, kh, kw]
  int64_t Ho, Wo;      // output
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
};

// What the forward pass does after the bias, in inference (engine/ops/conv.h, conv2d_inference):
// a batch norm with fixed statistics (mean and var [O] given; weight and bias [O] or null), then
// a ReLU. Nothing by default. The CPU kernels take it folded (kernels/cpu/conv_epilogue.h); the
// GPU kernels compute each channel's scale and shift as their batch_norm_forward does.
struct ConvPostOps {
  const float* bn_mean = nullptr;
  const float* bn_var = nullptr;
  const float* bn_weight = nullptr;
  const float* bn_bias = nullptr;
  double bn_eps = 0;
  bool relu = false;
};

// The passes of a convolution (the GPU kernels size their scratch memory per pass).
enum class ConvPass { backward_data, backward_weight, backward_bias, forward };

}  // namespace pw::kernels
