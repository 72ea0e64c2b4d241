// Device checks: the fused SGD and Adam/AdamW updates on device parameters follow the CPU's
// trajectory over several steps, with their state; state saved from a device optimizer
// resumes exactly where it left off.
//
// Tolerance: the kernels do the same operations in the same order, but the host compiler
// fuses some multiply-adds of the CPU kernel (GCC's default for C++) while the GPU kernel is
// written not to, so the devices differ by a few ulps per step (bit-identical with
// -ffp-contract=off). The resume checks compare a device run with itself: exact.
#include <cmath>
#include <functional>
#include <memory>

#include "engine/optim.h"
#include "tests/support/device_test.h"

using namespace pw;
using pw::testing::DeviceTest;

namespace {

using MakeOpt = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;

struct Config {
  std::string name;
  MakeOpt make;
};

std::vector<Config> configs() {
  using namespace optim;
  auto sgd = [](double lr, double mom, double wd, bool nesterov, double damp) -> MakeOpt {
    return [=](std::vector<Tensor> p) { return std::make_unique<SGD>(std::move(p), lr, mom, wd, nesterov, damp); };
  };
  return {
      {"sgd", sgd(0.1, 0, 0, false, 0)},
      {"sgd wd", sgd(0.05, 0, 0.01, false, 0)},
      {"sgd momentum", sgd(0.1, 0.9, 0, false, 0)},
      {"sgd momentum dampening wd", sgd(0.1, 0.8, 5e-4, false, 0.3)},
      {"sgd nesterov wd", sgd(0.03, 0.9, 1e-3, true, 0)},
      {"adam", [](std::vector<Tensor> p) { return std::make_unique<Adam>(std::move(p), 1e-2); }},
      {"adam wd",
       [](std::vector<Tensor> p) { return std::make_unique<Adam>(std::move(p), 3e-3, 0.8, 0.99, 1e-6, 0.05); }},
      {"adamw",
       [](std::vector<Tensor> p) { return std::make_unique<AdamW>(std::move(p), 1e-2, 0.9, 0.999, 1e-8, 0.1); }},
  };
}

// Parameters of awkward sizes; the same values on the CPU and on the device.
std::vector<Shape> shapes() { return {{1}, {31}, {33, 7}, {1000}, {4099}}; }

std::vector<Tensor> make_params(Device d, uint64_t seed) {
  std::vector<Tensor> ps;
  for (const Shape& s : shapes()) {
    Generator g(seed++, 3);
    Tensor p = Tensor::rand(s, -1, 1, DType::f32, &g).to(d).detach();
    p.set_requires_grad(true);
    ps.push_back(p);
  }
  return ps;
}

// Gradients for step `step`, identical on both devices; parameter 2 gets none on step 1 (it
// must be skipped, its state not advanced).
void set_grads(std::vector<Tensor>& ps, int step) {
  for (size_t i = 0; i < ps.size(); ++i) {
    ps[i].zero_grad();
    if (i == 2 && step == 1) continue;
    Generator g(1000 + 10 * step + i, 4);
    ps[i].set_grad(Tensor::rand(ps[i].shape(), -2, 2, DType::f32, &g).to(ps[i].device()));
  }
}

// Max |a - b| over max |b|: the error relative to the tensor's scale (state tensors such as
// exp_avg_sq are far below 1, so a max(1, |b|) denominator would hide everything).
double rel_to_scale(const Tensor& a, const Tensor& b) {
  std::vector<double> va = a.to_vector_f64(), vb = b.to_vector_f64();
  if (va.size() != vb.size()) return INFINITY;
  double scale = 0, worst = 0;
  for (size_t i = 0; i < vb.size(); ++i) {
    scale = std::max(scale, std::abs(vb[i]));
    const double d = std::abs(va[i] - vb[i]);
    if (!(d <= worst)) worst = std::isnan(d) ? INFINITY : d;
  }
  return scale > 0 ? worst / scale : worst;
}

// Every state entry of `got` matches `want` within tol (relative to each tensor's scale).
void expect_same_state(const optim::Optimizer& got, const optim::Optimizer& want, double tol, const std::string& what) {
  auto sg = got.state(), sw = want.state();
  ASSERT_EQ(sg.size(), sw.size()) << what;
  for (const auto& [name, t] : sw) {
    ASSERT_TRUE(sg.count(name)) << what << ": " << name;
    EXPECT_LE(rel_to_scale(sg[name], t), tol) << what << ": " << name;
  }
}

constexpr double kCrossDeviceTol = 2e-6;  // a few f32 ulps after 5-6 steps

}  // namespace

