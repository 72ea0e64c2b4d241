// The backward walk: topological order over the recorded nodes, gradient accumulation at
// nodes used more than once (shared weights) and into leaves.
#include "engine/autograd.h"

#include <cmath>
#include <sstream>
#include <unordered_map>

#include "engine/ops.h"

namespace pw {

namespace {
thread_local bool g_grad_enabled = true;
thread_local bool g_detect_anomaly = false;

template <typename T>
int64_t first_non_finite_in(const std::vector<T>& v) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) return (int64_t)i;
  return -1;
}

// "nan at element 17 of [2,4,8,8]"
std::string where_non_finite(const Tensor& t, int64_t at) {
  const double v = t.dtype() == DType::f64 ? t.to_vector_f64()[at] : (double)t.to_vector_f32()[at];
  std::ostringstream os;
  os << (std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf") << " at element " << at << " of " << shape_str(t.shape());
  return os.str();
}

std::string shapes_text(const std::vector<Shape>& shapes) {
  std::string s;
  for (size_t i = 0; i < shapes.size(); ++i) s += (i ? ", " : "") + shape_str(shapes[i]);
  return s;
}

// The forward half of anomaly detection: the first op whose output holds a non-finite value.
// "[2, 3], none, [3]": the shapes of an op's inputs (none: undefined).
std::string input_shapes_text(const std::vector<Tensor>& inputs) {
  std::string s;
  for (size_t i = 0; i < inputs.size(); ++i)
    s += (i ? ", " : "") + (inputs[i].defined() ? shape_str(inputs[i].shape()) : std::string("none"));
  return s;
}

void check_forward(const Tensor& out, const char* name, const std::vector<Tensor>& inputs) {
  if (!out.defined()) return;
  const int64_t at = first_non_finite(out);
  if (at < 0) return;
  const std::string shapes = input_shapes_text(inputs);
  std::string already;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (t.defined() && first_non_finite(t) >= 0)
      already += "; its input " + std::to_string(i) + " " + shape_str(t.shape()) + " was already non-finite (" +
                 (t.grad_fn() ? "made by op '" + t.grad_fn()->name + "' outside anomaly detection"
                              : std::string("a leaf: a parameter, a buffer or the data")) +
                 ")";
  }
  PW_FAIL("detect-anomaly: the forward of op '", name, "' produced a non-finite value (", where_non_finite(out, at),
          "); its inputs: ", shapes, already.empty() ? "; every input was finite" : already);
}

// The backward half: the first backward rule that returns a non-finite gradient.
void check_backward(const Node& n, const Tensor& grad_out, const std::vector<Tensor>& grads) {
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) continue;
    const int64_t at = first_non_finite(grads[i]);
    if (at < 0) continue;
    const bool upstream_finite = first_non_finite(grad_out) < 0;
    PW_FAIL("detect-anomaly: the backward of op '", n.name, "' produced a non-finite gradient for its input ", i, " (",
            where_non_finite(grads[i], at), ") from ", upstream_finite ? "a finite" : "a non-finite",
            " upstream gradient ", shape_str(grad_out.shape()), "; the op's inputs: ", shapes_text(n.input_shapes),
            ", its output: ", shape_str(n.output_shape));
  }
}

}  // namespace

bool GradMode::enabled() { return g_grad_enabled; }
void GradMode::set_enabled(bool on) { g_grad_enabled = on; }

bool AnomalyMode::enabled() { return g_detect_anomaly; }
void AnomalyMode::set_enabled(bool on) { g_detect_anomaly = on; }

void check_updated_buffer(const Tensor& buffer, const char* name, const char* buffer_name,
                          const std::vector<Tensor>& inputs) {
  if (!AnomalyMode::enabled() || !buffer.defined()) return;
  const int64_t at = first_non_finite(buffer);
  if (at < 0) return;
  bool inputs_finite = true;
  for (const Tensor& t : inputs) inputs_finite &= first_non_finite(t) < 0;
  PW_FAIL("detect-anomaly: the forward of op '", name, "' produced a non-finite value in its ", buffer_name,
          " buffer (", where_non_finite(buffer, at), "); its inputs: ", input_shapes_text(inputs),
          inputs_finite ? "; every input was finite" : "; an input was already non-finite");
}

