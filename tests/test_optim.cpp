// optim: SGD / Adam / AdamW against hand-worked trajectories of PyTorch's update rules, state
// save and restore, convergence on a quadratic and a tiny MLP, and the learning-rate schedules.
#include <cmath>
#include <numbers>

#include "engine/nn.h"
#include "engine/ops/loss.h"
#include "engine/optim.h"
#include "tests/support/gradcheck.h"

using namespace pw;
using pw::testing::all_close;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

Tensor param(std::vector<double> v) {
  Tensor p = Tensor::from_vector(v, {(int64_t)v.size()});
  p.set_requires_grad(true);
  return p;
}

// The gradient of L(p) = 1/2 (1 p0^2 + 3 p1^2), i.e. g = [1, 3] * p, set by hand so that the
// expected trajectories below depend only on the optimizer's rule.
void set_quadratic_grad(Tensor p) {
  std::vector<double> v = p.to_vector_f64();
  p.set_grad(Tensor::from_vector(std::vector<double>{1 * v[0], 3 * v[1]}, {2}));
}

// Runs `steps` steps from p = [1, -2] and returns p after each.
template <class Make>
std::vector<std::vector<double>> trajectory(Make make, int steps = 3) {
  Tensor p = param({1, -2});
  auto opt = make(std::vector<Tensor>{p});
  std::vector<std::vector<double>> out;
  for (int s = 0; s < steps; ++s) {
    set_quadratic_grad(p);
    opt->step();
    out.push_back(p.to_vector_f64());
  }
  EXPECT_EQ(opt->step_count(), steps);
  return out;
}

void expect_trajectory(const std::vector<std::vector<double>>& got, const std::vector<std::vector<double>>& want,
                       double tol = 1e-12) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t s = 0; s < want.size(); ++s)
    for (size_t i = 0; i < 2; ++i) EXPECT_NEAR(got[s][i], want[s][i], tol) << "step " << s + 1 << " element " << i;
}

}  // namespace

// ---------------------------------------------------------------- SGD

// Worked by hand with g = [p0, 3 p1], p = [1, -2], lr 0.1.
TEST(SGD, PlainTrajectory) {
  // p <- p - 0.1 g = p * [0.9, 0.7]
  expect_trajectory(trajectory([](auto ps) { return std::make_unique<optim::SGD>(ps, 0.1); }),
                    {{0.9, -1.4}, {0.81, -0.98}, {0.729, -0.686}});
}

TEST(SGD, MomentumTrajectory) {
  // step 1: buf = g = [1, -6], p = [0.9, -1.4]
  // step 2: g = [0.9, -4.2], buf = 0.9 [1, -6] + g = [1.8, -9.6], p = [0.72, -0.44]
  // step 3: g = [0.72, -1.32], buf = 0.9 [1.8, -9.6] + g = [2.34, -9.96], p = [0.486, 0.556]
  expect_trajectory(trajectory([](auto ps) { return std::make_unique<optim::SGD>(ps, 0.1, 0.9); }),
                    {{0.9, -1.4}, {0.72, -0.44}, {0.486, 0.556}});
}

TEST(SGD, NesterovTrajectory) {
  // step 1: buf = g = [1, -6], d = g + 0.9 buf = [1.9, -11.4], p = [0.81, -0.86]
  // step 2: g = [0.81, -2.58], buf = [1.71, -7.98], d = [2.349, -9.762], p = [0.5751, 0.1162]
  // step 3: g = [0.5751, 0.3486], buf = [2.1141, -6.8334], d = [2.47779, -5.80146],
  //         p = [0.327321, 0.696346]
  expect_trajectory(trajectory([](auto ps) { return std::make_unique<optim::SGD>(ps, 0.1, 0.9, 0, true); }),
                    {{0.81, -0.86}, {0.5751, 0.1162}, {0.327321, 0.696346}});
}

