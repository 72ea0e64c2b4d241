// Receptive fields: the layer-by-layer arithmetic against brute force (which output units move
// when one input pixel moves) on hand-built AlexNet-, VGG- and dilation stacks and on the
// registry's small networks; errors for layers without a spatial layout; and the top patches of
// a network whose answer is known.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <ostream>
#include <tuple>

#include "engine/nn.h"
#include "engine/ops.h"
#include "engine/util/error.h"
#include "models/registry.h"
#include "tasks/features.h"
#include "tasks/receptive_field.h"
#include "tasks/top_patches.h"

namespace pw::tasks {
void PrintTo(const Box& b, std::ostream* os) {
  *os << "rows [" << b.y0 << ", " << b.y1 << ") cols [" << b.x0 << ", " << b.x1 << ")";
}
}  // namespace pw::tasks

using namespace pw;
using tasks::Box;
using tasks::ReceptiveField;

namespace {

using Seq = std::shared_ptr<nn::Sequential>;

// A conv stack as a model that model_layers can read; the classifier never runs.
std::shared_ptr<models::FeaturesClassifier> stack_model(Seq features) {
  auto classifier = std::make_shared<nn::Sequential>();
  classifier->push_back("fc", std::make_shared<nn::Linear>(1, 1));
  return std::make_shared<models::FeaturesClassifier>(features, classifier);
}

std::string str(const ReceptiveField& rf) {
  return detail::concat("size ", rf.size[0], "x", rf.size[1], " jump ", rf.jump[0], "x", rf.jump[1], " offset ",
                        rf.offset[0], ",", rf.offset[1]);
}

// Square fields compare as one string, so a failure shows all three numbers.
std::string square(int64_t size, int64_t jump, int64_t offset) {
  return str(ReceptiveField{{size, size}, {jump, jump}, {offset, offset}});
}

// Makes each unit grow with every input pixel it sees, so that a raised pixel raises every unit
// whose field holds it, through max pooling too (the raised unit wins its window): double
// precision, every parameter in [0.5, 1] (biases too: nothing is negative, no ReLU cuts), LRN
// reduced to the identity (alpha 0; LRN is not monotone in large inputs, and it mixes channels
// only), eval mode (batch norm per image, no dropout).
void make_monotone(nn::Module& m, uint64_t seed) {
  NoGradGuard ng;
  m.to(DType::f64);
  m.eval();
  Generator g(seed);
  for (const Tensor& p : m.parameters()) p.copy_(Tensor::rand(p.shape(), 0.5, 1.0, DType::f64, &g));
  for (auto& [path, mod] : m.named_modules())
    if (auto* lrn = dynamic_cast<nn::LocalResponseNorm*>(mod.get())) lrn->alpha = 0;
}

struct Fields {
  int64_t h = 0, w = 0;
  std::vector<Box> boxes;  // per unit y * w + x: the bounding box of the pixels that moved it
};

// Brute force: adds 1e12 to one input pixel (all channels) at a time and records, for every unit
// of each layer, the pixels that moved it in any channel. Real moves are >= 1e12 / 2^depth, far
// above the rounding noise of values that are at most ~1e7 otherwise.
std::vector<Fields> brute_force_fields(nn::Module& m, const std::vector<std::string>& paths, int64_t C, int64_t H,
                                       int64_t W) {
  Generator g(7);
  const std::vector<double> base = Tensor::rand({1, C, H, W}, 0, 1, DType::f64, &g).to_vector_f64();
  NoGradGuard ng;
  std::vector<std::vector<double>> ref;
  std::vector<Fields> found;
  for (const Tensor& r : tasks::forward_collect(m, paths, Tensor::from_vector(base, {1, C, H, W}))) {
    ref.push_back(r.to_vector_f64());
    const int64_t lim = std::numeric_limits<int64_t>::max();
    found.push_back({r.size(2), r.size(3), std::vector<Box>(r.size(2) * r.size(3), Box{lim, lim, -lim, -lim})});
  }
  const int64_t HW = H * W, chunk = 256;
  for (int64_t p0 = 0; p0 < HW; p0 += chunk) {
    const int64_t n = std::min(chunk, HW - p0);
    std::vector<double> x;
    for (int64_t i = 0; i < n; ++i) {
      x.insert(x.end(), base.begin(), base.end());
      for (int64_t c = 0; c < C; ++c) x[(i * C + c) * HW + p0 + i] += 1e12;
    }
    std::vector<Tensor> outs = tasks::forward_collect(m, paths, Tensor::from_vector(x, {n, C, H, W}));
    for (size_t l = 0; l < paths.size(); ++l) {
      const std::vector<double> v = outs[l].to_vector_f64();
      const int64_t Co = outs[l].size(1), hw = found[l].h * found[l].w;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t r = (p0 + i) / W, c = (p0 + i) % W;
        for (int64_t u = 0; u < hw; ++u) {
          bool moved = false;
          for (int64_t ch = 0; ch < Co; ++ch) moved |= std::abs(v[(i * Co + ch) * hw + u] - ref[l][ch * hw + u]) > 1;
          if (!moved) continue;
          Box& b = found[l].boxes[u];
          b = {std::min(b.y0, r), std::min(b.x0, c), std::max(b.y1, r + 1), std::max(b.x1, c + 1)};
        }
      }
    }
  }
  return found;
}

