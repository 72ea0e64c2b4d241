// SGD with momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD's rules).
#include "engine/autograd.h"
#include "engine/optim/optimizer.h"
#include "kernels/cpu/optim.h"

namespace pw::optim {

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, double weight_decay, bool nesterov,
         double dampening)
    : Optimizer(std::move(params)),
      momentum(momentum),
      weight_decay(weight_decay),
      dampening(dampening),
      nesterov(nesterov) {
  set_lr(lr);
  PW_CHECK(momentum >= 0, "SGD: momentum must be >= 0, got ", momentum);
  PW_CHECK(weight_decay >= 0, "SGD: weight_decay must be >= 0, got ", weight_decay);
  PW_CHECK(!nesterov || (momentum > 0 && dampening == 0),
           "SGD: Nesterov momentum needs momentum > 0 and dampening = 0, got momentum ", momentum,
           " and dampening ", dampening);
}

std::vector<Optimizer::StateSpec> SGD::state_specs() const {
  return {{"momentum_buffer", false}};
}

void SGD::step() {
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor g = grad_of(i);
    if (!g.defined()) continue;
    const Tensor& p = params_[i];
    bool first = false;
    Tensor buf;
    if (momentum != 0) buf = state_tensor(i, "momentum_buffer", &first);
    dispatch_floating(p.dtype(), "SGD", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::SgdArgs<T> a{T(lr_), T(momentum), T(dampening), T(weight_decay), nesterov, first};
      kernels::cpu::sgd_step<T>(p.data<T>(), g.data<T>(), buf.defined() ? buf.data<T>() : nullptr,
                                p.numel(), a);
    });
    p.bump_version();
  }
  ++step_count_;
}

}  // namespace pw::optim
