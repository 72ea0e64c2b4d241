// Tensors, views, autograd mechanics, elementwise ops, reductions and matmul.
#include <cmath>

#include "tests/support/gradcheck.h"

using namespace pw;
using pw::testing::all_close;
using pw::testing::gradcheck;
using pw::testing::random_input;

TEST(Tensor, CreationAndViewsShareStorage) {
  Tensor a = Tensor::arange(24).reshape({2, 3, 4});
  EXPECT_EQ(a.shape(), (Shape{2, 3, 4}));
  EXPECT_TRUE(a.is_contiguous());
  Tensor t = a.transpose(0, 2);
  EXPECT_EQ(t.shape(), (Shape{4, 3, 2}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.storage(), a.storage());
  // element [3,1,1] of t is a[1,1,3] = 1*12 + 1*4 + 3 = 19
  EXPECT_EQ(t.contiguous().to_vector_f32()[3 * 6 + 1 * 2 + 1], 19.0f);
  Tensor s = a.slice(2, 1, 4, 2);  // columns 1 and 3
  EXPECT_EQ(s.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(s.to_vector_f32()[1], 3.0f);
  a.data<float>()[3] = 100;  // writes through the shared storage
  EXPECT_EQ(s.to_vector_f32()[1], 100.0f);
  Tensor p = a.permute({1, 2, 0});
  EXPECT_EQ(p.shape(), (Shape{3, 4, 2}));
  EXPECT_EQ(a.flatten(1).shape(), (Shape{2, 12}));
  EXPECT_EQ(a.reshape({-1, 4}).shape(), (Shape{6, 4}));
  EXPECT_THROW(a.view({5, 5}), Error);
  EXPECT_THROW(t.view({24}), Error);  // not contiguous: view refuses, reshape copies
  EXPECT_EQ(t.reshape({24}).numel(), 24);
  EXPECT_EQ(Tensor::full({2, 2}, 3.5).to_vector_f32(), (std::vector<float>{3.5, 3.5, 3.5, 3.5}));
  EXPECT_NE(Tensor::ones({2}).str().find("shape=[2]"), std::string::npos);
}

TEST(Tensor, RandomIsReproducible) {
  Generator g1(42), g2(42);
  Tensor a = Tensor::randn({1000}, DType::f32, &g1), b = Tensor::randn({1000}, DType::f32, &g2);
  EXPECT_EQ(a.to_vector_f32(), b.to_vector_f32());
  double m = mean(a).item();
  EXPECT_LT(std::abs(m), 0.15);
}

TEST(Autograd, BroadcastArithmetic) {
  auto x = random_input({3, 4}, 1), y = random_input({4}, 2), z = random_input({3, 1}, 3, 0.5, 2);
  EXPECT_TRUE(gradcheck([](auto v) { return add(v[0], v[1]); }, {x, y}));
  EXPECT_TRUE(gradcheck([](auto v) { return sub(v[0], v[1]); }, {x, y}));
  EXPECT_TRUE(gradcheck([](auto v) { return mul(v[0], v[1]); }, {x, z}));
  EXPECT_TRUE(gradcheck([](auto v) { return div(v[0], v[1]); }, {x, z}));
  EXPECT_TRUE(gradcheck([](auto v) { return neg(v[0]) * 3.0 + 2.0 - v[0] / 4.0; }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return rsub(2.0, v[0]) + rdiv(1.0, v[1]); }, {x, z}));
  EXPECT_TRUE(gradcheck([](auto v) { return minimum(v[0], 0.1); }, {x}));  // no element within 1e-6 of 0.1
  EXPECT_THROW(add(Tensor::ones({3, 4}), Tensor::ones({3})), Error);
  EXPECT_THROW(add(Tensor::ones({3}), Tensor::ones({3}, DType::f64)), Error);
}

TEST(Autograd, UnaryOps) {
  auto x = random_input({2, 5}, 4), p = random_input({2, 5}, 5, 0.2, 2);
  EXPECT_TRUE(gradcheck([](auto v) { return exp(v[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return log(v[0]); }, {p}));
  EXPECT_TRUE(gradcheck([](auto v) { return sqrt(v[0]); }, {p}));
  EXPECT_TRUE(gradcheck([](auto v) { return pow(v[0], 2.5); }, {p}));
  EXPECT_TRUE(gradcheck([](auto v) { return pow(v[0], 3.0); }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return sigmoid(v[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return tanh(v[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return abs(v[0]); }, {x}, {.skip_kinks = true}));
  EXPECT_TRUE(gradcheck([](auto v) { return relu(v[0]); }, {x}, {.skip_kinks = true}));
}

TEST(Autograd, ReluRulesOnHandComputedValues) {
  // x = [-1, 2, 3, -4], upstream g = [5, -6, 7, 8]
  auto run = [](ReluRule rule) {
    Tensor x = Tensor::from_vector(std::vector<double>{-1, 2, 3, -4}, {4});
    x.set_requires_grad(true);
    Tensor g = Tensor::from_vector(std::vector<double>{5, -6, 7, 8}, {4});
    relu(x, rule).backward(g);
    return x.grad().to_vector_f64();
  };
  EXPECT_EQ(run(ReluRule::grad), (std::vector<double>{0, -6, 7, 0}));
  EXPECT_EQ(run(ReluRule::deconvnet), (std::vector<double>{5, 0, 7, 8}));
  EXPECT_EQ(run(ReluRule::guided), (std::vector<double>{0, 0, 7, 0}));
  // The guard sets the rule for relu() calls recorded inside it.
  Tensor x = Tensor::from_vector(std::vector<double>{-1, 2}, {2});
  x.set_requires_grad(true);
  {
    ReluRuleGuard guard(ReluRule::deconvnet);
    relu(x).backward(Tensor::from_vector(std::vector<double>{3, -3}, {2}));
  }
  EXPECT_EQ(x.grad().to_vector_f64(), (std::vector<double>{3, 0}));
  EXPECT_EQ(ReluRuleGuard::current(), ReluRule::grad);
}

TEST(Autograd, Reductions) {
  auto x = random_input({3, 4, 5}, 6);
  EXPECT_TRUE(gradcheck([](auto v) { return sum(v[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return sum(v[0], {1}); }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return sum(v[0], {0, 2}, true); }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return mean(v[0], {-1}); }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return mean(v[0]); }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return max(v[0], 1).values; }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return max(v[0], 2, true).values; }, {x}));
  Tensor m = Tensor::from_vector(std::vector<float>{1, 7, 3, 9, 2, 4}, {2, 3});
  EXPECT_EQ(argmax(m, 1).to_vector_i32(), (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(sum(m, {0}).to_vector_f32(), (std::vector<float>{10, 9, 7}));
  EXPECT_THROW(sum(m, {2}), Error);
  EXPECT_THROW(sum(m, {1, 1}), Error);
}

TEST(Autograd, ViewsAreDifferentiable) {
  auto x = random_input({2, 3, 4}, 7);
  EXPECT_TRUE(gradcheck([](auto v) { return v[0].transpose(0, 2).reshape({4, 6}) * 2.0; }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return v[0].slice(1, 1, 3).permute({2, 0, 1}); }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return v[0].select(2, 1).unsqueeze(0); }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return v[0].slice(2, 0, 4, 3).contiguous(); }, {x}));
  auto b = random_input({1, 3, 1}, 8);
  EXPECT_TRUE(gradcheck([](auto v) { return v[0].expand({2, 3, 4}); }, {b}));
}

TEST(Autograd, Matmul) {
  auto a = random_input({5, 7}, 9), b = random_input({7, 3}, 10), c = random_input({3, 7}, 11);
  EXPECT_TRUE(gradcheck([](auto v) { return matmul(v[0], v[1]); }, {a, b}));
  EXPECT_TRUE(gradcheck([](auto v) { return matmul(v[0], v[1].t()); }, {a, c}));
  EXPECT_TRUE(gradcheck([](auto v) { return matmul(v[1].t().t(), v[0].t().contiguous().t()); }, {b, c}));
  auto ba = random_input({2, 3, 4}, 12), bb = random_input({2, 4, 5}, 13);
  EXPECT_TRUE(gradcheck([](auto v) { return matmul(v[0], v[1]); }, {ba, bb}));
  auto x = random_input({4, 6}, 14), w = random_input({3, 6}, 15), bias = random_input({3}, 16);
  EXPECT_TRUE(gradcheck([](auto v) { return linear(v[0], v[1], v[2]); }, {x, w, bias}));
  EXPECT_THROW(matmul(Tensor::ones({2, 3}), Tensor::ones({2, 3})), Error);
  EXPECT_THROW(linear(Tensor::ones({2, 4}), Tensor::ones({3, 5})), Error);
}

TEST(Autograd, MatmulFloatMatchesDouble) {
  Generator g(3);
  Tensor a = Tensor::randn({37, 53}, DType::f32, &g), b = Tensor::randn({53, 29}, DType::f32, &g);
  Tensor ref = matmul(a.to(DType::f64), b.to(DType::f64));
  EXPECT_TRUE(all_close(matmul(a, b).to(DType::f64), ref, 1e-4));
  EXPECT_TRUE(all_close(matmul(a.t().contiguous().t(), b).to(DType::f64), ref, 1e-4));
}

TEST(Autograd, SharedWeightsAccumulateBothUses) {
  // A siamese use: the same weight applied to two inputs; both gradients must add up.
  Tensor w = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  w.set_requires_grad(true);
  Tensor x1 = Tensor::from_vector(std::vector<double>{1, 0, 0}, {1, 3});
  Tensor x2 = Tensor::from_vector(std::vector<double>{0, 1, 0}, {1, 3});
  Tensor loss = sum(linear(x1, w)) + sum(linear(x2, w)) * 2.0;
  loss.backward();
  EXPECT_EQ(w.grad().to_vector_f64(), (std::vector<double>{1, 2, 0, 1, 2, 0}));
  // Calling backward again on a fresh graph accumulates into .grad.
  sum(linear(x1, w)).backward();
  EXPECT_EQ(w.grad().to_vector_f64(), (std::vector<double>{2, 2, 0, 2, 2, 0}));
  // The same tensor used twice in one expression (diamond).
  Tensor x = Tensor::from_vector(std::vector<double>{3}, {1});
  x.set_requires_grad(true);
  Tensor y = x * x;
  (y * y + y).backward(Tensor::ones({1}, DType::f64));
  EXPECT_DOUBLE_EQ(x.grad().item(), 4 * 27 + 2 * 3);  // d(x^4 + x^2)/dx
}

TEST(Autograd, LeafGradientsNeverAliasEachOtherOrTheCaller) {
  // The walk keeps a rule's fresh gradient as the leaf's buffer without copying it, but only
  // when nothing else holds it: add's rule hands the same upstream gradient to both inputs,
  // which must still get buffers of their own.
  Tensor a = Tensor::ones({3}), b = Tensor::ones({3});
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  sum(mul(add(a, b), 2.0)).backward();
  ASSERT_NE(a.grad().storage(), b.grad().storage());
  a.grad().fill_(7.0);
  EXPECT_EQ(b.grad().to_vector_f32(), std::vector<float>(3, 2.0f));
  // x + x: both uses add into one gradient.
  Tensor x = Tensor::ones({2});
  x.set_requires_grad(true);
  sum(add(x, x)).backward();
  EXPECT_EQ(x.grad().to_vector_f32(), std::vector<float>(2, 2.0f));
  // A leaf's own backward with the caller's gradient: the leaf gets a copy.
  Tensor leaf = Tensor::ones({2});
  leaf.set_requires_grad(true);
  Tensor g = Tensor::full({2}, 3.0);
  leaf.backward(g);
  g.fill_(0.0);
  EXPECT_EQ(leaf.grad().to_vector_f32(), std::vector<float>(2, 3.0f));
  // A fresh rule result becomes the gradient; a second backward adds into it.
  Tensor w = Tensor::ones({2});
  w.set_requires_grad(true);
  sum(mul(w, 3.0)).backward();
  sum(mul(w, 3.0)).backward();
  EXPECT_EQ(w.grad().to_vector_f32(), std::vector<float>(2, 6.0f));
}

TEST(Autograd, InputGradientsAndNoGrad) {
  Tensor img = random_input({1, 4}, 17);
  Tensor w = random_input({2, 4}, 18, -1, 1, false);
  sum(linear(img, w)).backward();
  ASSERT_TRUE(img.grad().defined());
  EXPECT_TRUE(all_close(img.grad(), sum(w, {0}, true), 1e-12));
  {
    NoGradGuard ng;
    Tensor y = linear(img, w);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_THROW(sum(y).backward(), Error);
  }
  Tensor d = img.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.storage(), img.storage());
}

TEST(Autograd, ClearErrors) {
  Tensor x = random_input({3}, 19);
  Tensor y = exp(x) * 2.0;
  Tensor loss = sum(y);
  loss.backward();
  try {
    loss.backward();
    FAIL() << "second backward through freed buffers did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("second time"), std::string::npos) << e.what();
  }
  Tensor z = sum(exp(x));
  z.backward(Tensor(), /*retain_graph=*/true);
  EXPECT_NO_THROW(z.backward());
  EXPECT_THROW(exp(x).backward(), Error);  // not a scalar and no upstream gradient
  Tensor plain = Tensor::ones({2});
  EXPECT_THROW(plain.backward(), Error);            // does not require grad
  EXPECT_THROW(y.set_requires_grad(false), Error);  // not a leaf
}

TEST(Gradcheck, CatchesAWrongBackward) {
  // A deliberately wrong rule (gradient of x^2 claimed to be x) must be reported.
  auto wrong_square = [](const std::vector<Tensor>& v) {
    Tensor x = v[0];
    Tensor out = mul(x.detach(), x.detach());
    return record(out, "wrong_square", {x},
                  [xd = x.detach()](const Tensor& g, const Node&) { return std::vector<Tensor>{mul(g, xd)}; });
  };
  EXPECT_FALSE(gradcheck(wrong_square, {random_input({4}, 20, 0.5, 1.5)}));
}

TEST(Ops, ForwardValuesByHand) {
  Tensor x = Tensor::from_vector(std::vector<double>{0.5, 2.0, 4.0}, {3});
  auto v = [](const Tensor& t) { return t.to_vector_f64(); };
  auto near = [](std::vector<double> a, std::vector<double> b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::abs(a[i] - b[i]) > 1e-12 * std::max(1.0, std::abs(b[i]))) return false;
    return true;
  };
  EXPECT_TRUE(near(v(exp(x)), {std::exp(0.5), std::exp(2.0), std::exp(4.0)}));
  EXPECT_TRUE(near(v(log(x)), {std::log(0.5), std::log(2.0), std::log(4.0)}));
  EXPECT_TRUE(near(v(sqrt(x)), {std::sqrt(0.5), std::sqrt(2.0), 2.0}));
  EXPECT_TRUE(near(v(pow(x, 3.0)), {0.125, 8, 64}));
  EXPECT_TRUE(near(v(sigmoid(x)), {1 / (1 + std::exp(-0.5)), 1 / (1 + std::exp(-2.0)), 1 / (1 + std::exp(-4.0))}));
  EXPECT_TRUE(near(v(tanh(x)), {std::tanh(0.5), std::tanh(2.0), std::tanh(4.0)}));
  EXPECT_TRUE(near(v(abs(neg(x))), {0.5, 2, 4}));
  EXPECT_TRUE(near(v(x + 1.5), {2, 3.5, 5.5}));
  EXPECT_TRUE(near(v(x - 1.5), {-1, 0.5, 2.5}));
  EXPECT_TRUE(near(v(x * 3.0), {1.5, 6, 12}));
  EXPECT_TRUE(near(v(x / 2.0), {0.25, 1, 2}));
  EXPECT_TRUE(near(v(rsub(1.0, x)), {0.5, -1, -3}));
  EXPECT_TRUE(near(v(rdiv(2.0, x)), {4, 1, 0.5}));
  EXPECT_TRUE(near(v(minimum(x, 2.0)), {0.5, 2, 2}));
  const double nan = std::nan("");
  const std::vector<double> clamped =
      minimum(Tensor::from_vector(std::vector<double>{nan, 3}, {2}), 1.0).to_vector_f64();
  EXPECT_TRUE(std::isnan(clamped[0]));  // a NaN is not clamped away
  EXPECT_EQ(clamped[1], 1.0);
  Tensor row = Tensor::from_vector(std::vector<double>{10, 20}, {2, 1});
  EXPECT_TRUE(near(v(add(row, x)), {10.5, 12, 14, 20.5, 22, 24}));
  EXPECT_TRUE(near(v(sub(x, row)), {-9.5, -8, -6, -19.5, -18, -16}));
  EXPECT_TRUE(near(v(mul(row, x)), {5, 20, 40, 10, 40, 80}));
  EXPECT_TRUE(near(v(div(x, row)), {0.05, 0.2, 0.4, 0.025, 0.1, 0.2}));
  EXPECT_TRUE(near(v(relu(Tensor::from_vector(std::vector<double>{-1, 0, 3}, {3}))), {0, 0, 3}));
}