// For each layer (a path or probe name) and every unit: the arithmetic field clipped to the image
// equals the brute-force one. With holes in the fields (dilation), a clipped side may fall on a
// hole, so there the pixels that reach the unit may start further in; the other sides must match.
// Returns how many units had a field clipped by the padding.
int64_t expect_fields_match(nn::Module& m, const std::vector<std::string>& layers, int64_t C, int64_t H, int64_t W,
                            bool holes = false) {
  std::vector<std::string> paths;
  for (const std::string& l : layers) paths.push_back(tasks::resolve_layer(m, l));
  const std::vector<Fields> found = brute_force_fields(m, paths, C, H, W);
  int64_t clipped = 0;
  for (size_t l = 0; l < layers.size(); ++l) {
    const ReceptiveField rf = tasks::receptive_field(m, layers[l]);
    int64_t wrong = 0;
    for (int64_t y = 0; y < found[l].h; ++y)
      for (int64_t x = 0; x < found[l].w; ++x) {
        const Box expect = tasks::input_box(rf, y, x, H, W), field = tasks::field_box(rf, y, x);
        const Box& got = found[l].boxes[y * found[l].w + x];
        clipped += !(expect == field);
        const bool ok = holes ? got.y0 < got.y1 && got.x0 < got.x1 &&
                                    (expect.y0 == field.y0 ? got.y0 == expect.y0 : got.y0 >= expect.y0) &&
                                    (expect.x0 == field.x0 ? got.x0 == expect.x0 : got.x0 >= expect.x0) &&
                                    (expect.y1 == field.y1 ? got.y1 == expect.y1 : got.y1 <= expect.y1) &&
                                    (expect.x1 == field.x1 ? got.x1 == expect.x1 : got.x1 <= expect.x1)
                              : got == expect;
        if (ok || ++wrong > 3) continue;
        ADD_FAILURE() << layers[l] << " (" << str(rf) << ") unit (" << y << ", " << x << ") of " << found[l].h << "x"
                      << found[l].w << ": brute force " << testing::PrintToString(got) << ", arithmetic "
                      << testing::PrintToString(expect);
      }
  }
  return clipped;
}

// AlexNet's first layers, scaled down: 11x11 stride 4 pad 2, 3x3 stride 2 max pools (ceil mode:
// on an even map it adds a last unit), 5x5 pad 2, LRN, and an average pool with padding.
Seq alexnet_stack(bool ceil_mode) {
  auto f = std::make_shared<nn::Sequential>();
  f->push_back("conv1", std::make_shared<nn::Conv2d>(1, 2, 11, 4, 2));
  f->push_back("relu1", std::make_shared<nn::ReLU>());
  f->push_back("norm1", std::make_shared<nn::LocalResponseNorm>(5));
  f->push_back("pool1", std::make_shared<nn::MaxPool2d>(3, 2, 0, ceil_mode));
  f->push_back("conv2", std::make_shared<nn::Conv2d>(2, 2, 5, 1, 2));
  f->push_back("relu2", std::make_shared<nn::ReLU>());
  f->push_back("pool2", std::make_shared<nn::MaxPool2d>(3, 2, 0, ceil_mode));
  f->push_back("conv3", std::make_shared<nn::Conv2d>(2, 2, 3, 1, 1));
  f->push_back("drop3", std::make_shared<nn::Dropout>(0.5));
  f->push_back("pool3", std::make_shared<nn::AvgPool2d>(3, 2, 1, ceil_mode));
  return f;
}

}  // namespace

