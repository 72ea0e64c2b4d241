// Visualization: the input gradient against central differences, the ReLU rules on a network
// small enough to differentiate by hand, saliency on a network that can only see one region,
// class and unit maximization on a trained network, DeepDream's octaves and determinism,
// filter pictures, image helpers and errors.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/nn.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "tasks/datasets.h"
#include "tasks/viz/ascent.h"
#include "tasks/viz/filters.h"
#include "tasks/viz/inversion.h"
#include "tasks/viz/saliency.h"

using namespace pw;
using namespace pw::tasks::viz;

namespace {

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

// A small network trained for a moment on Fashion-MNIST (2048 images), shared by the tests.
std::shared_ptr<nn::Sequential> trained_net() {
  static std::shared_ptr<nn::Sequential> net = [] {
    tasks::DataOptions o;
    o.limit_train = 2048;
    o.limit_test = 16;
    tasks::Dataset d = tasks::load_dataset("fashion-mnist", o);
    manual_seed(3);
    auto s = std::make_shared<nn::Sequential>();
    s->push_back("conv1", std::make_shared<nn::Conv2d>(1, 16, 5, 1, 2));
    s->push_back("relu1", std::make_shared<nn::ReLU>());
    s->push_back("pool1", std::make_shared<nn::MaxPool2d>(2));
    s->push_back("conv2", std::make_shared<nn::Conv2d>(16, 32, 3, 1, 1));
    s->push_back("relu2", std::make_shared<nn::ReLU>());
    s->push_back("pool2", std::make_shared<nn::MaxPool2d>(2));
    s->push_back("flatten", std::make_shared<nn::Flatten>());
    s->push_back("fc", std::make_shared<nn::Linear>(32 * 7 * 7, 10));
    optim::Adam opt(s->parameters(), 2e-3);
    for (int epoch = 0; epoch < 3; ++epoch)
      for (int64_t b = 0; b < 2048; b += 64) {
        opt.zero_grad();
        Tensor loss = cross_entropy((*s)(d.train_images.slice(0, b, b + 64).contiguous()),
                                    d.train_labels.slice(0, b, b + 64).contiguous());
        loss.backward();
        opt.step();
      }
    s->eval();
    return s;
  }();
  return net;
}

InputSpace fashion_space() {
  InputSpace s;
  s.channels = 1;
  s.height = s.width = 28;
  s.mean = {0.2860f};
  s.std = {0.3530f};
  return s;
}

}  // namespace

TEST(Viz, InputGradientMatchesCentralDifferences) {
  manual_seed(1);
  auto net = small_net(2, 5);
  net->to(DType::f64);
  Tensor x = Tensor::randn({2, 2, 8, 8}, DType::f64);
  // Class scores (one class per image) and a unit of an inner layer, through ReLUs and a max pool.
  std::vector<std::pair<std::string, Objective>> cases = {
      {"",
       [](const Tensor& a) {
         Tensor m = Tensor::from_vector(std::vector<double>{0, 0, 1, 0, 0, 0, 0, 0, 0, 1}, {2, 5});
         return sum(a * m, {1});
       }},
      {"conv2",
       [](const Tensor& a) {
         return sum(a * a, {1, 2, 3}) * 0.5;
       }},
  };
  for (auto& [layer, objective] : cases) {
    InputGradient ig = input_gradient(*net, layer, x, objective);
    ASSERT_EQ(ig.grad.shape(), x.shape());
    std::vector<double> g = ig.grad.to_vector_f64(), xv = x.to_vector_f64();
    const double eps = 1e-6;
    int64_t checked = 0;
    for (int64_t i = 0; i < x.numel(); i += 2) {
      auto total = [&](double delta) {
        std::vector<double> v = xv;
        v[i] += delta;
        std::vector<double> o = input_gradient(*net, layer, Tensor::from_vector(v, x.shape()), objective).objective;
        return o[0] + o[1];
      };
      const double fd = (total(eps) - total(-eps)) / (2 * eps);
      EXPECT_NEAR(g[i], fd, 1e-6 * std::max(1.0, std::fabs(fd))) << "layer '" << layer << "' element " << i;
      ++checked;
    }
    EXPECT_GT(checked, 100);
  }
  // Parameters gained no gradients and still require them, and the model is back in training mode.
  for (const Tensor& p : net->parameters()) {
    EXPECT_FALSE(p.grad().defined());
    EXPECT_TRUE(p.requires_grad());
  }
  EXPECT_TRUE(net->is_training());
}

