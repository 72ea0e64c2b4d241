// Tests for inference fusion: conv2d_inference (engine/ops/conv.h), whose batch norm and ReLU
// run in the convolution's epilogue (kernels/cpu/conv_epilogue.h), against conv2d, batch_norm
// and relu run in turn, on every CPU path (direct, im2col with one image or a chunk of images per
// GEMM, pointwise, Winograd) in f32 and f64; its errors; and nn::Sequential's fusion
// (engine/nn/fusion.h): where it applies and where it must not. On simt (the implicit GEMM's
// store applies them; every tile and K-slicing in tests/device_checks/conv.cpp) against the cpu.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/device/device.h"
#include "engine/nn/fusion.h"
#include "engine/nn/layers.h"
#include "engine/ops/decisions.h"
#include "tests/support/conv_cases.h"
#include "tests/support/gradcheck.h"

using namespace pw;
using pw::testing::ConvCase;
using pw::testing::expect_error;
using pw::testing::P;

namespace {

// Exactly equal, element by element (NaN nowhere expected).
::testing::AssertionResult identical(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return ::testing::AssertionFailure() << "shapes differ";
  const std::vector<double> x = a.to_vector_f64(), y = b.to_vector_f64();
  for (size_t i = 0; i < x.size(); ++i)
    if (!(x[i] == y[i]))
      return ::testing::AssertionFailure()
             << "element " << i << ": " << x[i] << " vs " << y[i] << " (of " << x.size() << ")";
  return ::testing::AssertionSuccess();
}

Tensor random(const Shape& s, uint64_t seed, DType dt, double lo = -1, double hi = 1) {
  Generator g(seed, 11);
  return Tensor::rand(s, lo, hi, dt, &g);
}

// The conv_cases, plus planes large enough for one image per GEMM and a Winograd-sized layer.
std::vector<ConvCase> cases() {
  std::vector<ConvCase> c = pw::testing::conv_cases();
  c.push_back({"one image per GEMM", 2, 3, 30, 29, 5, 3, 3, P(1, 1, 1, 1), true});
  c.push_back({"winograd sized", 2, 8, 9, 10, 6, 3, 3, P(1, 1, 1, 1), true});
  c.push_back({"winograd sized, no padding", 3, 5, 11, 7, 9, 3, 3, P(), false});
  return c;
}

enum class Norm { none, affine, plain };

}  // namespace

TEST(ConvInference, EqualsConvBatchNormReluOnEveryPath) {
  NoGradGuard no_grad;
  int runs = 0;
  for (const ConvCase& c : cases())
    for (ConvAlgo algo : {ConvAlgo::direct, ConvAlgo::im2col, ConvAlgo::winograd, ConvAlgo::implicit})
      for (DType dt : {DType::f32, DType::f64})
        for (Norm norm : {Norm::none, Norm::affine, Norm::plain})
          for (bool relu : {false, true}) {
            SCOPED_TRACE(std::string(c.name) + ", algorithm " + std::to_string(int(algo)) + ", " + dtype_name(dt) +
                         ", norm " + std::to_string(int(norm)) + (relu ? ", relu" : ""));
            ConvAlgoGuard guard(algo);
            const Tensor x = random({c.N, c.C, c.H, c.W}, 1, dt);
            const Tensor w = random({c.O, c.C / c.p.groups, c.kh, c.kw}, 2, dt);
            const Tensor b = c.bias ? random({c.O}, 3, dt) : Tensor();
            BatchNormInference bn{random({c.O}, 4, dt), random({c.O}, 5, dt, 0.1, 2), Tensor(), Tensor(), 1e-3};
            if (norm == Norm::affine) bn.weight = random({c.O}, 6, dt), bn.bias = random({c.O}, 7, dt);
            Tensor want = conv2d(x, w, b, c.p);
            if (norm != Norm::none)
              want = batch_norm(want, bn.running_mean, bn.running_var, bn.weight, bn.bias, false, 0.1, bn.eps);
            if (relu) want = pw::relu(want);
            const Tensor got = conv2d_inference(x, w, b, c.p, norm == Norm::none ? nullptr : &bn, relu);
            EXPECT_TRUE(identical(got, want));
            ++runs;
          }
  EXPECT_EQ(runs, int(cases().size()) * 48);
}