TEST(SGD, WeightDecayAndDampeningTrajectory) {
  // d = g + 0.1 p; buf = d on step 1, then 0.9 buf + 0.5 d.
  // step 1: d = [1.1, -6.2], buf = d, p = [0.89, -1.38]
  // step 2: g = [0.89, -4.14], d = [0.979, -4.278], buf = [0.99 + 0.4895, -5.58 - 2.139]
  //         = [1.4795, -7.719], p = [0.74205, -0.6081]
  // step 3: g = [0.74205, -1.8243], d = [0.816255, -1.88511],
  //         buf = [1.33155 + 0.4081275, -6.9471 - 0.942555] = [1.7396775, -7.889655],
  //         p = [0.56808225, 0.1808655]
  expect_trajectory(trajectory([](auto ps) { return std::make_unique<optim::SGD>(ps, 0.1, 0.9, 0.1, false, 0.5); }),
                    {{0.89, -1.38}, {0.74205, -0.6081}, {0.56808225, 0.1808655}});
}

// ---------------------------------------------------------------- Adam / AdamW

TEST(Adam, Trajectory) {
  // Step 1 of Adam is p - lr * g / (|g| + eps) (the bias corrections cancel):
  // p = [1 - 0.1, -2 + 0.1] up to eps. Later steps worked from the update rule
  // m = 0.9 m + 0.1 g, v = 0.999 v + 0.001 g^2, p -= lr/(1-0.9^t) m / (sqrt(v/(1-0.999^t)) + eps).
  expect_trajectory(trajectory([](auto ps) { return std::make_unique<optim::Adam>(ps, 0.1); }),
                    {{0.900000001, -1.9000000001666666},
                     {0.80041222971233816, -1.800166485947237},
                     {0.70158627450441502, -1.7006233917912488}});
}

TEST(Adam, L2WeightDecayVersusDecoupledAdamW) {
  // Adam: weight decay enters the gradient, g + 0.1 p, and is then normalized away almost
  // entirely (step 1 still moves each coordinate by ~lr).
  expect_trajectory(trajectory([](auto ps) { return std::make_unique<optim::Adam>(ps, 0.1, 0.9, 0.999, 1e-8, 0.1); }),
                    {{0.90000000090909094, -1.9000000001612904},
                     {0.80041222952678448, -1.8001664859363686},
                     {0.70158627422107234, -1.7006233917747835}});
  // AdamW: p *= 1 - lr wd = 0.99 first, then the plain Adam step: p1 = [0.89, -1.88].
  expect_trajectory(trajectory([](auto ps) { return std::make_unique<optim::AdamW>(ps, 0.1, 0.9, 0.999, 1e-8, 0.1); }),
                    {{0.890000001, -1.8800000001666666},
                     {0.78157185695416098, -1.7614089504165513},
                     {0.67510122318920063, -1.6443686833067828}});
  Tensor p = param({1, 2});
  optim::AdamW w({p});
  EXPECT_EQ(w.weight_decay, 1e-2);  // PyTorch's AdamW default
  EXPECT_EQ(w.name(), "AdamW");
}

TEST(Optimizer, SkipsParametersWithoutGradient) {
  Tensor a = param({1, 2}), b = param({3, 4});
  optim::Adam opt({a, b}, 0.1);
  a.set_grad(Tensor::from_vector(std::vector<double>{1, 1}, {2}));
  opt.step();  // b has no grad: unchanged, no state
  EXPECT_EQ(b.to_vector_f64(), (std::vector<double>{3, 4}));
  auto st = opt.state();
  EXPECT_TRUE(st.count("param.0.exp_avg"));
  EXPECT_FALSE(st.count("param.1.exp_avg"));
  // b's own step count starts at 1 on its first gradient: its first move is a full lr.
  b.set_grad(Tensor::from_vector(std::vector<double>{-2, 5}, {2}));
  opt.step();
  EXPECT_NEAR(b.to_vector_f64()[0], 3.1, 1e-7);
  EXPECT_NEAR(b.to_vector_f64()[1], 3.9, 1e-7);
  EXPECT_EQ(opt.state().at("param.1.step").item(), 1.0);
  EXPECT_EQ(opt.state().at("param.0.step").item(), 2.0);
  EXPECT_EQ(opt.step_count(), 2);

  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
}

