// Optimizer update kernels: flat elementwise loops (vectorized by the compiler), split over
// threads for large tensors. Each element is independent, so the result does not depend on the
// thread count.
#include "kernels/cpu/optim.h"

#include <cmath>

namespace pw::kernels::cpu {

namespace {
constexpr int64_t kParallelGrain = 1 << 15;
}

template <typename T>
void sgd_step(T* param, const T* grad, T* buf, int64_t n, const SgdArgs<T>& a) {
  const T lr = a.lr, mom = a.momentum, wd = a.weight_decay, keep = T(1) - a.dampening;
  const bool use_momentum = a.momentum != T(0), nesterov = a.nesterov, first = a.first_step;
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    T d = grad[i];
    if (wd != T(0)) d += wd * param[i];
    if (use_momentum) {
      T b = first ? d : mom * buf[i] + keep * d;
      buf[i] = b;
      d = nesterov ? d + mom * b : b;
    }
    param[i] -= lr * d;
  }
}

template <typename T>
void adam_step(T* param, const T* grad, T* m, T* v, int64_t n, const AdamArgs<T>& a) {
  const T lr = a.lr, b1 = a.beta1, b2 = a.beta2, eps = a.eps, wd = a.weight_decay;
  const T step_size = lr / a.bias_correction1;
  const T bc2_sqrt = std::sqrt(a.bias_correction2);
  const T decay = T(1) - lr * wd;
  const bool decoupled = a.decoupled_weight_decay, has_wd = wd != T(0);
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    T g = grad[i];
    T p = param[i];
    if (has_wd) {
      if (decoupled)
        p *= decay;
      else
        g += wd * p;
    }
    T mi = m[i] + (T(1) - b1) * (g - m[i]);
    T vi = b2 * v[i] + (T(1) - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - step_size * mi / (std::sqrt(vi) / bc2_sqrt + eps);
  }
}

#define PW_INST(T)                                                         \
  template void sgd_step<T>(T*, const T*, T*, int64_t, const SgdArgs<T>&); \
  template void adam_step<T>(T*, const T*, T*, T*, int64_t, const AdamArgs<T>&);
PW_INST(float)
PW_INST(double)
#undef PW_INST

}  // namespace pw::kernels::cpu
