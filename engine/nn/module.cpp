// nn::Module bookkeeping (registration, recursive naming, state_dict, train/eval, printing) and
// nn::Sequential.
#include "engine/nn/module.h"

#include <set>
#include <sstream>

#include "engine/autograd.h"
#include "engine/nn/fusion.h"

namespace pw::nn {

namespace {

// A shared_ptr to `m`: the owning one when m lives in a shared_ptr, else a non-owning alias
// (a model on the stack can still list itself in named_modules()).
std::shared_ptr<Module> self_ptr(const Module* m) {
  auto owned = std::const_pointer_cast<Module>(m->weak_from_this().lock());
  if (owned) return owned;
  return std::shared_ptr<Module>(std::shared_ptr<Module>(), const_cast<Module*>(m));
}

std::string join_names(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) s += (i ? ", " : "") + names[i];
  return s.empty() ? "(none)" : s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

// ---------------------------------------------------------------- registration

void Module::check_new_name(const std::string& name, const char* what) const {
  PW_CHECK(!name.empty(), type_name(), ": cannot register a ", what, " with an empty name");
  PW_CHECK(name.find('.') == std::string::npos, type_name(), ": ", what, " name '", name, "' must not contain '.'");
  auto taken = [&](const auto& list) {
    for (const auto& [n, _] : list)
      if (n == name) return true;
    return false;
  };
  PW_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), type_name(), ": cannot register ", what, " '",
           name, "': the name is already used");
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  check_new_name(name, "parameter");
  if (!t.defined()) return t;
  PW_CHECK(is_floating(t.dtype()), type_name(), ": parameter '", name, "' must be f32 or f64, got ",
           dtype_name(t.dtype()));
  if (!t.is_leaf()) t = t.detach();
  t.set_requires_grad(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name, "buffer");
  if (!t.defined()) return t;
  if (!t.is_leaf()) t = t.detach();
  buffers_.emplace_back(name, t);
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_new_name(name, "submodule");
  PW_CHECK(m != nullptr, type_name(), ": submodule '", name, "' is null");
  PW_CHECK(m.get() != this, type_name(), ": a module cannot be its own child ('", name, "')");
  children_.emplace_back(name, std::move(m));
}

// ---------------------------------------------------------------- traversal

// Calls f(prefix, module) for this module and every descendant, depth-first in registration
// order, visiting each module once.
template <class F>
void Module::visit(const std::string& prefix, F&& f) const {
  std::set<const Module*> seen;
  std::vector<std::pair<std::string, const Module*>> stack{{prefix, this}};
  while (!stack.empty()) {
    auto [p, m] = stack.back();
    stack.pop_back();
    if (!seen.insert(m).second) continue;
    f(p, *m);
    for (auto it = m->children_.rbegin(); it != m->children_.rend(); ++it)
      stack.emplace_back(p.empty() ? it->first : p + "." + it->first, it->second.get());
  }
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  std::set<const TensorImpl*> seen;
  visit("", [&](const std::string& p, const Module& m) {
    for (const auto& [n, t] : m.params_)
      if (seen.insert(t.impl_ptr()).second) out.emplace_back(p.empty() ? n : p + "." + n, t);
  });
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [_, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  std::set<const TensorImpl*> seen;
  visit("", [&](const std::string& p, const Module& m) {
    for (const auto& [n, t] : m.buffers_)
      if (seen.insert(t.impl_ptr()).second) out.emplace_back(p.empty() ? n : p + "." + n, t);
  });
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const { return children_; }

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_modules() const {
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> out;
  std::map<const Module*, std::shared_ptr<Module>> owners;  // child pointers as their parents hold them
  visit("", [&](const std::string& p, const Module& m) {
    auto it = owners.find(&m);
    out.emplace_back(p, it != owners.end() ? it->second : self_ptr(&m));
    for (const auto& [_, c] : m.children_) owners.emplace(c.get(), c);
  });
  return out;
}

std::map<std::string, bool> Module::training_modes() const {
  std::map<std::string, bool> modes;
  visit("", [&](const std::string& p, const Module& m) { modes[p] = m.training_; });
  return modes;
}

void Module::restore_training_modes(const std::map<std::string, bool>& modes) {
  visit("", [&](const std::string& p, const Module& m) {
    auto it = modes.find(p);
    if (it != modes.end()) const_cast<Module&>(m).training_ = it->second;
  });
}

std::shared_ptr<Module> Module::find(const std::string& path) const {
  if (path.empty()) return self_ptr(this);
  const Module* cur = this;
  std::shared_ptr<Module> found;
  std::string walked;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    found = nullptr;
    for (const auto& [n, c] : cur->children_)
      if (n == part) found = c;
    if (!found) {
      std::vector<std::string> names;
      for (const auto& [n, _] : cur->children_) names.push_back(n);
      PW_FAIL("Module::find: no submodule '", path,
              "': ", walked.empty() ? type_name() : "'" + walked + "' (" + cur->type_name() + ")", " has no child '",
              part, "'; its children are: ", join_names(names));
    }
    walked += (walked.empty() ? "" : ".") + part;
    if (dot == std::string::npos) return found;
    cur = found.get();
    start = dot + 1;
  }
}

// ---------------------------------------------------------------- state

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> sd;
  // Unlike named_parameters, a tensor registered under two names appears under both (PyTorch
  // does the same), so a checkpoint can be loaded into a model that does not share it.
  visit("", [&](const std::string& p, const Module& m) {
    for (const auto& list : {&m.params_, &m.buffers_})
      for (const auto& [n, t] : *list) sd[p.empty() ? n : p + "." + n] = t.detach();
  });
  return sd;
}

