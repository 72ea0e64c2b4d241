// Gradient clipping by the total norm: see clip.h. The sums run in the gradients' dtype on
// their device; the total is accumulated in double on the host.
#include "engine/optim/clip.h"

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/util/error.h"

namespace pw::optim {

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  PW_CHECK(max_norm > 0 && std::isfinite(max_norm), "clip_grad_norm: max_norm must be positive, got ", max_norm);
  NoGradGuard no_grad;
  double squares = 0;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (g.defined()) squares += sum(mul(g, g)).item();
  }
  const double norm = std::sqrt(squares);
  if (norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (const Tensor& p : params) {
      Tensor handle = p;  // shares the TensorImpl: set_grad changes the parameter's gradient
      const Tensor g = p.grad();
      if (g.defined()) handle.set_grad(mul(g, scale));
    }
  }
  return norm;
}

}  // namespace pw::optim