TEST(Optimizer, ConstructorAndArgumentErrors) {
  Tensor p = param({1, 2});
  EXPECT_TRUE(contains(error_of([] { optim::SGD({}, 0.1); }), "empty"));
  EXPECT_TRUE(contains(error_of([&] { optim::SGD({p, p}, 0.1); }), "more than once"));
  EXPECT_TRUE(contains(error_of([&] { optim::SGD({p * 2.0}, 0.1); }), "not a leaf"));
  EXPECT_THROW(optim::SGD({Tensor::zeros({2}, DType::i32)}, 0.1), Error);
  EXPECT_THROW(optim::SGD({p}, -1), Error);
  EXPECT_TRUE(contains(error_of([&] { optim::SGD({p}, 0.1, 0, 0, true); }), "Nesterov"));
  EXPECT_THROW(optim::SGD({p}, 0.1, 0.9, 0, true, 0.1), Error);
  EXPECT_THROW(optim::SGD({p}, 0.1, -0.9), Error);
  EXPECT_THROW(optim::Adam({p}, 0.1, 1.0), Error);
  EXPECT_THROW(optim::Adam({p}, 0.1, 0.9, -0.1), Error);
  EXPECT_THROW(optim::AdamW({p}, 0.1, 0.9, 0.999, 1e-8, -1), Error);
  optim::SGD s({p}, 0.1);
  EXPECT_THROW(s.set_lr(-0.5), Error);
  s.set_lr(0.25);
  EXPECT_EQ(s.lr(), 0.25);
  p.set_grad(Tensor::zeros({3}, DType::f64));
  EXPECT_TRUE(contains(error_of([&] { s.step(); }), "gradient has shape [3]"));
  p.set_grad(Tensor::zeros({2}, DType::f32));
  EXPECT_THROW(s.step(), Error);
}

// ---------------------------------------------------------------- state

TEST(Optimizer, StateRoundTripResumesExactly) {
  for (int kind = 0; kind < 3; ++kind) {
    auto make = [kind](std::vector<Tensor> ps) -> std::unique_ptr<optim::Optimizer> {
      if (kind == 0) return std::make_unique<optim::SGD>(ps, 0.1, 0.9, 0.01, true);
      if (kind == 1) return std::make_unique<optim::Adam>(ps, 0.05, 0.8, 0.99, 1e-8, 0.01);
      return std::make_unique<optim::AdamW>(ps, 0.05);
    };
    Tensor a = param({1, -2});
    auto opt = make({a});
    for (int s = 0; s < 2; ++s) {
      set_quadratic_grad(a);
      opt->step();
    }
    // Save, including under a prefix inside a larger checkpoint.
    std::map<std::string, Tensor> ckpt;
    for (auto& [k, v] : opt->state("optim.")) ckpt[k] = v.clone();
    ckpt["model.weight"] = Tensor::zeros({7});  // not the optimizer's: ignored
    EXPECT_EQ(ckpt.at("optim.step_count").item(), 2.0);
    EXPECT_EQ(ckpt.count(kind == 0 ? "optim.param.0.momentum_buffer" : "optim.param.0.exp_avg_sq"), 1u);

    Tensor b = a.clone().detach();
    b.set_requires_grad(true);
    auto resumed = make({b});
    resumed->load_state(ckpt, "optim.");
    EXPECT_EQ(resumed->step_count(), 2);
    for (int s = 0; s < 3; ++s) {
      set_quadratic_grad(a);
      opt->step();
      set_quadratic_grad(b);
      resumed->step();
    }
    EXPECT_EQ(a.to_vector_f64(), b.to_vector_f64()) << opt->name();
  }
}

