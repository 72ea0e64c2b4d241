// The registry is an explicit table: adding a model is one line here, nothing runs at
// static-initialization time.
#include "models/registry.h"

#include <functional>

namespace pw::models {

FeaturesClassifier::FeaturesClassifier(std::shared_ptr<nn::Sequential> f, std::shared_ptr<nn::Sequential> c) {
  features = register_module("features", std::move(f));
  classifier = register_module("classifier", std::move(c));
}

Tensor FeaturesClassifier::forward(const Tensor& x) {
  return (*classifier)(features->forward(x).flatten(1));
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
