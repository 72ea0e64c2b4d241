// The registry is an explicit table: adding a model is one line here, nothing runs at
// static-initialization time.
#include "models/registry.h"

#include <functional>

namespace pw::models {

FeaturesClassifier::FeaturesClassifier(std::shared_ptr<nn::Sequential> f, std::shared_ptr<nn::Sequential> c,
                                       std::shared_ptr<nn::Module> pool, std::string type)
    : type_(std::move(type)) {
  features = register_module("features", std::move(f));
  if (pool) avgpool = register_module("avgpool", std::move(pool));
  classifier = register_module("classifier", std::move(c));
}

Tensor FeaturesClassifier::forward(const Tensor& x) {
  Tensor h = features->forward(x);
  if (avgpool) h = avgpool->forward(h);
  return (*classifier)(h.flatten(1));
}

namespace {
struct Entry {
  ModelInfo info;
  std::function<ModelPtr(const ModelConfig&)> make;
};
const std::vector<Entry>& table() {
  static const std::vector<Entry> t = {
      {{"fmnist-cnn", "two conv blocks (32, 64 channels, batch norm) + two linear layers, for 28x28 images"},
       make_fmnist_cnn},
      {{"alexnet", "torchvision's AlexNet (61.1M parameters at 1000 classes), 224x224 input"}, make_alexnet},
      {{"caffenet", "Caffe's reference CaffeNet: conv1 96x11/4, pool then LRN, groups 2 in conv2/4/5, ceil pooling, 227x227"},
       make_caffenet},
      {{"alexnet-original", "the 2012 AlexNet as one tower: LRN then pool, groups 2 in conv2/4/5, 227x227"},
       make_alexnet_original},
      {{"vgg11", "VGG-11 (configuration A), torchvision names, 224x224"}, [](const ModelConfig& c) { return make_vgg(11, false, c); }},
      {{"vgg13", "VGG-13 (configuration B)"}, [](const ModelConfig& c) { return make_vgg(13, false, c); }},
      {{"vgg16", "VGG-16 (configuration D)"}, [](const ModelConfig& c) { return make_vgg(16, false, c); }},
      {{"vgg19", "VGG-19 (configuration E)"}, [](const ModelConfig& c) { return make_vgg(19, false, c); }},
      {{"vgg11_bn", "VGG-11 with batch norm"}, [](const ModelConfig& c) { return make_vgg(11, true, c); }},
      {{"vgg13_bn", "VGG-13 with batch norm"}, [](const ModelConfig& c) { return make_vgg(13, true, c); }},
      {{"vgg16_bn", "VGG-16 with batch norm"}, [](const ModelConfig& c) { return make_vgg(16, true, c); }},
      {{"vgg19_bn", "VGG-19 with batch norm"}, [](const ModelConfig& c) { return make_vgg(19, true, c); }},
  };
  return t;
}
}  // namespace

ModelPtr create(const std::string& name, const ModelConfig& config) {
  std::string known;
  for (const Entry& e : table()) {
    if (e.info.name == name) return e.make(config);
    known += (known.empty() ? "" : ", ") + e.info.name;
  }
  PW_FAIL("models: unknown model '", name, "' (known: ", known, ")");
}

std::vector<ModelInfo> list() {
  std::vector<ModelInfo> r;
  for (const Entry& e : table()) r.push_back(e.info);
  return r;
}

}  // namespace pw::models
