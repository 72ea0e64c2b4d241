// The viz runs that read images of a dataset through a network: saliency (and its guided and
// deconvnet rules), feature inversion, top patches and the contact sheet (runs.h).
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "engine/io/image.h"
#include "engine/ops.h"
#include "tasks/features.h"
#include "tasks/pictures.h"
#include "tasks/receptive_field.h"
#include "tasks/text.h"
#include "tasks/viz/run_support.h"
#include "tasks/viz/runs.h"

namespace pw::tasks::viz {

namespace fs = std::filesystem;

namespace {

// One value for every image, or one per image; classes are 0 or more (the network's range is
// checked by saliency()).
std::vector<int64_t> explained_classes(const std::vector<int64_t>& classes, size_t images, const std::string& command) {
  if (classes.empty()) return std::vector<int64_t>(images, -1);  // saliency(): the predicted class
  for (int64_t c : classes)
    PW_CHECK(c >= 0, command, ": --classes: class ", c,
             " is out of range (leave --classes out for the predicted class)");
  std::vector<int64_t> out = classes;
  if (out.size() == 1) out.assign(images, out[0]);
  PW_CHECK(out.size() == images, command, ": --classes has ", classes.size(), " values for ", images, " images");
  return out;
}

std::vector<ExplainedImage> explained_images(const VizImages& v, const SaliencyResult& s,
                                             const std::vector<std::string>& names) {
  std::vector<ExplainedImage> out;
  for (size_t i = 0; i < v.index.size(); ++i) {
    ExplainedImage e;
    e.image = v.index[i];
    if (!v.labels.empty()) {
      e.label = v.labels[i];
      e.label_name = class_name(v.data.classes.empty() ? names : v.data.classes, *e.label);
    }
    e.predicted = s.predicted[i];
    e.predicted_name = class_name(names, e.predicted);
    e.probability = s.probability[i];
    e.explained = s.classes[i];
    e.explained_name = class_name(names, e.explained);
    e.score = s.scores[i];
    out.push_back(e);
  }
  return out;
}

io::Json saliency_json(const SaliencyRunResult& r) {
  io::Json images = io::Json::array();
  for (const ExplainedImage& e : r.images) {
    io::Json one = io::Json::object({{"image", e.image},
                                     {"predicted", e.predicted},
                                     {"predicted_name", e.predicted_name},
                                     {"probability", e.probability},
                                     {"class", e.explained},
                                     {"class_name", e.explained_name},
                                     {"score", e.score}});
    if (e.label) {
      one.set("label", *e.label);
      one.set("label_name", e.label_name);
    }
    if (e.box) one.set("box", io::Json::array({e.box->y0, e.box->x0, e.box->y1, e.box->x1}));
    images.push(one);
  }
  return io::Json::object({{"model", r.model}, {"data", r.data}, {"images", images}});
}

// Per image: the image (captioned), the map, the map over the image, the signed gradient (other
// rules than grad), the box.
io::Image saliency_picture(const SaliencyConfig& c, const VizImages& v, const SaliencyResult& s,
                           std::vector<ExplainedImage>& explained) {
  const int64_t f = upscale_factor(v.images.size(3));
  const bool signed_gradient = c.options.rule != ReluRule::grad;
  std::vector<io::Image> cells;
  for (size_t i = 0; i < v.index.size(); ++i) {
    const io::Image img = to_image(v.images.select(0, (int64_t)i), v.data.mean, v.data.std);
    cells.push_back(with_caption(upscale(img, f), caption(explained[i])));
    cells.push_back(upscale(heat_image(s.maps[i], s.height, s.width), f));
    cells.push_back(upscale(overlay(img, s.maps[i]), f));
    if (signed_gradient) cells.push_back(upscale(signed_gradient_image(s.gradient.select(0, (int64_t)i)), f));
    if (c.box) {
      const Box b = saliency_box(s.maps[i], img);
      explained[i].box = b;
      cells.push_back(draw_box(upscale(img, f), Box{b.y0 * f, b.x0 * f, b.y1 * f, b.x1 * f}, 0.1f, 0.9f, 0.2f));
    }
  }
  return grid(cells, 3 + signed_gradient + c.box);
}

// The unit numbers in a column left of top_patches_grid's rows (cells of one size, pad 2).
io::Image with_unit_labels(const io::Image& grid, const std::vector<int64_t>& units, int64_t cell_h) {
  const int64_t label_w = text_width("0000") + 8, slot = cell_h + 4;
  io::Image out = io::Image::filled(3, grid.height, grid.width + label_w, 1.f);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < grid.height; ++y)
      for (int64_t x = 0; x < grid.width; ++x)
        out.at(c, y, label_w + x) = grid.at(std::min(c, grid.channels - 1), y, x);
  for (size_t i = 0; i < units.size(); ++i)
    draw_text(out, 4, (int64_t)i * slot + slot / 2 - kCapHeight / 2, std::to_string(units[i]), {0.1f, 0.1f, 0.1f});
  return out;
}

io::Json units_json(const TopPatches& tp) {
  io::Json units = io::Json::array();
  for (size_t i = 0; i < tp.units.size(); ++i) {
    io::Json patches = io::Json::array();
    for (const TopPatch& p : tp.best[i]) patches.push(patch_json(p));
    units.push(io::Json::object({{"unit", tp.units[i]}, {"patches", patches}}));
  }
  return units;
}

// The layer top patches read and its units, checked before the scan.
std::vector<int64_t> checked_units(nn::Module& model, const std::string& layer, const std::string& asked,
                                   const Tensor& images, const std::vector<int64_t>& units) {
  const Shape out = layer_output_shape(model, layer, {images.size(1), images.size(2), images.size(3)});
  PW_CHECK(out.size() == 4, "--layer ", asked, ": ", layer, " gives ", shape_str(out),
           ", not a map of channels; top patches need a convolutional layer");
  std::vector<int64_t> chosen = units;
  if (chosen.empty())
    for (int64_t u = 0; u < out[1]; ++u) chosen.push_back(u);
  for (int64_t u : chosen)
    PW_CHECK(u >= 0 && u < out[1], "--units: unit ", u, " is out of range; ", layer, " has ", out[1], " channels");
  return chosen;
}

}  // namespace

