// Test support: a network's f32 run against its f64 reference run (see model_gradients.h).
#include "tests/support/model_gradients.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "engine/nn.h"
#include "engine/ops.h"
#include "engine/ops/decisions.h"
#include "models/registry.h"
#include "models/summary.h"

namespace pw::testing {

namespace {

struct Run {
  Tensor logits, loss, input_grad;
  std::vector<std::pair<std::string, Tensor>> param_grads;
};

// Fixed labels for a batch of n over `classes` classes.
Tensor labels_for(int64_t n, int64_t classes) {
  std::vector<int32_t> v;
  for (int64_t i = 0; i < n; ++i) v.push_back(int32_t((7 * i + 3) % classes));
  return Tensor::from_vector(v, {n});
}

// Forward and backward of one model on x (moved to the model's device), cross-entropy against
// fixed labels; everything returned on cpu in f64.
Run forward_backward(nn::Module& m, const Tensor& x, Device device) {
  Tensor xd = x.to(device).detach();
  xd.set_requires_grad(true);
  Run r;
  Tensor logits = m(xd);
  // Dense predictions [N, K, h, w] (colorization): one label per location.
  Tensor rows = logits.dim() == 4 ? logits.permute({0, 2, 3, 1}).reshape({-1, logits.size(1)}) : logits;
  Tensor loss = cross_entropy(rows, labels_for(rows.size(0), rows.size(1)).to(device));
  loss.backward();
  auto host = [](const Tensor& t) { return t.to(Device::cpu()).to(DType::f64).contiguous(); };
  r.logits = host(logits.detach());
  r.loss = host(loss.detach());
  r.input_grad = host(xd.grad());
  for (const auto& [name, p] : m.named_parameters()) r.param_grads.push_back({name, host(p.grad())});
  return r;
}

double max_abs(const Tensor& t) {
  const double* p = t.data<double>();
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(p[i]));
  return m;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const double* pa = a.data<double>();
  const double* pb = b.data<double>();
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = std::abs(pa[i] - pb[i]);
    m = std::isnan(d) ? INFINITY : std::max(m, d);
  }
  return m;
}

// The errors of every tensor of `got` against `want` (see the header for the zero rule).
std::vector<TensorError> compare(const Run& got, const Run& want) {
  std::vector<std::pair<std::string, std::pair<Tensor, Tensor>>> grads;
  grads.push_back({"input.grad", {got.input_grad, want.input_grad}});
  for (size_t i = 0; i < got.param_grads.size(); ++i)
    grads.push_back({got.param_grads[i].first + ".grad", {got.param_grads[i].second, want.param_grads[i].second}});
  double largest = 0;
  for (const auto& g : grads) largest = std::max(largest, max_abs(g.second.second));

  std::vector<TensorError> out;
  auto add = [&](const std::string& name, const Tensor& a, const Tensor& b, double floor) {
    double scale = max_abs(b);
    if (scale <= floor) scale = std::max(floor * 1e10, 1e-300);
    out.push_back({name, max_abs_diff(a, b) / scale, scale});
  };
  add("logits", got.logits, want.logits, 0);
  add("loss", got.loss, want.loss, 0);
  for (const auto& g : grads) add(g.first, g.second.first, g.second.second, 1e-10 * largest);
  return out;
}

// The decision a tape entry stands for, on cpu: positions, or 1 where a ReLU output is positive.
Tensor decision_values(const DecisionTape::Entry& e) {
  Tensor t = e.decision.to(Device::cpu()).contiguous();
  if (e.op == "max_pool2d") return t;
  Tensor active = Tensor::empty(t.shape(), DType::i32);
  const Tensor v = t.to(DType::f64);
  for (int64_t i = 0; i < v.numel(); ++i) active.data<int32_t>()[i] = v.data<double>()[i] > 0;
  return active;
}

bool same_decisions(const DecisionTape& a, const DecisionTape& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k) {
    if (a.entries[k].op != b.entries[k].op) return false;
    if (a.entries[k].decision.shape() != b.entries[k].decision.shape()) return false;
    const Tensor x = decision_values(a.entries[k]), y = decision_values(b.entries[k]);
    for (int64_t i = 0; i < x.numel(); ++i)
      if (x.data<int32_t>()[i] != y.data<int32_t>()[i]) return false;
  }
  return true;
}

}  // namespace

