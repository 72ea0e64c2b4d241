// `patchwork time` (see timing.h).
#include "tasks/timing.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "engine/nn.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/util/rng.h"
#include "engine/util/threads.h"
#include "kernels/cpu/gemm.h"
#include "models/layer_walk.h"
#include "models/registry.h"
#include "models/summary.h"

namespace pw::tasks {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Work on a GPU device is asynchronous: copying one value back waits for it.
void wait_for(const Tensor& t) {
  if (t.defined() && t.device() != Device::cpu() && t.numel() > 0) (void)t.flatten().slice(0, 0, 1).to(Device::cpu());
}

bool counts_flops(models::LayerKind k) { return k == models::LayerKind::conv || k == models::LayerKind::linear; }

// FLOPs and bytes of one layer for the whole batch, as timing.h counts them.
void count(LayerTime& t, const models::LayerSummary& s, models::LayerKind kind, int64_t batch, bool first) {
  const double in = 4.0 * (double)shape_numel(s.input) * (double)batch;
  const double out = 4.0 * (double)shape_numel(s.output) * (double)batch;
  const double params = 4.0 * (double)s.parameters;
  t.forward_flops = counts_flops(kind) ? 2.0 * (double)s.macs * (double)batch : 0;
  t.backward_flops = t.forward_flops * (first ? 1 : 2);
  t.forward_bytes = in + params + out;
  t.backward_bytes = out + in + params + (first ? 0 : in) + params;
}

struct LayerRun {
  LayerTime time;
  Tensor output;  // the layer's output for the next layer (detached)
};

// Times one layer on `input` (detached): forward, and in train mode backward of a ones gradient.
LayerRun time_layer(const models::LayerInfo& layer, const Tensor& input, bool train, bool first, int64_t iterations) {
  std::vector<double> fwd, bwd;
  LayerRun run;
  for (int64_t it = 0; it <= iterations; ++it) {  // iteration 0 warms up
    Tensor in = input.detach();
    if (train && !first) in.set_requires_grad(true);
    Tensor y;
    Clock::time_point t0 = Clock::now();
    if (train) {
      y = models::forward_layer(layer, in);
    } else {
      NoGradGuard no_grad;
      y = models::forward_layer(layer, in);
    }
    wait_for(y);
    if (it > 0) fwd.push_back(ms_since(t0));
    if (train && y.requires_grad()) {
      const Tensor g = Tensor::ones(y.shape(), DType::f32, y.device());
      t0 = Clock::now();
      y.backward(g);
      wait_for(in.requires_grad() ? in.grad() : Tensor());
      if (it > 0) bwd.push_back(ms_since(t0));
      for (Tensor& p : layer.module->parameters()) p.zero_grad();
    }
    run.output = y.detach();
  }
  run.time.forward_ms = median(fwd);
  run.time.backward_ms = median(bwd);
  return run;
}

// The whole step: forward with the loss, backward, an SGD step.
StepTime time_step(nn::Module& model, const Tensor& x, const Tensor& labels, bool train, int64_t iterations) {
  std::vector<double> fwd, bwd, opt_ms;
  optim::SGD opt(model.parameters(), 1e-6, 0.9);
  for (int64_t it = 0; it <= iterations; ++it) {
    Clock::time_point t0 = Clock::now();
    if (!train) {
      NoGradGuard no_grad;
      wait_for(model(x));
      if (it > 0) fwd.push_back(ms_since(t0));
      continue;
    }
    const Tensor loss = cross_entropy(model(x), labels);
    wait_for(loss);
    if (it > 0) fwd.push_back(ms_since(t0));
    t0 = Clock::now();
    loss.backward();
    wait_for(model.parameters().front().grad());
    if (it > 0) bwd.push_back(ms_since(t0));
    t0 = Clock::now();
    opt.step();
    opt.zero_grad();
    wait_for(model.parameters().front());
    if (it > 0) opt_ms.push_back(ms_since(t0));
  }
  return {median(fwd), median(bwd), median(opt_ms)};
}

}  // namespace

double LayerTime::gflops() const {
  return ms() > 0 ? (forward_flops + backward_flops * (backward_ms > 0)) / (ms() * 1e6) : 0;
}
double LayerTime::gbs() const {
  return ms() > 0 ? (forward_bytes + backward_bytes * (backward_ms > 0)) / (ms() * 1e6) : 0;
}

double TimeResult::layers_ms() const {
  double s = 0;
  for (const LayerTime& l : layers) s += l.ms();
  return s;
}

double TimeResult::images_per_second() const { return step.ms() > 0 ? (double)config.batch * 1e3 / step.ms() : 0; }

