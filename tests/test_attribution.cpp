// Attribution: Grad-CAM against a hand computation on a network of one 1x1 convolution, ReLU,
// global average pool and linear layer; the bilinear upsampling against PyTorch's numbers;
// Guided Grad-CAM as guided backpropagation times the map; SmoothGrad without noise as plain
// saliency; Integrated Gradients exact on a linear model and complete within 1% with 64 steps on
// a small trained network.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/nn.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "tasks/datasets.h"
#include "tasks/viz/attribution.h"

using namespace pw;
using namespace pw::tasks::viz;

namespace {

void set_values(Tensor& t, const std::vector<float>& v) {
  ASSERT_EQ(t.numel(), (int64_t)v.size());
  std::copy(v.begin(), v.end(), t.data<float>());
}

// conv1: 1x1, two channels, A0 = relu(x), A1 = relu(0.5 - x); gap; fc: class 0 = 2 a0 - a1 + 0.1,
// class 1 = -a0 + 3 a1, class 2 = 0.
std::shared_ptr<nn::Sequential> tiny_cam_net() {
  auto s = std::make_shared<nn::Sequential>();
  auto conv = std::make_shared<nn::Conv2d>(1, 2, 1);
  auto fc = std::make_shared<nn::Linear>(2, 3);
  set_values(conv->weight, {1.f, -1.f});
  set_values(conv->bias, {0.f, 0.5f});
  set_values(fc->weight, {2.f, -1.f, -1.f, 3.f, 0.f, 0.f});
  set_values(fc->bias, {0.1f, 0.f, 0.f});
  s->push_back("conv1", conv);
  s->push_back("relu1", std::make_shared<nn::ReLU>());
  s->push_back("gap", std::make_shared<nn::AdaptiveAvgPool2d>(1));
  s->push_back("flatten", std::make_shared<nn::Flatten>());
  s->push_back("fc", fc);
  return s;
}

std::shared_ptr<nn::Sequential> small_net(int64_t in_ch, int64_t classes) {
  auto s = std::make_shared<nn::Sequential>();
  s->push_back("conv1", std::make_shared<nn::Conv2d>(in_ch, 6, 3, 1, 1));
  s->push_back("relu1", std::make_shared<nn::ReLU>());
  s->push_back("pool1", std::make_shared<nn::MaxPool2d>(2));
  s->push_back("conv2", std::make_shared<nn::Conv2d>(6, 8, 3, 1, 1));
  s->push_back("relu2", std::make_shared<nn::ReLU>());
  s->push_back("flatten", std::make_shared<nn::Flatten>());
  s->push_back("fc", std::make_shared<nn::Linear>(8 * 4 * 4, classes));
  return s;
}

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << what << " [" << i << "]";
}

}  // namespace

TEST(Attribution, GradCamEqualsAHandComputation) {
  auto net = tiny_cam_net();
  // x = [1, -2; 3, 0.5]: A0 = [1, 0; 3, 0.5], A1 = [0, 2.5; 0, 0].
  const Tensor x = Tensor::from_vector(std::vector<float>{1, -2, 3, 0.5f}, {1, 1, 2, 2});
  GradCamOptions o;
  o.guided = false;
  // Class 0: alpha = [2, -1] / 4; cam = relu(0.5 A0 - 0.25 A1) = [0.5, 0, 1.5, 0.25].
  GradCamResult r = grad_cam(*net, x, {0}, o);
  EXPECT_EQ(r.layer, "relu1");  // the ReLU after the last convolution
  EXPECT_EQ(r.map_height, 2);
  EXPECT_EQ(r.map_width, 2);
  expect_near_all(r.weights[0], {0.5, -0.25}, 1e-7, "alpha, class 0");
  expect_near_all(r.cams[0], {0.5, 0, 1.5, 0.25}, 1e-6, "cam, class 0");
  EXPECT_NEAR(r.scores[0], 2 * 4.5 / 4 - 2.5 / 4 + 0.1, 1e-6);
  // At the input's size the upsampling is the identity; the map is divided by its maximum.
  std::vector<double> map(r.maps[0].begin(), r.maps[0].end());
  expect_near_all(map, {1.0 / 3, 0, 1, 1.0 / 6}, 1e-6, "map, class 0");
  // Class 1: alpha = [-1, 3] / 4; cam = relu(-0.25 A0 + 0.75 A1) = [0, 1.875, 0, 0].
  r = grad_cam(*net, x, {1}, o);
  expect_near_all(r.weights[0], {-0.25, 0.75}, 1e-7, "alpha, class 1");
  expect_near_all(r.cams[0], {0, 1.875, 0, 0}, 1e-6, "cam, class 1");
  // The predicted class (-1): class 0 scores 1.725, class 1 = -4.5/4 + 7.5/4 = 0.75.
  r = grad_cam(*net, x, {-1}, o);
  EXPECT_EQ(r.classes[0], 0);
  // In a plain Sequential "conv1" is a layer path, read as it is: before the ReLU, A0 = x and
  // A1 = 0.5 - x = [-0.5, 2.5; -2.5, 0]. For class 0 the gradient reaches A_k where A_k > 0:
  // dS/dA0 = 2/4 [1, 0; 1, 1], dS/dA1 = -1/4 [0, 1; 0, 0], so alpha = [0.375, -0.0625] and
  // cam = relu(0.375 A0 - 0.0625 A1) = [0.40625, 0, 1.28125, 0.1875].
  o.layer = "conv1";
  r = grad_cam(*net, x, {0}, o);
  EXPECT_EQ(r.layer, "conv1");
  expect_near_all(r.weights[0], {0.375, -0.0625}, 1e-7, "alpha, conv1");
  expect_near_all(r.cams[0], {0.40625, 0, 1.28125, 0.1875}, 1e-6, "cam, conv1");
  o.layer = "features.conv1";
  EXPECT_THROW(grad_cam(*net, x, {0}, o), Error);  // no such layer
}

