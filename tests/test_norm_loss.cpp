// batch_norm, dropout, softmax / log_softmax, cross_entropy and mse_loss: hand values, gradient
// checks in f64, f32 against the f64 reference, and argument errors.
#include <cmath>
#include <limits>

#include "kernels/cpu/norm.h"
#include "kernels/cpu/softmax.h"
#include "tests/support/gradcheck.h"

using namespace pw;
using pw::testing::all_close;
using pw::testing::gradcheck;
using pw::testing::random_input;

namespace {

Tensor f64(const std::vector<double>& v, const Shape& s) { return Tensor::from_vector(v, s); }

// The message of the pw::Error that fn throws ("" if none).
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// f64 leaf -> an f32 copy requiring grad.
Tensor as_f32_leaf(const Tensor& t) {
  Tensor c = t.detach().to(DType::f32);
  c.set_requires_grad(true);
  return c;
}

}  // namespace

// ---------------------------------------------------------------- batch_norm

TEST(BatchNorm, TrainingForwardAndRunningStatsOnHandValues) {
  // Channel 0: 1 2 3 4 (mean 2.5, biased var 1.25, unbiased 5/3);
  // channel 1: 2 4 6 8 (mean 5, biased var 5, unbiased 20/3).
  Tensor x = f64({1, 2, 2, 4, 3, 6, 4, 8}, {4, 2});
  Tensor rm = f64({0, 0}, {2}), rv = f64({1, 1}, {2});
  Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), /*training=*/true, 0.1, 1e-5);
  std::vector<double> yv = y.to_vector_f64();
  const double s0 = 1 / std::sqrt(1.25 + 1e-5), s1 = 1 / std::sqrt(5 + 1e-5);
  const double expect[8] = {-1.5 * s0, -3 * s1, -0.5 * s0, -1 * s1, 0.5 * s0, 1 * s1, 1.5 * s0, 3 * s1};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(yv[i], expect[i], 1e-12) << i;
  EXPECT_NEAR(rm.to_vector_f64()[0], 0.25, 1e-12);
  EXPECT_NEAR(rm.to_vector_f64()[1], 0.5, 1e-12);
  EXPECT_NEAR(rv.to_vector_f64()[0], 0.9 + 0.1 * 5.0 / 3.0, 1e-12);
  EXPECT_NEAR(rv.to_vector_f64()[1], 0.9 + 0.1 * 20.0 / 3.0, 1e-12);
  // A second step with momentum 0.5 moves halfway again.
  batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.5);
  EXPECT_NEAR(rm.to_vector_f64()[0], 0.5 * 0.25 + 0.5 * 2.5, 1e-12);
  EXPECT_NEAR(rv.to_vector_f64()[1], 0.5 * (0.9 + 0.1 * 20.0 / 3.0) + 0.5 * 20.0 / 3.0, 1e-12);
}

TEST(BatchNorm, RunningStatsOf2dInputAndStridedBuffers) {
  // [N=2, C=2, H=1, W=2]: channel 0 holds 1 3 | 5 7 (mean 4, unbiased var 20/3),
  // channel 1 holds 0 0 | 0 4 (mean 1, unbiased var 4).
  Tensor x = f64({1, 3, 0, 0, 5, 7, 0, 4}, {2, 2, 1, 2});
  // Running buffers as strided views (every other element of a [4] buffer) are updated in place.
  Tensor buf_m = f64({10, -1, 20, -1}, {4}), buf_v = f64({2, -1, 3, -1}, {4});
  Tensor rm = buf_m.slice(0, 0, 4, 2), rv = buf_v.slice(0, 0, 4, 2);
  batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.25);
  EXPECT_TRUE(all_close(buf_m, f64({0.75 * 10 + 0.25 * 4, -1, 0.75 * 20 + 0.25 * 1, -1}, {4}), 1e-12));
  EXPECT_TRUE(all_close(buf_v, f64({0.75 * 2 + 0.25 * 20.0 / 3.0, -1, 0.75 * 3 + 0.25 * 4, -1}, {4}), 1e-12));
}