void Module::load_state_dict(const std::map<std::string, Tensor>& sd, bool strict) {
  std::map<std::string, Tensor> mine = state_dict();
  std::vector<std::string> missing, unexpected;
  for (const auto& [name, t] : mine)
    if (!sd.count(name)) missing.push_back(name);
  for (const auto& [name, t] : sd)
    if (!mine.count(name) && !ends_with(name, "num_batches_tracked")) unexpected.push_back(name);
  if (strict && (!missing.empty() || !unexpected.empty()))
    PW_FAIL("load_state_dict (", type_name(), "): ", missing.size(), " missing and ", unexpected.size(),
            " unexpected entries; missing: ", join_names(missing), "; unexpected: ", join_names(unexpected));
  for (const auto& [name, dst] : mine) {
    auto it = sd.find(name);
    if (it == sd.end()) continue;
    const Tensor& src = it->second;
    PW_CHECK(src.defined(), "load_state_dict: entry '", name, "' is an undefined tensor");
    PW_CHECK(src.shape() == dst.shape(), "load_state_dict: size mismatch for '", name, "': the checkpoint has shape ",
             shape_str(src.shape()), ", the model has shape ", shape_str(dst.shape()));
    PW_CHECK(src.dtype() == dst.dtype() || (is_floating(src.dtype()) && is_floating(dst.dtype())), "load_state_dict: '",
             name, "' is ", dtype_name(src.dtype()), " in the checkpoint and ", dtype_name(dst.dtype()),
             " in the model");
  }
  NoGradGuard no_grad;
  for (const auto& [name, dst] : mine) {
    auto it = sd.find(name);
    if (it != sd.end()) dst.copy_(it->second);
  }
}

// ---------------------------------------------------------------- modes

void Module::train(bool on) {
  std::set<const Module*> seen;
  std::vector<Module*> stack{this};
  while (!stack.empty()) {
    Module* m = stack.back();
    stack.pop_back();
    if (!seen.insert(m).second) continue;
    m->training_ = on;
    for (auto& [_, c] : m->children_) stack.push_back(c.get());
  }
}

void Module::zero_grad() {
  for (auto& [_, t] : named_parameters()) t.zero_grad();
}

void Module::set_requires_grad(bool on) {
  for (auto& [_, t] : named_parameters()) t.set_requires_grad(on);
}

void Module::to(DType dtype) {
  PW_CHECK(is_floating(dtype), type_name(), ".to: expected f32 or f64, got ", dtype_name(dtype));
  auto convert = [&](const Tensor& t) {
    if (!is_floating(t.dtype()) || t.dtype() == dtype) return;
    Tensor c = t.detach().to(dtype).contiguous();
    // Swap the storage under the same TensorImpl, so every handle (layer members, optimizer
    // lists) sees the converted tensor.
    TensorImpl* impl = t.impl_ptr();
    impl->storage = c.storage();
    impl->strides = c.strides();
    impl->offset = c.offset();
    impl->dtype = dtype;
    impl->grad.reset();
  };
  for (auto& [_, t] : named_parameters()) convert(t);
  for (auto& [_, t] : named_buffers()) convert(t);
}

void Module::to(Device device) {
  auto move = [&](const Tensor& t) {
    if (t.device() == device) return;
    Tensor c = t.detach().to(device);
    // As in to(DType): the same TensorImpl gets the new storage, so every handle follows.
    TensorImpl* impl = t.impl_ptr();
    impl->storage = c.storage();
    impl->strides = c.strides();
    impl->offset = c.offset();
    impl->grad.reset();
  };
  for (auto& [_, t] : named_parameters()) move(t);
  for (auto& [_, t] : named_buffers()) move(t);
}

Device Module::device() const {
  for (auto& [_, t] : named_parameters()) return t.device();
  for (auto& [_, t] : named_buffers()) return t.device();
  return Device::cpu();
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [_, t] : named_parameters()) n += t.numel();
  return n;
}

// PyTorch's layout: "Type(extra)" for a leaf; for a module with children
//   Type(
//     extra
//     (name): child, indented by two more spaces
//   )
std::string Module::repr() const {
  std::vector<std::string> lines;
  std::string extra = extra_repr();
  if (!extra.empty()) {
    std::istringstream is(extra);
    for (std::string l; std::getline(is, l);) lines.push_back(l);
  }
  for (const auto& [name, c] : children_) {
    std::string child = c->repr(), indented;
    for (char ch : child) indented += ch == '\n' ? std::string("\n  ") : std::string(1, ch);
    lines.push_back("(" + name + "): " + indented);
  }
  std::string s = type_name() + "(";
  if (children_.empty() && lines.size() <= 1) return s + (lines.empty() ? "" : lines[0]) + ")";
  for (const auto& l : lines) s += "\n  " + l;
  return s + "\n)";
}

// ---------------------------------------------------------------- Sequential

Sequential::Sequential(std::vector<std::shared_ptr<Module>> mods) {
  for (auto& m : mods) push_back(std::move(m));
}

void Sequential::push_back(std::shared_ptr<Module> m) {
  push_back(std::to_string(named_children().size()), std::move(m));
}

void Sequential::push_back(const std::string& name, std::shared_ptr<Module> m) {
  mods_.push_back(register_module(name, std::move(m)));
}

std::shared_ptr<Module> Sequential::at(size_t i) const {
  PW_CHECK(i < mods_.size(), "Sequential::at: index ", i, " is out of range for ", mods_.size(), " modules");
  return mods_[i];
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (size_t i = 0; i < mods_.size();) {
    if (const size_t fused = run_fused(mods_, i, y)) {  // conv + batch norm + ReLU in inference (fusion.h)
      i += fused;
      continue;
    }
    y = mods_[i++]->forward(y);
  }
  return y;
}

}  // namespace pw::nn
