// nn::Module: the base of every layer and model (named parameters, buffers and children in
// registration order, state_dict with torchvision names, train/eval, printing), and
// nn::Sequential.
//
// Ownership and identity. A module holds its parameters and buffers as Tensor handles that share
// one TensorImpl with the public members of the layer (Linear::weight and the registered
// "weight" are the same tensor). Everything that changes a parameter -- load_state_dict, the
// optimizers, the initializers, to(dtype) -- writes through that TensorImpl in place, so a
// handle taken before still sees the new values. Do not assign a new Tensor to a layer's member
// (`lin->weight = t` would detach the member from the registered parameter); copy into it with
// `lin->weight.copy_(t)` instead.
//
// Modules live in std::shared_ptr (children are shared_ptr, find() returns one).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace pw::nn {

class Module : public std::enable_shared_from_this<Module> {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

  virtual std::string type_name() const = 0;             // "Conv2d", used in summaries
  virtual std::string extra_repr() const { return ""; }  // "3, 64, kernel_size=(11, 11), ..."

  // Recursive, in registration order: this module's own entries first, then each child's with
  // "child." prefixed ("features.0.weight"). A tensor registered under two names (shared
  // weights) is listed once, under its first name, as in PyTorch, so an optimizer steps it once.
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  // Buffers are non-trained state: BatchNorm's running_mean and running_var. PyTorch's
  // num_batches_tracked counter is not kept (patchwork's BatchNorm always uses `momentum`);
  // load_state_dict ignores "*.num_batches_tracked" entries so torchvision checkpoints load.
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  // Direct children in registration order.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  // This module ("") first, then every descendant depth-first with its dotted path; a module
  // reachable by two paths is listed once.
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_modules() const;
  // The descendant at a dotted path ("features.8", "fc6"); "" is this module (which must then
  // be owned by a shared_ptr). A missing path is an error naming it and listing the children
  // that exist where the walk stopped.
  std::shared_ptr<Module> find(const std::string& path) const;

  // Parameters and buffers by name. The values alias the module's storage (detached views):
  // clone them to keep a snapshot. Shared tensors appear under every name, as in PyTorch.
  std::map<std::string, Tensor> state_dict() const;
  // Copies values into the existing tensors in place (converting f32 <-> f64 if needed).
  // strict: every name of the module must be present and no other name may be (errors list all
  // missing and unexpected names). A shape mismatch is always an error naming the tensor and
  // both shapes. Everything is checked before anything is copied, so a failed load leaves the
  // module unchanged.
  void load_state_dict(const std::map<std::string, Tensor>& sd, bool strict = true);

  // Sets the training flag of this module and every descendant (Dropout, BatchNorm read it).
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Every module's own flag by path, and putting them back: for code that switches a model to
  // eval for a while (evaluation, feature extraction) without losing a deliberately frozen part.
  std::map<std::string, bool> training_modes() const;
  void restore_training_modes(const std::map<std::string, bool>& modes);

  // Drops every parameter's .grad (PyTorch's set_to_none behaviour).
  void zero_grad();
  // requires_grad on every parameter: false freezes a backbone for linear probes.
  void set_requires_grad(bool on);
  // Converts every floating parameter and buffer to `dtype` in place (same TensorImpl, new
  // storage; gradients are dropped). Make optimizers after this, not before.
  void to(DType dtype);
  // Moves every parameter and buffer to `device` in place, the same way; optimizer state made
  // before the move stays where it was, so make optimizers after this too.
  void to(Device device);
  Device device() const;  // where the first parameter (or buffer) lives; cpu if none

  int64_t num_parameters() const;  // elements over named_parameters()
  std::string repr() const;        // PyTorch-like nested printout

 protected:
  // Registers a parameter (marked requires_grad; a non-leaf is detached first) and returns the
  // registered handle. An undefined tensor registers nothing (a layer built with bias=false has
  // no "bias" entry, like PyTorch's None). Names are non-empty, without '.', and unique among
  // this module's parameters, buffers and children.
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    add_child(name, m);
    return m;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> m);
  void check_new_name(const std::string& name, const char* what) const;
  template <class F>
  void visit(const std::string& prefix, F&& f) const;

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// Puts a model in eval mode for a scope and restores every module's own flag afterwards, also
// when the scope is left by an exception (evaluation, feature reading, visualization).
class EvalModeScope {
 public:
  explicit EvalModeScope(Module& m) : m_(m), modes_(m.training_modes()) { m.eval(); }
  ~EvalModeScope() { m_.restore_training_modes(modes_); }
  EvalModeScope(const EvalModeScope&) = delete;
  EvalModeScope& operator=(const EvalModeScope&) = delete;

 private:
  Module& m_;
  std::map<std::string, bool> modes_;
};

// Runs its children in order. push_back(m) names children by position ("0", "1", ...);
// push_back(name, m) gives a name ("conv1"). In inference a Conv2d with the eval-mode BatchNorm2d
// and/or ReLU after it runs as one op (engine/nn/fusion.h), with the same result.
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<Module>> mods);

  void push_back(std::shared_ptr<Module> m);
  void push_back(const std::string& name, std::shared_ptr<Module> m);
  size_t size() const { return mods_.size(); }
  std::shared_ptr<Module> at(size_t i) const;
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Sequential"; }

 private:
  std::vector<std::shared_ptr<Module>> mods_;
};

}  // namespace pw::nn
