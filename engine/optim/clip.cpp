// Gradient clipping by the total norm: see clip.h. The sums, the total and the scale are
// computed in the gradients' dtype on their device.
#include "engine/optim/clip.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/util/error.h"

namespace pw::optim {

namespace {
void check_max_norm(double max_norm) {
  PW_CHECK(max_norm > 0 && std::isfinite(max_norm), "clip_grad_norm: max_norm must be positive, got ", max_norm);
}
}  // namespace

Tensor total_grad_norm(const std::vector<Tensor>& params) {
  NoGradGuard no_grad;
  Tensor squares;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const Tensor s = sum(mul(g, g));
    squares = squares.defined() ? add(squares, s) : s;
  }
  return squares.defined() ? sqrt(squares) : squares;
}

void scale_to_norm(const std::vector<Tensor>& params, const Tensor& norm, double max_norm) {
  check_max_norm(max_norm);
  if (!norm.defined()) return;
  NoGradGuard no_grad;
  const Tensor scale = minimum(rdiv(max_norm, add(norm, 1e-6)), 1.0);  // 0-d, on the device
  for (const Tensor& p : params) {
    Tensor handle = p;  // shares the TensorImpl: set_grad changes the parameter's gradient
    const Tensor g = p.grad();
    if (g.defined()) handle.set_grad(mul(g, scale));
  }
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  check_max_norm(max_norm);
  const Tensor norm = total_grad_norm(params);
  scale_to_norm(params, norm, max_norm);
  return norm.defined() ? norm.item() : 0.0;
}

}  // namespace pw::optim
