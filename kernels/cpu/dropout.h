// Inverted dropout's mask-and-multiply, given the uniforms the generator drew (the rule that
// turns a generator state into a mask is in engine/ops/dropout.h; the GPU version,
// kernels/cuda/dropout.cu, draws the same uniforms itself from the Philox key).
#pragma once
#include <cstdint>

namespace pw::kernels::cpu {

// mask[i] = (double)uniform[i] >= p ? scale : 0;  y[i] = x[i] * mask[i]   (scale = 1 / (1 - p))
template <typename T>
void dropout_forward(const T* x, const float* uniform, double p, T scale, T* mask, T* y, int64_t n);

}  // namespace pw::kernels::cpu
