// Gradient clipping by the total norm, as torch.nn.utils.clip_grad_norm_: the L2 norm of all
// gradients together; when it exceeds max_norm every gradient is scaled by
// max_norm / (norm + 1e-6). Parameters without a gradient are skipped.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace pw::optim {

// Returns the total norm before clipping. max_norm must be positive. The scaled gradients are
// new tensors set as each parameter's .grad (on the parameters' device), outside autograd.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

}  // namespace pw::optim