TEST(BatchNorm, EvalUsesRunningStatsAndLeavesThemAlone) {
  Tensor x = f64({1, 2, 3, 4}, {2, 2});
  Tensor rm = f64({1, -2}, {2}), rv = f64({4, 0.25}, {2});
  Tensor w = f64({2, 3}, {2}), b = f64({0.5, -1}, {2});
  Tensor y = batch_norm(x, rm, rv, w, b, /*training=*/false, 0.1, 0.0);
  // (x - m) / sqrt(v) * w + b
  EXPECT_TRUE(all_close(y, f64({0 * 2 + 0.5, 8 * 3 - 1, 1 * 2 + 0.5, 12 * 3 - 1}, {2, 2}), 1e-12));
  EXPECT_EQ(rm.to_vector_f64(), (std::vector<double>{1, -2}));
  EXPECT_EQ(rv.to_vector_f64(), (std::vector<double>{4, 0.25}));
}

TEST(BatchNorm, TrainingGradcheck1dAnd2d) {
  auto w = random_input({3}, 11, 0.5, 1.5), b = random_input({3}, 12);
  for (Shape shape : {Shape{5, 3}, Shape{3, 3, 2, 4}, Shape{4, 3, 5}}) {
    auto x = random_input(shape, 13, -2, 2);
    EXPECT_TRUE(gradcheck([](auto v) { return batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true); }, {x, w, b}))
        << shape_str(shape);
    EXPECT_TRUE(gradcheck([](auto v) { return batch_norm(v[0], Tensor(), Tensor(), Tensor(), Tensor(), true); }, {x}))
        << shape_str(shape);
    EXPECT_TRUE(gradcheck([](auto v) { return batch_norm(v[0], Tensor(), Tensor(), v[1], Tensor(), true); }, {x, w}))
        << shape_str(shape);
  }
}

TEST(BatchNorm, EvalGradcheck1dAnd2d) {
  Tensor rm = random_input({3}, 21, -0.5, 0.5, false), rv = random_input({3}, 22, 0.5, 2, false);
  auto w = random_input({3}, 23, 0.5, 1.5), b = random_input({3}, 24);
  for (Shape shape : {Shape{4, 3}, Shape{2, 3, 3, 2}}) {
    auto x = random_input(shape, 25, -2, 2);
    EXPECT_TRUE(gradcheck([&](auto v) { return batch_norm(v[0], rm, rv, v[1], v[2], false); }, {x, w, b}))
        << shape_str(shape);
    EXPECT_TRUE(gradcheck([&](auto v) { return batch_norm(v[0], rm, rv, Tensor(), Tensor(), false); }, {x}))
        << shape_str(shape);
  }
}

TEST(BatchNorm, F32MatchesF64OnAwkwardSizes) {
  auto x = random_input({7, 5, 3, 11}, 31, -3, 5), w = random_input({5}, 32), b = random_input({5}, 33);
  Tensor rm64 = Tensor::zeros({5}, DType::f64), rv64 = Tensor::ones({5}, DType::f64);
  Tensor rm32 = Tensor::zeros({5}, DType::f32), rv32 = Tensor::ones({5}, DType::f32);
  Tensor x32 = as_f32_leaf(x), w32 = as_f32_leaf(w), b32 = as_f32_leaf(b);
  Tensor up = random_input({7, 5, 3, 11}, 34, -1, 1, false);
  Tensor y64 = batch_norm(x, rm64, rv64, w, b, true);
  Tensor y32 = batch_norm(x32, rm32, rv32, w32, b32, true);
  EXPECT_TRUE(all_close(y32, y64, 1e-5));
  EXPECT_TRUE(all_close(rm32, rm64, 1e-5));
  EXPECT_TRUE(all_close(rv32, rv64, 1e-5));
  sum(mul(y64, up)).backward();
  sum(mul(y32, up.to(DType::f32))).backward();
  EXPECT_TRUE(all_close(x32.grad(), x.grad(), 1e-4));
  EXPECT_TRUE(all_close(w32.grad(), w.grad(), 1e-4));
  EXPECT_TRUE(all_close(b32.grad(), b.grad(), 1e-4));
}

