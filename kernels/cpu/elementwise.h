// Elementwise kernels: unary maps, broadcasting binary ops, and the ReLU backward rules.
#pragma once
#include <cstdint>

#include "kernels/common/ops.h"

namespace pw::kernels::cpu {

using kernels::BinaryOp;
using kernels::UnaryOp;

// y[i] = op(x[i]) (p is the exponent of pow, or the scalar of the scalar forms). x may equal y.
template <typename T>
void unary(UnaryOp op, const T* x, T* y, int64_t n, T p);

// out (contiguous, `shape`) = a op b, where a and b are read through broadcast strides
// (stride 0 along broadcast dimensions).
template <typename T>
void binary(BinaryOp op, const T* a, const int64_t* a_strides, const T* b, const int64_t* b_strides, T* out,
            const int64_t* shape, int ndim);

// The three ReLU backward rules of DESIGN (Autograd): 0 backprop 1[y>0]·g, 1 deconvnet
// 1[g>0]·g, 2 guided 1[y>0]·1[g>0]·g. y is the forward output (y > 0 exactly where x > 0).
template <typename T>
void relu_backward(int rule, const T* y, const T* g, T* dx, int64_t n);

}  // namespace pw::kernels::cpu