TEST(Attribution, BilinearResizeMatchesPyTorch) {
  // torch.nn.functional.interpolate(arange(4).view(1,1,2,2), size=4, mode="bilinear",
  // align_corners=False)
  const std::vector<double> got = resize_bilinear({0, 1, 2, 3}, 2, 2, 4, 4);
  expect_near_all(got, {0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3}, 1e-12,
                  "resize");
  EXPECT_THROW(resize_bilinear({0, 1, 2}, 2, 2, 4, 4), Error);
}

TEST(Attribution, GuidedGradCamIsGuidedBackpropTimesTheMap) {
  manual_seed(4);
  auto net = small_net(1, 5);
  const Tensor x = Tensor::randn({2, 1, 8, 8});
  GradCamOptions o;
  o.layer = "relu2";  // 4x4 maps upsampled to 8x8
  const GradCamResult r = grad_cam(*net, x, {-1, 3}, o);
  ASSERT_EQ(r.map_height, 4);
  EXPECT_EQ(r.classes[1], 3);
  SaliencyOptions so;
  so.rule = ReluRule::guided;
  const SaliencyResult s = saliency(*net, x, r.classes, so);
  const std::vector<float> g = s.gradient.to_vector_f32(), gg = r.guided.to_vector_f32();
  ASSERT_EQ(gg.size(), g.size());
  for (size_t i = 0; i < g.size(); ++i) EXPECT_FLOAT_EQ(gg[i], g[i] * r.maps[i / 64][i % 64]) << i;
  for (const auto& m : r.maps) EXPECT_FLOAT_EQ(*std::max_element(m.begin(), m.end()), 1.f);
}

TEST(Attribution, GradCamErrorsNameTheProblem) {
  auto net = small_net(1, 5);
  const Tensor x = Tensor::randn({1, 1, 8, 8});
  GradCamOptions o;
  o.layer = "fc";
  EXPECT_THROW(grad_cam(*net, x, {0}, o), Error);  // not maps of channels
  o.layer = "";
  EXPECT_THROW(grad_cam(*net, x, {7}, o), Error);     // class out of range
  EXPECT_THROW(grad_cam(*net, x, {0, 1}, o), Error);  // one class per image
}

TEST(Attribution, SmoothGradWithoutNoiseIsPlainSaliency) {
  manual_seed(5);
  auto net = small_net(2, 4);
  const Tensor x = Tensor::randn({3, 2, 8, 8});
  SmoothGradOptions o;
  o.noise = 0;
  o.samples = 5;
  o.batch = 2;  // batches of 2, 2 and 1
  const SaliencyResult smooth = smooth_grad(*net, x, {-1, 0, 2}, o);
  const SaliencyResult plain = saliency(*net, x, {-1, 0, 2}, o.saliency);
  EXPECT_EQ(smooth.classes, plain.classes);
  const std::vector<float> a = smooth.gradient.to_vector_f32(), b = plain.gradient.to_vector_f32();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6f * std::max(1.f, std::fabs(b[i]))) << i;
  for (size_t n = 0; n < 3; ++n) {
    EXPECT_NEAR(smooth.scores[n], plain.scores[n], 1e-5);
    for (size_t i = 0; i < plain.maps[n].size(); ++i) EXPECT_NEAR(smooth.maps[n][i], plain.maps[n][i], 1e-5);
  }
  // With noise the gradient changes, and the same seed gives the same result.
  o.noise = 0.2;
  const SaliencyResult n1 = smooth_grad(*net, x, {-1, 0, 2}, o), n2 = smooth_grad(*net, x, {-1, 0, 2}, o);
  EXPECT_EQ(n1.gradient.to_vector_f32(), n2.gradient.to_vector_f32());
  EXPECT_NE(n1.gradient.to_vector_f32(), a);
  o.samples = 0;
  EXPECT_THROW(smooth_grad(*net, x, {0, 0, 0}, o), Error);
}

