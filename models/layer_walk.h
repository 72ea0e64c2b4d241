// The one walk over a network's layers: each leaf layer's path, kind, place in the forward pass
// and receptive field, and (walked with an input) its input and output shapes. The summary
// (models/summary), the feature readers (tasks/features: model_layers, forward_to, probe points)
// and the receptive fields (tasks/receptive_field) read a network through it; it is the one place
// that knows how the containers run their children and what each layer does to the layout.
//
// A FeaturesClassifier runs features -> avgpool -> flatten -> classifier. A TiledNet runs
// features -> avgpool -> flatten -> tower on every tile ([N*T, C, H, W]), joins each sample's tile
// features into one row [N, T*F], and runs its head. A plain Sequential runs its leaves in order;
// any other module is one layer. Sequentials inside are read leaf by leaf ("features.block.relu").
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/nn.h"

namespace pw::models {

// What a layer is, as far as reading a network by layer needs to know.
enum class LayerKind {
  conv,           // nn::Conv2d
  linear,         // nn::Linear
  max_pool,       // nn::MaxPool2d
  avg_pool,       // nn::AvgPool2d
  adaptive_pool,  // nn::AdaptiveAvgPool2d: windows that depend on the input size
  relu,           // nn::ReLU
  batch_norm,     // nn::BatchNorm1d, nn::BatchNorm2d
  lrn,            // nn::LocalResponseNorm (mixes channels only)
  dropout,        // nn::Dropout
  identity,       // nn::Identity
  flatten,        // nn::Flatten
  other,          // any other module: what it does to the layout is unknown
};

// Where a layer sits in its network's forward pass.
enum class LayerPart {
  trunk,  // before the flatten: [N, C, H, W] in (every layer of a plain Sequential)
  dense,  // after the flatten: a FeaturesClassifier's classifier, a TiledNet's tower (per tile)
  head,   // a TiledNet's head, on the joined features of each sample's tiles [N, T*F]
};

// Per axis (0: rows, 1: columns): unit (y, x) of a layer depends on input rows
// [offset[0] + y·jump[0], offset[0] + y·jump[0] + size[0]) and on columns likewise. offset is the
// first row of unit 0's field: negative when that unit reaches into the padding; the field of a
// unit at the bottom or right edge (a ceil-mode pool's extra unit, say) may run past the image.
// With dilation the field can have holes; this is its bounding box, a tight one: its first and
// last rows and columns hold pixels that reach the unit.
struct ReceptiveField {
  int64_t size[2] = {1, 1}, jump[2] = {1, 1}, offset[2] = {0, 0};
};

// Why a layer's units have no receptive field, and the layer on the way that lost it (the layer
// itself or one before it).
struct FieldLoss {
  enum class Why {
    after_flatten,     // the layer that lost it is after the flatten into the dense part
    input_dependent,   // an adaptive pool: its windows depend on the input size
    layout_lost,       // a Flatten or Linear layer
    unknown_geometry,  // a module of kind `other`
  };
  Why why;
  std::string path, type;
};

struct LayerInfo {
  std::string path;  // "features.0", "classifier.fc6", "head.fc8"; "" for a model that is one layer
  std::string type;  // the module's type_name(): "Conv2d"
  LayerKind kind = LayerKind::other;
  LayerPart part = LayerPart::trunk;
  // The layer (owned by the model; for a model that is one layer, the model itself, not owned).
  std::shared_ptr<nn::Module> module;
  // What the network does to the activations before this layer runs (forward_layer does it):
  bool flatten_before = false;  // x.flatten(1): the first layer after the trunk
  int64_t join_tiles = 0;       // > 0: [N*T, F] -> [N, T*F] with T = join_tiles: a head's first layer
  // The receptive field of the layer's output units in the network's input (a tile's, for a
  // TiledNet), where every layer up to this one keeps the spatial layout; else why not.
  std::optional<ReceptiveField> field;
  std::optional<FieldLoss> field_loss;
  // Only from walk_layers(model, sample): the layer's input and output for a batch of one sample
  // (a TiledNet's trunk and tower see the sample's T tiles as the batch).
  Shape input, output;
};

struct LayerWalk {
  enum class Form { classifier, tiled, sequential, single };
  Form form = Form::single;       // FeaturesClassifier, TiledNet, a plain Sequential, any other module
  int64_t tiles = 1;              // a TiledNet's tiles per sample
  std::vector<LayerInfo> layers;  // in forward order
};

// The layers of `model` in forward order, with kinds, parts and receptive fields (no shapes).
LayerWalk walk_layers(const nn::Module& model);

// The same, with every layer's input and output shape for one sample of shape C,H,W (T,C,H,W for
// a TiledNet): runs zeros through the model once, in eval mode, without a graph. A sample of the
// wrong rank, or with the wrong number of tiles, is an error.
LayerWalk walk_layers(nn::Module& model, const Shape& sample);

// Runs one layer as its network does: the flatten or tile join before it, then its module.
Tensor forward_layer(const LayerInfo& layer, const Tensor& x);

}  // namespace pw::models
