// Small variants for 28-64 px inputs, so that a reference model trains on the CPU in minutes:
// alexnet-small (the AlexNet layer pattern with Caffe names, the trunk the small pretext
// networks share) and vgg-small (VGG's 3x3 conv + batch norm pattern, torchvision numbering).
#include "engine/util/error.h"
#include "models/registry.h"
#include "models/trunks.h"

namespace pw::models {

using namespace nn;

int64_t alexnet_small_channels(const ModelConfig& cfg) { return scaled(cfg, 64); }

std::shared_ptr<Sequential> alexnet_small_features(const ModelConfig& cfg, bool batch_norm, bool pool5) {
  auto f = std::make_shared<Sequential>();
  auto pool = [] { return std::make_shared<MaxPool2d>(2, 2, 0, /*ceil_mode=*/true); };
  auto norm = [] { return std::make_shared<LocalResponseNorm>(5, 1e-4, 0.75, 1.0); };
  auto conv = [&](int i, int64_t in, int64_t out, int64_t k) {
    std::string n = std::to_string(i);
    f->push_back("conv" + n, std::make_shared<Conv2d>(in, out, k, 1, k / 2));
    if (batch_norm && i >= 3) f->push_back("bn" + n, std::make_shared<BatchNorm2d>(out, 1e-5, 0.1, false));
    f->push_back("relu" + n, std::make_shared<ReLU>());
  };
  const int64_t c1 = scaled(cfg, 32), c2 = scaled(cfg, 64), c3 = scaled(cfg, 96);
  conv(1, cfg.in_channels, c1, 5);
  f->push_back("pool1", pool());
  f->push_back("norm1", norm());
  conv(2, c1, c2, 3);
  f->push_back("pool2", pool());
  f->push_back("norm2", norm());
  conv(3, c2, c3, 3);
  conv(4, c3, c3, 3);
  conv(5, c3, alexnet_small_channels(cfg), 3);
  if (pool5) f->push_back("pool5", pool());
  return f;
}

ModelPtr make_alexnet_small(const ModelConfig& cfg) {
  auto features = alexnet_small_features(cfg, false);
  const double p = dropout_or(cfg, 0.5);
  const int64_t hidden = scaled(cfg, 256);
  auto classifier = std::make_shared<Sequential>();
  classifier->push_back("fc6", std::make_shared<Linear>(alexnet_small_channels(cfg) * 3 * 3, hidden));
  classifier->push_back("relu6", std::make_shared<ReLU>());
  classifier->push_back("drop6", std::make_shared<Dropout>(p));
  classifier->push_back("fc7", std::make_shared<Linear>(hidden, hidden));
  classifier->push_back("relu7", std::make_shared<ReLU>());
  classifier->push_back("drop7", std::make_shared<Dropout>(p));
  classifier->push_back("fc8", std::make_shared<Linear>(hidden, classes_or(cfg, 10)));
  // The adaptive pool makes 28..64 px inputs all end in 3x3 cells before fc6.
  return std::make_shared<FeaturesClassifier>(features, classifier, std::make_shared<AdaptiveAvgPool2d>(3, 3),
                                              "AlexNetSmall");
}

ModelPtr make_vgg_small(const ModelConfig& cfg) {
  constexpr int M = 0;
  auto features = std::make_shared<Sequential>();
  int64_t in = cfg.in_channels;
  for (int v : {32, M, 64, M, 128, 128, M}) {
    if (v != M) v = (int)scaled(cfg, v);
    if (v == M) {
      features->push_back(std::make_shared<MaxPool2d>(2, 2));
      continue;
    }
    features->push_back(std::make_shared<Conv2d>(in, v, 3, 1, 1));
    features->push_back(std::make_shared<BatchNorm2d>(v));
    features->push_back(std::make_shared<ReLU>());
    in = v;
  }
  const double p = dropout_or(cfg, 0.5);
  const int64_t hidden = scaled(cfg, 256);
  auto classifier = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
      std::make_shared<Linear>(in * 3 * 3, hidden),
      std::make_shared<ReLU>(),
      std::make_shared<Dropout>(p),
      std::make_shared<Linear>(hidden, hidden),
      std::make_shared<ReLU>(),
      std::make_shared<Dropout>(p),
      std::make_shared<Linear>(hidden, classes_or(cfg, 10)),
  });
  return std::make_shared<FeaturesClassifier>(features, classifier, std::make_shared<AdaptiveAvgPool2d>(3, 3),
                                              "VGGSmall");
}

// Zhang et al. 2016 predict 313 bins per location of a fully convolutional network on the L
// channel, at a quarter of the input's resolution. Here: alexnet-small's conv1..relu5 (no pool5,
// so conv5's map is a quarter of the input: 8x8 for 32-px crops) and one 1x1 convolution to the
// bins. The task passes the count it computes; the default is that count, 262 (the squares of
// grid 10 that sRGB reaches: tasks/pretext/colorization.h, which a test keeps equal to this).
ModelPtr make_colorization_small(const ModelConfig& cfg) {
  PW_CHECK(cfg.in_channels == 1, "models: colorization-small reads the lightness L alone: 1 input channel, not ",
           cfg.in_channels);
  auto features = alexnet_small_features(cfg, cfg.batch_norm, /*pool5=*/false);
  auto head = std::make_shared<Sequential>();
  head->push_back("conv8", std::make_shared<Conv2d>(alexnet_small_channels(cfg), classes_or(cfg, 262), 1));
  auto net = std::make_shared<Sequential>();
  net->push_back("features", features);
  net->push_back("head", head);
  return net;
}

}  // namespace pw::models