TEST(BatchNorm, BackwardKernelWritesEveryOutput) {
  // Poisoned outputs: whatever the kernel leaves unwritten stays NaN and fails.
  const int64_t N = 3, C = 4, S = 5;
  Tensor x = random_input({N, C, S}, 41, -1, 1, false), dy = random_input({N, C, S}, 42, -1, 1, false);
  Tensor mean = Tensor::full({C}, NAN, DType::f64), var = Tensor::full({C}, NAN, DType::f64);
  kernels::cpu::batch_norm_stats<double>(x.data<double>(), mean.data<double>(), var.data<double>(), N, C, S);
  for (bool batch_stats : {true, false}) {
    Tensor dx = Tensor::full({N, C, S}, NAN, DType::f64);
    Tensor dw = Tensor::full({C}, NAN, DType::f64), db = Tensor::full({C}, NAN, DType::f64);
    kernels::cpu::batch_norm_backward<double>(x.data<double>(), dy.data<double>(), mean.data<double>(),
                                              var.data<double>(), nullptr, dx.data<double>(), dw.data<double>(),
                                              db.data<double>(), N, C, S, 1e-5, batch_stats);
    for (const Tensor& t : {mean, var, dx, dw, db})
      for (double v : t.to_vector_f64()) ASSERT_FALSE(std::isnan(v));
  }
}

TEST(BatchNorm, Errors) {
  Tensor x = Tensor::ones({4, 3}, DType::f64), c3 = Tensor::ones({3}, DType::f64), c2 = Tensor::ones({2}, DType::f64);
  EXPECT_THROW(batch_norm(Tensor::ones({4}, DType::f64), Tensor(), Tensor(), Tensor(), Tensor(), true), Error);
  EXPECT_THROW(batch_norm(Tensor::ones({2, 3, 2, 2, 2}, DType::f64), Tensor(), Tensor(), Tensor(), Tensor(), true),
               Error);
  EXPECT_THROW(batch_norm(x, c2, c2, Tensor(), Tensor(), true), Error);  // running stats for 2 channels
  EXPECT_THROW(batch_norm(x, c3, c2, Tensor(), Tensor(), true), Error);
  EXPECT_THROW(batch_norm(x, c3, Tensor(), Tensor(), Tensor(), true), Error);                 // only one running tensor
  EXPECT_THROW(batch_norm(x, Tensor(), Tensor(), c2, Tensor(), true), Error);                 // weight for 2 channels
  EXPECT_THROW(batch_norm(x, Tensor(), Tensor(), c3, c2, true), Error);                       // bias for 2 channels
  EXPECT_THROW(batch_norm(x, Tensor(), Tensor(), Tensor::ones({3}), Tensor(), true), Error);  // f32 weight
  EXPECT_THROW(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), false), Error);          // eval, no running stats
  EXPECT_THROW(batch_norm(Tensor::ones({1, 3}, DType::f64), Tensor(), Tensor(), Tensor(), Tensor(), true), Error);
  EXPECT_THROW(batch_norm(Tensor::ones({4, 3}, DType::i32), Tensor(), Tensor(), Tensor(), Tensor(), true), Error);
  EXPECT_THROW(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 1.5), Error);
  std::string msg = error_of([&] { batch_norm(x, c2, c2, Tensor(), Tensor(), true); });
  EXPECT_NE(msg.find("3 channels"), std::string::npos) << msg;
}

// Under anomaly detection a training forward whose running_var overflows (a batch variance
// beyond f32's range, while the output stays finite) is an error naming batch_norm and the buffer.
TEST(BatchNorm, AnomalyDetectionChecksTheRunningStatistics) {
  const Tensor x = Tensor::from_vector(std::vector<float>{1e38f, -1e38f, 1e38f, -1e38f}, {4, 1});
  const Tensor rm = Tensor::zeros({1}), rv = Tensor::ones({1});
  {
    DetectAnomalyGuard on;
    const std::string msg = error_of([&] { batch_norm(x, rm, rv, Tensor(), Tensor(), true); });
    EXPECT_NE(msg.find("detect-anomaly: the forward of op 'batch_norm' produced a non-finite value in its running_var "
                       "buffer (inf at element 0 of [1]); its inputs: [4, 1], none, none; every input was finite"),
              std::string::npos)
        << msg;
  }
  rv.fill_(1.0);
  const Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true);  // without it: no check, a finite output
  EXPECT_EQ(first_non_finite(y), -1);
  EXPECT_NE(first_non_finite(rv), -1);
}

