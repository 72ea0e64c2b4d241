// The model registry: every network by name, built in code (no config language), plus the
// generic features → flatten → classifier container the torchvision-style models share.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"

namespace pw::models {

using ModelPtr = std::shared_ptr<nn::Module>;

struct ModelConfig {
  int64_t num_classes = 10;
  int64_t in_channels = 3;
};

// features (a Sequential) → optional avgpool → flatten → classifier (a Sequential);
// parameter names are "features.N.*" and "classifier.N.*" as in torchvision's AlexNet and VGG.
class FeaturesClassifier : public nn::Module {
 public:
  FeaturesClassifier(std::shared_ptr<nn::Sequential> features, std::shared_ptr<nn::Sequential> classifier,
                     std::shared_ptr<nn::Module> avgpool = nullptr, std::string type = "FeaturesClassifier");
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return type_; }
  std::shared_ptr<nn::Sequential> features, classifier;
  std::shared_ptr<nn::Module> avgpool;

 private:
  std::string type_;
};

ModelPtr create(const std::string& name, const ModelConfig& config = {});

struct ModelInfo {
  std::string name, description;
};
std::vector<ModelInfo> list();

// Networks, one file each.
ModelPtr make_fmnist_cnn(const ModelConfig& config);
ModelPtr make_alexnet(const ModelConfig& config);            // torchvision AlexNet
ModelPtr make_caffenet(const ModelConfig& config);           // Caffe: pool then LRN, groups 2
ModelPtr make_alexnet_original(const ModelConfig& config);   // 2012 paper: LRN then pool, groups 2
ModelPtr make_vgg(int depth, bool batch_norm, const ModelConfig& config);  // 11, 13, 16, 19

}  // namespace pw::models
