// The viz runs that draw a network's weights or optimize images: filters, class models, units,
// DeepDream (runs.h); and the PNG + JSON sidecar every viz picture is written as.
#include <algorithm>
#include <filesystem>

#include "engine/io/image.h"
#include "engine/util/files.h"
#include "tasks/features.h"
#include "tasks/pictures.h"
#include "tasks/receptive_field.h"
#include "tasks/viz/run_support.h"
#include "tasks/viz/runs.h"

namespace pw::tasks::viz {

namespace fs = std::filesystem;

namespace {

io::Json ascent_json(const AscentRunResult& r) {
  const AscentOptions& a = r.options;
  const io::Json effective = io::Json::object({{"iterations", a.iterations},
                                               {"step", a.step},
                                               {"l2", a.l2},
                                               {"decay", a.decay},
                                               {"blur", a.blur_sigma},
                                               {"blur_every", a.blur_every},
                                               {"norm_percentile", a.norm_percentile},
                                               {"contrib_percentile", a.contrib_percentile},
                                               {"jitter", a.jitter},
                                               {"clip", a.clip},
                                               {"random_start", a.random_start},
                                               {"seed", a.seed}});
  return io::Json::object({{"model", r.model},
                           {"effective", effective},
                           {"targets", r.targets},
                           {"labels", r.labels},
                           {"image_size", r.space.width},
                           {"mean", r.space.mean},
                           {"std", r.space.std},
                           {"start", r.ascent.start},
                           {"end", r.ascent.end},
                           {"curves", r.ascent.curve}});
}

// One optimized image per target, each captioned, `cols` per row.
io::Image ascent_picture(const AscentRunResult& r, int64_t cols) {
  std::vector<io::Image> cells;
  for (size_t i = 0; i < r.targets.size(); ++i) {
    const io::Image img = to_image(r.ascent.images.select(0, (int64_t)i), r.space.mean, r.space.std);
    cells.push_back(with_caption(upscale(img, upscale_factor(r.space.width)), {r.labels[i]}));
  }
  return grid(cells, std::min<int64_t>(cols, (int64_t)cells.size()));
}

// The network and input space of class models and units.
struct Prepared {
  LoadedModel network;
  InputSpace space;
};
Prepared prepare(const VizCommon& common, const SpaceRequest& request, const std::string& command) {
  const RunRecord record = read_run_record(common.source.checkpoint);
  const int64_t channels = network_channels(record, common, command);
  Prepared p;
  p.network = load_network(common, channels, command);
  p.space = resolve_space(p.network, channels, request, command);
  return p;
}

AscentOptions with_jitter(AscentOptions o, const std::optional<int64_t>& jitter, int64_t side) {
  o.jitter = jitter.value_or(side / 16);
  return o;
}

}  // namespace

VizFiles write_viz_outputs(const std::string& out_dir, const std::string& method, const io::Image& picture,
                           const io::Json& flags, const io::Json& results) {
  fs::create_directories(out_dir);
  VizFiles f;
  f.picture = (fs::path(out_dir) / (method + ".png")).string();
  f.json = (fs::path(out_dir) / (method + ".json")).string();
  io::write_png(f.picture, picture);
  const io::Json sidecar = io::Json::object({{"method", method}, {"flags", flags}, {"results", results}});
  write_file_atomic(f.json, sidecar.dump(io::JsonStyle::indented) + "\n");
  return f;
}

FiltersResult run_filters(const FiltersConfig& c) {
  const RunRecord record = read_run_record(c.common.source.checkpoint);
  const LoadedModel network = load_network(c.common, network_channels(record, c.common, "viz filters"), "viz filters");
  FiltersResult r;
  r.model = network.name;
  const nn::Conv2d& conv = find_conv(*network.model, c.layer, &r.layer);
  r.filters = conv.out_channels;
  const io::Image img = filter_grid(conv, c.options);
  const io::Json js = io::Json::object({{"model", r.model},
                                        {"layer", r.layer},
                                        {"filters", conv.out_channels},
                                        {"kernel", io::Json::array({conv.kernel_h, conv.kernel_w})}});
  r.files = write_viz_outputs(c.common.out_dir, "filters", img, c.common.flags, js);
  return r;
}

AscentRunResult run_class(const ClassConfig& c) {
  require_classifier(read_run_record(c.common.source.checkpoint), "viz class");
  Prepared p = prepare(c.common, c.space, "viz class");
  const Shape out = layer_output_shape(*p.network.model, "", {p.space.channels, p.space.height, p.space.width});
  PW_CHECK(out.size() == 2, "viz class: the network's output is ", shape_str(out), ", not one score per class");
  AscentRunResult r;
  r.model = p.network.name;
  r.space = p.space;
  r.targets = c.classes;
  if (r.targets.empty())
    for (int64_t k = 0; k < out[1]; ++k) r.targets.push_back(k);
  const std::vector<std::string> names = class_names(p.network.record, out[1]);
  for (int64_t k : r.targets) r.labels.push_back(class_name(names, k));
  r.options = with_jitter(c.ascent, c.jitter, p.space.width);
  r.ascent = class_model(*p.network.model, p.space, r.targets, c.probability, r.options);
  r.files = write_viz_outputs(c.common.out_dir, "class", ascent_picture(r, 5), c.common.flags, ascent_json(r));
  return r;
}

AscentRunResult run_unit(const UnitConfig& c) {
  for (const auto& [flag, v] : {std::pair{"y", c.y}, std::pair{"x", c.x}})
    PW_CHECK(!v || *v >= 0, "viz unit: --", flag, " must be 0 or more, got ", *v, " (leave it out for the centre)");
  Prepared p = prepare(c.common, c.space, "viz unit");
  UnitSpec spec;
  spec.layer = c.layer;
  spec.neuron = c.neuron;
  spec.y = c.y.value_or(-1);
  spec.x = c.x.value_or(-1);
  spec.units = c.units;
  if (spec.units.empty()) {
    const Shape shape = layer_output_shape(*p.network.model, ascent_layer(*p.network.model, c.layer),
                                           {p.space.channels, p.space.height, p.space.width});
    for (int64_t u = 0; u < shape[1]; ++u) spec.units.push_back(u);
  }
  AscentRunResult r;
  r.model = p.network.name;
  r.space = p.space;
  r.targets = spec.units;
  for (int64_t u : r.targets) r.labels.push_back("unit " + std::to_string(u));
  r.options = with_jitter(c.ascent, c.jitter, p.space.width);
  r.ascent = maximize_units(*p.network.model, p.space, spec, r.options);
  r.files = write_viz_outputs(c.common.out_dir, "unit", ascent_picture(r, 8), c.common.flags, ascent_json(r));
  return r;
}

DreamRunResult run_dream(const DreamConfig& c) {
  PW_CHECK(!c.image.empty(), "viz dream: give --image PHOTO");
  const RunRecord record = read_run_record(c.common.source.checkpoint);
  const int64_t channels = network_channels(record, c.common, "viz dream");
  const LoadedModel network = load_network(c.common, channels, "viz dream");
  InputSpace space;
  space.channels = channels;
  resolve_normalization(record, channels, c.mean, c.std, "viz dream", space);
  io::Image photo;
  const Tensor x = load_photo(c.image, c.size, space, &photo);
  DreamRunResult r;
  r.model = network.name;
  r.layer = resolve_layer(*network.model, c.layer);
  r.dream = deep_dream(*network.model, space, c.layer, x, c.options);
  io::Json sizes = io::Json::array();
  for (const auto& [height, width] : r.dream.sizes) sizes.push(io::Json::array({height, width}));
  const io::Json js = io::Json::object({{"model", r.model},
                                        {"layer", r.layer},
                                        {"mean", space.mean},
                                        {"std", space.std},
                                        {"octave_start", r.dream.octave_start},
                                        {"octave_end", r.dream.octave_end},
                                        {"sizes", sizes}});
  const io::Image dream = to_image(r.dream.image, space.mean, space.std);
  r.files = write_viz_outputs(c.common.out_dir, "dream", grid({photo, dream}, 2, 4), c.common.flags, js);
  return r;
}

}  // namespace pw::tasks::viz