TEST(Viz, ReluRulesEqualHandComputedValues) {
  // x (2) -> W1 (3x2) -> ReLU -> w2 (1x3) -> y. At x = (1, 2): h = W1 x = (3, -1, 1), relu: (3, 0, 1).
  auto net = std::make_shared<nn::Sequential>();
  auto l1 = std::make_shared<nn::Linear>(2, 3, false);
  auto l2 = std::make_shared<nn::Linear>(3, 1, false);
  net->push_back("l1", l1);
  net->push_back("relu", std::make_shared<nn::ReLU>());
  net->push_back("l2", l2);
  l1->weight.copy_(Tensor::from_vector(std::vector<double>{1, 1, 1, -1, -1, 1}, {3, 2}).to(DType::f32));
  l2->weight.copy_(Tensor::from_vector(std::vector<double>{2, 5, -3}, {1, 3}).to(DType::f32));
  Tensor x = Tensor::from_vector(std::vector<float>{1, 2}, {1, 2});
  // As [N, C, H, W] for input_gradient: a 1x1 image of 2 channels, flattened by the net.
  auto flat = std::make_shared<nn::Sequential>();
  flat->push_back("flatten", std::make_shared<nn::Flatten>());
  flat->push_back("net", net);
  Tensor x4 = x.reshape({1, 2, 1, 1});
  auto grad = [&](ReluRule rule) {
    return input_gradient(
               *flat, "", x4, [](const Tensor& y) { return sum(y, {1}); }, rule)
        .grad.to_vector_f32();
  };
  // Upstream gradient at the ReLU: w2 = (2, 5, -3).
  // grad:      (2, 0, -3)  (unit 2 is off)      -> W1^T g = (2*1 + -3*-1, 2*1 + -3*1) = (5, -1)
  // deconvnet: (2, 5, 0)   (positive gradients) -> (2*1 + 5*1, 2*1 + 5*-1) = (7, -3)
  // guided:    (2, 0, 0)   (both)               -> (2, 2)
  EXPECT_EQ(grad(ReluRule::grad), (std::vector<float>{5, -1}));
  EXPECT_EQ(grad(ReluRule::deconvnet), (std::vector<float>{7, -3}));
  EXPECT_EQ(grad(ReluRule::guided), (std::vector<float>{2, 2}));
}

TEST(Viz, SaliencyFallsInTheOnlyRegionThatMatters) {
  // Class 1's weights see only rows 4..9, columns 8..13 of conv1's map (conv1 is 3x3, so the input
  // region is one pixel wider on each side); class 0 sees everything.
  manual_seed(5);
  auto s = std::make_shared<nn::Sequential>();
  auto conv = std::make_shared<nn::Conv2d>(3, 4, 3, 1, 1);
  auto fc = std::make_shared<nn::Linear>(4 * 16 * 16, 2);
  s->push_back("conv1", conv);
  s->push_back("relu1", std::make_shared<nn::ReLU>());
  s->push_back("flatten", std::make_shared<nn::Flatten>());
  s->push_back("fc", fc);
  std::vector<float> w = fc->weight.to_vector_f32();
  for (int64_t c = 0; c < 4; ++c)
    for (int64_t y = 0; y < 16; ++y)
      for (int64_t x = 0; x < 16; ++x)
        if (!(y >= 4 && y < 10 && x >= 8 && x < 14)) w[4 * 256 + c * 256 + y * 16 + x] = 0;  // row 1 = class 1
  fc->weight.copy_(Tensor::from_vector(w, fc->weight.shape()));
  Tensor img = Tensor::randn({3, 3, 16, 16});
  SaliencyOptions o;
  o.clip_percentile = 100;
  for (const char* how : {"max", "sum", "l2"}) {
    o.reduce = how;
    SaliencyResult r = saliency(*s, img, {1, 1, 0}, o);
    for (int i = 0; i < 2; ++i) {
      double inside = 0, total = 0;
      for (int64_t y = 0; y < 16; ++y)
        for (int64_t x = 0; x < 16; ++x) {
          double v = r.maps[i][y * 16 + x];
          total += v;
          if (y >= 3 && y < 11 && x >= 7 && x < 15) inside += v;
        }
      EXPECT_GT(total, 0) << how;
      EXPECT_DOUBLE_EQ(inside, total) << how << ": saliency outside the region class 1 can see";
    }
    // Class 0 sees the whole image: much of its saliency lies outside that region.
    double outside = 0, total = 0;
    for (int64_t y = 0; y < 16; ++y)
      for (int64_t x = 0; x < 16; ++x) {
        total += r.maps[2][y * 16 + x];
        if (!(y >= 3 && y < 11 && x >= 7 && x < 15)) outside += r.maps[2][y * 16 + x];
      }
    EXPECT_GT(outside, 0.5 * total) << how;
  }
  // Predicted classes are filled in for -1.
  SaliencyResult r = saliency(*s, img, {-1, -1, -1}, {});
  for (int64_t c : r.classes) EXPECT_TRUE(c == 0 || c == 1);
  // The prediction and its softmax probability, whatever class a map explains.
  const std::vector<float> logits = (*s)(img).to_vector_f32();
  const SaliencyResult other = saliency(*s, img, {0, 0, 0}, {});
  EXPECT_EQ(other.outputs, 2);
  for (int i = 0; i < 3; ++i) {
    const float a = logits[2 * i], b = logits[2 * i + 1];
    EXPECT_EQ(other.predicted[i], b > a ? 1 : 0);
    EXPECT_EQ(r.classes[i], other.predicted[i]);
    EXPECT_NEAR(other.probability[i], 1.0 / (1.0 + std::exp(-std::fabs((double)a - b))), 1e-6);
  }
  EXPECT_THROW(saliency(*s, img, {2, 0, 0}, {}), Error);
}

