// AlexNet in three forms: torchvision's (the single-GPU variant with 64/192 channels and an
// adaptive 6x6 pool), Caffe's CaffeNet, and the 2012 paper's network as one tower (96/256
// channels, groups 2 where the paper split across two GPUs, LRN, overlapping ceil-mode pools).
#include "models/registry.h"
#include "models/trunks.h"

namespace pw::models {

using namespace nn;

ModelPtr make_alexnet(const ModelConfig& cfg) {
  auto features = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
      std::make_shared<Conv2d>(cfg.in_channels, 64, 11, 4, 2),
      std::make_shared<ReLU>(),
      std::make_shared<MaxPool2d>(3, 2),
      std::make_shared<Conv2d>(64, 192, 5, 1, 2),
      std::make_shared<ReLU>(),
      std::make_shared<MaxPool2d>(3, 2),
      std::make_shared<Conv2d>(192, 384, 3, 1, 1),
      std::make_shared<ReLU>(),
      std::make_shared<Conv2d>(384, 256, 3, 1, 1),
      std::make_shared<ReLU>(),
      std::make_shared<Conv2d>(256, 256, 3, 1, 1),
      std::make_shared<ReLU>(),
      std::make_shared<MaxPool2d>(3, 2),
  });
  auto classifier = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
      std::make_shared<Dropout>(dropout_or(cfg, 0.5)),
      std::make_shared<Linear>(256 * 6 * 6, 4096),
      std::make_shared<ReLU>(),
      std::make_shared<Dropout>(dropout_or(cfg, 0.5)),
      std::make_shared<Linear>(4096, 4096),
      std::make_shared<ReLU>(),
      std::make_shared<Linear>(4096, classes_or(cfg, 1000)),
  });
  return std::make_shared<FeaturesClassifier>(features, classifier, std::make_shared<AdaptiveAvgPool2d>(6, 6),
                                              "AlexNet");
}

std::shared_ptr<Sequential> caffenet_features(int64_t in_channels, const CaffeTrunk& t) {
  auto features = std::make_shared<Sequential>();
  auto pool = [] { return std::make_shared<MaxPool2d>(3, 2, 0, /*ceil_mode=*/true); };
  auto norm = [] { return std::make_shared<LocalResponseNorm>(5, 1e-4, 0.75, 1.0); };
  auto block = [&](int i, std::shared_ptr<Conv2d> conv, bool pooled) {
    std::string n = std::to_string(i);
    int64_t channels = conv->out_channels;
    features->push_back("conv" + n, std::move(conv));
    if (t.batch_norm && i >= 3)
      features->push_back("bn" + n, std::make_shared<BatchNorm2d>(channels, 1e-5, 0.1, /*affine=*/false));
    features->push_back("relu" + n, std::make_shared<ReLU>());
    if (!pooled) return;
    if (t.pool_before_norm) {
      features->push_back("pool" + n, pool());
      if (i < 5) features->push_back("norm" + n, norm());
    } else {
      if (i < 5) features->push_back("norm" + n, norm());
      features->push_back("pool" + n, pool());
    }
  };
  block(1, std::make_shared<Conv2d>(in_channels, 96, 11, t.conv1_stride, t.conv1_padding), true);
  block(2, std::make_shared<Conv2d>(96, 256, 5, 1, 2, 1, t.groups), true);
  block(3, std::make_shared<Conv2d>(256, 384, 3, 1, 1), false);
  block(4, std::make_shared<Conv2d>(384, 384, 3, 1, 1, 1, t.groups), false);
  block(5, std::make_shared<Conv2d>(384, 256, 3, 1, 1, 1, t.groups), true);
  return features;
}

// Caffe-style layer names (conv1, relu1, pool1, norm1, ..., fc6, relu6, drop6, ...), so that
// probes and visualization can address `features.conv5` or `classifier.fc6`.
static ModelPtr make_grouped_alexnet(const ModelConfig& cfg, bool pool_before_norm, int64_t groups, const char* type) {
  CaffeTrunk trunk;
  trunk.groups = groups;
  trunk.pool_before_norm = pool_before_norm;
  auto features = caffenet_features(cfg.in_channels, trunk);
  auto classifier = std::make_shared<Sequential>();
  classifier->push_back("fc6", std::make_shared<Linear>(256 * 6 * 6, 4096));
  classifier->push_back("relu6", std::make_shared<ReLU>());
  classifier->push_back("drop6", std::make_shared<Dropout>(dropout_or(cfg, 0.5)));
  classifier->push_back("fc7", std::make_shared<Linear>(4096, 4096));
  classifier->push_back("relu7", std::make_shared<ReLU>());
  classifier->push_back("drop7", std::make_shared<Dropout>(dropout_or(cfg, 0.5)));
  classifier->push_back("fc8", std::make_shared<Linear>(4096, classes_or(cfg, 1000)));
  return std::make_shared<FeaturesClassifier>(features, classifier, nullptr, type);
}

ModelPtr make_caffenet(const ModelConfig& cfg) { return make_grouped_alexnet(cfg, true, 2, "CaffeNet"); }
ModelPtr make_alexnet_original(const ModelConfig& cfg) {
  return make_grouped_alexnet(cfg, false, 2, "AlexNetOriginal");
}
// The context network's tower (Doersch et al. trained without groups) as a classifier, so that
// a trained context tower transfers into it layer for layer.
ModelPtr make_caffenet_nogroups(const ModelConfig& cfg) {
  return make_grouped_alexnet(cfg, true, 1, "CaffeNetNoGroups");
}

}  // namespace pw::models
