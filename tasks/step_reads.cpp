// Figures of training steps kept on the device: see step_reads.h.
#include "tasks/step_reads.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/device/device.h"
#include "engine/ops.h"

namespace pw::tasks {

void read_steps(std::vector<PendingStep>& steps) {
  NoGradGuard no_grad;
  DetectAnomalyGuard quiet(false);  // the flag is NaN on purpose when a gradient is not finite
  std::vector<Tensor> figures;      // per unread step: loss, correct (or 0), finite (or 0), norm (or 0)
  for (const PendingStep& s : steps) {
    if (s.read) continue;
    const Device d = s.loss.device();
    const Tensor zero = Tensor::zeros({}, s.loss.dtype(), d);
    figures.push_back(s.loss.detach());
    figures.push_back(s.correct.defined() ? s.correct.to(s.loss.dtype()) : zero);
    figures.push_back(s.finite.defined() ? s.finite.to(s.loss.dtype()) : zero);
    figures.push_back(s.norm.defined() ? s.norm.detach().to(s.loss.dtype()) : zero);
  }
  if (figures.empty()) return;
  const std::vector<double> v = stack(figures, 0).to_vector_f64();  // the one download
  size_t i = 0;
  for (PendingStep& s : steps) {
    if (s.read) continue;
    s.loss_value = v[i];
    s.correct_value = s.correct.defined() ? (int64_t)v[i + 1] : s.host_correct;
    s.all_finite = std::isfinite(v[i + 2]);
    s.grad_norm = v[i + 3];
    s.read = true;
    i += 4;
  }
}

Tensor finite_flag(const std::vector<Tensor>& params, const std::vector<Tensor>& buffers) {
  NoGradGuard no_grad;
  DetectAnomalyGuard quiet(false);  // these sums are the check, not ops of the model
  Tensor total;
  const auto add_zeros = [&total](const Tensor& t) {
    Tensor s = sum(mul(t, 0.0));
    total = total.defined() ? add(total, s.to(total.dtype())) : s;
  };
  for (const Tensor& p : params)
    if (p.grad().defined()) add_zeros(p.grad());
  for (const Tensor& b : buffers)
    if (is_floating(b.dtype())) add_zeros(b);
  return total;
}

Tensor count_correct(const Tensor& logits, const Tensor& labels) {
  NoGradGuard no_grad;
  // |argmax - label| is a whole number: relu(1 - it) is 1 where they agree and 0 elsewhere.
  const Tensor predicted = argmax(logits.detach(), 1).to(DType::f32);
  return sum(relu(rsub(1.0, abs(sub(predicted, labels.to(DType::f32))))));
}

}  // namespace pw::tasks