TEST(ReceptiveField, ArithmeticOfTorchvisionAlexNetAndVgg16) {
  // The published numbers: AlexNet pool5 sees 195 px at a 32 px stride, VGG-16 conv5_3 196 px,
  // pool5 212 px. One channel per layer: only the geometry matters.
  auto a = std::make_shared<nn::Sequential>();
  auto conv = [](int64_t k, int64_t s, int64_t p) { return std::make_shared<nn::Conv2d>(1, 1, k, s, p); };
  auto pool = [](int64_t k, int64_t s) { return std::make_shared<nn::MaxPool2d>(k, s); };
  const std::vector<std::shared_ptr<nn::Module>> alexnet{conv(11, 4, 2), pool(3, 2),    conv(5, 1, 2), pool(3, 2),
                                                         conv(3, 1, 1),  conv(3, 1, 1), conv(3, 1, 1), pool(3, 2)};
  for (auto m : alexnet) {
    a->push_back(m);
    if (dynamic_cast<nn::Conv2d*>(m.get())) a->push_back(std::make_shared<nn::ReLU>());
  }
  auto alex = stack_model(a);
  EXPECT_EQ(str(tasks::receptive_field(*alex, "features.0")), square(11, 4, -2));
  EXPECT_EQ(str(tasks::receptive_field(*alex, "features.2")), square(19, 8, -2));
  EXPECT_EQ(str(tasks::receptive_field(*alex, "features.3")), square(51, 8, -18));
  EXPECT_EQ(str(tasks::receptive_field(*alex, "features.12")), square(195, 32, -66));

  auto v = std::make_shared<nn::Sequential>();
  for (int convs : {2, 2, 3, 3, 3}) {
    for (int i = 0; i < convs; ++i) {
      v->push_back(conv(3, 1, 1));
      v->push_back(std::make_shared<nn::ReLU>());
    }
    v->push_back(pool(2, 2));
  }
  auto vgg = stack_model(v);
  EXPECT_EQ(str(tasks::receptive_field(*vgg, "features.28")), square(196, 16, -90));  // conv5_3
  EXPECT_EQ(str(tasks::receptive_field(*vgg, "features.30")), square(212, 32, -90));  // pool5
}

TEST(ReceptiveField, AlexNetStackMatchesBruteForceAndCeilModeAddsUnitsOnly) {
  auto ceil = stack_model(alexnet_stack(true)), floor = stack_model(alexnet_stack(false));
  for (const char* l : {"features.conv1", "features.pool1", "features.conv2", "features.pool2", "features.pool3"})
    EXPECT_EQ(str(tasks::receptive_field(*ceil, l)), str(tasks::receptive_field(*floor, l))) << l;
  EXPECT_EQ(str(tasks::receptive_field(*ceil, "conv2")), square(51, 8, -18));  // a probe name: read at relu2
  make_monotone(*ceil, 1);
  // 51x55: conv1 gives 12x13, where the ceil-mode pool1 adds a row; pool2 adds a unit on both axes.
  const std::vector<std::string> layers{"features.conv1", "features.norm1", "features.pool1", "conv2",
                                        "features.pool2", "features.conv3", "features.drop3", "features.pool3"};
  EXPECT_GT(expect_fields_match(*ceil, layers, 1, 51, 55), 0);
  NoGradGuard ng;
  EXPECT_EQ(tasks::forward_to(*ceil, "features.pool1", Tensor::zeros({1, 1, 51, 55}, DType::f64)).shape(),
            (Shape{1, 2, 6, 6}));
  EXPECT_EQ(tasks::forward_to(*ceil, "features.pool2", Tensor::zeros({1, 1, 51, 55}, DType::f64)).shape(),
            (Shape{1, 2, 3, 3}));
}

