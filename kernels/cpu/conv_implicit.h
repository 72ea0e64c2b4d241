// CPU convolution by register tiles that read the image itself: an implicit GEMM, W[O, K] x
// col[K, P] without col (kernels/cpu/conv_implicit.cpp), for the forward pass and the weight
// gradient. (The data gradient at stride 1, the forward pass over dy with the flipped weight, was
// no faster than im2col's: AlexNet's conv2 at batch 16 27.6 against 27.8 ms, slower at batch 1.)
//
// The im2col path writes an image's column matrix (AlexNet's conv1: 363 x 3025 floats, 4.4 MB;
// conv2: 1600 x 729, 4.7 MB), then the SGEMM reads it back to pack it; both passes are memory
// traffic beside a product of only 64 (conv1) or 192 (conv2) rows. Here a tile of 6 output
// positions x 64 output channels (16 with AVX2) is summed in registers over the taps, the image's
// values broadcast from a zero-padded copy of its rows and the weights read as vectors of output
// channels from a transposed copy, [K][64]. The taps come in blocks of 128 in im2col's order
// (channel, kernel row, kernel column); each block's sums are added to the ones before.
#pragma once
#include <cstdint>

#include "kernels/common/conv_geometry.h"
#include "kernels/cpu/conv_epilogue.h"

namespace pw::kernels::cpu {

// Whether this build has the kernel (x86-64 built with AVX2 or AVX-512) and it applies to s:
// one group and no dilation.
bool implicit_conv_supported(const ConvGeometry& s);

// y[N, O, Ho, Wo] = ep(conv(x, w)), every element written. Requires implicit_conv_supported(s).
void conv2d_forward_implicit(const ConvGeometry& s, const float* x, const float* w, const ConvEpilogue<float>& ep,
                             float* y);

// dw[O, C, kh, kw] = the weight gradient for upstream dy, every element written: tiles of 6 taps
// x 64 output channels summed in registers over an image's positions. Requires
// implicit_conv_supported(s).
void conv2d_backward_weight_implicit(const ConvGeometry& s, const float* x, const float* dy, float* dw);

}  // namespace pw::kernels::cpu
