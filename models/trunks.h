// The convolutional trunks that several networks share, so that a pretext tower and the
// classifier it transfers into are built by the same code and carry the same layer names
// (features.conv1 ... features.pool5).
#pragma once
#include <memory>

#include "engine/nn.h"

namespace pw::models {

// CaffeNet-style conv1..pool5 with Caffe names (conv1, relu1, pool1, norm1, ...).
struct CaffeTrunk {
  int64_t conv1_stride = 4;
  int64_t conv1_padding = 0;
  int64_t groups = 2;            // conv2, conv4, conv5
  bool pool_before_norm = true;  // CaffeNet; the 2012 paper normalizes first
  bool batch_norm = false;       // bn3..bn5 without affine, between conv and ReLU (Doersch et al.)
};
std::shared_ptr<nn::Sequential> caffenet_features(int64_t in_channels, const CaffeTrunk& trunk);

struct ModelConfig;

// The small AlexNet-style trunk for 8-64 px inputs, same names: conv1 32x5x5 -> pool 2/2 (ceil)
// -> LRN -> conv2 64x3x3 -> pool -> LRN -> conv3 96 -> conv4 96 -> conv5 64 -> pool5, every
// width times config.width; batch norm (no affine) after conv3..5 when `batch_norm`; no pool5
// when not `pool5` (dense prediction reads conv5's map). 28x28 gives 64x4x4 at pool5; 12x12 gives 64x2x2.
std::shared_ptr<nn::Sequential> alexnet_small_features(const ModelConfig& config, bool batch_norm, bool pool5 = true);
int64_t alexnet_small_channels(const ModelConfig& config);  // conv5's output channels

}  // namespace pw::models
