// CPU 2-D convolution (cross-correlation, PyTorch semantics), NCHW, contiguous buffers.
//
// Two implementations of the same three passes (forward, backward-data, backward-weight):
//   - direct: plain nested loops over the definition, templated; the reference that the
//     f64 gradient checks run on and that tests compare the fast path against;
//   - im2col: per image and group, unfold the input into a [C/g*kh*kw, Ho*Wo] matrix and
//     run one GEMM (the fast SGEMM for float, the reference GEMM for double). Forward is
//     W[O/g, C/g*kh*kw] @ col; backward-data is col = W^T @ dY followed by col2im;
//     backward-weight is dW += dY @ col^T over the batch. A 1x1 stride-1 unpadded conv needs
//     no unfolding: the input plane already is the col matrix.
// Parallelism: the SGEMM threads itself; im2col/col2im split over channels.
// Sizes are not checked here: engine/ops/conv.cpp checks its arguments.
#pragma once
#include <cstdint>

#include "kernels/common/conv_geometry.h"
#include "kernels/cpu/conv_epilogue.h"

namespace pw::kernels::cpu {

// ---- direct (reference) ----
// y[N, O, Ho, Wo] = the epilogue (conv_epilogue.h: bias, folded batch norm, ReLU, each only
// where given) of conv(x, w). Every element of y is written.
template <typename T>
void conv2d_forward_direct(const ConvGeometry& s, const T* x, const T* w, const ConvEpilogue<T>& ep, T* y);
// dx[N, C, H, W] = the gradient w.r.t. the input for upstream dy. Every element is written.
template <typename T>
void conv2d_backward_data_direct(const ConvGeometry& s, const T* dy, const T* w, T* dx);
// dw[O, C/g, kh, kw] = the gradient w.r.t. the weight. Every element is written.
template <typename T>
void conv2d_backward_weight_direct(const ConvGeometry& s, const T* x, const T* dy, T* dw);

// ---- im2col + GEMM (fast) ----
template <typename T>
void conv2d_forward_im2col(const ConvGeometry& s, const T* x, const T* w, const ConvEpilogue<T>& ep, T* y);
template <typename T>
void conv2d_backward_data_im2col(const ConvGeometry& s, const T* dy, const T* w, T* dx);
template <typename T>
void conv2d_backward_weight_im2col(const ConvGeometry& s, const T* x, const T* dy, T* dw);

// db[O] = sum of dy over N, Ho, Wo (shared by both paths; accumulates in double).
template <typename T>
void conv2d_backward_bias(const ConvGeometry& s, const T* dy, T* db);

// ---- the unfolding itself (exposed for tests) ----
// col[(c*kh + i)*kw + j, oh*Wo + ow] = x[c, oh*sh - ph + i*dh, ow*sw - pw + j*dw] (0 outside).
template <typename T>
void im2col(const T* x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
            int64_t pw, int64_t dh, int64_t dw, int64_t Ho, int64_t Wo, T* col);
// The adjoint of im2col: x[c, ih, iw] += every col entry that im2col read from it.
// x is accumulated into, not overwritten.
template <typename T>
void col2im(const T* col, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
            int64_t pw, int64_t dh, int64_t dw, int64_t Ho, int64_t Wo, T* x);
// The same with rows ld >= Ho*Wo elements apart: several images' col matrices side by side in
// one [C*kh*kw, images*Ho*Wo] matrix (conv.cpp's image chunks; kernels/cpu/im2col.cpp).
template <typename T>
void im2col_ld(const T* x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
               int64_t pw, int64_t dh, int64_t dw, int64_t Ho, int64_t Wo, T* col, int64_t ld);
template <typename T>
void col2im_ld(const T* col, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
               int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t Ho, int64_t Wo, T* x, int64_t ld);

}  // namespace pw::kernels::cpu
