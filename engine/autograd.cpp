// The backward walk: topological order over the recorded nodes, gradient accumulation at
// nodes used more than once (shared weights) and into leaves.
#include "engine/autograd.h"

#include <unordered_map>

#include "engine/ops.h"

namespace pw {

namespace {
thread_local bool g_grad_enabled = true;
}

bool GradMode::enabled() { return g_grad_enabled; }
void GradMode::set_enabled(bool on) { g_grad_enabled = on; }

bool any_requires_grad(const std::vector<Tensor>& inputs) {
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

Tensor record(Tensor out, const char* name, const std::vector<Tensor>& inputs,
              std::function<std::vector<Tensor>(const Tensor&, const Node&)> backward) {
  if (!GradMode::enabled() || !any_requires_grad(inputs)) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    Edge e;
    if (t.defined() && t.requires_grad()) {
      if (t.grad_fn()) e.fn = t.grad_fn();
      else e.leaf = t.impl_shared();
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

static void accumulate(std::shared_ptr<TensorImpl>& slot, const Tensor& g) {
  if (!slot) {
    // Own the gradient buffer: g may alias saved tensors or the caller's upstream gradient.
    slot = g.clone().impl_shared();
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
    PW_CHECK(root.numel() == 1, "backward: the gradient can be implied only for a one-element "
             "tensor; this one has shape ", shape_str(root.shape()), ", pass an upstream gradient");
    grad = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  PW_CHECK(grad.shape() == root.shape(), "backward: upstream gradient has shape ",
           shape_str(grad.shape()), ", the tensor has shape ", shape_str(root.shape()));
  PW_CHECK(grad.dtype() == root.dtype(), "backward: upstream gradient is ", dtype_name(grad.dtype()),
           ", the tensor is ", dtype_name(root.dtype()));

  NoGradGuard no_grad;
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
      PW_CHECK(!n->released, "backward: trying to backward through the graph a second time (its "
               "saved tensors were freed after the first backward, at op '", n->name,
               "'); pass retain_graph=true to the first backward if you need this");
      for (size_t i = 0; i < n->versions.size(); ++i) {
        auto st = n->versions[i].storage.lock();
        PW_CHECK(!st || st->version() == n->versions[i].version, "backward: an input of op '",
                 n->name, "' was modified in place after the forward pass (version ",
                 st ? st->version() : 0, ", recorded at ", n->versions[i].version,
                 "); modify a clone() instead, or run the forward again");
      }
      grads = n->backward(g);
      PW_CHECK(grads.size() == n->inputs.size(), "backward: op '", n->name, "' returned ",
               grads.size(), " gradients for ", n->inputs.size(), " inputs");
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
        PW_CHECK(gi.shape() == e.leaf->shape, "backward: op '", n->name,
                 "' produced a gradient of shape ", shape_str(gi.shape()),
                 " for an input of shape ", shape_str(e.leaf->shape));
        accumulate(e.leaf->grad, gi);
      }
      if (e.leaf && grad_ready_hook && --leaf_edges[e.leaf.get()] == 0) grad_ready_hook(e.leaf.get());
    }
  }
}

}  // namespace pw