TEST(ReceptiveField, VggStackMatchesBruteForce) {
  auto f = std::make_shared<nn::Sequential>();
  f->push_back(std::make_shared<nn::Conv2d>(1, 2, 3, 1, 1));
  f->push_back(std::make_shared<nn::BatchNorm2d>(2));
  f->push_back(std::make_shared<nn::ReLU>());
  f->push_back(std::make_shared<nn::Conv2d>(2, 2, 3, 1, 1));
  f->push_back(std::make_shared<nn::ReLU>());
  f->push_back(std::make_shared<nn::MaxPool2d>(2, 2));
  f->push_back(std::make_shared<nn::Conv2d>(2, 2, 3, 1, 1));
  f->push_back(std::make_shared<nn::ReLU>());
  f->push_back(std::make_shared<nn::AvgPool2d>(2, 2, 0, /*ceil_mode=*/true));  // 11 -> 6
  f->push_back(std::make_shared<nn::Conv2d>(2, 2, 3, 1, 1));
  auto m = stack_model(f);
  EXPECT_EQ(str(tasks::receptive_field(*m, "features.5")), square(6, 2, -2));
  EXPECT_EQ(str(tasks::receptive_field(*m, "features.9")), square(20, 4, -8));
  make_monotone(*m, 2);
  EXPECT_GT(expect_fields_match(
                *m, {"features.1", "features.3", "features.5", "features.6", "features.8", "features.9"}, 1, 22, 22),
            0);
}

TEST(ReceptiveField, DilationAndStrideStackMatchesBruteForce) {
  // Dilated layers leave holes in the field: the brute force finds its bounding box, and where
  // the image edge cuts the field it may end on a hole (pool unit 0 sees rows 1.., not 0..).
  auto f = std::make_shared<nn::Sequential>();
  f->push_back("a", std::make_shared<nn::Conv2d>(1, 2, 3, 2, 1));
  f->push_back("b", std::make_shared<nn::Conv2d>(2, 2, 3, 1, 2, /*dilation=*/2));
  f->push_back("pool", std::make_shared<nn::MaxPool2d>(Pool2dParams{3, 3, 2, 2, 1, 1, 2, 2}));
  // Rectangular: rows 3 taps stride 2 dilation 2, columns 5 taps stride 1 pad 3.
  f->push_back("c", std::make_shared<nn::Conv2d>(2, 2, 3, 5, Conv2dParams{2, 1, 0, 3, 2, 1}));
  auto m = stack_model(f);
  EXPECT_EQ(str(tasks::receptive_field(*m, "features.b")), square(11, 2, -5));
  // pool: 11 + 2*2*2 = 19, jump 4, offset -5 - 2 = -7; c rows: 19 + 2*2*4 = 35, jump 8;
  // columns: 19 + 4*4 = 35, jump 4, offset -7 - 3*4 = -19.
  EXPECT_EQ(str(tasks::receptive_field(*m, "features.c")), str(ReceptiveField{{35, 35}, {8, 4}, {-7, -19}}));
  make_monotone(*m, 3);
  EXPECT_GT(expect_fields_match(*m, {"features.a", "features.b", "features.pool", "features.c"}, 1, 37, 31,
                                /*holes=*/true),
            0);
}

TEST(ReceptiveField, RegistryAlexNetSmallMatchesBruteForce) {
  models::ModelConfig cfg;
  cfg.in_channels = 1;
  cfg.width = 1.0 / 32;  // 1..3 channels: the geometry is what is tested
  auto m = models::create("alexnet-small", cfg);
  EXPECT_EQ(str(tasks::receptive_field(*m, "conv1")), square(5, 1, -2));
  EXPECT_EQ(str(tasks::receptive_field(*m, "conv3")), square(20, 4, -8));
  EXPECT_EQ(str(tasks::receptive_field(*m, "conv3")), str(tasks::receptive_field(*m, "features.conv3")));
  EXPECT_EQ(str(tasks::receptive_field(*m, "conv3")), str(tasks::receptive_field(*m, "features.relu3")));
  EXPECT_EQ(str(tasks::receptive_field(*m, "features.pool5")), square(40, 8, -16));
  make_monotone(*m, 4);
  // 30 px: pool1 gives 15, and pool2's ceil mode adds an 8th unit that reaches past the image.
  EXPECT_GT(expect_fields_match(*m,
                                {"conv1", "features.pool1", "features.norm1", "conv2", "features.pool2",
                                 "features.norm2", "conv3", "conv4", "conv5", "features.pool5"},
                                1, 30, 30),
            0);
}

