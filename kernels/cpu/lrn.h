// CPU local response normalization across channels (AlexNet's LRN, PyTorch's definition),
// forward and backward, on contiguous [N, C, inner] buffers (inner = H*W for images).
//
//   scale_c = k + alpha/size * sum_{c' = c - size/2}^{c + (size-1)/2} x_{c'}^2   (zero outside
//             [0, C): PyTorch pads size/2 channels before and (size-1)/2 after, then averages)
//   y_c     = x_c * scale_c^-beta
//
// Backward (y_c depends on x_j for every c whose window holds j, i.e. j - (size-1)/2 <= c <=
// j + size/2):
//   dx_j = dy_j * scale_j^-beta - (2 alpha beta / size) * x_j * sum_c dy_c * y_c / scale_c
// Sizes are not checked here: engine/ops/lrn.cpp checks its arguments.
#pragma once
#include <cstdint>

namespace pw::kernels::cpu {

// Writes y and scale (the term before the power, saved for the backward pass).
template <typename T>
void lrn_forward(const T* x, T* y, T* scale, int64_t N, int64_t C, int64_t inner, int64_t size, double alpha,
                 double beta, double k);

// Writes every element of dx from the saved x, y, scale and the upstream dy.
template <typename T>
void lrn_backward(const T* x, const T* y, const T* scale, const T* dy, T* dx, int64_t N, int64_t C, int64_t inner,
                  int64_t size, double alpha, double beta);

}  // namespace pw::kernels::cpu