TEST(Optimizer, LoadStateErrors) {
  Tensor p = param({1, 2});
  optim::SGD opt({p}, 0.1, 0.9);
  set_quadratic_grad(p);
  opt.step();
  std::vector<double> buf = opt.state().at("param.0.momentum_buffer").to_vector_f64();
  auto bad = [&](std::map<std::string, Tensor> st) { return error_of([&] { opt.load_state(st); }); };
  EXPECT_TRUE(contains(bad({{"param.0.exp_avg", Tensor::zeros({2}, DType::f64)}}), "unknown state 'exp_avg'"));
  EXPECT_TRUE(contains(bad({{"param.1.momentum_buffer", Tensor::zeros({2})}}), "1 parameters"));
  EXPECT_TRUE(contains(bad({{"param.0.momentum_buffer", Tensor::zeros({3})}}), "[3]"));
  EXPECT_TRUE(contains(bad({{"lr", Tensor::zeros({1})}}), "unexpected entry 'lr'"));
  EXPECT_THROW(opt.load_state({{"param.x.momentum_buffer", Tensor::zeros({2})}}), Error);
  EXPECT_THROW(opt.load_state({{"step_count", Tensor::zeros({2})}}), Error);
  // A failed load changes nothing.
  EXPECT_EQ(opt.state().at("param.0.momentum_buffer").to_vector_f64(), buf);
  EXPECT_EQ(opt.step_count(), 1);
}

// ---------------------------------------------------------------- kernels: f32 path, threads

TEST(Optimizer, Float32LargeTensorMatchesFloat64) {
  // Large enough for the threaded loop; the f32 kernel must track the f64 one to f32 rounding.
  const int64_t n = 100003;
  Generator gen(5);
  Tensor p64 = Tensor::randn({n}, DType::f64, &gen), g64 = Tensor::randn({n}, DType::f64, &gen);
  Tensor p32 = p64.to(DType::f32);
  p64.set_requires_grad(true);
  p32.set_requires_grad(true);
  for (int kind = 0; kind < 2; ++kind) {
    std::unique_ptr<optim::Optimizer> o64, o32;
    if (kind == 0) {
      o64 = std::make_unique<optim::SGD>(std::vector<Tensor>{p64}, 0.01, 0.9, 1e-3, true);
      o32 = std::make_unique<optim::SGD>(std::vector<Tensor>{p32}, 0.01, 0.9, 1e-3, true);
    } else {
      o64 = std::make_unique<optim::AdamW>(std::vector<Tensor>{p64}, 0.01);
      o32 = std::make_unique<optim::AdamW>(std::vector<Tensor>{p32}, 0.01);
    }
    for (int s = 0; s < 4; ++s) {
      p64.set_grad(g64);
      p32.set_grad(g64.to(DType::f32));
      o64->step();
      o32->step();
    }
    EXPECT_TRUE(all_close(p32.to(DType::f64), p64, 1e-5)) << o32->name();
  }
}

// ---------------------------------------------------------------- convergence

TEST(Optimizer, MinimizesAQuadratic) {
  // L(p) = sum w (p - c)^2, minimum at c.
  Tensor c = Tensor::from_vector(std::vector<double>{0.5, -1.5, 2.0}, {3});
  Tensor w = Tensor::from_vector(std::vector<double>{1.0, 4.0, 0.5}, {3});
  auto run = [&](auto make, int steps) {
    Tensor p = param({3, 3, -3});
    auto opt = make(std::vector<Tensor>{p});
    double loss = 0;
    for (int s = 0; s < steps; ++s) {
      opt->zero_grad();
      Tensor l = sum(w * pow(p - c, 2.0));
      loss = l.item();
      l.backward();
      opt->step();
    }
    EXPECT_TRUE(all_close(p.detach(), c, 1e-3)) << opt->name() << " final loss " << loss;
  };
  run([](auto ps) { return std::make_unique<optim::SGD>(ps, 0.05); }, 300);
  run([](auto ps) { return std::make_unique<optim::SGD>(ps, 0.02, 0.9, 0, true); }, 300);
  run([](auto ps) { return std::make_unique<optim::Adam>(ps, 0.05); }, 1500);
  run([](auto ps) { return std::make_unique<optim::AdamW>(ps, 0.05, 0.9, 0.999, 1e-8, 0.0); }, 1500);
}

