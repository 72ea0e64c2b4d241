// The registry is an explicit table: adding a model is one line here, nothing runs at
// static-initialization time.
#include "models/registry.h"

#include <algorithm>
#include <cmath>
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

int64_t scaled(const ModelConfig& c, int64_t n) {
  PW_CHECK(c.width > 0 && c.width <= 16, "models: width must be in (0, 16], got ", c.width);
  return std::max<int64_t>(1, std::llround(n * c.width));
}

namespace {
struct Entry {
  ModelInfo info;
  std::function<ModelPtr(const ModelConfig&)> make;
};
const Shape kImageNet = {3, 224, 224}, kCaffe = {3, 227, 227}, kFashion = {1, 28, 28};
const std::vector<Entry>& table() {
  static const std::vector<Entry> t = {
      {{"fmnist-cnn", "two conv blocks (32, 64 channels, batch norm) + two linear layers, for 28x28 images", kFashion},
       make_fmnist_cnn},
      {{"alexnet", "torchvision's AlexNet (61.1M parameters at 1000 classes)", kImageNet}, make_alexnet},
      {{"caffenet", "Caffe's reference CaffeNet: conv1 96x11/4, pool then LRN, groups 2 in conv2/4/5, ceil pooling",
        kCaffe},
       make_caffenet},
      {{"alexnet-original", "the 2012 AlexNet as one tower: LRN then pool, groups 2 in conv2/4/5", kCaffe},
       make_alexnet_original},
      {{"caffenet-nogroups", "CaffeNet without groups: the classifier a context-net tower transfers into", kCaffe},
       make_caffenet_nogroups},
      {{"vgg11", "VGG-11 (configuration A), torchvision names", kImageNet},
       [](const ModelConfig& c) { return make_vgg(11, false, c); }},
      {{"vgg13", "VGG-13 (configuration B)", kImageNet}, [](const ModelConfig& c) { return make_vgg(13, false, c); }},
      {{"vgg16", "VGG-16 (configuration D)", kImageNet}, [](const ModelConfig& c) { return make_vgg(16, false, c); }},
      {{"vgg19", "VGG-19 (configuration E)", kImageNet}, [](const ModelConfig& c) { return make_vgg(19, false, c); }},
      {{"vgg11_bn", "VGG-11 with batch norm", kImageNet}, [](const ModelConfig& c) { return make_vgg(11, true, c); }},
      {{"vgg13_bn", "VGG-13 with batch norm", kImageNet}, [](const ModelConfig& c) { return make_vgg(13, true, c); }},
      {{"vgg16_bn", "VGG-16 with batch norm", kImageNet}, [](const ModelConfig& c) { return make_vgg(16, true, c); }},
      {{"vgg19_bn", "VGG-19 with batch norm", kImageNet}, [](const ModelConfig& c) { return make_vgg(19, true, c); }},
      {{"context-net",
        "Doersch et al. 2015: two shared CaffeNet towers (no groups, BN on conv3-5/fc6/fc7), 8 positions",
        {2, 3, 96, 96}},
       make_context_net},
      {{"jigsaw-net",
        "Noroozi and Favaro 2016: nine shared towers (conv1 stride 2), fc6 1024 per tile, one class per permutation",
        {9, 3, 64, 64}},
       make_jigsaw_net},
      {{"alexnet-small", "AlexNet's layer pattern (Caffe names, LRN, 5 convs, 3 fc) for 28-64 px images", kFashion},
       make_alexnet_small},
      {{"vgg-small", "VGG's pattern with batch norm (torchvision numbering) for 28-64 px images", kFashion},
       make_vgg_small},
      {{"context-small", "context-net's heads on alexnet-small's trunk, for 8-64 px patches", {2, 1, 12, 12}},
       make_context_small},
      {{"jigsaw-small",
        "jigsaw-net's heads on alexnet-small's trunk (+ non-affine BN on conv3-5), fc6 128, 8-64 px tiles",
        {9, 1, 12, 12}},
       make_jigsaw_small},
      {{"colorization-small",
        "alexnet-small's conv1-5 on the L channel (no pool5) + a 1x1 conv to 262 ab bins per cell (Zhang et al. 2016)",
        {1, 32, 32}},
       make_colorization_small},
  };
  return t;
}

constexpr const char* kRotationPrefix = "rotation-";

const Entry* find_entry(const std::string& name) {
  for (const Entry& e : table())
    if (e.info.name == name) return &e;
  return nullptr;
}

[[noreturn]] void unknown(const std::string& name) {
  std::string known;
  for (const Entry& e : table()) known += (known.empty() ? "" : ", ") + e.info.name;
  PW_FAIL("models: unknown model '", name, "' (known: ", known, ", and rotation-<any single-image model>)");
}
}  // namespace

// "rotation-<trunk>" is the trunk with a 4-way head (Gidaris et al. predict the rotation with
// the classification network itself), so probes address the same layers as the supervised net.
ModelInfo info(const std::string& name) {
  if (name.rfind(kRotationPrefix, 0) == 0) {
    ModelInfo trunk = info(name.substr(std::string(kRotationPrefix).size()));
    PW_CHECK(trunk.input.size() == 3, "models: ", name, ": rotation needs a single-image trunk, '", trunk.name,
             "' takes ", trunk.input[0], " tiles");
    return {name, trunk.name + " with a 4-way rotation head (0, 90, 180, 270 degrees)", trunk.input};
  }
  if (const Entry* e = find_entry(name)) return e->info;
  unknown(name);
}

ModelPtr create(const std::string& name, const ModelConfig& config) {
  if (name.rfind(kRotationPrefix, 0) == 0) {
    info(name);  // validates the trunk
    PW_CHECK(config.num_classes <= 0 || config.num_classes == 4, "models: ", name,
             " predicts one of 4 rotations, so it has 4 classes, not ", config.num_classes);
    ModelConfig c = config;
    c.num_classes = 4;
    return create(name.substr(std::string(kRotationPrefix).size()), c);
  }
  if (const Entry* e = find_entry(name)) return e->make(config);
  unknown(name);
}

std::vector<ModelInfo> list() {
  std::vector<ModelInfo> r;
  for (const Entry& e : table()) r.push_back(e.info);
  return r;
}

}  // namespace pw::models
