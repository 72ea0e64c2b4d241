// The layer walk (models/layer_walk.h): paths, kinds and parts of each network form, the flatten
// and tile join it records, receptive fields and why they end, shapes for one sample, and a
// replay of the walk through forward_layer that equals the network's own forward pass.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "engine/ops.h"
#include "engine/util/error.h"
#include "models/layer_walk.h"
#include "models/registry.h"

using namespace pw;
using models::LayerInfo;
using models::LayerKind;
using models::LayerPart;
using models::LayerWalk;

namespace {

models::ModelConfig small_config() {
  models::ModelConfig cfg;
  cfg.in_channels = 1;
  cfg.width = 1.0 / 8;
  return cfg;
}

const LayerInfo& layer(const LayerWalk& w, const std::string& path) {
  for (const LayerInfo& l : w.layers)
    if (l.path == path) return l;
  throw Error("no layer " + path);
}

std::vector<std::string> paths(const LayerWalk& w) {
  std::vector<std::string> out;
  for (const LayerInfo& l : w.layers) out.push_back(l.path);
  return out;
}

std::string field_str(const LayerInfo& l) {
  if (!l.field) return "none";
  return detail::concat(l.field->size[0], "/", l.field->jump[0], "/", l.field->offset[0]);
}

// Runs x through every layer of the walk with forward_layer (the tiles folded first for a
// TiledNet, as its forward does).
Tensor replay(const LayerWalk& w, Tensor x) {
  if (w.form == LayerWalk::Form::tiled) x = x.reshape({x.size(0) * w.tiles, x.size(2), x.size(3), x.size(4)});
  for (const LayerInfo& l : w.layers) x = models::forward_layer(l, x);
  return x;
}

}  // namespace

TEST(LayerWalk, FeaturesClassifierLayersKindsPartsAndFields) {
  auto m = models::create("alexnet-small", small_config());
  const LayerWalk w = models::walk_layers(*m);
  EXPECT_EQ(w.form, LayerWalk::Form::classifier);
  EXPECT_EQ(w.tiles, 1);
  const std::vector<std::string> p = paths(w);
  ASSERT_EQ(p.size(), 23u);  // 15 in features, the pool, 7 in the classifier
  EXPECT_EQ(p.front(), "features.conv1");
  EXPECT_EQ(p[14], "features.pool5");
  EXPECT_EQ(p[15], "avgpool");
  EXPECT_EQ(p[16], "classifier.fc6");
  EXPECT_EQ(p.back(), "classifier.fc8");

  const LayerInfo& conv1 = layer(w, "features.conv1");
  EXPECT_EQ(conv1.kind, LayerKind::conv);
  EXPECT_EQ(conv1.type, "Conv2d");
  EXPECT_EQ(conv1.part, LayerPart::trunk);
  EXPECT_EQ(conv1.module, m->find("features.conv1"));
  EXPECT_EQ(layer(w, "features.pool1").kind, LayerKind::max_pool);
  EXPECT_EQ(layer(w, "features.norm1").kind, LayerKind::lrn);
  EXPECT_EQ(layer(w, "features.relu1").kind, LayerKind::relu);
  EXPECT_EQ(layer(w, "avgpool").kind, LayerKind::adaptive_pool);
  EXPECT_EQ(layer(w, "classifier.drop6").kind, LayerKind::dropout);
  // The flatten runs before the classifier's first layer only; nothing is joined.
  for (const LayerInfo& l : w.layers) {
    EXPECT_EQ(l.flatten_before, l.path == "classifier.fc6") << l.path;
    EXPECT_EQ(l.join_tiles, 0) << l.path;
    EXPECT_EQ(l.part, l.path.rfind("classifier", 0) == 0 ? LayerPart::dense : LayerPart::trunk) << l.path;
    EXPECT_TRUE(l.input.empty() && l.output.empty()) << l.path;  // no shapes without an input
  }

  // Fields (alexnet-small: 5x5 conv1 pad 2, 2x2 stride-2 pools, 3x3 convs pad 1).
  EXPECT_EQ(field_str(conv1), "5/1/-2");
  EXPECT_EQ(field_str(layer(w, "features.pool1")), "6/2/-2");
  EXPECT_EQ(field_str(layer(w, "features.relu3")), "20/4/-8");
  EXPECT_EQ(field_str(layer(w, "features.pool5")), "40/8/-16");
  // The adaptive pool loses the field, and every layer after it names the pool as the reason.
  for (const char* path : {"avgpool", "classifier.fc6", "classifier.fc8"}) {
    const LayerInfo& l = layer(w, path);
    ASSERT_FALSE(l.field) << path;
    ASSERT_TRUE(l.field_loss) << path;
    EXPECT_EQ(l.field_loss->why, models::FieldLoss::Why::input_dependent) << path;
    EXPECT_EQ(l.field_loss->path, "avgpool") << path;
    EXPECT_EQ(l.field_loss->type, "AdaptiveAvgPool2d") << path;
  }
}

