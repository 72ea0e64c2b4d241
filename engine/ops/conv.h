// 2-D convolution (PyTorch's conv2d: cross-correlation, NCHW, groups, dilation).
#pragma once
#include <cstdint>
#include <string>

#include "engine/tensor.h"

namespace pw {

struct Conv2dParams {
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1, groups = 1;
};

// x [N, C, H, W], weight [O, C/groups, kh, kw], bias [O] or undefined -> [N, O, Ho, Wo] with
// Ho = floor((H + 2*pad_h - dilation_h*(kh-1) - 1) / stride_h) + 1 (and Wo likewise).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p);

// Inference: conv2d, then a batch norm with fixed statistics (eval mode), then a ReLU, the last
// two optional, as one op. On the CPU the batch norm (folded per channel into a scale and shift)
// and the ReLU are applied where the convolution writes its sums (kernels/cpu/conv_epilogue.h),
// so neither makes a pass over the output of its own; the result equals conv2d, batch_norm(...,
// training=false) and relu run one after the other (the same constants and expressions). On the
// GPU devices the implicit GEMM's store applies them (kernels/cuda/conv_implicit.cuh, StorePost)
// as the GPU's batch_norm computes them. Records no graph: with grad mode on, no input may require
// grad (an error; use the separate ops to differentiate). nn::Sequential calls it for a Conv2d
// followed by an eval-mode BatchNorm2d and/or a ReLU while grad mode is off
// (engine/nn/module.h).
struct BatchNormInference {
  Tensor running_mean, running_var;  // [O], required
  Tensor weight, bias;               // [O] or undefined (no affine)
  double eps = 1e-5;
};
Tensor conv2d_inference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p,
                        const BatchNormInference* bn, bool relu);

// Which CPU implementation conv2d runs (forward and its backward, fixed when it is called):
//   automatic: for f32, Winograd F(4x4, 3x3) for the forward and backward-data passes of the
//              3x3 stride-1 layers where it was measured faster (conv2d_uses_winograd), im2col
//              + GEMM otherwise; the direct reference loops for f64 (the default);
//   direct:    the direct reference loops for every dtype (tests compare f32 against it);
//   im2col:    im2col + GEMM for every dtype (f64 then runs the reference GEMM; lets the
//              gradient checks exercise the im2col/col2im indexing in double precision), never
//              Winograd: what `patchwork time --conv im2col` compares against;
//   winograd:  Winograd for the forward and backward-data passes of every f32 convolution it
//              supports (3x3, stride 1, dilation 1, one group), im2col for the rest and for f64;
//   implicit:  the implicit-GEMM forward pass and weight gradient (kernels/cpu/conv_implicit.h)
//              of every f32 convolution it supports (one group, no dilation, a build with AVX2
//              or AVX-512), im2col for the rest, for the data gradient and for f64.
// The weight gradient is im2col for f32 but where the implicit GEMM runs. A process-wide setting,
// meant for tests and benchmarks.
enum class ConvAlgo { automatic, direct, im2col, winograd, implicit };
void set_conv_algorithm(ConvAlgo algo);
ConvAlgo conv_algorithm();
// "automatic", "direct", "im2col", "winograd" or "implicit"; anything else throws pw::Error.
ConvAlgo parse_conv_algorithm(const std::string& name);

// Whether an f32 conv2d on the CPU with these sizes runs its forward and backward-data passes
// by Winograd under the automatic algorithm (the measured rule, in conv.cpp). Weight [O, C, kh,
// kw]; output Ho x Wo.
bool conv2d_uses_winograd(int64_t N, int64_t C, int64_t O, int64_t kh, int64_t kw, int64_t Ho, int64_t Wo,
                          const Conv2dParams& p);
// Whether it runs its forward pass and weight gradient by the implicit GEMM under the automatic
// algorithm.
bool conv2d_uses_implicit_gemm(int64_t N, int64_t C, int64_t O, int64_t kh, int64_t kw, int64_t Ho, int64_t Wo,
                               const Conv2dParams& p);

// Sets the algorithm for its scope and restores the previous one.
class ConvAlgoGuard {
 public:
  explicit ConvAlgoGuard(ConvAlgo algo) : prev_(conv_algorithm()) { set_conv_algorithm(algo); }
  ~ConvAlgoGuard() { set_conv_algorithm(prev_); }
  ConvAlgoGuard(const ConvAlgoGuard&) = delete;
  ConvAlgoGuard& operator=(const ConvAlgoGuard&) = delete;

 private:
  ConvAlgo prev_;
};

}  // namespace pw