// ---------------------------------------------------------------- dropout

TEST(Dropout, MaskStatisticsAndScale) {
  const double p = 0.3;
  Generator gen(123);
  Tensor y = dropout(Tensor::ones({100000}), p, true, &gen);
  std::vector<float> v = y.to_vector_f32();
  const float kept = float(1.0 / (1.0 - p));
  int64_t zeros = 0;
  for (float e : v) {
    if (e == 0.0f)
      ++zeros;
    else
      ASSERT_EQ(e, kept);
  }
  EXPECT_NEAR(double(zeros) / double(v.size()), p, 0.01);
}

TEST(Dropout, MaskFollowsTheDocumentedRule) {
  const double p = 0.45;
  const int64_t n = 37;
  Generator gen(7, 3);
  gen.set_offset(5);
  Tensor x = random_input({37}, 51, 0.5, 1.5, false);
  Tensor y = dropout(x, p, true, &gen);
  Generator ref(7, 3);
  ref.set_offset(5);
  std::vector<float> u(n);
  ref.fill_uniform(u.data(), n, 0.0f, 1.0f);
  std::vector<double> xv = x.to_vector_f64(), yv = y.to_vector_f64();
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(yv[i], double(u[i]) >= p ? xv[i] * (1.0 / (1.0 - p)) : 0.0) << i;
  EXPECT_EQ(gen.offset(), ref.offset());
  EXPECT_EQ(gen.offset(), 8u + 40u);  // start rounded up to 8, 37 words rounded up to 40
  // Same mask for an f32 input (the rule does not depend on the dtype).
  Generator g32(7, 3);
  g32.set_offset(5);
  std::vector<float> y32 = dropout(x.to(DType::f32), p, true, &g32).to_vector_f32();
  for (int64_t i = 0; i < n; ++i) EXPECT_EQ(y32[i] == 0.0f, yv[i] == 0.0) << i;
}

TEST(Dropout, SameSeedSameMaskOtherSeedOtherMask) {
  Tensor x = Tensor::ones({2, 500});
  Generator a(9), b(9), c(10);
  std::vector<float> ya = dropout(x, 0.5, true, &a).to_vector_f32();
  EXPECT_EQ(ya, dropout(x, 0.5, true, &b).to_vector_f32());
  EXPECT_NE(ya, dropout(x, 0.5, true, &c).to_vector_f32());
  // A second call on the same generator draws a fresh mask.
  EXPECT_NE(ya, dropout(x, 0.5, true, &a).to_vector_f32());
  // The default generator is used when none is given.
  manual_seed(99);
  std::vector<float> d1 = dropout(x, 0.5, true).to_vector_f32();
  manual_seed(99);
  EXPECT_EQ(d1, dropout(x, 0.5, true).to_vector_f32());
}

TEST(Dropout, EvalAndZeroProbabilityAreIdentity) {
  Tensor x = random_input({3, 4}, 52);
  Generator gen(1);
  EXPECT_TRUE(dropout(x, 0.5, false, &gen).same(x));
  EXPECT_TRUE(dropout(x, 0.0, true, &gen).same(x));
  EXPECT_EQ(gen.offset(), 0u);  // no draw
}

TEST(Dropout, GradcheckWithFixedGenerator) {
  auto x = random_input({4, 6}, 53);
  // Reseeded inside: every evaluation of the check uses the same mask.
  EXPECT_TRUE(gradcheck(
      [](auto v) {
        Generator gen(77);
        return dropout(v[0], 0.4, true, &gen);
      },
      {x}));
}

TEST(Dropout, Errors) {
  Tensor x = Tensor::ones({4});
  EXPECT_THROW(dropout(x, -0.1, true), Error);
  EXPECT_THROW(dropout(x, 1.0, true), Error);
  EXPECT_THROW(dropout(x, 1.5, false), Error);
  EXPECT_THROW(dropout(Tensor::ones({4}, DType::i32), 0.5, true), Error);
}

// ---------------------------------------------------------------- softmax

