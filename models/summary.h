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

// Runs one zero-filled input of shape [1, C, H, W] ([1, T, C, H, W] for a TiledNet) through
// `model` leaf by leaf (no graph). Descends into Sequentials, FeaturesClassifier and TiledNet;
// any other module counts as one layer.
std::vector<LayerSummary> summarize(nn::Module& model, const Shape& input_chw);

std::string format_summary(const std::vector<LayerSummary>& layers);

}  // namespace pw::models
