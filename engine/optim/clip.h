// Gradient clipping by the total norm, as torch.nn.utils.clip_grad_norm_: the L2 norm of all
// gradients together; every gradient is scaled by min(1, max_norm / (norm + 1e-6)) (a scale of
// exactly 1 below the bound). Parameters without a gradient are skipped.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace pw::optim {

// Returns the total norm before clipping (0 when no parameter has a gradient). max_norm must be
// positive. The scaled gradients are new tensors set as each parameter's .grad (on the
// parameters' device), outside autograd. Reads the norm from the device: a wait for it.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

// The same in two halves that never make the host wait for the device (the training loop's):
// the total norm as a 0-d tensor on the gradients' device (undefined when no parameter has a
// gradient), and the scaling by that norm, computed there too. A NaN or infinite norm makes
// every gradient NaN.
Tensor total_grad_norm(const std::vector<Tensor>& params);
void scale_to_norm(const std::vector<Tensor>& params, const Tensor& norm, double max_norm);

}  // namespace pw::optim