TimeResult run_time(const TimeConfig& config) {
  PW_CHECK(config.batch > 0, "time: --batch must be positive, got ", config.batch);
  PW_CHECK(config.iterations > 0, "time: --iterations must be positive, got ", config.iterations);
  TimeResult r;
  r.config = config;
  TimeConfig& c = r.config;
  if (c.input.empty()) c.input = models::info(c.model).input;
  PW_CHECK(c.input.size() == 3 || c.input.size() == 4, "time: --input must be C,H,W or T,C,H,W, got ",
           shape_str(c.input));
  if (c.peaks.gflops <= 0 || c.peaks.bandwidth_gbs <= 0) {
    const MachinePeaks measured = measure_machine();
    if (c.peaks.gflops <= 0) c.peaks.gflops = measured.gflops;
    if (c.peaks.bandwidth_gbs <= 0) c.peaks.bandwidth_gbs = measured.bandwidth_gbs;
  }
  c.peaks.threads = num_threads();
  c.peaks.vector_bits = fma_vector_bits();  // also when both peaks were given
  models::ModelConfig mc;
  mc.in_channels = c.input[c.input.size() - 3];
  mc.width = c.width;
  manual_seed(c.seed);
  std::shared_ptr<nn::Module> model = models::create(c.model, mc);
  const std::vector<models::LayerSummary> summary = models::summarize(*model, c.input);
  const models::LayerWalk walk = models::walk_layers(*model, c.input);
  PW_CHECK(summary.size() == walk.layers.size(), "time: internal: the summary and the walk of ", c.model, " differ");
  model->to(c.device);
  model->train(c.train);

  Shape batch_shape = c.input;
  batch_shape.insert(batch_shape.begin(), c.batch);
  const Tensor x = Tensor::randn(batch_shape).to(c.device);
  Tensor act = x;
  if (walk.form == models::LayerWalk::Form::tiled)  // the trunk sees every tile as an image
    act = x.reshape({c.batch * c.input[0], c.input[1], c.input[2], c.input[3]});
  for (size_t i = 0; i < walk.layers.size(); ++i) {
    LayerRun run;
    if (c.per_layer) run = time_layer(walk.layers[i], act, c.train, i == 0, c.iterations);
    run.time.path = walk.layers[i].path;
    run.time.type = walk.layers[i].type;
    count(run.time, summary[i], walk.layers[i].kind, c.batch, i == 0);
    if (!c.train) run.time.backward_flops = run.time.backward_bytes = 0;
    r.step_flops += run.time.forward_flops + run.time.backward_flops;
    if (!c.per_layer) continue;  // --step-only: the FLOPs of the step, no layer timed
    run.time.output = run.output.shape();
    r.layers.push_back(run.time);
    act = run.output;
  }
  if (!c.per_layer) {  // the network's output width, for the labels
    NoGradGuard no_grad;
    act = (*model)(x);
  }
  const int64_t outputs = act.size(act.dim() - 1);
  std::vector<int32_t> labels((size_t)c.batch);
  for (int64_t i = 0; i < c.batch; ++i) labels[(size_t)i] = (int32_t)(i % outputs);
  const nn::InferenceFusionGuard fusion(c.fusion);
  r.step = time_step(*model, x, Tensor::from_vector(labels, {c.batch}).to(c.device), c.train, c.iterations);
  return r;
}

std::string format_time_table(const TimeResult& r) {
  const TimeConfig& c = r.config;
  std::string s;
  char line[512];
  std::snprintf(line, sizeof line, "%s, batch %lld, input %s, %s on %s; medians of %lld runs\n\n", c.model.c_str(),
                (long long)c.batch, shape_str(c.input).c_str(), c.train ? "train" : "eval", c.device.str().c_str(),
                (long long)c.iterations);
  s += line;
  std::snprintf(line, sizeof line, "%-22s %-18s %-20s %9s %9s %8s %6s %8s %6s %6s\n", "layer", "type", "output",
                "fwd ms", "bwd ms", "GFLOP/s", "%peak", "GB/s", "%bw", "share");
  s += line;
  const double total = std::max(r.layers_ms(), 1e-12);
  if (r.layers.empty()) s += "(--step-only: no layer timed)\n";
  for (const LayerTime& l : r.layers) {
    std::snprintf(line, sizeof line, "%-22s %-18s %-20s %9.3f %9.3f %8.1f %5.1f%% %8.2f %5.1f%% %5.1f%%\n",
                  l.path.c_str(), l.type.c_str(), shape_str(l.output).c_str(), l.forward_ms, l.backward_ms, l.gflops(),
                  100 * l.gflops() / c.peaks.gflops, l.gbs(), 100 * l.gbs() / c.peaks.bandwidth_gbs,
                  100 * l.ms() / total);
    s += line;
  }
  double fwd = 0, bwd = 0;
  for (const LayerTime& l : r.layers) fwd += l.forward_ms, bwd += l.backward_ms;
  std::snprintf(line, sizeof line, "%-62s %9.3f %9.3f\n\n", "sum of layers", fwd, bwd);
  s += line;
  const double step_gflops = r.step.ms() > 0 ? r.step_flops / (r.step.ms() * 1e6) : 0;
  std::snprintf(line, sizeof line,
                "step: forward+loss %.3f ms, backward %.3f ms, optimizer %.3f ms, total %.3f ms; %.1f images/s; "
                "%.1f GFLOP/s (%.1f%% of peak)\n",
                r.step.forward_ms, r.step.backward_ms, r.step.optimizer_ms, r.step.ms(), r.images_per_second(),
                step_gflops, 100 * step_gflops / c.peaks.gflops);
  s += line;
  if (!c.train)
    s += std::string("inference fusion in the step: ") +
         (c.fusion ? "on (each Conv2d with the BatchNorm2d and/or ReLU after it as one op; the table times "
                     "every layer on its own)\n"
                   : "off (--no-fusion)\n");
  std::snprintf(line, sizeof line,
                "machine: FMA peak %.1f GFLOP/s, bandwidth %.1f GB/s (%d threads, %d-bit vectors, %s GEMM kernel, "
                "OpenMP wait %s)\n",
                c.peaks.gflops, c.peaks.bandwidth_gbs, c.peaks.threads, c.peaks.vector_bits,
                kernels::cpu::gemm_kernel_name(kernels::cpu::gemm_kernel()), wait_policy().c_str());
  s += line;
  return s;
}

}  // namespace pw::tasks