TEST(ConvInference, ArgumentErrors) {
  const Tensor x = random({1, 2, 5, 5}, 1, DType::f32), w = random({3, 2, 3, 3}, 2, DType::f32);
  BatchNormInference bn{random({3}, 4, DType::f32), random({3}, 5, DType::f32, 0.1, 2), Tensor(), Tensor(), 1e-5};
  {
    NoGradGuard no_grad;
    BatchNormInference short_mean = bn;
    short_mean.running_mean = random({2}, 4, DType::f32);
    expect_error([&] { conv2d_inference(x, w, Tensor(), {}, &short_mean, true); },
                 "conv2d_inference: batch norm running_mean has shape [2], expected [3]");
    BatchNormInference no_var = bn;
    no_var.running_var = Tensor();
    expect_error([&] { conv2d_inference(x, w, Tensor(), {}, &no_var, true); }, "needs running_mean and running_var");
    BatchNormInference f64_weight = bn;
    f64_weight.weight = random({3}, 6, DType::f64);
    expect_error([&] { conv2d_inference(x, w, Tensor(), {}, &f64_weight, true); },
                 "batch norm weight is f64, the input is f32");
    expect_error(
        [&] {
          conv2d_inference(x, random({3, 1, 3, 3}, 2, DType::f32), Tensor(), {}, &bn, true);
        },
        "conv2d: input has 2 channels, weight expects 1");
  }
  // With grad mode on, an input that requires grad would need a graph the op does not record.
  Tensor wg = w.detach();
  wg.set_requires_grad(true);
  expect_error([&] { conv2d_inference(x, wg, Tensor(), {}, &bn, true); }, "conv2d_inference: records no graph");
  EXPECT_NO_THROW(conv2d_inference(x, w, Tensor(), {}, &bn, true));  // nothing requires grad
}

namespace {

// conv-bn-relu, conv-relu, conv-bn, a pool, and a conv with nothing after it to fuse.
std::shared_ptr<nn::Sequential> small_network() {
  auto net = std::make_shared<nn::Sequential>();
  net->push_back(std::make_shared<nn::Conv2d>(3, 6, 3, 1, 1));
  net->push_back(std::make_shared<nn::BatchNorm2d>(6));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::Conv2d>(6, 5, 3, 2, 1));
  net->push_back(std::make_shared<nn::ReLU>());
  net->push_back(std::make_shared<nn::Conv2d>(5, 4, 1));
  net->push_back(std::make_shared<nn::BatchNorm2d>(4));
  net->push_back(std::make_shared<nn::MaxPool2d>(2));
  net->push_back(std::make_shared<nn::Conv2d>(4, 2, 1));
  // Running statistics other than 0 and 1, so that the folded batch norm does something.
  for (auto& [name, t] : net->named_buffers()) t.copy_(random(t.shape(), name.size(), DType::f32, 0.2, 1.5));
  return net;
}

Tensor layer_by_layer(nn::Sequential& net, const Tensor& x) {
  nn::InferenceFusionGuard off(false);
  return net.forward(x);
}

}  // namespace

TEST(SequentialFusion, EvalWithoutGradEqualsLayerByLayer) {
  auto net = small_network();
  net->eval();
  const Tensor x = random({2, 3, 9, 8}, 9, DType::f32);
  NoGradGuard no_grad;
  EXPECT_TRUE(identical(net->forward(x), layer_by_layer(*net, x)));
  net->to(DType::f64);
  EXPECT_TRUE(identical(net->forward(x.to(DType::f64)), layer_by_layer(*net, x.to(DType::f64))));
}