TEST(Attribution, IntegratedGradientsOfALinearModelAreExact) {
  // S_c(x) = w_c . x + b_c: IG_i = (x_i - x'_i) w_ci for any number of steps.
  auto s = std::make_shared<nn::Sequential>();
  s->push_back("flatten", std::make_shared<nn::Flatten>());
  auto fc = std::make_shared<nn::Linear>(4, 2);
  set_values(fc->weight, {1.f, -2.f, 0.5f, 3.f, 0.f, 1.f, 1.f, 1.f});
  set_values(fc->bias, {0.25f, 0.f});
  s->push_back("fc", fc);
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 2, 3, 4}, {1, 1, 2, 2});
  const Tensor baseline = Tensor::from_vector(std::vector<float>{0, 1, 0, 1}, {1, 2, 2});
  IntegratedGradientsOptions o;
  o.steps = 3;
  const IntegratedGradientsResult r = integrated_gradients(*s, x, baseline, {0}, o);
  expect_near_all(std::vector<double>(r.attributions.to_vector_f64()), {1, -2, 1.5, 9}, 1e-6, "attributions");
  EXPECT_NEAR(r.sums[0], 9.5, 1e-6);
  EXPECT_NEAR(r.scores[0] - r.baseline_scores[0], 9.5, 1e-5);
  EXPECT_LT(r.completeness_error[0], 1e-6);
}

// A small network trained for one epoch on 2048 Fashion-MNIST images (its scores differ from the
// black image's by 0.8 to 9; a network at its random initialization differs by too little for a
// relative error to mean much).
TEST(Attribution, IntegratedGradientsAreCompleteWithin1PercentWith64Steps) {
  tasks::DataOptions data_options;
  data_options.limit_train = 2048;
  data_options.limit_test = 8;
  const tasks::Dataset d = tasks::load_dataset("fashion-mnist", data_options);
  manual_seed(3);
  auto net = std::make_shared<nn::Sequential>();
  net->push_back("conv1", std::make_shared<nn::Conv2d>(1, 16, 5, 1, 2));
  net->push_back("relu1", std::make_shared<nn::ReLU>());
  net->push_back("pool1", std::make_shared<nn::MaxPool2d>(2));
  net->push_back("conv2", std::make_shared<nn::Conv2d>(16, 32, 3, 1, 1));
  net->push_back("relu2", std::make_shared<nn::ReLU>());
  net->push_back("pool2", std::make_shared<nn::MaxPool2d>(2));
  net->push_back("flatten", std::make_shared<nn::Flatten>());
  net->push_back("fc", std::make_shared<nn::Linear>(32 * 7 * 7, 10));
  optim::Adam opt(net->parameters(), 2e-3);
  for (int64_t b = 0; b < 2048; b += 64) {
    opt.zero_grad();
    cross_entropy((*net)(d.train_images.slice(0, b, b + 64).contiguous()),
                  d.train_labels.slice(0, b, b + 64).contiguous())
        .backward();
    opt.step();
  }
  const Tensor baseline = Tensor::full({1, 28, 28}, -d.mean[0] / d.std[0]);  // black
  IntegratedGradientsOptions o;
  o.steps = 64;  // the midpoint rule: 64 gradients
  const IntegratedGradientsResult r =
      integrated_gradients(*net, d.test_images, baseline, std::vector<int64_t>(8, -1), o);
  ASSERT_EQ(r.completeness_error.size(), 8u);
  std::printf("largest completeness error over 8 images, 64 steps, midpoint rule: %.5f\n",
              *std::max_element(r.completeness_error.begin(), r.completeness_error.end()));
  for (size_t n = 0; n < 8; ++n) {
    const double diff = r.scores[n] - r.baseline_scores[n];
    EXPECT_LT(r.completeness_error[n], 0.01) << "image " << n << ": sum " << r.sums[n] << ", S(x) - S(x') " << diff;
    const std::vector<double> a = r.attributions.select(0, (int64_t)n).to_vector_f64();
    double total = 0;
    for (double v : a) total += v;
    EXPECT_NEAR(total, r.sums[n], 1e-4 * std::max(1.0, std::fabs(total)));
  }
  EXPECT_THROW(integrated_gradients(*net, d.test_images, Tensor::zeros({2, 28, 28}), std::vector<int64_t>(8, 0), o),
               Error);
  o.rule = "simpson";
  EXPECT_THROW(integrated_gradients(*net, d.test_images, baseline, std::vector<int64_t>(8, 0), o), Error);
}

TEST(Attribution, IntegrationRules) {
  std::vector<double> a, w;
  integration_rule("midpoint", 4, a, w);
  EXPECT_EQ(a, (std::vector<double>{0.125, 0.375, 0.625, 0.875}));
  EXPECT_EQ(w, (std::vector<double>(4, 0.25)));
  integration_rule("trapezoid", 2, a, w);
  EXPECT_EQ(a, (std::vector<double>{0, 0.5, 1}));
  EXPECT_EQ(w, (std::vector<double>{0.25, 0.5, 0.25}));
  integration_rule("right", 2, a, w);
  EXPECT_EQ(a, (std::vector<double>{0.5, 1}));
  EXPECT_EQ(w, (std::vector<double>{0.5, 0.5}));
  EXPECT_THROW(integration_rule("midpoint", 0, a, w), Error);
}