TEST(Optimizer, TinyMlpLearnsXor) {
  manual_seed(1234);
  // XOR-like data: the four corners of [-1, 1]^2 with jitter, 8 points each; label 1 when the
  // signs differ.
  Generator gen(99);
  std::vector<float> xs, ys;
  for (int i = 0; i < 32; ++i) {
    float a = (i & 1) ? 1.f : -1.f, b = (i & 2) ? 1.f : -1.f;
    xs.push_back(a + 0.2f * (gen.uniform() - 0.5f));
    xs.push_back(b + 0.2f * (gen.uniform() - 0.5f));
    ys.push_back(a * b < 0 ? 1.f : 0.f);
  }
  Tensor x = Tensor::from_vector(xs, {32, 2}), y = Tensor::from_vector(ys, {32, 1});
  nn::Sequential mlp;
  mlp.push_back(std::make_shared<nn::Linear>(2, 16));
  mlp.push_back(std::make_shared<nn::ReLU>());
  mlp.push_back(std::make_shared<nn::Linear>(16, 1));
  optim::SGD opt(mlp.parameters(), 0.1, 0.9);
  auto schedule = optim::make_schedule("warmup:20:cosine", 0.1, 400);
  double loss = 1e9;
  for (int step = 0; step < 400; ++step) {
    opt.set_lr(schedule->lr_at(opt.step_count()));
    opt.zero_grad();
    Tensor l = mse_loss(mlp.forward(x), y);
    loss = l.item();
    l.backward();
    opt.step();
  }
  EXPECT_LT(loss, 0.05);
  std::vector<float> pred = mlp.forward(x).to_vector_f32();
  for (int i = 0; i < 32; ++i) EXPECT_EQ(pred[i] > 0.5f, ys[i] > 0.5f) << i;
}

// ---------------------------------------------------------------- schedules

TEST(Schedule, StepAndMultiStep) {
  optim::StepLR s(0.1, 3, 0.5);
  EXPECT_DOUBLE_EQ(s.lr_at(0), 0.1);
  EXPECT_DOUBLE_EQ(s.lr_at(2), 0.1);
  EXPECT_DOUBLE_EQ(s.lr_at(3), 0.05);
  EXPECT_DOUBLE_EQ(s.lr_at(5), 0.05);
  EXPECT_DOUBLE_EQ(s.lr_at(6), 0.025);
  EXPECT_DOUBLE_EQ(s.lr_at(31), 0.1 * std::pow(0.5, 10));
  optim::MultiStepLR m(1.0, {2, 5}, 0.1);
  EXPECT_DOUBLE_EQ(m.lr_at(0), 1.0);
  EXPECT_DOUBLE_EQ(m.lr_at(1), 1.0);
  EXPECT_DOUBLE_EQ(m.lr_at(2), 0.1);
  EXPECT_DOUBLE_EQ(m.lr_at(4), 0.1);
  EXPECT_NEAR(m.lr_at(5), 0.01, 1e-17);
  EXPECT_NEAR(m.lr_at(1000), 0.01, 1e-17);
  EXPECT_THROW(optim::StepLR(0.1, 0), Error);
  EXPECT_THROW(optim::MultiStepLR(0.1, {5, 3}), Error);
  EXPECT_THROW(optim::MultiStepLR(0.1, {}), Error);
  EXPECT_THROW(s.lr_at(-1), Error);
}

TEST(Schedule, Cosine) {
  optim::CosineLR c(1.0, 10, 0.1);
  EXPECT_DOUBLE_EQ(c.lr_at(0), 1.0);
  EXPECT_NEAR(c.lr_at(5), 0.55, 1e-15);
  EXPECT_NEAR(c.lr_at(3), 0.1 + 0.9 * (1 + std::cos(std::numbers::pi * 0.3)) / 2, 1e-15);
  EXPECT_NEAR(c.lr_at(10), 0.1, 1e-15);
  EXPECT_NEAR(c.lr_at(25), 0.1, 1e-15);  // held at the minimum after the end
  optim::CosineLR z(0.2, 4);
  EXPECT_NEAR(z.lr_at(1), 0.2 * (1 + std::sqrt(0.5)) / 2, 1e-15);
  EXPECT_NEAR(z.lr_at(2), 0.1, 1e-15);
  EXPECT_THROW(optim::CosineLR(1.0, 0), Error);
}