TEST(Softmax, HandValuesAndStability) {
  Tensor x = f64({1, 2, 3, 1001, 1002, 1003}, {2, 3});
  Tensor expect = f64({0.09003057317038046, 0.24472847105479767, 0.6652409557748219, 0.09003057317038046,
                       0.24472847105479767, 0.6652409557748219},
                      {2, 3});
  EXPECT_TRUE(all_close(softmax(x, 1), expect, 1e-14));
  EXPECT_TRUE(all_close(log_softmax(x, -1), log(expect), 1e-12));
  // Along dim 0 of [[0, 1], [ln 3, 1]]: column 0 gives 1/4, 3/4; column 1 gives 1/2, 1/2.
  Tensor y = f64({0, 1, std::log(3.0), 1}, {2, 2});
  EXPECT_TRUE(all_close(softmax(y, 0), f64({0.25, 0.5, 0.75, 0.5}, {2, 2}), 1e-14));
}

TEST(Softmax, GradcheckAlongEveryDim) {
  auto x = random_input({3, 4, 5}, 61, -2, 2);
  for (int64_t d : {0, 1, 2, -1}) {
    EXPECT_TRUE(gradcheck([d](auto v) { return softmax(v[0], d); }, {x})) << d;
    EXPECT_TRUE(gradcheck([d](auto v) { return log_softmax(v[0], d); }, {x})) << d;
  }
}

TEST(Softmax, F32MatchesF64OnAwkwardSizes) {
  auto x = random_input({7, 13, 5}, 62, -4, 4);
  Tensor up = random_input({7, 13, 5}, 63, -1, 1, false);
  for (int64_t d : {0, 1, 2}) {
    for (bool lg : {false, true}) {
      Tensor x64 = random_input({7, 13, 5}, 62, -4, 4), x32 = as_f32_leaf(x64);
      Tensor y64 = lg ? log_softmax(x64, d) : softmax(x64, d);
      Tensor y32 = lg ? log_softmax(x32, d) : softmax(x32, d);
      EXPECT_TRUE(all_close(y32, y64, 1e-5)) << d << lg;
      sum(mul(y64, up)).backward();
      sum(mul(y32, up.to(DType::f32))).backward();
      EXPECT_TRUE(all_close(x32.grad(), x64.grad(), 1e-5)) << d << lg;
    }
  }
  // Rows sum to one.
  EXPECT_TRUE(all_close(sum(softmax(x, 1), {1}), Tensor::ones({7, 5}, DType::f64), 1e-12));
}

TEST(Softmax, KernelWritesEveryOutput) {
  Tensor x = random_input({2, 3, 4}, 64, -1, 1, false), dy = random_input({2, 3, 4}, 65, -1, 1, false);
  for (bool lg : {false, true}) {
    Tensor y = Tensor::full({2, 3, 4}, NAN, DType::f64), dx = Tensor::full({2, 3, 4}, NAN, DType::f64);
    kernels::cpu::softmax_forward<double>(x.data<double>(), y.data<double>(), 2, 3, 4, lg);
    kernels::cpu::softmax_backward<double>(y.data<double>(), dy.data<double>(), dx.data<double>(), 2, 3, 4, lg);
    for (const Tensor& t : {y, dx})
      for (double v : t.to_vector_f64()) ASSERT_FALSE(std::isnan(v));
  }
}

TEST(Softmax, Errors) {
  EXPECT_THROW(softmax(Tensor::ones({2, 3, 4}), 3), Error);
  EXPECT_THROW(log_softmax(Tensor::ones({2, 3, 4}), -4), Error);
  EXPECT_THROW(softmax(Tensor::ones({2, 3}, DType::i32), 1), Error);
}

// ---------------------------------------------------------------- cross_entropy