TEST(LayerWalk, TiledNetHasTowerAndHeadAndJoinsTiles) {
  auto m = models::create("jigsaw-small", small_config());
  const LayerWalk w = models::walk_layers(*m);
  EXPECT_EQ(w.form, LayerWalk::Form::tiled);
  EXPECT_EQ(w.tiles, 9);
  const LayerInfo& fc6 = layer(w, "tower.fc6");
  EXPECT_EQ(fc6.part, LayerPart::dense);
  EXPECT_TRUE(fc6.flatten_before);
  ASSERT_TRUE(fc6.field_loss);
  EXPECT_EQ(fc6.field_loss->path, "avgpool");
  const LayerInfo& fc7 = layer(w, "head.fc7");
  EXPECT_EQ(fc7.part, LayerPart::head);
  EXPECT_EQ(fc7.join_tiles, 9);
  EXPECT_FALSE(fc7.flatten_before);
  EXPECT_EQ(w.layers.back().path, "head.fc8");

  // With shapes: the trunk and tower see the nine tiles as the batch, the head one sample.
  const LayerWalk s = models::walk_layers(*m, {9, 1, 32, 32});
  EXPECT_EQ(layer(s, "features.conv1").input, (Shape{9, 1, 32, 32}));
  EXPECT_EQ(layer(s, "tower.fc6").input.size(), 2u);
  EXPECT_EQ(layer(s, "tower.fc6").input[0], 9);
  EXPECT_EQ(layer(s, "head.fc7").input, (Shape{1, 9 * layer(s, "tower.drop6").output[1]}));
  EXPECT_EQ(s.layers.back().output, (Shape{1, 100}));
  for (size_t i = 1; i < s.layers.size(); ++i) {
    if (s.layers[i].flatten_before || s.layers[i].join_tiles) continue;
    EXPECT_EQ(s.layers[i].input, s.layers[i - 1].output) << s.layers[i].path;
  }

  // The walk replayed layer by layer is the network's forward pass.
  m->eval();
  Generator g(5);
  const Tensor x = Tensor::randn({2, 9, 1, 32, 32}, DType::f32, &g);
  NoGradGuard ng;
  EXPECT_EQ(replay(w, x).to_vector_f32(), (*m)(x).to_vector_f32());

  std::string e;
  try {
    models::walk_layers(*m, {1, 32, 32});
  } catch (const Error& err) {
    e = err.what();
  }
  EXPECT_NE(e.find("T,C,H,W"), std::string::npos) << e;
  EXPECT_THROW(models::walk_layers(*m, {2, 1, 32, 32}), Error);  // nine tiles, not two
}

TEST(LayerWalk, ShapesForOneSampleInEvalModeAndModesKept) {
  auto m = models::create("vgg-small", small_config());
  m->train();
  m->find("features.1")->eval();  // a deliberately frozen batch norm stays frozen
  const LayerWalk w = models::walk_layers(*m, {1, 28, 28});
  EXPECT_TRUE(m->is_training());
  EXPECT_FALSE(m->find("features.1")->is_training());
  EXPECT_TRUE(m->find("features.0")->is_training());
  EXPECT_EQ(w.layers.front().input, (Shape{1, 1, 28, 28}));
  EXPECT_EQ(w.layers.back().output, (Shape{1, 10}));
  const LayerInfo& first_dense =
      *std::find_if(w.layers.begin(), w.layers.end(), [](const LayerInfo& l) { return l.flatten_before; });
  EXPECT_EQ(first_dense.input.size(), 2u);  // flattened before it runs
  EXPECT_THROW(models::walk_layers(*m, {28, 28}), Error);

  m->eval();
  Generator g(6);
  const Tensor x = Tensor::randn({3, 1, 28, 28}, DType::f32, &g);
  NoGradGuard ng;
  EXPECT_EQ(replay(models::walk_layers(*m), x).to_vector_f32(), (*m)(x).to_vector_f32());
}

TEST(LayerWalk, PlainSequentialAndSingleModules) {
  // A plain Sequential: its leaves by their own names, nested ones dotted; a Flatten ends the field.
  auto block = std::make_shared<nn::Sequential>();
  block->push_back("conv", std::make_shared<nn::Conv2d>(1, 2, 3, 2, 1));
  block->push_back("relu", std::make_shared<nn::ReLU>());
  auto seq = std::make_shared<nn::Sequential>();
  seq->push_back("block", block);
  seq->push_back("flat", std::make_shared<nn::Flatten>());
  seq->push_back("fc", std::make_shared<nn::Linear>(2 * 4 * 4, 3));
  const LayerWalk w = models::walk_layers(*seq);
  EXPECT_EQ(w.form, LayerWalk::Form::sequential);
  EXPECT_EQ(paths(w), (std::vector<std::string>{"block.conv", "block.relu", "flat", "fc"}));
  EXPECT_EQ(field_str(layer(w, "block.relu")), "3/2/-1");
  EXPECT_EQ(layer(w, "flat").kind, LayerKind::flatten);
  EXPECT_EQ(layer(w, "flat").field_loss->why, models::FieldLoss::Why::layout_lost);
  EXPECT_EQ(layer(w, "fc").field_loss->path, "flat");
  EXPECT_EQ(models::walk_layers(*seq, {1, 8, 8}).layers.back().output, (Shape{1, 3}));

  // Any other module is one layer, at path "".
  nn::Linear lin(4, 2);
  const LayerWalk one = models::walk_layers(lin);
  EXPECT_EQ(one.form, LayerWalk::Form::single);
  ASSERT_EQ(one.layers.size(), 1u);
  EXPECT_EQ(one.layers[0].path, "");
  EXPECT_EQ(one.layers[0].kind, LayerKind::linear);
  EXPECT_EQ(one.layers[0].module.get(), &lin);
  EXPECT_EQ(one.layers[0].field_loss->why, models::FieldLoss::Why::layout_lost);
}
