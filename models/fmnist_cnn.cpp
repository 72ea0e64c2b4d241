// fmnist-cnn: the small reference CNN trained on Fashion-MNIST by `patchwork train`.
// 28x28 → conv3x3(32)+BN+ReLU → pool2 → conv3x3(64)+BN+ReLU → pool2 → 64·7·7 → fc 128 → fc classes;
// every width (32, 64, 128) times ModelConfig::width.
#include "models/registry.h"

namespace pw::models {

ModelPtr make_fmnist_cnn(const ModelConfig& cfg) {
  using namespace nn;
  const int64_t c1 = scaled(cfg, 32), c2 = scaled(cfg, 64), hidden = scaled(cfg, 128);
  auto features = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
      std::make_shared<Conv2d>(cfg.in_channels, c1, 3, 1, 1),
      std::make_shared<BatchNorm2d>(c1),
      std::make_shared<ReLU>(),
      std::make_shared<MaxPool2d>(2),
      std::make_shared<Conv2d>(c1, c2, 3, 1, 1),
      std::make_shared<BatchNorm2d>(c2),
      std::make_shared<ReLU>(),
      std::make_shared<MaxPool2d>(2),
  });
  auto classifier = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
      std::make_shared<Dropout>(dropout_or(cfg, 0.25)),
      std::make_shared<Linear>(c2 * 7 * 7, hidden),
      std::make_shared<ReLU>(),
      std::make_shared<Dropout>(dropout_or(cfg, 0.25)),
      std::make_shared<Linear>(hidden, classes_or(cfg, 10)),
  });
  return std::make_shared<FeaturesClassifier>(features, classifier);
}

}  // namespace pw::models