TEST(Schedule, LinearWarmup) {
  optim::LinearWarmup w(std::make_unique<optim::StepLR>(1.0, 6, 0.1), 4, 0.2);
  EXPECT_DOUBLE_EQ(w.lr_at(0), 0.2);
  EXPECT_DOUBLE_EQ(w.lr_at(1), 0.4);
  EXPECT_DOUBLE_EQ(w.lr_at(2), 0.6);
  EXPECT_NEAR(w.lr_at(3), 0.8, 1e-15);
  EXPECT_DOUBLE_EQ(w.lr_at(4), 1.0);
  EXPECT_DOUBLE_EQ(w.lr_at(6), 0.1);  // the inner schedule keeps its own step numbers
  EXPECT_THROW(optim::LinearWarmup(std::make_unique<optim::ConstantLR>(1.0), 0), Error);
  EXPECT_THROW(optim::LinearWarmup(std::make_unique<optim::ConstantLR>(1.0), 3, 0.0), Error);
  EXPECT_THROW(optim::LinearWarmup(nullptr, 3), Error);
}

TEST(Schedule, OneCycle) {
  // max 1, 10 steps, pct_start 0.3: initial 1/25 = 0.04, final 0.04/1e4 = 4e-6; PyTorch's phase
  // ends are step 0.3*10 - 1 = 2 (warm-up) and step 9.
  optim::OneCycleLR o(1.0, 10);
  auto cos_anneal = [](double start, double end, double pct) {
    return end + (start - end) / 2 * (std::cos(std::numbers::pi * pct) + 1);
  };
  EXPECT_NEAR(o.lr_at(0), 0.04, 1e-15);
  EXPECT_NEAR(o.lr_at(1), 0.52, 1e-15);
  EXPECT_NEAR(o.lr_at(2), 1.0, 1e-15);
  EXPECT_NEAR(o.lr_at(5), cos_anneal(1.0, 4e-6, 3.0 / 7.0), 1e-15);
  EXPECT_NEAR(o.lr_at(9), 4e-6, 1e-15);
  EXPECT_NEAR(o.lr_at(50), 4e-6, 1e-15);
  // A non-integer phase boundary, as PyTorch keeps it: pct_start 0.25 of 10 -> 1.5.
  optim::OneCycleLR q(2.0, 10, 0.25, 10, 100);
  EXPECT_NEAR(q.lr_at(1), cos_anneal(0.2, 2.0, 1.0 / 1.5), 1e-15);
  EXPECT_NEAR(q.lr_at(2), cos_anneal(2.0, 0.002, 0.5 / 7.5), 1e-15);
  EXPECT_THROW(optim::OneCycleLR(1.0, 10, 1.0), Error);
  EXPECT_THROW(optim::OneCycleLR(1.0, 0), Error);
}

