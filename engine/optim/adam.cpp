// Adam (L2 weight decay in the gradient) and AdamW (decoupled weight decay), bias-corrected as
// torch.optim.Adam / AdamW with amsgrad=False; fused per parameter: kernels/cpu/optim.h on the
// cpu, kernels/cuda/optim.cu on cuda and simt.
#include <cmath>

#include "engine/autograd.h"
#include "engine/device/gpu.h"
#include "engine/optim/optimizer.h"
#include "kernels/cpu/optim.h"

namespace pw::optim {

Adam::Adam(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps, double weight_decay)
    : Adam(std::move(params), lr, beta1, beta2, eps, weight_decay, false) {}

Adam::Adam(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps, double weight_decay,
           bool decoupled)
    : Optimizer(std::move(params)),
      beta1(beta1),
      beta2(beta2),
      eps(eps),
      weight_decay(weight_decay),
      decoupled_(decoupled) {
  set_lr(lr);
  PW_CHECK(beta1 >= 0 && beta1 < 1, name(), ": beta1 must be in [0, 1), got ", beta1);
  PW_CHECK(beta2 >= 0 && beta2 < 1, name(), ": beta2 must be in [0, 1), got ", beta2);
  PW_CHECK(eps >= 0, name(), ": eps must be >= 0, got ", eps);
  PW_CHECK(weight_decay >= 0, name(), ": weight_decay must be >= 0, got ", weight_decay);
}

AdamW::AdamW(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps, double weight_decay)
    : Adam(std::move(params), lr, beta1, beta2, eps, weight_decay, true) {}

std::vector<Optimizer::StateSpec> Adam::state_specs() const {
  return {{"step", true}, {"exp_avg", false}, {"exp_avg_sq", false}};
}

void Adam::step() {
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor g = grad_of(i);
    if (!g.defined()) continue;
    const Tensor& p = params_[i];
    Tensor m = state_tensor(i, "exp_avg"), v = state_tensor(i, "exp_avg_sq");
    // The parameter's own step count (PyTorch keeps it per parameter): a parameter that had no
    // gradient on some steps is bias-corrected for the updates it actually received.
    auto& st = state_[i];
    if (!st.count("step")) st["step"] = Tensor::full({}, 0.0, DType::f64);
    double& t = st["step"].data<double>()[0];
    t += 1;
    const double bc1 = 1 - std::pow(beta1, t), bc2 = 1 - std::pow(beta2, t);
    if (is_gpu(p.device())) {
      PW_CHECK(p.dtype() == DType::f32, name(), ": parameter ", i, " is on the ", p.device().str(),
               " device, which computes in f32 only");
      on_gpu(p.device(), [&](auto tag) {
        adam_step(tag, p.data<float>(), g.data<float>(), m.data<float>(), v.data<float>(), p.numel(),
                  {float(lr_), float(beta1), float(beta2), float(eps), float(weight_decay), decoupled_, float(bc1),
                   float(bc2)});
      });
      p.bump_version();
      continue;
    }
    dispatch_floating(p.dtype(), name().c_str(), [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::AdamArgs<T> a{T(lr_), T(beta1), T(beta2), T(eps), T(weight_decay), decoupled_, T(bc1), T(bc2)};
      kernels::cpu::adam_step<T>(p.data<T>(), g.data<T>(), m.data<T>(), v.data<T>(), p.numel(), a);
    });
    p.bump_version();
  }
  ++step_count_;
}

}  // namespace pw::optim
