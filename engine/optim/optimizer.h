// Optimizers: the Optimizer base (parameter list, learning rate, step count, per-parameter
// state for checkpoints) and SGD, Adam, AdamW with PyTorch's update rules.
//
// Updates run in place on the parameters' storage (kernels/cpu/optim.h; kernels/cuda/optim.cu
// for parameters on cuda / simt), outside autograd, so every handle to a parameter (a layer's
// member, the module's registry) sees the new values.
// A parameter whose .grad is undefined is skipped, and its state is not advanced (as PyTorch).
//
// The training loop drives the learning rate:
//   opt.set_lr(schedule->lr_at(opt.step_count())); opt.step();
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace pw::optim {

class Optimizer {
 public:
  // Every parameter must be a floating-point leaf tensor, each listed once, all on one device
  // (cpu, or f32 on cuda / simt); the per-element state lives on that device too.
  explicit Optimizer(std::vector<Tensor> params);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  virtual void step() = 0;
  virtual std::string name() const = 0;  // "SGD", "Adam", "AdamW"

  void zero_grad();  // drops every parameter's .grad
  double lr() const { return lr_; }
  void set_lr(double lr);
  int64_t step_count() const { return step_count_; }  // step() calls so far
  const std::vector<Tensor>& params() const { return params_; }

  // Everything needed to resume, as tensors named for a checkpoint: prefix + "step_count" (a
  // 0-d f64) and prefix + "param.<i>.<name>" for each state tensor of parameter i (i is its
  // position in the list given to the constructor), e.g. "optim.param.3.momentum_buffer".
  // The tensors alias the optimizer's state; clone them to keep a snapshot.
  std::map<std::string, Tensor> state(const std::string& prefix = "") const;
  // Replaces the whole state by the entries of `st` whose names start with `prefix` (others are
  // ignored, so a whole checkpoint can be passed). Unknown names, parameter indices out of range
  // and shapes that do not match the parameter are errors; everything is checked before anything
  // changes. Parameters with no entries start fresh.
  void load_state(const std::map<std::string, Tensor>& st, const std::string& prefix = "");

 protected:
  struct StateSpec {
    std::string name;
    bool scalar;  // a 0-d f64 counter ("step") rather than a tensor shaped like the parameter
  };
  virtual std::vector<StateSpec> state_specs() const = 0;

  // The gradient of parameter i, contiguous and checked against the parameter, or an undefined
  // tensor when it has none (the parameter is then skipped).
  Tensor grad_of(size_t i) const;
  // State tensor `name` of parameter i, created (zeros, shaped like it) if absent; `created` says
  // whether it was.
  Tensor& state_tensor(size_t i, const std::string& name, bool* created = nullptr);

  std::vector<Tensor> params_;
  std::vector<std::map<std::string, Tensor>> state_;
  double lr_ = 0;
  int64_t step_count_ = 0;
};

// SGD with momentum as PyTorch (torch.optim.SGD): d = g + weight_decay p; with momentum,
// buf = d on the first step, then buf = momentum buf + (1 - dampening) d; d = d + momentum buf
// (nesterov) or buf; p -= lr d. State: "momentum_buffer" (when momentum != 0).
class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, double lr, double momentum = 0, double weight_decay = 0, bool nesterov = false,
      double dampening = 0);
  void step() override;
  std::string name() const override { return "SGD"; }

  double momentum, weight_decay, dampening;
  bool nesterov;

 protected:
  std::vector<StateSpec> state_specs() const override;
};

// Adam as PyTorch (torch.optim.Adam, amsgrad=False): weight decay is an L2 term added to the
// gradient; m and v are bias-corrected by 1 - beta^t with t the parameter's own step count.
// State: "step" (0-d), "exp_avg", "exp_avg_sq".
class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
       double weight_decay = 0);
  void step() override;
  std::string name() const override { return decoupled_ ? "AdamW" : "Adam"; }

  double beta1, beta2, eps, weight_decay;

 protected:
  Adam(std::vector<Tensor> params, double lr, double beta1, double beta2, double eps, double weight_decay,
       bool decoupled);
  std::vector<StateSpec> state_specs() const override;

 private:
  bool decoupled_ = false;
};

// AdamW (torch.optim.AdamW): Adam with decoupled weight decay, p *= 1 - lr weight_decay before
// the Adam update, instead of the L2 term.
class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, double lr = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
        double weight_decay = 1e-2);
};

}  // namespace pw::optim