TEST(ReceptiveField, RegistryVggSmallMatchesBruteForce) {
  models::ModelConfig cfg;
  cfg.in_channels = 1;
  cfg.width = 1.0 / 32;
  auto m = models::create("vgg-small", cfg);
  EXPECT_EQ(str(tasks::receptive_field(*m, "features.0")), square(3, 1, -1));
  EXPECT_EQ(str(tasks::receptive_field(*m, "features.14")), square(30, 8, -11));
  make_monotone(*m, 5);
  // 26 px: the second pool drops the 13th row and column (floor mode).
  EXPECT_GT(expect_fields_match(*m,
                                {"features.0", "features.2", "features.3", "features.6", "features.7", "features.10",
                                 "features.13", "features.14"},
                                1, 26, 26),
            0);
}

TEST(ReceptiveField, InputBoxClipsToTheImage) {
  ReceptiveField rf{{11, 11}, {4, 4}, {-2, -2}};
  EXPECT_EQ(tasks::field_box(rf, 0, 1), (Box{-2, 2, 9, 13}));
  EXPECT_EQ(tasks::input_box(rf, 0, 1, 20, 30), (Box{0, 2, 9, 13}));
  EXPECT_EQ(tasks::input_box(rf, 4, 6, 20, 30), (Box{14, 22, 20, 30}));
}

TEST(ReceptiveField, ErrorsNameTheLayer) {
  models::ModelConfig cfg;
  cfg.in_channels = 1;
  auto m = models::create("alexnet-small", cfg);
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::string e = message([&] { tasks::receptive_field(*m, "conv9"); });
  EXPECT_NE(e.find("'conv9'"), std::string::npos) << e;
  EXPECT_NE(e.find("features.pool5"), std::string::npos) << e;  // lists the layers
  // fc6 (a probe name) comes after the adaptive pool.
  e = message([&] { tasks::receptive_field(*m, "fc6"); });
  EXPECT_NE(e.find("avgpool"), std::string::npos) << e;
  EXPECT_NE(e.find("AdaptiveAvgPool2d"), std::string::npos) << e;

  // Without an adaptive pool, the classifier's layers still come after the flatten, even a
  // dropout that keeps the shape of what it gets.
  auto features = std::make_shared<nn::Sequential>();
  features->push_back("conv1", std::make_shared<nn::Conv2d>(1, 1, 3));
  auto classifier = std::make_shared<nn::Sequential>();
  classifier->push_back("drop", std::make_shared<nn::Dropout>());
  classifier->push_back("fc", std::make_shared<nn::Linear>(4, 2));
  auto plain = std::make_shared<models::FeaturesClassifier>(features, classifier);
  e = message([&] { tasks::receptive_field(*plain, "classifier.drop"); });
  EXPECT_NE(e.find("classifier.drop comes after the flatten"), std::string::npos) << e;

  // A Flatten inside the conv part.
  auto flat = std::make_shared<nn::Sequential>();
  flat->push_back("conv1", std::make_shared<nn::Conv2d>(1, 1, 3));
  flat->push_back("flat", std::make_shared<nn::Flatten>());
  flat->push_back("relu", std::make_shared<nn::ReLU>());
  auto fm = stack_model(flat);
  e = message([&] { tasks::receptive_field(*fm, "features.relu"); });
  EXPECT_NE(e.find("features.flat (Flatten) loses it"), std::string::npos) << e;
  EXPECT_EQ(message([&] { tasks::receptive_field(*fm, "features.conv1"); }), "no error");
  e = message([&] { tasks::top_patches(*fm, "features.relu", {0}, Tensor::zeros({1, 1, 8, 8}), 1); });
  EXPECT_NE(e.find("features.flat"), std::string::npos) << e;

  // A tiled network's trunk has fields; its tower has none.
  auto jig = models::create("jigsaw-small", cfg);
  EXPECT_EQ(str(tasks::receptive_field(*jig, "conv1")), square(5, 1, -2));
  e = message([&] { tasks::receptive_field(*jig, "tower.fc6"); });
  EXPECT_NE(e.find("'tower.fc6'"), std::string::npos) << e;
}

