// Reductions over the middle axis of a contiguous [outer, R, inner] block.
#pragma once
#include <cstdint>

namespace pw::kernels::cpu {

// y[o, i] = sum_r x[o, r, i]   (float sums accumulate in double)
template <typename T>
void sum_axis(const T* x, T* y, int64_t outer, int64_t R, int64_t inner);

// values[o, i] = max_r x[o, r, i], indices[o, i] = the first r reaching it (NaN counts as max).
template <typename T>
void max_axis(const T* x, T* values, int32_t* indices, int64_t outer, int64_t R, int64_t inner);

// The gradient of max_axis: dx[o, r, i] = (r == indices[o, i]) ? grad[o, i] : 0, every element
// of dx written.
template <typename T>
void max_axis_backward(const T* grad, const int32_t* indices, T* dx, int64_t outer, int64_t R, int64_t inner);

}  // namespace pw::kernels::cpu
