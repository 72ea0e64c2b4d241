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
// up to 24, so rounding errors grow over a direct f32 sum. Measured against the f64 direct
// reference (tests/test_winograd.cpp, batch 1, inputs and upstream gradients N(0, 1),
// He-initialised weights N(0, 2 / 9C)), max |error| / max |reference| over the result,
// forward and backward-data (im2col + SGEMM on the same data in brackets):
//   64 -> 64 at 56x56:    7.8e-6, 8.5e-6   (4.2e-7, 2.5e-7)
//   256 -> 256 at 14x14:  1.1e-5, 1.1e-5   (2.8e-7, 4.2e-7)
//   512 -> 512 at 4x4:    9.7e-6, 1.1e-5   (2.6e-7, 3.2e-7)
// about 30x im2col's error. The tests hold every case, awkward sizes included, to 5e-5.
//
// Speed: 1.4-2.5x im2col on VGG-11's 3x3 layers with 64+ channels and 32+ tiles (the
// measurements and the dispatch rule are in engine/ops/conv.cpp); slower with few channels
// (the transforms dominate) or few tiles (the 4x larger transformed weights dominate).
// Memory: each calling thread keeps its scratch buffers between calls (the transformed
// weights, 4x the weights: 36 MiB for 512 x 512; the transformed input and output of a chunk
// of images, about 8 MiB; for backward-data a flipped copy of the weights).
//
// Sizes are not checked here: engine/ops/conv.cpp checks its arguments and calls these only
// where winograd_supported() holds.
#pragma once
#include <cstdint>

#include "kernels/common/conv_geometry.h"
#include "kernels/cpu/conv_epilogue.h"

namespace pw::kernels::cpu {

// True when the Winograd kernels compute this convolution: 3x3, stride 1, dilation 1, groups 1.
bool winograd_supported(const ConvGeometry& s);

// y[N, O, Ho, Wo] = the epilogue (conv_epilogue.h: bias, folded batch norm, ReLU) of conv(x, w).
// Every element of y is written.
void conv2d_forward_winograd(const ConvGeometry& s, const float* x, const float* w, const ConvEpilogue<float>& ep,
                             float* y);

// dx[N, C, H, W] = the gradient w.r.t. the input for upstream dy. Every element is written.
void conv2d_backward_data_winograd(const ConvGeometry& s, const float* dy, const float* w, float* dx);

}  // namespace pw::kernels::cpu
