// One forward (and backward) pass of a model on given weights and inputs, with every result
// named: what `patchwork forward` writes, so that patchwork can be checked against another
// framework tensor by tensor (tools/torch_compare.py does it against PyTorch).
#pragma once
#include <map>
#include <string>

#include "engine/nn.h"

namespace pw::tasks {

// Runs `model` (in whatever train/eval mode it is in) on `input` and returns, on the cpu:
//   "logits"                 the output
// and, when `labels` is defined ([N] class indices; mean cross-entropy):
//   "loss"                   a 0-d tensor
//   "<parameter name>"       the gradient of every parameter, under the parameter's own name
//   "input.grad"             the gradient with respect to the input
//   "<buffer name>"          in training mode, every buffer after the pass (batch norm's
//                            running statistics, which the pass updates)
// Parameter gradients are cleared before and after, so the model is left as it was apart from
// the buffers a training-mode pass updates.
std::map<std::string, Tensor> forward_with_gradients(nn::Module& model, const Tensor& input, const Tensor& labels);

}  // namespace pw::tasks
