// Layer paths and partial forward passes: see features.h. The network's structure comes from
// the layer walk (models/layer_walk.h).
#include "tasks/features.h"

#include <algorithm>

#include "engine/autograd.h"
#include "engine/util/error.h"
#include "models/layer_walk.h"

namespace pw::tasks {

namespace {

using Layers = std::vector<std::pair<std::string, std::shared_ptr<nn::Module>>>;
using models::LayerInfo;
using models::LayerKind;
using models::LayerWalk;

// The layers that can be read one image (one tile) at a time: all but a TiledNet's head.
std::vector<LayerInfo> readable_layers(const LayerWalk& walk, const nn::Module& model) {
  PW_CHECK(walk.form != LayerWalk::Form::single, "features: cannot read the layers of a ", model.type_name(),
           " (FeaturesClassifier, TiledNet and Sequential models can be read)");
  std::vector<LayerInfo> out;
  for (const LayerInfo& l : walk.layers)
    if (l.part != models::LayerPart::head) out.push_back(l);
  return out;
}

std::vector<LayerInfo> readable_layers(const nn::Module& model) {
  return readable_layers(models::walk_layers(model), model);
}

std::string layer_list(const std::vector<LayerInfo>& layers) {
  std::string s;
  for (const LayerInfo& l : layers) s += (s.empty() ? "" : ", ") + l.path;
  return s;
}

// The index of each path among `layers`, or an error listing the layers.
std::vector<size_t> layer_indices(const nn::Module& model, const std::vector<LayerInfo>& layers,
                                  const std::vector<std::string>& paths) {
  std::vector<size_t> at;
  for (const std::string& path : paths) {
    auto it = std::find_if(layers.begin(), layers.end(), [&](const LayerInfo& l) { return l.path == path; });
    PW_CHECK(it != layers.end(), "features: ", model.type_name(), " has no layer '", path,
             "'; its layers are: ", layer_list(layers));
    at.push_back(it - layers.begin());
  }
  return at;
}

// The probe point of the conv/linear layer layers[i]: read at the ReLU after it (through a batch
// norm between), up to the flatten.
ProbePoint probe_point_at(const std::vector<LayerInfo>& layers, size_t i) {
  ProbePoint p{layers[i].path, layers[i].path};
  for (size_t j = i + 1; j < layers.size() && !layers[j].flatten_before; ++j) {
    if (layers[j].kind == LayerKind::batch_norm) continue;
    if (layers[j].kind == LayerKind::relu) p.end = layers[j].path;
    break;
  }
  return p;
}

}  // namespace

std::string short_name(const std::string& path) { return path.substr(path.rfind('.') + 1); }

Shape layer_output_shape(nn::Module& model, const std::string& layer, const Shape& chw) {
  PW_CHECK(chw.size() == 3, "features: an input shape C, H, W is needed, got ", shape_str(chw));
  nn::EvalModeScope eval(model);
  NoGradGuard ng;
  const Tensor x = Tensor::zeros({1, chw[0], chw[1], chw[2]}).to(model.device());
  return (layer.empty() ? model(x) : forward_to(model, layer, x)).shape();
}

Layers model_layers(const nn::Module& model) {
  Layers out;
  for (const LayerInfo& l : readable_layers(model)) out.emplace_back(l.path, l.module);
  return out;
}

std::vector<Tensor> forward_collect(nn::Module& model, const std::vector<std::string>& paths, const Tensor& x) {
  const std::vector<LayerInfo> layers = readable_layers(model);
  const std::vector<size_t> at = layer_indices(model, layers, paths);
  const size_t end = at.empty() ? 0 : *std::max_element(at.begin(), at.end()) + 1;
  std::vector<Tensor> out(paths.size());
  Tensor h = x;
  for (size_t k = 0; k < end; ++k) {
    h = models::forward_layer(layers[k], h);
    for (size_t i = 0; i < at.size(); ++i)
      if (at[i] == k) out[i] = h;
  }
  return out;
}

Tensor forward_to(nn::Module& model, const std::string& path, const Tensor& x) {
  return forward_collect(model, {path}, x)[0];
}

std::vector<ProbePoint> probe_points(const nn::Module& model) {
  const LayerWalk walk = models::walk_layers(model);
  const std::vector<LayerInfo> layers = readable_layers(walk, model);
  std::vector<ProbePoint> pts;
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].kind == LayerKind::conv || layers[i].kind == LayerKind::linear)
      pts.push_back(probe_point_at(layers, i));
  // The network's output layer is the pretext / class prediction itself, not a feature: a
  // classifier's last layer, and the layer of a Sequential's `head` (colorization's bins per cell).
  const bool head_last =
      walk.form == LayerWalk::Form::sequential && !pts.empty() && pts.back().name.rfind("head.", 0) == 0;
  if ((walk.form == LayerWalk::Form::classifier || head_last) && !pts.empty()) pts.pop_back();
  return pts;
}

ProbePoint find_probe_point(const nn::Module& model, const std::string& name) {
  std::vector<ProbePoint> pts = probe_points(model);
  std::string known;
  for (const ProbePoint& p : pts) {
    if (p.name == name || short_name(p.name) == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  PW_FAIL("features: ", model.type_name(), " has no probe layer '", name, "'; its layers are: ", known);
}

}  // namespace pw::tasks
