// Receptive fields: which input pixels a unit of a layer can see, worked out layer by layer from
// the kernels, strides, paddings and dilations (RECIPES: Visualization), so that a unit's
// strongest responses can be shown as the image patches it saw.
#pragma once
#include <cstdint>
#include <string>

#include "engine/nn.h"
#include "models/layer_walk.h"

namespace pw::tasks {

// The receptive field of a layer's units (models/layer_walk.h says what the numbers mean).
using ReceptiveField = models::ReceptiveField;

// A rectangle of input pixels: rows [y0, y1), columns [x0, x1).
struct Box {
  int64_t y0 = 0, x0 = 0, y1 = 0, x1 = 0;
  int64_t height() const { return y1 - y0; }
  int64_t width() const { return x1 - x0; }
  bool operator==(const Box&) const = default;
};

// The layer path that `name` stands for: a path from model_layers as it is ("features.pool2"),
// else the short or full name of a probe point ("conv3"), read at its end (the ReLU after it).
// Anything else is an error listing the layers.
std::string resolve_layer(const nn::Module& model, const std::string& name);

// The receptive field of the units of layer `layer` (see resolve_layer) in the model's input. Only
// layers that keep the spatial layout may come before it, the layer included: convolutions and
// pools change the field, ReLU, batch norm, LRN, dropout and identities leave it; a layer that
// loses the layout (adaptive pooling, whose windows depend on the input size, flatten, linear,
// anything after the flatten into a classifier or tower) is an error naming that layer.
ReceptiveField receptive_field(const nn::Module& model, const std::string& layer);

// The whole field of unit (y, x), running into the padding where it does.
Box field_box(const ReceptiveField& rf, int64_t y, int64_t x);
// The same clipped to an H x W image: the pixels the unit actually sees. (Where a field with holes
// is cut by the image edge, the edge may fall on a hole: the box is then a little larger than the
// pixels that reach the unit.)
Box input_box(const ReceptiveField& rf, int64_t y, int64_t x, int64_t H, int64_t W);

}  // namespace pw::tasks