namespace {

// One 3x3 convolution with two units: 0 answers a bright spot (centre 1, surround -1/8), 1 a dark
// one (the negation); then ReLU and a 2x2 max pool.
std::shared_ptr<models::FeaturesClassifier> spot_detector() {
  auto f = std::make_shared<nn::Sequential>();
  auto conv = std::make_shared<nn::Conv2d>(1, 2, 3, 1, 1);
  std::vector<float> w(18, -0.125f);
  w[4] = 1;
  for (int i = 9; i < 18; ++i) w[i] = -w[i - 9];
  NoGradGuard ng;
  conv->weight.copy_(Tensor::from_vector(w, {2, 1, 3, 3}));
  conv->bias.fill_(0);
  f->push_back("conv1", conv);
  f->push_back("relu1", std::make_shared<nn::ReLU>());
  f->push_back("pool1", std::make_shared<nn::MaxPool2d>(2));
  return stack_model(f);
}

// Seven 10x10 gray images with one spot each (value, row, column); image 5 is blank.
Tensor spot_images() {
  struct Spot {
    float v;
    int64_t y, x;
  };
  const std::vector<Spot> spots{{0.5f, 4, 5},  {0.9f, 0, 0}, {-0.7f, 6, 2}, {0.7f, 9, 3},
                                {-0.3f, 2, 8}, {0, 0, 0},    {0.2f, 5, 5}};
  std::vector<float> px(spots.size() * 100, 0.f);
  for (size_t i = 0; i < spots.size(); ++i) px[i * 100 + spots[i].y * 10 + spots[i].x] = spots[i].v;
  return Tensor::from_vector(px, {(int64_t)spots.size(), 1, 10, 10});
}

}  // namespace

