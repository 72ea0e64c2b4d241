// Receptive fields by layer name: see receptive_field.h. The layer walk (models/layer_walk.h)
// works the fields out; this file names the layers and explains the ones without a field.
#include "tasks/receptive_field.h"

#include <algorithm>

#include "engine/util/error.h"
#include "tasks/features.h"

namespace pw::tasks {

namespace {

// Why `layer` (as the caller named it) has no receptive field.
[[noreturn]] void fail_without_field(const std::string& layer, const models::FieldLoss& loss) {
  using Why = models::FieldLoss::Why;
  switch (loss.why) {
    case Why::after_flatten:
      PW_FAIL("receptive_field: layer '", layer, "' has no spatial layout: ", loss.path,
              " comes after the flatten into the fully connected layers");
    case Why::input_dependent:
      PW_FAIL("receptive_field: layer '", layer, "' has no fixed receptive field: ", loss.path, " (", loss.type,
              ") before it has windows that depend on the input size");
    case Why::layout_lost:
      PW_FAIL("receptive_field: layer '", layer, "' has no spatial layout: ", loss.path, " (", loss.type, ") loses it");
    case Why::unknown_geometry: break;
  }
  PW_FAIL("receptive_field: cannot follow the field of '", layer, "' through ", loss.path, " (", loss.type,
          "): its geometry is unknown");
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
  for (const models::LayerInfo& l : models::walk_layers(model).layers) {
    if (l.path != target) continue;
    if (!l.field) fail_without_field(layer, *l.field_loss);
    return *l.field;
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