std::vector<std::string> caption(const ExplainedImage& e) {
  std::vector<std::string> lines;
  if (e.label) lines.push_back("true " + e.label_name);
  char probability[32];
  std::snprintf(probability, sizeof probability, " %.2f", e.probability);
  lines.push_back("pred " + e.predicted_name + probability);
  if (e.explained != e.predicted) lines.push_back("map " + e.explained_name);
  return lines;
}

SaliencyRunResult run_saliency(const SaliencyConfig& c) {
  const std::string command = "viz " + c.method;
  const RunRecord record = read_run_record(c.common.source.checkpoint);
  require_classifier(record, command);
  const VizImages v = pick_images(record, c.data, c.images, 8, command);
  const LoadedModel network = load_network(c.common, v.images.size(1), command);
  const std::vector<int64_t> classes = explained_classes(c.classes, v.index.size(), command);
  const SaliencyResult s = saliency(*network.model, v.images, classes, c.options);
  SaliencyRunResult r;
  r.model = network.name;
  r.data = v.spec;
  r.images = explained_images(v, s, class_names(record, s.outputs, v.data.classes));
  const io::Image picture = saliency_picture(c, v, s, r.images);
  r.files = write_viz_outputs(c.common.out_dir, c.method, picture, c.common.flags, saliency_json(r));
  return r;
}