int64_t first_non_finite(const Tensor& t) {
  if (!t.defined() || t.numel() == 0) return -1;
  if (t.dtype() == DType::f32) return first_non_finite_in(t.to_vector_f32());
  if (t.dtype() == DType::f64) return first_non_finite_in(t.to_vector_f64());
  return -1;
}

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(Tensor out, const char* name, const std::vector<Tensor>& inputs,
              std::function<std::vector<Tensor>(const Tensor&, const Node&)> backward) {
  if (AnomalyMode::enabled()) check_forward(out, name, inputs);
  if (!GradMode::enabled() || !any_requires_grad(inputs)) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  if (AnomalyMode::enabled()) {
    for (const Tensor& t : inputs) node->input_shapes.push_back(t.defined() ? t.shape() : Shape{});
    node->output_shape = out.shape();
  }
  node->inputs.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.defined() && t.requires_grad()) {
      if (t.grad_fn())
        e.fn = t.grad_fn();
      else
        e.leaf = t.impl_shared();
    }
    node->inputs.push_back(std::move(e));
    if (t.defined()) node->versions.push_back({t.storage(), t.storage()->version()});
  }
  Node* raw = node.get();
  node->backward = [raw, fn = std::move(backward)](const Tensor& g) { return fn(g, *raw); };
  // `out` may alias a view of an input; give it its own impl so its grad_fn is its own.
  auto impl = std::make_shared<TensorImpl>(*out.impl_ptr());
  impl->grad.reset();
  impl->requires_grad = true;
  impl->grad_fn = std::move(node);
  return Tensor(std::move(impl));
}

// Adds g into a leaf's gradient. The first gradient is stored as the leaf's own buffer: a copy
// when g may be seen elsewhere (it may alias saved tensors or the caller's upstream gradient),
// but g's buffer itself when the walk hands over a gradient nobody else holds (`owned`: the
// backward rule's fresh result, its Tensor the only one of its impl and its storage). That saves
// a copy of every parameter's gradient every step (AlexNet: 244 MB per step).
static void accumulate(std::shared_ptr<TensorImpl>& slot, const Tensor& g, bool owned = false) {
  if (!slot) {
    const std::shared_ptr<TensorImpl>& gi = g.impl_shared();
    if (owned && gi.use_count() == 1 && gi->storage.use_count() == 1 && !gi->grad_fn && gi->offset == 0 &&
        g.is_contiguous()) {
      slot = std::make_shared<TensorImpl>(*gi);
      slot->requires_grad = false;
      slot->grad.reset();
    } else {
      slot = g.clone().impl_shared();
    }
  } else {
    Tensor acc(slot);
    acc.copy_(add(acc, g));
  }
}

namespace {
thread_local GradReadyHook grad_ready_hook;
}

GradReadyHookGuard::GradReadyHookGuard(GradReadyHook hook) : prev_(std::move(grad_ready_hook)) {
  grad_ready_hook = std::move(hook);
}
GradReadyHookGuard::~GradReadyHookGuard() { grad_ready_hook = std::move(prev_); }