struct ModelGradientSweep::Reference {
  bool train;
  Shape input;
  DecisionTape tape;
  Run run;
};

const TensorError& ModelGradientReport::worst() const {
  return *std::max_element(tensors.begin(), tensors.end(),
                           [](const TensorError& a, const TensorError& b) { return a.error < b.error; });
}

ModelGradientSweep::ModelGradientSweep(const std::string& model, uint64_t seed)
    : model_(model), native_(models::info(model).input), seed_(seed) {
  models::ModelConfig cfg;
  cfg.dropout = 0;
  cfg.in_channels = native_[native_.size() - 3];
  manual_seed(seed);
  m32_ = models::create(model, cfg);
  m64_ = models::create(model, cfg);
  m64_->load_state_dict(m32_->state_dict());
  m64_->to(DType::f64);
}

bool ModelGradientSweep::has_batch_norm() const {
  for (const auto& [path, child] : m32_->named_modules())
    if (child->type_name().rfind("BatchNorm", 0) == 0) return true;
  return false;
}

bool ModelGradientSweep::uses_winograd(Shape sample, int64_t batch) const {
  for (const models::LayerSummary& l : models::summarize(*m32_, sample.empty() ? native_ : sample)) {
    const auto* c = dynamic_cast<const nn::Conv2d*>(l.module);
    // The summary's shapes are for one sample (a tiled network's tiles as its batch).
    if (c && conv2d_uses_winograd(l.input[0] * batch, l.input[1], c->out_channels, c->kernel_h, c->kernel_w,
                                  l.output[2], l.output[3], c->params))
      return true;
  }
  return false;
}

bool ModelGradientSweep::has_batch_norm_1d() const {
  for (const auto& [path, child] : m32_->named_modules())
    if (child->type_name() == "BatchNorm1d") return true;
  return false;
}

ModelGradientReport ModelGradientSweep::run(Device device, bool train, Shape sample, int64_t batch) {
  const auto start = std::chrono::steady_clock::now();
  m32_->to(device);
  for (nn::Module* m : {m32_.get(), m64_.get()}) {
    m->train(train);
    m->zero_grad();
  }
  Shape batch_shape = sample.empty() ? native_ : sample;
  batch_shape.insert(batch_shape.begin(), batch);
  Generator gen(seed_, 1);
  Tensor x = Tensor::randn(batch_shape, DType::f32, &gen);

  DecisionTape tape;
  Run got, want;
  {
    RecordDecisions record(tape);
    got = forward_backward(*m32_, x, device);
  }
  const auto f32_done = std::chrono::steady_clock::now();
  const bool reuse = last_ && last_->train == train && last_->input == batch_shape && same_decisions(last_->tape, tape);
  if (reuse) {
    want = last_->run;
  } else {
    ReplayDecisions replay(tape);
    want = forward_backward(*m64_, x.to(DType::f64), Device::cpu());
    replay.check_used_up();
  }
  const auto end = std::chrono::steady_clock::now();

  ModelGradientReport r;
  r.model = model_;
  r.mode = train ? "train" : "eval";
  r.device = device.str();
  r.input = batch_shape;
  r.tensors = compare(got, want);
  r.decisions = tape.size();
  r.reused_f64 = reuse;
  r.seconds_f32 = std::chrono::duration<double>(f32_done - start).count();
  r.seconds_f64 = std::chrono::duration<double>(end - f32_done).count();
  if (!reuse) last_ = std::make_shared<Reference>(Reference{train, batch_shape, std::move(tape), want});
  return r;
}

std::string report_row(const ModelGradientReport& r) {
  const TensorError& w = r.worst();
  char line[320];
  std::snprintf(line, sizeof line, "| %s | %s | %s | %s | %s | %.1e | %zu | %.1f + %.1f s%s |", r.model.c_str(),
                r.mode.c_str(), r.device.c_str(), shape_str(r.input).c_str(), w.name.c_str(), w.error, r.decisions,
                r.seconds_f32, r.seconds_f64, r.reused_f64 ? " (f64 reused)" : "");
  return line;
}

}  // namespace pw::testing
