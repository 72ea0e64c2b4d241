// Layer-by-layer summary of a model: output shape, parameters and multiply-adds per layer.
#pragma once
#include <string>
#include <vector>

#include "engine/nn.h"

namespace pw::models {

struct LayerSummary {
  std::string path;  // "features.0", "classifier.fc6"
  std::string type;  // "Conv2d"
  Shape input;       // for a batch of one (a tiled network's tower shows its T tiles as the batch)
  Shape output;
  const nn::Module* module = nullptr;  // the layer itself, alive as long as the model
  int64_t parameters = 0;
  int64_t macs = 0;  // multiply-adds of convolutions and linear layers (the published "FLOPs")
};

// Every layer of the walk (models/layer_walk.h) for one zero-filled sample of shape C,H,W
// (T,C,H,W for a TiledNet), in eval mode and without a graph: FeaturesClassifier, TiledNet (its
// head included) and Sequential models layer by layer; any other module counts as one layer.
std::vector<LayerSummary> summarize(nn::Module& model, const Shape& sample);

std::string format_summary(const std::vector<LayerSummary>& layers);

}  // namespace pw::models