void run_backward(const Tensor& root, const Tensor& grad_in, bool retain_graph) {
  PW_CHECK(root.defined(), "backward: called on an undefined tensor");
  PW_CHECK(root.requires_grad(),
           "backward: the tensor does not require grad (no input of the computation that made it "
           "requires grad, or it was made under NoGradGuard)");
  Tensor grad = grad_in;
  if (!grad.defined()) {
    PW_CHECK(root.numel() == 1,
             "backward: the gradient can be implied only for a one-element "
             "tensor; this one has shape ",
             shape_str(root.shape()), ", pass an upstream gradient");
    grad = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  PW_CHECK(grad.shape() == root.shape(), "backward: upstream gradient has shape ", shape_str(grad.shape()),
           ", the tensor has shape ", shape_str(root.shape()));
  PW_CHECK(grad.dtype() == root.dtype(), "backward: upstream gradient is ", dtype_name(grad.dtype()),
           ", the tensor is ", dtype_name(root.dtype()));

  NoGradGuard no_grad;
  // Under anomaly detection the walk checks what each backward rule returns; the ops those rules
  // and the accumulation run are not themselves checked as forwards.
  const bool detect_anomaly = AnomalyMode::enabled();
  DetectAnomalyGuard forward_checks_off(false);
  if (root.is_leaf()) {
    accumulate(root.impl_ptr()->grad, grad);
    if (grad_ready_hook) grad_ready_hook(root.impl_ptr());
    return;
  }

  // Count, for every node reachable from the root, how many edges point at it.
  // With a hook installed, also count the edges into every leaf (see GradReadyHook).
  std::unordered_map<Node*, int> deps;
  std::unordered_map<TensorImpl*, int> leaf_edges;
  std::vector<Node*> stack{root.grad_fn().get()};
  deps[root.grad_fn().get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->inputs) {
      if (e.leaf && grad_ready_hook) leaf_edges[e.leaf.get()]++;
      if (!e.fn) continue;
      auto it = deps.find(e.fn.get());
      if (it == deps.end()) {
        deps[e.fn.get()] = 1;
        stack.push_back(e.fn.get());
      } else {
        it->second++;
      }
    }
  }

  std::unordered_map<Node*, Tensor> pending;
  pending[root.grad_fn().get()] = grad;
  std::vector<Node*> ready{root.grad_fn().get()};
  while (!ready.empty()) {
    Node* n = ready.back();
    ready.pop_back();
    Tensor g = std::move(pending[n]);
    pending.erase(n);
    std::vector<Tensor> grads(n->inputs.size());
    // A node that received no gradient (every path to it returned none) still releases its
    // inputs' dependency counts, so that nodes below it run.
    if (g.defined()) {
      PW_CHECK(!n->released,
               "backward: trying to backward through the graph a second time (its "
               "saved tensors were freed after the first backward, at op '",
               n->name, "'); pass retain_graph=true to the first backward if you need this");
      for (size_t i = 0; i < n->versions.size(); ++i) {
        auto st = n->versions[i].storage.lock();
        PW_CHECK(!st || st->version() == n->versions[i].version, "backward: an input of op '", n->name,
                 "' was modified in place after the forward pass (version ", st ? st->version() : 0, ", recorded at ",
                 n->versions[i].version, "); modify a clone() instead, or run the forward again");
      }
      grads = n->backward(g);
      PW_CHECK(grads.size() == n->inputs.size(), "backward: op '", n->name, "' returned ", grads.size(),
               " gradients for ", n->inputs.size(), " inputs");
      if (detect_anomaly) check_backward(*n, g, grads);
      if (!retain_graph) {
        n->backward = nullptr;
        n->released = true;
      }
    }
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      Edge& e = n->inputs[i];
      if (!e.needed()) continue;
      const Tensor& gi = grads[i];
      if (e.fn) {
        Node* m = e.fn.get();
        if (gi.defined()) {
          Tensor& slot = pending[m];
          slot = slot.defined() ? add(slot, gi) : gi;
        }
        if (--deps[m] == 0) ready.push_back(m);
      } else if (gi.defined()) {
        PW_CHECK(gi.shape() == e.leaf->shape, "backward: op '", n->name, "' produced a gradient of shape ",
                 shape_str(gi.shape()), " for an input of shape ", shape_str(e.leaf->shape));
        accumulate(e.leaf->grad, gi, /*owned=*/true);  // grads[i] is dropped after this walk step
      }
      if (e.leaf && grad_ready_hook && --leaf_edges[e.leaf.get()] == 0) grad_ready_hook(e.leaf.get());
    }
  }
}

}  // namespace pw