TEST(TopPatches, FindsTheSpotsOfASpotDetector) {
  auto m = spot_detector();
  m->train();
  m->features->at(0)->eval();  // a deliberately frozen part stays as it was
  const Tensor images = spot_images();
  for (int64_t batch : {3, 64}) {
    // "conv1" is a probe name: read after its ReLU.
    tasks::TopPatches tp = tasks::top_patches(*m, "conv1", {0, 1}, images, 3, batch);
    EXPECT_EQ(tp.layer, "features.relu1");
    ASSERT_EQ(tp.best.size(), 2u);
    ASSERT_EQ(tp.best[0].size(), 3u);
    const std::vector<std::tuple<int64_t, int64_t, int64_t, float, Box>> bright{
        {1, 0, 0, 0.9f, Box{0, 0, 2, 2}}, {3, 9, 3, 0.7f, Box{8, 2, 10, 5}}, {0, 4, 5, 0.5f, Box{3, 4, 6, 7}}};
    for (size_t i = 0; i < 3; ++i) {
      const tasks::TopPatch& p = tp.best[0][i];
      EXPECT_EQ(p.image, std::get<0>(bright[i])) << i;
      EXPECT_EQ(p.y, std::get<1>(bright[i])) << i;
      EXPECT_EQ(p.x, std::get<2>(bright[i])) << i;
      EXPECT_FLOAT_EQ(p.activation, std::get<3>(bright[i])) << i;
      EXPECT_EQ(p.box, std::get<4>(bright[i])) << i;
    }
    // The dark-spot unit: the two dark spots, then the surround of the brightest spot, whose first
    // position in raster order is (0, 1).
    const std::vector<tasks::TopPatch>& dark = tp.best[1];
    ASSERT_EQ(dark.size(), 3u);
    EXPECT_EQ(dark[0].image, 2);
    EXPECT_EQ(dark[0].y * 10 + dark[0].x, 62);
    EXPECT_FLOAT_EQ(dark[0].activation, 0.7f);
    EXPECT_EQ(dark[1].image, 4);
    EXPECT_EQ(dark[2].image, 1);
    EXPECT_EQ(dark[2].y * 10 + dark[2].x, 1);
    EXPECT_FLOAT_EQ(dark[2].activation, 0.9f * 0.125f);
    EXPECT_TRUE(m->is_training());
    EXPECT_FALSE(m->features->at(0)->is_training());
  }
  // After the pool: 4x4 fields at a stride of 2.
  tasks::TopPatches tp = tasks::top_patches(*m, "features.pool1", {0}, images, 2, 4);
  EXPECT_EQ(str(tp.field), square(4, 2, -1));
  ASSERT_EQ(tp.best[0].size(), 2u);
  EXPECT_EQ(tp.best[0][0].image, 1);
  EXPECT_EQ(tp.best[0][0].box, (Box{0, 0, 3, 3}));
  EXPECT_EQ(tp.best[0][1].image, 3);
  EXPECT_EQ(tp.best[0][1].y * 5 + tp.best[0][1].x, 4 * 5 + 1);
  EXPECT_EQ(tp.best[0][1].box, (Box{7, 1, 10, 5}));
  // More wanted than there are images: all of them, in order.
  EXPECT_EQ(tasks::top_patches(*m, "conv1", {0}, images, 20).best[0].size(), 7u);

  try {
    tasks::top_patches(*m, "conv1", {0, 2}, images, 3, 3);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unit 2"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(m->is_training());  // restored after the error too
}

TEST(TopPatches, CropsAreTheImageRegionWithGrayPadding) {
  Generator g(9);
  const Tensor img = Tensor::rand({3, 12, 14}, 0, 1, DType::f32, &g);
  const std::vector<float> v = img.to_vector_f32();
  const ReceptiveField rf{{5, 7}, {2, 3}, {-2, -3}};
  for (auto [y, x] : std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {3, 2}, {5, 4}}) {
    const io::Image crop = tasks::crop_field(img, rf, y, x);
    const Box f = tasks::field_box(rf, y, x);
    ASSERT_EQ(crop.channels, 3);
    ASSERT_EQ(crop.height, 5);
    ASSERT_EQ(crop.width, 7);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t r = 0; r < 5; ++r)
        for (int64_t q = 0; q < 7; ++q) {
          const int64_t iy = f.y0 + r, ix = f.x0 + q;
          const bool inside = iy >= 0 && iy < 12 && ix >= 0 && ix < 14;
          EXPECT_EQ(crop.at(c, r, q), inside ? v[(c * 12 + iy) * 14 + ix] : 0.5f) << y << "," << x;
        }
  }
  // Normalization is undone as to_image does.
  const io::Image n = tasks::crop_field(img, rf, 3, 2, {0.5f, 0.25f, 0.f}, {0.1f, 0.2f, 1.f});
  EXPECT_FLOAT_EQ(n.at(1, 2, 3), v[(1 * 12 + 6) * 14 + 6] * 0.2f + 0.25f);
}

TEST(TopPatches, GridHasOneRowPerUnit) {
  auto m = spot_detector();
  const Tensor images = spot_images();
  tasks::TopPatches tp = tasks::top_patches(*m, "conv1", {0, 1}, images, 3, 64);
  const io::Image grid = tasks::top_patches_grid(tp, images, {}, {}, 2);
  // Cells of 3x3 fields scaled by 2, in slots of 6 + 2 * 2 px.
  EXPECT_EQ(grid.height, 2 * 10);
  EXPECT_EQ(grid.width, 3 * 10);
  EXPECT_FLOAT_EQ(grid.at(0, 2, 2), 0.5f);      // unit 0's best, image 1 at (0, 0): its field's corner is padding
  EXPECT_FLOAT_EQ(grid.at(0, 4, 5), 0.9f);      // ... and its centre the spot
  EXPECT_FLOAT_EQ(grid.at(0, 10 + 4, 4), 0.f);  // unit 1's best, a dark spot, clamped to 0
  EXPECT_FLOAT_EQ(grid.at(0, 10 + 2, 2), 0.f);  // image 2's pixel (5, 1) (not padding)
}
