// CPU Winograd convolution F(4x4, 3x3) (Lavin & Gray 2015), f32, NCHW, for 3x3 kernels with
// stride 1, dilation 1 and one group, any padding (pad_h and pad_w may differ).
//
// Each 6x6 input tile d (stride 4, overlapping by 2) becomes V = B^T d B, each 3x3 filter g
// becomes U = G g G^T (once per call, in double), and the 4x4 output tile is A^T M A with
// M[xi][o][tile] = sum_c U[xi][o][c] V[xi][c][tile]: 36 independent GEMMs (one per transform
// point xi, channels as the K dimension) through the packed SGEMM of kernels/cpu/gemm.h. That
// is 36 multiplies per 16 outputs per channel pair instead of 144 (4x fewer), plus the
// transforms, which cost O(C + O) per tile instead of O(C * O).
//
// Backward-data is the same kernel: dx is a 3x3 stride-1 convolution of dy, padded by 2 - pad,
// with the weights flipped in both spatial directions and O and C swapped.
//
// Accuracy (points 0, +-1, +-2, infinity): the transforms multiply by up to 8 and G divides by
// up to 24, so rounding errors grow by roughly an order of magnitude over a direct f32 sum.
// Measured against the f64 direct reference (tests/test_winograd.cpp, random normal inputs,
// He-initialised weights, max |error| / max |reference| over the output): see the numbers
// in bench/RESULTS.md; the tests bound the forward and backward-data error by 1e-4 of the
// output's scale.
//
// Sizes are not checked here: engine/ops/conv.cpp checks its arguments and calls these only
// where winograd_supported() holds.
#pragma once
#include <cstdint>

#include "kernels/common/conv_geometry.h"

namespace pw::kernels::cpu {

// True when the Winograd kernels compute this convolution: 3x3, stride 1, dilation 1, groups 1.
bool winograd_supported(const ConvGeometry& s);

// y[N, O, Ho, Wo] = conv(x, w) + bias (bias may be null). Every element of y is written.
void conv2d_forward_winograd(const ConvGeometry& s, const float* x, const float* w, const float* bias, float* y);

// dx[N, C, H, W] = the gradient w.r.t. the input for upstream dy. Every element is written.
void conv2d_backward_data_winograd(const ConvGeometry& s, const float* dy, const float* w, float* dx);

}  // namespace pw::kernels::cpu