TEST(CrossEntropy, HandValues) {
  // Row 0: logits 1 2 3, target 2: log(e + e^2 + e^3) - 3. Row 1: 1 1 1, target 0: log 3.
  Tensor logits = f64({1, 2, 3, 1, 1, 1}, {2, 3});
  Tensor target = Tensor::from_vector(std::vector<int32_t>{2, 0}, {2});
  const double l0 = 0.40760596444438, l1 = std::log(3.0);
  EXPECT_NEAR(cross_entropy(logits, target, Reduction::mean).item(), (l0 + l1) / 2, 1e-12);
  EXPECT_NEAR(cross_entropy(logits, target, Reduction::sum).item(), l0 + l1, 1e-12);
  Tensor none = cross_entropy(logits, target, Reduction::none);
  EXPECT_EQ(none.shape(), (Shape{2}));
  EXPECT_TRUE(all_close(none, f64({l0, l1}, {2}), 1e-12));
  EXPECT_EQ(cross_entropy(logits, target).dim(), 0);
  // Gradient of the mean: (softmax - onehot) / N.
  Tensor lg = logits.clone();
  lg.set_requires_grad(true);
  cross_entropy(lg, target).backward();
  const double p0 = 0.09003057317038046, p1 = 0.24472847105479767, p2 = 0.6652409557748219;
  EXPECT_TRUE(
      all_close(lg.grad(), f64({p0 / 2, p1 / 2, (p2 - 1) / 2, (1.0 / 3 - 1) / 2, 1.0 / 6, 1.0 / 6}, {2, 3}), 1e-12));
  // Stable for large logits.
  Tensor big = f64({1001, 1002, 1003, -1000, -1000, -1000}, {2, 3});
  EXPECT_TRUE(all_close(cross_entropy(big, target, Reduction::none), f64({l0, l1}, {2}), 1e-12));
}

TEST(CrossEntropy, GradcheckEveryReduction) {
  auto logits = random_input({5, 4}, 71, -3, 3);
  Tensor target = Tensor::from_vector(std::vector<int32_t>{3, 0, 1, 3, 2}, {5});
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
    EXPECT_TRUE(gradcheck([&](auto v) { return cross_entropy(v[0], target, r); }, {logits})) << int(r);
}

// Label smoothing 0.1 over 3 classes: the target rows are 0.1/3 everywhere plus 0.9 on the label.
TEST(CrossEntropy, LabelSmoothingHandValuesAndGradient) {
  Tensor logits = f64({1, 2, 3, 1, 1, 1}, {2, 3});
  Tensor target = Tensor::from_vector(std::vector<int32_t>{2, 0}, {2});
  const double eps = 0.1, lse0 = 3.40760596444438;  // log(e + e^2 + e^3)
  // Row 0: 0.9 (lse0 - 3) + 0.1 mean_k(lse0 - k) = 0.9 * 0.4076 + 0.1 * 1.4076. Row 1: log 3 either way.
  const double l0 = 0.9 * (lse0 - 3) + 0.1 * (lse0 - 2), l1 = std::log(3.0);
  Tensor none = cross_entropy(logits, target, Tensor(), Reduction::none, eps);
  EXPECT_TRUE(all_close(none, f64({l0, l1}, {2}), 1e-12));
  EXPECT_NEAR(cross_entropy(logits, target, Tensor(), Reduction::sum, eps).item(), l0 + l1, 1e-12);
  EXPECT_NEAR(cross_entropy(logits, target, target, Reduction::mean, eps).item(), (l0 + l1) / 2, 1e-12);
  // Gradient of the mean: (softmax - smoothed target) / N.
  Tensor lg = logits.clone();
  lg.set_requires_grad(true);
  cross_entropy(lg, target, Tensor(), Reduction::mean, eps).backward();
  const double p0 = 0.09003057317038046, p1 = 0.24472847105479767, p2 = 0.6652409557748219, u = eps / 3;
  EXPECT_TRUE(all_close(lg.grad(),
                        f64({(p0 - u) / 2, (p1 - u) / 2, (p2 - 0.9 - u) / 2, (1.0 / 3 - 0.9 - u) / 2, (1.0 / 3 - u) / 2,
                             (1.0 / 3 - u) / 2},
                            {2, 3}),
                        1e-12));
  // 0 is plain cross-entropy, bit for bit; 1 and negative values are errors.
  Tensor x32 = logits.to(DType::f32);
  EXPECT_EQ(cross_entropy(x32, target, Tensor(), Reduction::mean, 0.0).item(), cross_entropy(x32, target).item());
  EXPECT_THROW(cross_entropy(logits, target, Tensor(), Reduction::mean, 1.0), Error);
  EXPECT_THROW(cross_entropy(logits, target, Tensor(), Reduction::mean, -0.1), Error);
}

