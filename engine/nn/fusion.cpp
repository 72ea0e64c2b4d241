// Inference fusion in nn::Sequential (fusion.h).
#include "engine/nn/fusion.h"

#include <atomic>

#include "engine/autograd.h"
#include "engine/nn/layers.h"
#include "engine/ops/conv.h"
#include "engine/ops/decisions.h"

namespace pw::nn {

namespace {
std::atomic<bool> g_fusion{true};

template <class M>
M* module_at(const std::vector<std::shared_ptr<Module>>& mods, size_t i) {
  return i < mods.size() ? dynamic_cast<M*>(mods[i].get()) : nullptr;
}

bool fusion_applies_now(const Tensor& x) {
  return g_fusion.load() && !GradMode::enabled() && !AnomalyMode::enabled() && !detail::recording_decisions() &&
         !detail::replaying_decisions() && x.defined();
}
}  // namespace

void set_inference_fusion(bool on) { g_fusion.store(on); }
bool inference_fusion() { return g_fusion.load(); }

size_t run_fused(const std::vector<std::shared_ptr<Module>>& mods, size_t i, Tensor& x) {
  Conv2d* conv = module_at<Conv2d>(mods, i);
  if (!conv || !fusion_applies_now(x)) return 0;
  size_t next = i + 1;
  BatchNorm2d* bn = module_at<BatchNorm2d>(mods, next);
  // A BatchNorm2d that would use the batch's statistics, or that does not match the convolution
  // (left to raise its own error), stays a layer of its own.
  if (bn && (bn->is_training() || !bn->track_running_stats || bn->num_features != conv->out_channels)) bn = nullptr;
  if (bn) ++next;
  const bool relu = module_at<ReLU>(mods, next) != nullptr;
  if (relu) ++next;
  if (!bn && !relu) return 0;
  BatchNormInference folded;
  if (bn) folded = {bn->running_mean, bn->running_var, bn->weight, bn->bias, bn->eps};
  x = conv2d_inference(x, conv->weight, conv->bias, conv->params, bn ? &folded : nullptr, relu);
  return next - i;
}

}  // namespace pw::nn
