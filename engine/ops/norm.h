// Batch normalization (BatchNorm1d / BatchNorm2d as a function), forward and backward.
#pragma once
#include "engine/tensor.h"

namespace pw {

// x [N, C], [N, C, L] or [N, C, H, W]; per-channel statistics over N (and the trailing dims).
// weight / bias [C] or undefined (no affine; each may be given alone).
// training: normalize with the batch's biased variance; if running_mean / running_var are
//   defined (both or neither), update them in place (running = (1 - momentum) * running +
//   momentum * batch_stat, with the UNBIASED variance for running_var, as PyTorch). Needs more
//   than one value per channel. The gradient flows through the batch statistics.
// eval: normalize with the running statistics (required), treated as constants.
// The running tensors never receive gradients.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);

}  // namespace pw