TEST(SequentialFusion, NotWhereItWouldChangeTheResultOrLoseTheGraph) {
  auto net = small_network();
  const Tensor x = random({2, 3, 9, 8}, 9, DType::f32);
  {
    // Training mode: batch norm uses the batch's statistics (and updates the running ones).
    NoGradGuard no_grad;
    auto twin = small_network();
    twin->load_state_dict(net->state_dict());
    EXPECT_TRUE(identical(net->forward(x), layer_by_layer(*twin, x)));
    EXPECT_TRUE(identical(net->named_buffers()[0].second, twin->named_buffers()[0].second));
  }
  net->eval();
  // Grad mode on: the output has a graph back to the weights.
  const Tensor y = net->forward(x);
  ASSERT_TRUE(y.requires_grad());
  pw::sum(y).backward();
  EXPECT_TRUE(net->named_parameters()[0].second.grad().defined());
  // Recording decisions: every ReLU records its own.
  NoGradGuard no_grad;
  DecisionTape tape;
  {
    RecordDecisions rec(tape);
    net->forward(x);
  }
  EXPECT_EQ(tape.size(), 3u);  // two ReLUs and the max-pool
}

TEST(SequentialFusion, WhichRunsFuse) {
  auto conv = std::make_shared<nn::Conv2d>(3, 4, 3);
  auto bn = std::make_shared<nn::BatchNorm2d>(4);
  auto other_bn = std::make_shared<nn::BatchNorm2d>(5);
  auto relu = std::make_shared<nn::ReLU>();
  auto pool = std::make_shared<nn::MaxPool2d>(2);
  bn->eval(), other_bn->eval();
  const Tensor x0 = random({1, 3, 6, 6}, 1, DType::f32);
  auto covered = [&](std::vector<std::shared_ptr<nn::Module>> mods, size_t i = 0) {
    Tensor x = x0;
    const size_t n = nn::run_fused(mods, i, x);
    EXPECT_EQ(n == 0, x.data<float>() == x0.data<float>()) << "x is replaced exactly when a run fused";
    return n;
  };
  NoGradGuard no_grad;
  EXPECT_EQ(covered({conv, bn, relu, pool}), 3u);
  EXPECT_EQ(covered({conv, bn, pool}), 2u);
  EXPECT_EQ(covered({conv, relu}), 2u);
  EXPECT_EQ(covered({pool, conv, relu}, 1), 2u);
  EXPECT_EQ(covered({conv, pool}), 0u);      // nothing to fuse
  EXPECT_EQ(covered({conv}), 0u);            // nothing after it
  EXPECT_EQ(covered({relu, conv}), 0u);      // not a convolution
  EXPECT_EQ(covered({conv, other_bn}), 0u);  // 5 features after 4 channels: its own error
  EXPECT_EQ(covered({conv, other_bn, relu}), 0u);
  bn->train();
  EXPECT_EQ(covered({conv, bn, relu}), 0u);  // batch statistics: ReLU alone does not jump the BN
  bn->eval();
  {
    nn::InferenceFusionGuard off(false);
    EXPECT_EQ(covered({conv, bn, relu}), 0u);
  }
  {
    DetectAnomalyGuard anomaly;  // every op's output is checked on its own
    EXPECT_EQ(covered({conv, bn, relu}), 0u);
  }
  GradMode::set_enabled(true);  // a graph is being built
  EXPECT_EQ(covered({conv, bn, relu}), 0u);
  GradMode::set_enabled(false);
  EXPECT_EQ(covered({conv, bn, relu}), 3u);
}

TEST(ConvInference, OnSimtAgreesWithTheCpu) {
  const Device simt{DeviceType::simt, 0};
  if (!device_available(simt)) GTEST_SKIP() << "simt is not available in this build";
  NoGradGuard no_grad;
  const Tensor x = random({2, 5, 9, 7}, 1, DType::f32), w = random({6, 5, 3, 3}, 2, DType::f32),
               b = random({6}, 3, DType::f32);
  const BatchNormInference bn{random({6}, 4, DType::f32), random({6}, 5, DType::f32, 0.1, 2),
                              random({6}, 6, DType::f32), random({6}, 7, DType::f32), 1e-3};
  const BatchNormInference on_simt{bn.running_mean.to(simt), bn.running_var.to(simt), bn.weight.to(simt),
                                   bn.bias.to(simt), bn.eps};
  const Tensor want = conv2d_inference(x, w, b, P(1, 2, 1, 0), &bn, true);
  const Tensor got = conv2d_inference(x.to(simt), w.to(simt), b.to(simt), P(1, 2, 1, 0), &on_simt, true);
  ASSERT_EQ(got.device(), simt);
  EXPECT_TRUE(pw::testing::all_close(got.to(Device::cpu()), want, 1e-5));
}
