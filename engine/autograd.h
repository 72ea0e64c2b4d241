// Define-by-run reverse-mode autograd: nodes recorded by ops, and the backward walk.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace pw {

// One input slot of a node: where the gradient for that input goes. Either another node
// (the input was produced by an op), a leaf tensor (accumulate into its .grad), or nothing.
struct Edge {
  std::shared_ptr<Node> fn;
  std::shared_ptr<TensorImpl> leaf;
  bool needed() const { return fn || leaf; }
};

// The storage version of an op input when the op ran (weak: checking must not keep memory alive).
struct SavedVersion {
  std::weak_ptr<Storage> storage;
  uint64_t version;
};

using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out)>;

struct Node {
  std::string name;
  std::vector<Edge> inputs;
  std::vector<SavedVersion> versions;
  BackwardFn backward;  // captures the saved tensors; dropped after use unless retained
  bool released = false;
  // Recorded only under AnomalyMode, for its messages: the shapes of the inputs and the output.
  std::vector<Shape> input_shapes;
  Shape output_shape;

  bool needs_grad(size_t i) const { return i < inputs.size() && inputs[i].needed(); }
};

// Gradient recording is on by default; NoGradGuard turns it off for its scope (per thread).
class GradMode {
 public:
  static bool enabled();
  static void set_enabled(bool on);
};

class NoGradGuard {
 public:
  NoGradGuard() : prev_(GradMode::enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// Called during a backward walk when a leaf's gradient is complete for that walk: every edge
// into the leaf has delivered (or had nothing to deliver), so its .grad will not change before
// the walk ends. Data-parallel training starts reducing a parameter's gradient there, while the
// rest of the walk runs. Per thread; the guard installs a hook for its scope (nesting restores).
using GradReadyHook = std::function<void(TensorImpl* leaf)>;

class GradReadyHookGuard {
 public:
  explicit GradReadyHookGuard(GradReadyHook hook);
  ~GradReadyHookGuard();
  GradReadyHookGuard(const GradReadyHookGuard&) = delete;
  GradReadyHookGuard& operator=(const GradReadyHookGuard&) = delete;

 private:
  GradReadyHook prev_;
};

// Anomaly detection (`patchwork train --detect-anomaly`). While it is on (per thread, like
// GradMode), record() checks every op's output and run_backward every gradient a backward rule
// returns; the first non-finite value (NaN or +-inf) is a pw::Error naming the op, whether it was
// the forward or the backward, the element, and the shapes of the op's inputs and output, with
// which inputs were already non-finite. One place checks every op: record() (every
// differentiable op goes through it, with or without grad) and the backward walk. Slow: each
// output and gradient is copied to the host and scanned.
class AnomalyMode {
 public:
  static bool enabled();
  static void set_enabled(bool on);
};

class DetectAnomalyGuard {
 public:
  explicit DetectAnomalyGuard(bool on = true) : prev_(AnomalyMode::enabled()) { AnomalyMode::set_enabled(on); }
  ~DetectAnomalyGuard() { AnomalyMode::set_enabled(prev_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool prev_;
};

// The index (in logical order) of the first NaN or infinite element of `t`, or -1 when every
// element is finite (always for integer tensors). Copies to the host.
int64_t first_non_finite(const Tensor& t);

// Anomaly detection of a buffer that op `name` updated in place (batch norm's running
// statistics: not the op's output, so record() does not see them): under AnomalyMode, a
// non-finite element is an error naming the op, the buffer and the inputs' shapes.
void check_updated_buffer(const Tensor& buffer, const char* name, const char* buffer_name,
                          const std::vector<Tensor>& inputs);

// Records `out` as produced by an op named `name` from `inputs`, if any input requires grad
// and recording is on. `backward` returns one gradient per input (undefined = none); it may
// consult the node (passed by the engine through `needs`) to skip unneeded work.
Tensor record(Tensor out, const char* name, const std::vector<Tensor>& inputs,
              std::function<std::vector<Tensor>(const Tensor& grad_out, const Node& node)> backward);

bool any_requires_grad(const std::vector<Tensor>& inputs);

// Runs the backward walk from `root` (see Tensor::backward).
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);

}  // namespace pw
