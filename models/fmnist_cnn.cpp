// fmnist-cnn: the small reference CNN trained on Fashion-MNIST by `patchwork train`.
// 28x28 → conv3x3(32)+BN+ReLU → pool2 → conv3x3(64)+BN+ReLU → pool2 → 64·7·7 → fc 128 → fc classes.
#include "models/registry.h"

namespace pw::models {

ModelPtr make_fmnist_cnn(const ModelConfig& cfg) {
  using namespace nn;
  auto features = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
      std::make_shared<Conv2d>(cfg.in_channels, 32, 3, 1, 1),
      std::make_shared<BatchNorm2d>(32),
      std::make_shared<ReLU>(),
      std::make_shared<MaxPool2d>(2),
      std::make_shared<Conv2d>(32, 64, 3, 1, 1),
      std::make_shared<BatchNorm2d>(64),
      std::make_shared<ReLU>(),
      std::make_shared<MaxPool2d>(2),
  });
  auto classifier = std::make_shared<Sequential>(std::vector<std::shared_ptr<Module>>{
      std::make_shared<Dropout>(dropout_or(cfg, 0.25)),
      std::make_shared<Linear>(64 * 7 * 7, 128),
      std::make_shared<ReLU>(),
      std::make_shared<Dropout>(dropout_or(cfg, 0.25)),
      std::make_shared<Linear>(128, classes_or(cfg, 10)),
  });
  return std::make_shared<FeaturesClassifier>(features, classifier);
}

}  // namespace pw::models
