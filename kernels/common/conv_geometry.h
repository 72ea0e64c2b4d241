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

// The passes of a convolution (the GPU kernels size their scratch memory per pass).
enum class ConvPass { backward_data, backward_weight, backward_bias, forward };

}  // namespace pw::kernels
