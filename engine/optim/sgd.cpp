// SGD with momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD's rules), fused
// per parameter: kernels/cpu/optim.h on the cpu, kernels/cuda/optim.cu on cuda and simt.
#include "engine/autograd.h"
#include "engine/device/gpu.h"
#include "engine/ops/kernel_args.h"
#include "engine/optim/optimizer.h"
#include "kernels/cpu/optim.h"

namespace pw::optim {

SGD::SGD(std::vector<Tensor> params, double lr, double momentum, double weight_decay, bool nesterov, double dampening)
    : Optimizer(std::move(params)),
      momentum(momentum),
      weight_decay(weight_decay),
      dampening(dampening),
      nesterov(nesterov) {
  set_lr(lr);
  PW_CHECK(momentum >= 0, "SGD: momentum must be >= 0, got ", momentum);
  PW_CHECK(weight_decay >= 0, "SGD: weight_decay must be >= 0, got ", weight_decay);
  PW_CHECK(!nesterov || (momentum > 0 && dampening == 0),
           "SGD: Nesterov momentum needs momentum > 0 and dampening = 0, got momentum ", momentum, " and dampening ",
           dampening);
}

std::vector<Optimizer::StateSpec> SGD::state_specs() const { return {{"momentum_buffer", false}}; }

void SGD::step() {
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor g = grad_of(i);
    if (!g.defined()) continue;
    const Tensor& p = params_[i];
    bool first = false;
    Tensor buf;
    if (momentum != 0) buf = state_tensor(i, "momentum_buffer", &first);
    if (is_gpu(p.device())) {
      PW_CHECK(p.dtype() == DType::f32, "SGD: parameter ", i, " is on the ", p.device().str(),
               " device, which computes in f32 only");
      on_gpu(p.device(), [&](auto tag) {
        sgd_step(tag, p.data<float>(), g.data<float>(), ptr_or_null<float>(buf), p.numel(),
                 {float(lr_), float(momentum), float(dampening), float(weight_decay), nesterov, first});
      });
      p.bump_version();
      continue;
    }
    dispatch_floating(p.dtype(), "SGD", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::SgdArgs<T> a{T(lr_), T(momentum), T(dampening), T(weight_decay), nesterov, first};
      kernels::cpu::sgd_step<T>(p.data<T>(), g.data<T>(), ptr_or_null<T>(buf), p.numel(), a);
    });
    p.bump_version();
  }
  ++step_count_;
}

}  // namespace pw::optim
