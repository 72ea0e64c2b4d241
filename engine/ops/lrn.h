// Local response normalization across channels (AlexNet; PyTorch's local_response_norm).
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace pw {

// x [N, C, ...] (at least 3-D). y_c = x_c * (k + alpha/size * sum of x_{c'}^2 over channels
// c' in [c - size/2, c + (size-1)/2])^-beta, channels outside [0, C) counting as zero.
Tensor local_response_norm(const Tensor& x, int64_t size, double alpha = 1e-4, double beta = 0.75, double k = 1.0);

}  // namespace pw
