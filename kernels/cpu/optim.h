// Optimizer update kernels: one fused loop per parameter tensor that reads the gradient and the
// optimizer state once and writes the parameter and state in place. The arithmetic follows
// PyTorch's single-tensor (foreach=False) SGD and Adam/AdamW step for step, in the parameter's
// precision, so trajectories can be compared with PyTorch's to rounding.
#pragma once
#include <cstdint>

namespace pw::kernels::cpu {

template <typename T>
struct SgdArgs {
  T lr, momentum, dampening, weight_decay;
  bool nesterov;
  bool first_step;  // the momentum buffer is (re)started: buf = d instead of the running update
};

// d = g + wd p; with momentum: buf = first ? d : momentum buf + (1 - dampening) d,
// d = nesterov ? d + momentum buf : buf; then p -= lr d. momentum_buf is unused (may be null)
// when momentum == 0.
template <typename T>
void sgd_step(T* param, const T* grad, T* momentum_buf, int64_t n, const SgdArgs<T>& a);

template <typename T>
struct AdamArgs {
  T lr, beta1, beta2, eps, weight_decay;
  bool decoupled_weight_decay;  // AdamW: p *= 1 - lr wd; Adam: g += wd p
  T bias_correction1;           // 1 - beta1^step
  T bias_correction2;           // 1 - beta2^step
};

// m = m + (1 - b1)(g - m); v = b2 v + (1 - b2) g^2;
// p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps).
template <typename T>
void adam_step(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, int64_t n, const AdamArgs<T>& a);

}  // namespace pw::kernels::cpu
