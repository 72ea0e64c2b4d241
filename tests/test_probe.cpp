// Reading layers (paths, partial forward passes, probe points) and the linear probe's
// classifier on data whose separability is known.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/ops.h"
#include "engine/util/error.h"
#include "models/registry.h"
#include "tasks/features.h"
#include "tasks/neighbors.h"
#include "tasks/probe.h"

using namespace pw;

TEST(Features, LayersInForwardOrderAndPartialPasses) {
  models::ModelConfig cfg;
  cfg.in_channels = 1;
  auto m = models::create("alexnet-small", cfg);
  m->eval();
  auto layers = tasks::model_layers(*m);
  ASSERT_FALSE(layers.empty());
  EXPECT_EQ(layers.front().first, "features.conv1");
  EXPECT_EQ(layers.back().first, "classifier.fc8");
  Generator g(3);
  Tensor x = Tensor::randn({2, 1, 28, 28}, DType::f32, &g);
  NoGradGuard ng;
  auto fc = std::dynamic_pointer_cast<models::FeaturesClassifier>(m);
  EXPECT_EQ(tasks::forward_to(*m, "features.pool5", x).to_vector_f32(), fc->features->forward(x).to_vector_f32());
  EXPECT_EQ(tasks::forward_to(*m, "classifier.fc8", x).to_vector_f32(), (*m)(x).to_vector_f32());
  std::vector<Tensor> both = tasks::forward_collect(*m, {"classifier.relu6", "features.relu1"}, x);
  EXPECT_EQ(both[0].shape(), (Shape{2, 256}));
  EXPECT_EQ(both[1].shape(), (Shape{2, 32, 28, 28}));
  try {
    tasks::forward_to(*m, "features.conv9", x);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("features.conv5"), std::string::npos) << e.what();  // lists layers
  }
  // A tiled network is read one tile at a time through its shared tower.
  auto j = models::create("jigsaw-small", cfg);
  j->eval();
  EXPECT_EQ(tasks::forward_to(*j, "tower.fc6", Tensor::randn({3, 1, 12, 12}, DType::f32, &g)).shape(), (Shape{3, 128}));
}

TEST(Features, ProbePointsAreConvAndLinearLayersWithTheirReLU) {
  models::ModelConfig cfg;
  cfg.in_channels = 1;
  auto pts = tasks::probe_points(*models::create("alexnet-small", cfg));
  std::vector<std::string> names;
  for (auto& p : pts) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"features.conv1", "features.conv2", "features.conv3", "features.conv4",
                                             "features.conv5", "classifier.fc6", "classifier.fc7"}));
  EXPECT_EQ(pts[2].end, "features.relu3");
  // Batch norm between a conv and its ReLU is read through.
  auto ctx = models::create("context-small", cfg);
  EXPECT_EQ(tasks::find_probe_point(*ctx, "conv4").end, "features.relu4");
  EXPECT_EQ(tasks::find_probe_point(*ctx, "fc6").end, "tower.relu6");
  EXPECT_THROW(tasks::find_probe_point(*ctx, "fc7"), Error);  // in the head, which needs both tiles
  auto vgg = tasks::probe_points(*models::create("vgg-small", cfg));
  EXPECT_EQ(vgg.front().end, "features.2");
}

TEST(Probe, LinearClassifierSeparatesSeparableDataAndNotRandomLabels) {
  Generator g(12);
  const int64_t n = 600, d = 20, k = 3;
  Tensor centers = Tensor::randn({k, d}, DType::f32, &g) * 3.0;
  auto make = [&](int64_t count, bool random_labels, Tensor& f, Tensor& y) {
    f = Tensor::randn({count, d}, DType::f32, &g);
    std::vector<int32_t> lab(count);
    float* p = f.data<float>();
    const float* c = centers.data<float>();
    for (int64_t i = 0; i < count; ++i) {
      lab[i] = (int32_t)g.randint(0, k);
      for (int64_t j = 0; j < d; ++j) p[i * d + j] += c[lab[i] * d + j];
      if (random_labels) lab[i] = (int32_t)g.randint(0, k);
    }
    y = Tensor::from_vector(lab, {count});
  };
  Tensor trf, try_, tef, tey;
  make(n, false, trf, try_);
  make(300, false, tef, tey);
  tasks::ProbeConfig c;
  c.epochs = 20;
  c.lr = 1e-2;
  tasks::LinearFit fit = tasks::fit_linear(trf, try_, tef, tey, k, c);
  EXPECT_GT(fit.test_accuracy, 0.97);
  c.classifier = "svm";
  EXPECT_GT(tasks::fit_linear(trf, try_, tef, tey, k, c).test_accuracy, 0.97);
  c.classifier = "softmax";
  make(n, true, trf, try_);
  make(300, true, tef, tey);
  tasks::LinearFit noise = tasks::fit_linear(trf, try_, tef, tey, k, c);
  EXPECT_LT(noise.test_accuracy, 0.45);  // chance is 1/3
  c.classifier = "tree";
  EXPECT_THROW(tasks::fit_linear(trf, try_, tef, tey, k, c), Error);
}

TEST(Probe, FeaturesArePooledToAtMostMaxDims) {
  models::ModelConfig cfg;
  cfg.in_channels = 1;
  auto m = models::create("alexnet-small", cfg);
  Generator g(2);
  Tensor x = Tensor::randn({5, 1, 28, 28}, DType::f32, &g);
  auto pts = tasks::probe_points(*m);
  std::vector<Tensor> f = tasks::extract_features(*m, pts, x, 2048, 2);
  ASSERT_EQ(f.size(), pts.size());
  EXPECT_EQ(f[0].shape(), (Shape{5, 32 * 8 * 8}));  // conv1: 32 x 28 x 28 pooled to 8 x 8
  EXPECT_EQ(f[4].shape(), (Shape{5, 64 * 5 * 5}));  // conv5: 64 x 7 x 7 pooled to 5 x 5
  EXPECT_EQ(f[5].shape(), (Shape{5, 256}));
  EXPECT_TRUE(m->is_training());  // the mode is put back
}

TEST(Neighbors, CosineNearestNeighboursInOrder) {
  // Base rows along known directions; a query closest to row 2, then row 0.
  Tensor base = Tensor::from_vector(std::vector<float>{1, 0, 0, 0, 1, 0, 2, 2, 0, 0, 0, 3}, {4, 3});
  Tensor q = Tensor::from_vector(std::vector<float>{1, 0.9f, 0}, {1, 3});
  tasks::Neighbors nb = tasks::nearest_neighbors(q, base, 3);
  EXPECT_EQ(nb.index[0], (std::vector<int64_t>{2, 0, 1}));
  EXPECT_NEAR(nb.similarity[0][0], (1 + 0.9) / (std::sqrt(1 + 0.81) * std::sqrt(2.0)), 1e-6);
  EXPECT_GE(nb.similarity[0][1], nb.similarity[0][2]);
  // Magnitude does not matter; an excluded row is never returned.
  nb = tasks::nearest_neighbors(base.slice(0, 2, 3).contiguous(), base, 2, {2});
  EXPECT_EQ(nb.index[0][0], 0);
  EXPECT_THROW(tasks::nearest_neighbors(q, base, 5), Error);
}
