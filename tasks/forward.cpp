// forward_with_gradients: see forward.h.
#include "tasks/forward.h"

#include "engine/ops.h"

namespace pw::tasks {

std::map<std::string, Tensor> forward_with_gradients(nn::Module& model, const Tensor& input, const Tensor& labels) {
  const Device device = model.device();
  std::map<std::string, Tensor> out;
  model.zero_grad();
  // Labels are checked before the pass, which in training mode updates batch-norm statistics.
  if (labels.defined())
    PW_CHECK(labels.dim() == 1 && labels.size(0) == input.size(0), "forward: labels have shape ",
             shape_str(labels.shape()), ", expected [", input.size(0), "] (one per input)");
  Tensor x = input.to(device).detach().clone();
  if (labels.defined()) x.set_requires_grad(true);
  Tensor logits = model(x);
  out["logits"] = logits.detach().to(Device::cpu());
  if (!labels.defined()) return out;
  PW_CHECK(logits.dim() == 2, "forward: the model's output has shape ", shape_str(logits.shape()),
           "; a loss needs [N, classes]");
  Tensor loss = cross_entropy(logits, labels.to(DType::i32).to(device));
  loss.backward();
  out["loss"] = loss.detach().to(Device::cpu());
  out["input.grad"] = x.grad().to(Device::cpu());
  for (auto& [name, p] : model.named_parameters()) {
    PW_CHECK(!out.count(name), "forward: parameter name '", name, "' collides with an output name");
    if (p.grad().defined()) out[name] = p.grad().to(Device::cpu());
  }
  if (model.is_training())
    for (auto& [name, b] : model.named_buffers()) out[name] = b.detach().to(Device::cpu()).clone();
  model.zero_grad();
  return out;
}

}  // namespace pw::tasks
