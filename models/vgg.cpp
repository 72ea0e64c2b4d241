// VGG-11/13/16/19 (Simonyan and Zisserman 2015, configurations A, B, D, E), with or without
// batch norm, laid out and named exactly as torchvision builds them.
#include "models/registry.h"

namespace pw::models {

using namespace nn;

ModelPtr make_vgg(int depth, bool batch_norm, const ModelConfig& cfg) {
  constexpr int M = 0;  // a max-pool
  std::vector<int> plan;
  switch (depth) {
    case 11: plan = {64, M, 128, M, 256, 256, M, 512, 512, M, 512, 512, M}; break;
    case 13: plan = {64, 64, M, 128, 128, M, 256, 256, M, 512, 512, M, 512, 512, M}; break;
    case 16: plan = {64, 64, M, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M, 512, 512, 512, M}; break;
    case 19:
      plan = {64, 64, M, 128, 128, M, 256, 256, 256, 256, M, 512, 512, 512, 512, M, 512, 512, 512, 512, M};
      break;
    default: PW_FAIL("vgg: depth must be 11, 13, 16 or 19, got ", depth);
  }
  auto features = std::make_shared<Sequential>();
  int64_t in = cfg.in_channels;
  for (int v : plan) {
    if (v == M) {
      features->push_back(std::make_shared<MaxPool2d>(2, 2));
      continue;
    }
    features->push_back(std::make_shared<Conv2d>(in, v, 3, 1, 1));
    if (batch_norm) features->push_back(std::make_shared<BatchNorm2d>(v));
    features->push_back(std::make_shared<ReLU>());
    in = v;
  }
  auto classifier = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
      std::make_shared<Linear>(512 * 7 * 7, 4096),
      std::make_shared<ReLU>(),
      std::make_shared<Dropout>(dropout_or(cfg, 0.5)),
      std::make_shared<Linear>(4096, 4096),
      std::make_shared<ReLU>(),
      std::make_shared<Dropout>(dropout_or(cfg, 0.5)),
      std::make_shared<Linear>(4096, classes_or(cfg, 1000)),
  });
  return std::make_shared<FeaturesClassifier>(features, classifier, std::make_shared<AdaptiveAvgPool2d>(7, 7), "VGG");
}

}  // namespace pw::models