TEST(Viz, SaliencyBoxFindsTheSalientObject) {
  // A bright square on a dark background. Saliency: noise in [0, 0.3) everywhere, 1 on a small
  // core of the square (3% of the image), so the top 5% holds the core and a few noise pixels.
  io::Image img = io::Image::filled(1, 20, 20, 0.05f);
  std::vector<float> map(400);
  for (int64_t i = 0; i < 400; ++i) {
    const int64_t y = i / 20, x = i % 20;
    const bool square = y >= 5 && y < 12 && x >= 6 && x < 15;
    const bool ring = y >= 4 && y <= 12 && x >= 5 && x <= 15;  // a 1-px ring around the square: no noise
    map[i] = square ? 0.15f : ring ? 0.f : 0.3f * (float)((i * 37) % 100) / 100.f;
  }
  for (int64_t y = 5; y < 12; ++y)
    for (int64_t x = 6; x < 15; ++x) img.at(0, y, x) = 0.9f;
  for (int64_t y = 6; y < 9; ++y)
    for (int64_t x = 8; x < 12; ++x) map[y * 20 + x] = 1.f;
  tasks::Box b = saliency_box(map, img);
  EXPECT_EQ(b, (tasks::Box{5, 6, 12, 15}));  // the whole square, not only its salient part
  EXPECT_THROW(saliency_box(std::vector<float>(400, 0.f), img), Error);
  EXPECT_THROW(saliency_box(map, img, 0.3, 0.5), Error);
}