TEST(Schedule, MakeScheduleParsesSpecs) {
  EXPECT_DOUBLE_EQ(optim::make_schedule("constant", 0.3, 100)->lr_at(77), 0.3);
  auto s = optim::make_schedule("step:10:0.5", 0.2, 100);
  EXPECT_DOUBLE_EQ(s->lr_at(25), 0.05);
  auto m = optim::make_schedule("multistep:30,60,90:0.1", 1.0, 100);
  EXPECT_NEAR(m->lr_at(65), 0.01, 1e-17);
  auto c = optim::make_schedule("cosine", 1.0, 100);
  EXPECT_NEAR(c->lr_at(50), 0.5, 1e-15);
  EXPECT_NEAR(optim::make_schedule("cosine:0.1", 1.0, 100)->lr_at(100), 0.1, 1e-15);
  auto o = optim::make_schedule("onecycle", 1.0, 10);
  EXPECT_NEAR(o->lr_at(2), 1.0, 1e-15);
  EXPECT_NEAR(optim::make_schedule("onecycle:0.5", 1.0, 10)->lr_at(4), 1.0, 1e-15);
  auto w = optim::make_schedule("warmup:5:cosine", 1.0, 100);
  EXPECT_NEAR(w->lr_at(0), 0.01, 1e-15);
  EXPECT_NEAR(w->lr_at(50), 0.5, 1e-15);
  auto wf = optim::make_schedule("warmup:4:0.5:step:10:0.1", 1.0, 100);
  EXPECT_NEAR(wf->lr_at(2), 0.75, 1e-15);
  EXPECT_NEAR(wf->lr_at(12), 0.1, 1e-15);
  EXPECT_TRUE(contains(wf->describe(), "step(")) << wf->describe();

  std::string msg = error_of([] { optim::make_schedule("bogus:1", 1.0, 10); });
  EXPECT_TRUE(contains(msg, "unknown schedule 'bogus'")) << msg;
  EXPECT_TRUE(contains(msg, "multistep")) << msg;
  msg = error_of([] { optim::make_schedule("step:x:0.1", 1.0, 10); });
  EXPECT_TRUE(contains(msg, "STEP")) << msg;
  msg = error_of([] { optim::make_schedule("step:0:0.1", 1.0, 10); });
  EXPECT_TRUE(contains(msg, "step_size must be positive")) << msg;
  EXPECT_TRUE(contains(msg, "'step:0:0.1'")) << msg;
  EXPECT_THROW(optim::make_schedule("step:10", 1.0, 10), Error);
  EXPECT_THROW(optim::make_schedule("multistep:5,3:0.1", 1.0, 10), Error);
  EXPECT_THROW(optim::make_schedule("multistep:5,,8:0.1", 1.0, 10), Error);
  EXPECT_THROW(optim::make_schedule("cosine:a", 1.0, 10), Error);
  EXPECT_THROW(optim::make_schedule("cosine", 1.0, 0), Error);
  EXPECT_THROW(optim::make_schedule("warmup:5", 1.0, 10), Error);
  EXPECT_THROW(optim::make_schedule("warmup:5:0.1", 1.0, 10), Error);
  EXPECT_THROW(optim::make_schedule("warmup:5:bogus", 1.0, 10), Error);
  EXPECT_THROW(optim::make_schedule("", 1.0, 10), Error);
  EXPECT_THROW(optim::make_schedule("constant:1", 1.0, 10), Error);
}

// clip_grad_norm as torch.nn.utils.clip_grad_norm_: the total norm over every gradient, scaled
// by max / (norm + 1e-6) only when it exceeds max; parameters without a gradient are skipped.
TEST(ClipGradNorm, ScalesEveryGradientByTheTotalNorm) {
  Tensor a = param({1, 2}), b = param({3}), none = param({5});
  a.set_grad(Tensor::from_vector(std::vector<double>{3, 0}, {2}));
  b.set_grad(Tensor::from_vector(std::vector<double>{4}, {1}));
  EXPECT_DOUBLE_EQ(optim::clip_grad_norm({a, b, none}, 10), 5.0);  // below the bound: unchanged
  EXPECT_EQ(a.grad().to_vector_f64(), (std::vector<double>{3, 0}));
  EXPECT_DOUBLE_EQ(optim::clip_grad_norm({a, b, none}, 1), 5.0);
  const double s = 1 / (5 + 1e-6);
  EXPECT_NEAR(a.grad().to_vector_f64()[0], 3 * s, 1e-15);
  EXPECT_NEAR(b.grad().to_vector_f64()[0], 4 * s, 1e-15);
  EXPECT_FALSE(none.grad().defined());
  EXPECT_TRUE(contains(error_of([&] { optim::clip_grad_norm({a}, 0); }), "max_norm must be positive, got 0"));
}