class OptimOnDevice : public DeviceTest {};

TEST_P(OptimOnDevice, StepsMatchTheCpu) {
  for (const Config& c : configs()) {
    std::vector<Tensor> pc = make_params(Device::cpu(), 50), pd = make_params(device(), 50);
    auto oc = c.make(pc), od = c.make(pd);
    for (int step = 0; step < 5; ++step) {
      set_grads(pc, step);
      set_grads(pd, step);
      oc->step();
      od->step();
    }
    for (size_t i = 0; i < pc.size(); ++i) {
      EXPECT_EQ(pd[i].device(), device());
      EXPECT_LE(rel_to_scale(pd[i], pc[i]), kCrossDeviceTol) << c.name << " parameter " << i;
    }
    expect_same_state(*od, *oc, kCrossDeviceTol, c.name);
    for (const auto& [name, t] : od->state())
      if (t.dim() > 0) {
        EXPECT_EQ(t.device(), device()) << c.name << ": " << name;
      }
  }
}

TEST_P(OptimOnDevice, StateSavedOnTheDeviceResumesExactly) {
  for (const Config& c : configs()) {
    // Reference: 6 uninterrupted steps on the device.
    std::vector<Tensor> pr = make_params(device(), 70);
    auto ref = c.make(pr);
    for (int step = 0; step < 6; ++step) {
      set_grads(pr, step);
      ref->step();
    }
    // 3 steps, save the state (cloned: state() aliases), a new optimizer loads it and takes
    // the last 3 steps.
    std::vector<Tensor> pd = make_params(device(), 70);
    std::map<std::string, Tensor> saved;
    {
      auto od = c.make(pd);
      for (int step = 0; step < 3; ++step) {
        set_grads(pd, step);
        od->step();
      }
      for (const auto& [name, t] : od->state()) saved[name] = t.clone();
    }
    auto od = c.make(pd);
    od->load_state(saved);
    EXPECT_EQ(od->step_count(), 3);
    for (int step = 3; step < 6; ++step) {
      set_grads(pd, step);
      od->step();
    }
    for (size_t i = 0; i < pr.size(); ++i)
      EXPECT_EQ(pd[i].to_vector_f32(), pr[i].to_vector_f32()) << c.name << " parameter " << i;
    expect_same_state(*od, *ref, 0, c.name);

    // A state brought to the CPU (as a checkpoint writer would) loads back onto the device.
    std::map<std::string, Tensor> on_cpu;
    for (const auto& [name, t] : od->state()) on_cpu[name] = t.to(Device::cpu());
    auto od2 = c.make(pd);
    od2->load_state(on_cpu);
    expect_same_state(*od2, *od, 0, c.name + " (loaded from the cpu)");
    for (const auto& [name, t] : od2->state())
      if (t.dim() > 0) {
        EXPECT_EQ(t.device(), device()) << c.name << ": " << name;
      }
  }
}

TEST_P(OptimOnDevice, MixedDevicesAndF64AreRefused) {
  Tensor a = Tensor::ones({3}).to(device()).detach(), b = Tensor::ones({3});
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  EXPECT_THROW(optim::SGD({a, b}, 0.1), Error);
  optim::Adam adam({a});
  a.set_grad(Tensor::ones({3}));  // a gradient left on the cpu
  EXPECT_THROW(adam.step(), Error);
  Tensor d = Tensor::ones({3}, DType::f64).to(device()).detach();
  d.set_requires_grad(true);
  optim::SGD sgd({d}, 0.1);
  d.set_grad(Tensor::ones({3}, DType::f64).to(device()));
  EXPECT_THROW(sgd.step(), Error);
}

PW_INSTANTIATE_DEVICE_TEST(OptimOnDevice);