TEST(CrossEntropy, LabelSmoothingGradcheckEveryReduction) {
  auto logits = random_input({5, 4}, 73, -3, 3);
  Tensor target = Tensor::from_vector(std::vector<int32_t>{3, 0, 1, 3, 2}, {5});
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
    EXPECT_TRUE(gradcheck([&](auto v) { return cross_entropy(v[0], target, Tensor(), r, 0.2); }, {logits})) << int(r);
}

TEST(CrossEntropy, F32MatchesF64) {
  auto x64 = random_input({9, 17}, 72, -5, 5);
  Tensor x32 = as_f32_leaf(x64);
  std::vector<int32_t> t(9);
  for (int i = 0; i < 9; ++i) t[i] = (i * 7) % 17;
  Tensor target = Tensor::from_vector(t, {9});
  Tensor l64 = cross_entropy(x64, target), l32 = cross_entropy(x32, target);
  EXPECT_NEAR(l32.item(), l64.item(), 1e-5);
  l64.backward();
  l32.backward();
  EXPECT_TRUE(all_close(x32.grad(), x64.grad(), 1e-6));
}

TEST(CrossEntropy, KernelWritesEveryOutput) {
  Tensor x = random_input({3, 5}, 73, -1, 1, false);
  std::vector<int32_t> t{4, 0, 2};
  Tensor loss = Tensor::full({3}, NAN, DType::f64), lse = Tensor::full({3}, NAN, DType::f64);
  Tensor dx = Tensor::full({3, 5}, NAN, DType::f64);
  double g = 1.0;
  kernels::cpu::cross_entropy_forward<double>(x.data<double>(), t.data(), loss.data<double>(), lse.data<double>(), 3,
                                              5);
  kernels::cpu::cross_entropy_backward<double>(x.data<double>(), t.data(), lse.data<double>(), &g, 0, 1.0,
                                               dx.data<double>(), 3, 5);
  for (const Tensor& v : {loss, lse, dx})
    for (double e : v.to_vector_f64()) ASSERT_FALSE(std::isnan(e));
}

TEST(CrossEntropy, Errors) {
  Tensor logits = Tensor::ones({2, 4}, DType::f64);
  auto labels = [](std::vector<int32_t> v) { return Tensor::from_vector(v, {(int64_t)v.size()}); };
  EXPECT_THROW(cross_entropy(logits, labels({1, 4})), Error);
  EXPECT_THROW(cross_entropy(logits, labels({-1, 0})), Error);
  std::string msg = error_of([&] { cross_entropy(logits, labels({0, 7})); });
  EXPECT_NE(msg.find("target 7 at index 1"), std::string::npos) << msg;
  EXPECT_THROW(cross_entropy(logits, labels({1, 2, 3})), Error);                            // wrong N
  EXPECT_THROW(cross_entropy(logits, Tensor::ones({2}, DType::f64)), Error);                // not i32
  EXPECT_THROW(cross_entropy(Tensor::ones({2, 4, 1}, DType::f64), labels({0, 1})), Error);  // not 2-D
  EXPECT_THROW(cross_entropy(Tensor::ones({2, 4}, DType::i32), labels({0, 1})), Error);
}

// ---------------------------------------------------------------- mse_loss

TEST(MseLoss, HandValuesAndGradcheck) {
  Tensor in = f64({1, 2, 3}, {3}), tg = f64({1, 0, 5}, {3});
  EXPECT_NEAR(mse_loss(in, tg).item(), 8.0 / 3.0, 1e-14);
  EXPECT_NEAR(mse_loss(in, tg, Reduction::sum).item(), 8.0, 1e-14);
  EXPECT_TRUE(all_close(mse_loss(in, tg, Reduction::none), f64({0, 4, 4}, {3}), 1e-14));
  auto a = random_input({3, 4}, 81), b = random_input({3, 4}, 82);
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
    EXPECT_TRUE(gradcheck([r](auto v) { return mse_loss(v[0], v[1], r); }, {a, b})) << int(r);
  EXPECT_THROW(mse_loss(Tensor::ones({3}), Tensor::ones({4})), Error);
  EXPECT_THROW(mse_loss(Tensor::ones({3}), Tensor::ones({3}, DType::f64)), Error);
  EXPECT_THROW(mse_loss(Tensor::ones({3}, DType::i32), Tensor::ones({3}, DType::i32)), Error);
}