TEST(Viz, ClassModelsAndUnitsRaiseTheirObjectiveOnATrainedNetwork) {
  auto net = trained_net();
  InputSpace s = fashion_space();
  AscentOptions o;
  o.iterations = 80;
  o.step = 0.05;
  o.l2 = 1e-3;
  o.jitter = 1;
  o.blur_sigma = 0.5;
  o.blur_every = 10;
  AscentResult r = class_model(*net, s, {0, 1, 5, 9}, false, o);
  ASSERT_EQ(r.end.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    // From the mean image (a score near 0) to a score far above it.
    EXPECT_GT(r.end[i], r.start[i] + 5) << "class " << i;
    EXPECT_GT(r.end[i], 5 * std::max(1.0, std::fabs(r.start[i]))) << "class " << i;
    EXPECT_EQ(r.curve[i].size(), 80u);
  }
  // Pixels stay in the valid range.
  for (float v : r.images.to_vector_f32()) {
    EXPECT_GE(v, s.lo(0) - 1e-6);
    EXPECT_LE(v, s.hi(0) + 1e-6);
  }
  // The probability objective raises the class probability.
  AscentResult p = class_model(*net, s, {3}, true, o);
  EXPECT_GT(p.end[0], 0.8);
  EXPECT_GT(p.end[0], 4 * p.start[0]);

  UnitSpec spec{"conv2", {0, 1, 2, 3, 4, 5}, false, -1, -1};
  for (int set : {0, 1, 2, 3, 4}) {
    AscentOptions u = set ? yosinski_set(set) : o;
    u.iterations = 30;
    AscentResult ur = maximize_units(*net, s, spec, u);
    for (size_t i = 0; i < spec.units.size(); ++i) {
      // From near zero (the mean image) to clearly positive: a factor of 3 when it starts positive.
      // Set 2's decay of 0.3 per step holds the image near the mean with normalized steps (see
      // yosinski_set): it only has to rise.
      const double s0 = ur.start[i], s1 = ur.end[i];
      EXPECT_TRUE(set == 2 ? s1 > s0 : s1 > s0 + 0.1 && s1 > 3 * std::max(0.01, s0))
          << "set " << set << " unit " << i << ": " << s0 << " -> " << s1;
    }
  }
  // Set 1 zeroes the half of the pixels with the smallest norm after every step (after the blur),
  // so its images end at least half at the mean image.
  {
    AscentOptions u = yosinski_set(1);
    u.iterations = 12;
    AscentResult ur = maximize_units(*net, s, spec, u);
    std::vector<float> v = ur.images.select(0, 0).to_vector_f32();
    int64_t zeros = 0;
    for (float x : v) zeros += x == 0.f;
    EXPECT_GE(zeros, (int64_t)v.size() / 2);
  }
  spec.neuron = true;
  AscentResult n = maximize_units(*net, s, spec, o);
  for (size_t i = 0; i < spec.units.size(); ++i) EXPECT_GT(n.end[i], n.start[i] + 1) << "neuron of unit " << i;
}

TEST(Viz, DeepDreamRaisesItsObjectiveEachOctaveAndIsDeterministic) {
  auto net = trained_net();
  InputSpace s = fashion_space();
  Generator g(9);
  Tensor img = Tensor::rand({1, 40, 48}, 0, 1, DType::f32, &g);
  img = (img - 0.286) / 0.353;
  DreamOptions o;
  o.octaves = 3;
  o.jitter = 4;
  o.step = 3;
  DreamResult a = deep_dream(*net, s, "conv2", img, o);
  ASSERT_EQ(a.sizes.size(), 3u);
  EXPECT_EQ(a.sizes.back(), (std::pair<int64_t, int64_t>{40, 48}));
  EXPECT_LT(a.sizes.front().first, a.sizes.back().first);
  for (size_t i = 0; i < 3; ++i) EXPECT_GT(a.octave_end[i], 1.1 * a.octave_start[i]) << "octave " << i;
  EXPECT_EQ(a.image.shape(), (Shape{1, 40, 48}));
  DreamResult b = deep_dream(*net, s, "conv2", img, o);
  EXPECT_EQ(a.image.to_vector_f32(), b.image.to_vector_f32());
  o.seed = 1;
  DreamResult c = deep_dream(*net, s, "conv2", img, o);
  EXPECT_NE(a.image.to_vector_f32(), c.image.to_vector_f32());
}

