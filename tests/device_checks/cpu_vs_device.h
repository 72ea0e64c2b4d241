// Device-check helper: one differentiable op run twice, on the CPU and on a device, from the
// same f32 leaves and the same random upstream gradient, so that a check can compare the
// outputs and every input gradient (used by pool.cpp, norm.cpp and shape.cpp in this folder).
#pragma once
#include <cmath>
#include <functional>
#include <vector>

#include "tests/support/device_test.h"

namespace pw::testing {

struct CpuAndDeviceRuns {
  Tensor cpu_out, dev_out;
  std::vector<Tensor> cpu_grads, dev_grads;  // per input; undefined where an input was undefined
};

// f(inputs) on the CPU leaves and on copies moved to `device`; every defined input requires
// grad. The upstream gradient is cpu_random(output shape, grad_seed) on both.
inline CpuAndDeviceRuns run_on_cpu_and_device(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                              const std::vector<Tensor>& inputs, Device device,
                                              uint64_t grad_seed = 99) {
  std::vector<Tensor> cpu_in, dev_in;
  for (const Tensor& t : inputs) {
    Tensor c, d;
    if (t.defined()) {
      c = t.detach().clone();
      d = t.detach().to(device);
      c.set_requires_grad(true);
      d.set_requires_grad(true);
    }
    cpu_in.push_back(c);
    dev_in.push_back(d);
  }
  CpuAndDeviceRuns r;
  r.cpu_out = f(cpu_in);
  r.dev_out = f(dev_in);
  Generator gen(grad_seed, 3);
  Tensor g = Tensor::rand(r.cpu_out.shape(), -1, 1, DType::f32, &gen);
  r.cpu_out.backward(g);
  r.dev_out.backward(g.to(device));
  for (size_t i = 0; i < inputs.size(); ++i) {
    r.cpu_grads.push_back(cpu_in[i].defined() ? cpu_in[i].grad() : Tensor());
    r.dev_grads.push_back(dev_in[i].defined() ? dev_in[i].grad() : Tensor());
  }
  return r;
}

// Exact equality of two tensors' values, with NaN equal to NaN (max pooling propagates NaN).
inline bool same_values(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  std::vector<double> va = a.to_vector_f64(), vb = b.to_vector_f64();
  for (size_t i = 0; i < va.size(); ++i)
    if (!(va[i] == vb[i] || (std::isnan(va[i]) && std::isnan(vb[i])))) return false;
  return true;
}

}  // namespace pw::testing
