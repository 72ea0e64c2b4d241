// Reading a network's intermediate layers: the ordered leaf layers of a model (as paths such
// as "features.conv3"), running a forward pass that stops at a layer, and the probe points of
// a trunk (each convolution or linear layer with the batch norm and ReLU that follow it),
// which linear probes, nearest neighbours and visualization address by name.
//
// The layers are those of the layer walk (models/layer_walk.h). A FeaturesClassifier runs
// features -> avgpool -> flatten -> classifier. A TiledNet (context, jigsaw) is read one tile at a
// time: features -> avgpool -> flatten -> tower, i.e. its shared trunk applied to single images
// [N, C, H, W]; its head (which needs all tiles) is not a layer here. A plain Sequential is read
// leaf by leaf ("conv1", "block.relu").
#pragma once
#include <string>
#include <vector>

#include "engine/nn.h"

namespace pw::tasks {

// Leaf layers in forward order, with their dotted paths.
std::vector<std::pair<std::string, std::shared_ptr<nn::Module>>> model_layers(const nn::Module& model);

// The output of layer `path` (a leaf from model_layers) for input x; layers after it do not run.
// An unknown path is an error listing the layers that exist.
Tensor forward_to(nn::Module& model, const std::string& path, const Tensor& x);

struct ProbePoint {
  std::string name;  // the convolution or linear layer's path, "features.conv3"
  std::string end;   // the last layer read: its ReLU (after any batch norm), or itself
};
// Every convolution and linear layer except the network's last (the classifier output, or the
// layer of a Sequential's child named `head`: colorization's per-cell bins), in order.
std::vector<ProbePoint> probe_points(const nn::Module& model);
// The probe point named `name` (its conv/linear path, or its short name "conv3"), or an error
// listing the names that exist.
ProbePoint find_probe_point(const nn::Module& model, const std::string& name);

// The last component of a layer path: "features.conv3" -> "conv3".
std::string short_name(const std::string& path);

// The output shape of `layer` (a path from model_layers; empty: the model's output) for one input
// of shape chw, in eval mode and without a graph.
Shape layer_output_shape(nn::Module& model, const std::string& layer, const Shape& chw);

// Runs x through the model once and returns the outputs of several layers (paths from
// model_layers, any order), stopping after the last one needed.
std::vector<Tensor> forward_collect(nn::Module& model, const std::vector<std::string>& paths, const Tensor& x);

}  // namespace pw::tasks