TEST(Viz, FilterPicturesAndErrors) {
  auto net = trained_net();
  const nn::Conv2d& conv = find_conv(*net, "conv1");
  FilterOptions o;
  o.scale = 2;
  o.cols = 4;
  io::Image img = filter_grid(conv, o);
  // 16 filters of 5x5 at 2x: 4 columns and 4 rows of 10 px, each with a 2-px margin.
  EXPECT_EQ(img.width, 4 * (10 + 2 * 2));
  EXPECT_EQ(img.height, 4 * (10 + 2 * 2));
  // Per filter, every filter reaches 0 or 1 at its largest |weight|; on one global scale only the
  // filter holding the layer's largest |weight| does, so weaker filters stay inside (0, 1).
  auto extremes = [&](const io::Image& g) {
    int reach = 0;
    for (int64_t f = 0; f < 16; ++f) {
      const int64_t top = (f / 4) * 14 + 2, left = (f % 4) * 14 + 2;
      bool r = false;
      for (int64_t y = 0; y < 10; ++y)
        for (int64_t x = 0; x < 10; ++x) {
          const float v = g.at(0, top + y, left + x);
          r |= v <= 1e-6f || v >= 1 - 1e-6f;
        }
      reach += r;
    }
    return reach;
  };
  EXPECT_EQ(extremes(img), 16);
  o.per_filter = false;
  const int global = extremes(filter_grid(conv, o));
  EXPECT_GE(global, 1);
  EXPECT_LT(global, 16);
  try {
    find_conv(*net, "conv9");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv1, conv2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(filter_grid(find_conv(*net, "conv2"), o), Error);  // 16 input channels
  InputSpace s = fashion_space();
  EXPECT_THROW(maximize_units(*net, s, UnitSpec{"conv2", {32}, false, -1, -1}, {}), Error);
  EXPECT_THROW(maximize_units(*net, s, UnitSpec{"nope", {0}, false, -1, -1}, {}), Error);
  EXPECT_THROW(class_model(*net, s, {10}, false, {}), Error);
  EXPECT_THROW(yosinski_set(5), Error);
}

TEST(Viz, BlurAndRollHelpers) {
  Generator g(2);
  Tensor x = Tensor::rand({2, 3, 9, 11}, 0, 1, DType::f32, &g);
  Tensor r = roll(roll(x, 3, -5), -3, 5);
  EXPECT_EQ(r.to_vector_f32(), x.to_vector_f32());
  Tensor shifted = roll(x, 1, 2);
  EXPECT_EQ(shifted.to_vector_f32()[(0 * 9 + 1) * 11 + 2], x.to_vector_f32()[0]);
  // Blur keeps a constant image and lowers the variance of noise.
  Tensor c = Tensor::full({1, 1, 7, 7}, 0.3);
  gaussian_blur(c, 1.0);
  for (float v : c.to_vector_f32()) EXPECT_NEAR(v, 0.3f, 1e-6);
  Tensor n = x.clone();
  gaussian_blur(n, 1.0);
  auto var = [](const std::vector<float>& v) {
    double m = 0, s = 0;
    for (float a : v) m += a;
    m /= (double)v.size();
    for (float a : v) s += (a - m) * (a - m);
    return s / (double)v.size();
  };
  EXPECT_LT(var(n.to_vector_f32()), 0.5 * var(x.to_vector_f32()));
}

TEST(Viz, InversionRegularizerGradientMatchesCentralDifferences) {
  Generator g(12);
  Tensor x = Tensor::rand({2, 2, 5, 6}, -1.5, 1.5, DType::f64, &g);
  for (double beta : {2.0, 1.5}) {
    InversionOptions o;
    o.beta = beta;
    o.lambda_alpha = 0.7;
    o.lambda_tv = 3.0;
    Tensor grad;
    std::vector<double> r = inversion_regularizer(x, o, 2.5, &grad);
    ASSERT_EQ(r.size(), 2u);
    EXPECT_GT(r[0], 0);
    std::vector<double> v = x.to_vector_f64(), gv = grad.to_vector_f64();
    for (int64_t i = 0; i < x.numel(); ++i) {
      auto total = [&](double delta) {
        std::vector<double> w = v;
        w[i] += delta;
        std::vector<double> t = inversion_regularizer(Tensor::from_vector(w, x.shape()), o, 2.5, nullptr);
        return t[0] + t[1];
      };
      const double fd = (total(1e-6) - total(-1e-6)) / 2e-6;
      EXPECT_NEAR(gv[i], fd, 1e-6 * std::max(1.0, std::fabs(fd))) << "beta " << beta << " element " << i;
    }
  }
}

TEST(Viz, FeatureInversionMatchesTheFeaturesAndIsDeterministic) {
  auto net = trained_net();
  InputSpace s = fashion_space();
  tasks::DataOptions d;
  d.limit_train = 16;
  d.limit_test = 3;
  Tensor images = tasks::load_dataset("fashion-mnist", d).test_images;
  InversionOptions o;
  o.iterations = 60;
  InversionResult a = invert_features(*net, s, "conv2", images, o);
  ASSERT_EQ(a.end.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_GT(a.start[i], 0.3) << i;             // from noise, the features are far off
    EXPECT_LT(a.end[i], 0.3 * a.start[i]) << i;  // and most of the error is gone
  }
  InversionResult b = invert_features(*net, s, "conv2", images, o);
  EXPECT_EQ(a.images.to_vector_f32(), b.images.to_vector_f32());
  EXPECT_THROW(invert_features(*net, s, "conv9", images, o), Error);
}