InvertRunResult run_invert(const InvertConfig& c) {
  const RunRecord record = read_run_record(c.common.source.checkpoint);
  const VizImages v = pick_images(record, c.data, c.images, 4, "viz invert");
  const LoadedModel network = load_network(c.common, v.images.size(1), "viz invert");
  const InputSpace space = space_of(v);
  InvertRunResult r;
  r.model = network.name;
  r.data = v.spec;
  r.layer = ascent_layer(*network.model, c.layer);
  r.images = v.index;
  r.inversion = invert_features(*network.model, space, c.layer, v.images, c.options);
  const int64_t f = upscale_factor(v.images.size(3));
  std::vector<io::Image> cells;
  io::Json errors = io::Json::array();
  for (size_t i = 0; i < v.index.size(); ++i) {
    cells.push_back(upscale(to_image(v.images.select(0, (int64_t)i), space.mean, space.std), f));
    cells.push_back(upscale(to_image(r.inversion.images.select(0, (int64_t)i), space.mean, space.std), f));
    errors.push(io::Json::object(
        {{"image", v.index[i]}, {"error_start", r.inversion.start[i]}, {"error_end", r.inversion.end[i]}}));
  }
  const io::Json js = io::Json::object({{"model", r.model}, {"data", r.data}, {"layer", r.layer}, {"images", errors}});
  r.files = write_viz_outputs(c.common.out_dir, "invert", grid(cells, 2), c.common.flags, js);
  return r;
}

TopPatchesRunResult run_top_patches(const TopPatchesConfig& c) {
  PW_CHECK(c.k > 0, "viz top-patches: --k must be positive, got ", c.k);
  PW_CHECK(c.batch_size > 0, "viz top-patches: --batch-size must be positive, got ", c.batch_size);
  const RunRecord record = read_run_record(c.common.source.checkpoint);
  const VizImages v = first_images(record, c.data, c.limit, "viz top-patches");
  const LoadedModel network = load_network(c.common, v.images.size(1), "viz top-patches");
  const std::string layer = resolve_layer(*network.model, c.layer);
  const std::vector<int64_t> units = checked_units(*network.model, layer, c.layer, v.images, c.units);
  TopPatchesRunResult r;
  r.model = network.name;
  r.data = v.spec;
  r.images = v.images.size(0);
  r.patches = top_patches(*network.model, layer, units, v.images, c.k, c.batch_size);
  const TopPatches& tp = r.patches;
  const int64_t scale = scale_to_cell(std::max(tp.field.size[0], tp.field.size[1]), c.cell);
  const io::Image grid = top_patches_grid(tp, v.images, v.data.mean, v.data.std, scale);
  const io::Image img = with_unit_labels(grid, units, tp.field.size[0] * scale);
  const io::Json js = io::Json::object({{"layer", tp.layer},
                                        {"model", r.model},
                                        {"data", r.data},
                                        {"images", r.images},
                                        {"receptive_field", field_json(tp.field)},
                                        {"scale", scale},
                                        {"units", units_json(tp)}});
  r.files = write_viz_outputs(c.common.out_dir, "top-patches", img, c.common.flags, js);
  return r;
}

SheetRunResult run_sheet(const SheetConfig& c) {
  PW_CHECK(c.options.units_per_layer > 0, "--units-per-layer must be positive, got ", c.options.units_per_layer);
  PW_CHECK(c.options.k > 0, "viz sheet: --k must be positive, got ", c.options.k);
  PW_CHECK(c.options.batch_size > 0, "viz sheet: --batch-size must be positive, got ", c.options.batch_size);
  PW_CHECK(c.options.ascent.iterations >= 0, "--iterations must not be negative, got ", c.options.ascent.iterations);
  const RunRecord record = read_run_record(c.common.source.checkpoint);
  const VizImages v = first_images(record, c.data, c.limit, "viz sheet");
  const LoadedModel network = load_network(c.common, v.images.size(1), "viz sheet");
  const InputSpace space = space_of(v);
  SheetOptions o = c.options;
  o.ascent.blur_sigma = c.blur.value_or(sheet_ascent(space.width).blur_sigma);
  SheetRunResult r;
  r.model = network.name;
  r.data = v.spec;
  r.sheet = make_sheet(*network.model, v.images, space, o);
  SheetHeader h;
  h.model = r.model;
  h.checkpoint = c.common.source.checkpoint;
  h.data = r.data;
  h.seed = o.ascent.seed;
  h.flags = c.common.flags;
  r.files = write_sheet(c.common.out_dir, r.sheet, h);
  r.page = (fs::path(c.common.out_dir) / "sheet.html").string();
  return r;
}

}  // namespace pw::tasks::viz
