// Receptive fields from layer geometry: see receptive_field.h.
#include "tasks/receptive_field.h"

#include <algorithm>
#include <set>

#include "engine/util/error.h"
#include "models/registry.h"
#include "tasks/features.h"

namespace pw::tasks {

namespace {

// One layer's window per axis: kernel, stride, padding, dilation.
struct Window {
  int64_t kernel[2], stride[2], pad[2], dilation[2];
};

Window pool_window(const Pool2dParams& p) {
  return {{p.kernel_h, p.kernel_w}, {p.stride_h, p.stride_w}, {p.pad_h, p.pad_w}, {p.dilation_h, p.dilation_w}};
}

// The layers read after the flatten between a network's conv part and its fully connected part
// (the flatten is no module, so model_layers does not list it).
std::set<const nn::Module*> after_flatten(const nn::Module& model) {
  std::shared_ptr<nn::Module> dense;
  if (auto* fc = dynamic_cast<const models::FeaturesClassifier*>(&model)) dense = fc->classifier;
  if (auto* tn = dynamic_cast<const models::TiledNet*>(&model)) dense = tn->tower;
  std::set<const nn::Module*> out;
  if (dense)
    for (auto& [path, m] : dense->named_modules()) out.insert(m.get());
  return out;
}

}  // namespace

std::string resolve_layer(const nn::Module& model, const std::string& name) {
  std::string known;
  for (auto& [path, m] : model_layers(model)) {
    if (path == name) return path;
    known += (known.empty() ? "" : ", ") + path;
  }
  try {
    return find_probe_point(model, name).end;
  } catch (const Error&) {
  }
  PW_FAIL("receptive_field: ", model.type_name(), " has no layer '", name, "'; its layers are: ", known,
          " (a probe point may also be named without its prefix, as conv3)");
}

ReceptiveField receptive_field(const nn::Module& model, const std::string& layer) {
  const std::string target = resolve_layer(model, layer);
  const std::set<const nn::Module*> dense = after_flatten(model);
  ReceptiveField rf;
  for (auto& [path, m] : model_layers(model)) {
    const nn::Module* mod = m.get();
    PW_CHECK(!dense.count(mod), "receptive_field: layer '", layer, "' has no spatial layout: ", path,
             " comes after the flatten into the fully connected layers");
    Window w{};
    if (auto* conv = dynamic_cast<const nn::Conv2d*>(mod)) {
      const Conv2dParams& p = conv->params;
      w = {{conv->kernel_h, conv->kernel_w}, {p.stride_h, p.stride_w}, {p.pad_h, p.pad_w},
           {p.dilation_h, p.dilation_w}};
    } else if (auto* mp = dynamic_cast<const nn::MaxPool2d*>(mod)) {
      // ceil_mode only adds windows at the end: the first units' windows are the same.
      w = pool_window(mp->params);
    } else if (auto* ap = dynamic_cast<const nn::AvgPool2d*>(mod)) {
      w = pool_window(ap->params);
    } else if (dynamic_cast<const nn::ReLU*>(mod) || dynamic_cast<const nn::BatchNorm*>(mod) ||
               dynamic_cast<const nn::LocalResponseNorm*>(mod) || dynamic_cast<const nn::Dropout*>(mod) ||
               dynamic_cast<const nn::Identity*>(mod)) {
      w = {{1, 1}, {1, 1}, {0, 0}, {1, 1}};  // per position (LRN mixes channels only)
    } else if (dynamic_cast<const nn::AdaptiveAvgPool2d*>(mod)) {
      PW_FAIL("receptive_field: layer '", layer, "' has no fixed receptive field: ", path,
              " (AdaptiveAvgPool2d) before it has windows that depend on the input size");
    } else if (dynamic_cast<const nn::Flatten*>(mod) || dynamic_cast<const nn::Linear*>(mod)) {
      PW_FAIL("receptive_field: layer '", layer, "' has no spatial layout: ", path, " (", mod->type_name(),
              ") loses it");
    } else {
      PW_FAIL("receptive_field: cannot follow the field of '", layer, "' through ", path, " (",
              mod->type_name(), "): its geometry is unknown");
    }
    for (int a = 0; a < 2; ++a) {
      // The first pixel of unit 0 moves back by the padding, counted in the previous layer's
      // jumps; each further tap of the kernel adds (dilation) of those jumps to the size.
      rf.offset[a] -= w.pad[a] * rf.jump[a];
      rf.size[a] += (w.kernel[a] - 1) * w.dilation[a] * rf.jump[a];
      rf.jump[a] *= w.stride[a];
    }
    if (path == target) return rf;
  }
  PW_FAIL("receptive_field: layer '", target, "' not found");  // resolve_layer found it; unreachable
}

Box field_box(const ReceptiveField& rf, int64_t y, int64_t x) {
  const int64_t y0 = rf.offset[0] + y * rf.jump[0], x0 = rf.offset[1] + x * rf.jump[1];
  return {y0, x0, y0 + rf.size[0], x0 + rf.size[1]};
}

Box input_box(const ReceptiveField& rf, int64_t y, int64_t x, int64_t H, int64_t W) {
  const Box f = field_box(rf, y, x);
  return {std::clamp<int64_t>(f.y0, 0, H), std::clamp<int64_t>(f.x0, 0, W), std::clamp<int64_t>(f.y1, 0, H),
          std::clamp<int64_t>(f.x1, 0, W)};
}

}  // namespace pw::tasks
