// Optimizer base: parameter checks, gradient access, and the state save/restore shared by all
// optimizers.
#include "engine/optim/optimizer.h"

#include <cmath>
#include <set>

#include "engine/autograd.h"

namespace pw::optim {

Optimizer::Optimizer(std::vector<Tensor> params) : params_(std::move(params)) {
  PW_CHECK(!params_.empty(), "optimizer: got an empty parameter list");
  std::set<const TensorImpl*> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    PW_CHECK(p.defined(), "optimizer: parameter ", i, " is an undefined tensor");
    PW_CHECK(is_floating(p.dtype()), "optimizer: parameter ", i, " is ", dtype_name(p.dtype()),
             ", expected f32 or f64");
    PW_CHECK(p.is_leaf(), "optimizer: parameter ", i, " is not a leaf tensor (it was computed by '", p.grad_fn()->name,
             "'); optimize the tensor it came from");
    PW_CHECK(p.device() == params_[0].device(), "optimizer: parameter ", i, " is on ", p.device().str(),
             " but parameter 0 is on ", params_[0].device().str(), "; move the whole model to one device");
    PW_CHECK(p.is_contiguous(), "optimizer: parameter ", i, " (shape ", shape_str(p.shape()), ") is not contiguous");
    PW_CHECK(seen.insert(p.impl_ptr()).second, "optimizer: parameter ", i, " appears more than once in the list");
  }
  state_.resize(params_.size());
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  PW_CHECK(lr >= 0, name(), ": learning rate must be >= 0, got ", lr);
  lr_ = lr;
}

Tensor Optimizer::grad_of(size_t i) const {
  const Tensor& p = params_[i];
  Tensor g = p.grad();
  if (!g.defined()) return g;
  PW_CHECK(g.shape() == p.shape(), name(), ": parameter ", i, " has shape ", shape_str(p.shape()),
           " but its gradient has shape ", shape_str(g.shape()));
  PW_CHECK(g.dtype() == p.dtype(), name(), ": parameter ", i, " is ", dtype_name(p.dtype()), " but its gradient is ",
           dtype_name(g.dtype()));
  PW_CHECK(g.device() == p.device(), name(), ": parameter ", i, " is on ", p.device().str(), " but its gradient is on ",
           g.device().str());
  return g.contiguous();
}

Tensor& Optimizer::state_tensor(size_t i, const std::string& name, bool* created) {
  auto& st = state_[i];
  auto it = st.find(name);
  if (created) *created = it == st.end();
  if (it != st.end()) return it->second;
  return st[name] = Tensor::zeros(params_[i].shape(), params_[i].dtype(), params_[i].device());
}

std::map<std::string, Tensor> Optimizer::state(const std::string& prefix) const {
  std::map<std::string, Tensor> out;
  out[prefix + "step_count"] = Tensor::full({}, (double)step_count_, DType::f64);
  for (size_t i = 0; i < state_.size(); ++i)
    for (const auto& [n, t] : state_[i]) out[prefix + "param." + std::to_string(i) + "." + n] = t.detach();
  return out;
}

void Optimizer::load_state(const std::map<std::string, Tensor>& st, const std::string& prefix) {
  std::vector<std::map<std::string, Tensor>> fresh(params_.size());
  int64_t steps = 0;
  const auto specs = state_specs();
  std::string known;
  for (const auto& s : specs) known += (known.empty() ? "" : ", ") + s.name;
  for (const auto& [full, t] : st) {
    if (full.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string key = full.substr(prefix.size());
    PW_CHECK(t.defined(), name(), ".load_state: '", full, "' is an undefined tensor");
    if (key == "step_count") {
      PW_CHECK(t.numel() == 1, name(), ".load_state: '", full, "' must hold one number, has shape ",
               shape_str(t.shape()));
      // Checked as a double first: converting a value outside int64_t's range is undefined
      // (found by tools/fuzz.sh: a step count of 6.6e170).
      const double v = t.item();
      PW_CHECK(std::isfinite(v) && v >= 0 && v <= 9007199254740992.0 && v == std::floor(v), name(), ".load_state: '",
               full, "' must be a whole number of steps from 0 to 2^53, got ", v);
      steps = (int64_t)v;
      continue;
    }
    // "param.<i>.<name>"
    size_t dot = key.find('.', 6);
    PW_CHECK(key.compare(0, 6, "param.") == 0 && dot != std::string::npos && dot > 6, name(),
             ".load_state: unexpected entry '", full, "' (expected '", prefix, "step_count' or '", prefix,
             "param.<index>.<", known, ">')");
    const std::string index_str = key.substr(6, dot - 6), state_name = key.substr(dot + 1);
    PW_CHECK(index_str.find_first_not_of("0123456789") == std::string::npos, name(),
             ".load_state: bad parameter index in '", full, "'");
    const size_t i = std::stoul(index_str);
    PW_CHECK(i < params_.size(), name(), ".load_state: '", full, "' names parameter ", i, " but the optimizer has ",
             params_.size(), " parameters");
    const StateSpec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == state_name) spec = &s;
    PW_CHECK(spec != nullptr, name(), ".load_state: unknown state '", state_name, "' in '", full, "'; ", name(),
             " keeps: ", known.empty() ? "(nothing)" : known);
    PW_CHECK(is_floating(t.dtype()), name(), ".load_state: '", full, "' is ", dtype_name(t.dtype()),
             ", expected f32 or f64");
    Tensor copy;
    if (spec->scalar) {
      PW_CHECK(t.numel() == 1, name(), ".load_state: '", full, "' must hold one number, has shape ",
               shape_str(t.shape()));
      copy = Tensor::full({}, t.item(), DType::f64);
    } else {
      const Tensor& p = params_[i];
      PW_CHECK(t.shape() == p.shape(), name(), ".load_state: '", full, "' has shape ", shape_str(t.shape()),
               ", parameter ", i, " has shape ", shape_str(p.shape()));
      copy = Tensor::empty(p.shape(), p.dtype(), p.device());  // state lives with its parameter
      copy.copy_(t);
    }
    fresh[i][state_name] = copy;
  }
  state_ = std::move(fresh);
  step_count_ = steps;
}

}  // namespace pw::optim