TEST(Autograd, InPlaceChangeOfASavedInputIsAnError) {
  Tensor w = Tensor::ones({2}, DType::f64);
  w.set_requires_grad(true);
  Tensor x = Tensor::from_vector(std::vector<double>{3, 4}, {2});
  Tensor loss = sum(mul(w, x));
  x.fill_(0);
  EXPECT_THROW(loss.backward(), Error);
  // Unmodified, the same computation runs.
  Tensor x2 = Tensor::from_vector(std::vector<double>{3, 4}, {2});
  sum(mul(w, x2)).backward();
  EXPECT_EQ(w.grad().to_vector_f64(), (std::vector<double>{3, 4}));
}

TEST(Tensor, ViewsOfStridedTensorsShareStorage) {
  Tensor x = Tensor::zeros({2, 3});
  x.select(1, 0).copy_(Tensor::ones({2}));
  EXPECT_EQ(x.to_vector_f32(), (std::vector<float>{1, 0, 0, 1, 0, 0}));
  Tensor t = x.t();  // [3, 2], not contiguous
  EXPECT_EQ(t.unsqueeze(0).storage(), x.storage());
  EXPECT_EQ(t.unsqueeze(2).squeeze(2).storage(), x.storage());
  EXPECT_EQ(t.unsqueeze(1).shape(), (Shape{3, 1, 2}));
  EXPECT_EQ(t.unsqueeze(1).contiguous().to_vector_f32(), t.contiguous().to_vector_f32());
  // Splitting a dimension of a transposed tensor is a view; merging across the transpose is not.
  Tensor a = Tensor::arange(24).reshape({4, 6}).t();  // [6, 4], strides [1, 6]
  Tensor split = a.reshape({2, 3, 4});
  EXPECT_EQ(split.storage(), a.storage());
  EXPECT_EQ(split.contiguous().to_vector_f32(), a.contiguous().to_vector_f32());
  Tensor merged = a.reshape({24});
  EXPECT_NE(merged.storage(), a.storage());
  EXPECT_EQ(merged.to_vector_f32(), a.contiguous().to_vector_f32());
  EXPECT_THROW(a.view({24}), Error);
  EXPECT_THROW(Tensor::ones({1, 3}).expand({-1, 3}), Error);
  EXPECT_THROW(Tensor::empty({1LL << 40, 1LL << 40}), Error);
}
