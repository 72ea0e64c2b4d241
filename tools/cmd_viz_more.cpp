// `patchwork viz top-patches` (the data set patches that excite units of a layer most, cropped at
// their receptive field) and `patchwork viz sheet` (an HTML contact sheet of every convolution:
// optimized image, top patches and filter per unit, dead units marked). Like the other viz
// methods they record every flag in a JSON sidecar.
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "engine/autograd.h"
#include "engine/device/device.h"
#include "engine/io/image.h"
#include "engine/io/json.h"
#include "engine/ops.h"
#include "engine/util/files.h"
#include "engine/util/threads.h"
#include "tasks/datasets.h"
#include "tasks/features.h"
#include "tasks/pictures.h"
#include "tasks/receptive_field.h"
#include "tasks/text.h"
#include "tasks/top_patches.h"
#include "tasks/viz/inversion.h"
#include "tasks/viz/sheet.h"
#include "tools/commands.h"

namespace pw::cli {

namespace fs = std::filesystem;

namespace {

void common_flags(Args& a, const std::string& out, const std::string& limit) {
  add_load_model_flags(a);
  a.flag("data", "fashion-mnist", "the images scanned: the test split (or the training images of unlabeled\n"
                                  "data), normalized as the data set is; see `patchwork probe --help`")
      .flag("image-size", "0", "images are resized to this square size first (0: as they are)")
      .flag("limit", limit, "scan the first N images")
      .flag("k", "8", "patches per unit")
      .flag("batch-size", "64", "images per forward pass while scanning")
      .flag("out", out, "output directory")
      .flag("seed", "0", "seed of every random choice (random weights, jitter)")
      .flag("device", "auto", "auto, cpu, simt or cuda")
      .flag("threads", "0", "CPU threads (0: all)");
}

struct Loaded {
  tasks::Dataset data;
  Tensor images;  // the first --limit images scanned
  std::shared_ptr<nn::Module> model;
  std::string name;
};

// The data first (its channels decide the network's input), then the model, in eval mode.
Loaded load(const Args& a) {
  PW_CHECK(a.i64("limit") > 0, "--limit must be positive, got ", a.i64("limit"));
  PW_CHECK(a.i64("k") > 0, "--k must be positive, got ", a.i64("k"));
  PW_CHECK(a.i64("batch-size") > 0, "--batch-size must be positive, got ", a.i64("batch-size"));
  Loaded l;
  tasks::DataOptions o;
  o.image_size = a.i64("image-size");
  o.limit_test = a.i64("limit");
  l.data = tasks::load_dataset(a.str("data"), o);
  const Tensor& pool = l.data.test_images.defined() ? l.data.test_images : l.data.train_images;
  l.images = pool.slice(0, 0, std::min(a.i64("limit"), pool.size(0))).contiguous();
  set_num_threads((int)a.i64("threads"));
  l.model = load_model(a, l.images.size(1), &l.name);
  l.model->to(parse_device(a.str("device")));
  l.model->eval();
  return l;
}

io::Json units_json(const tasks::TopPatches& tp) {
  io::Json units = io::Json::array();
  for (size_t i = 0; i < tp.units.size(); ++i) {
    io::Json patches = io::Json::array();
    for (const tasks::TopPatch& p : tp.best[i]) patches.push(tasks::viz::patch_json(p));
    units.push(io::Json::object({{"unit", tp.units[i]}, {"patches", patches}}));
  }
  return units;
}

// The unit numbers in a column left of top_patches_grid's rows (cells of one size, pad 2).
io::Image with_unit_labels(const io::Image& grid, const std::vector<int64_t>& units, int64_t cell_h) {
  const int64_t label_w = tasks::text_width("0000") + 8, slot = cell_h + 4;
  io::Image out = io::Image::filled(3, grid.height, grid.width + label_w, 1.f);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < grid.height; ++y)
      for (int64_t x = 0; x < grid.width; ++x)
        out.at(c, y, label_w + x) = grid.at(std::min(c, grid.channels - 1), y, x);
  for (size_t i = 0; i < units.size(); ++i)
    tasks::draw_text(out, 4, (int64_t)i * slot + slot / 2 - tasks::kCapHeight / 2, std::to_string(units[i]),
                     {0.1f, 0.1f, 0.1f});
  return out;
}

}  // namespace

int viz_top_patches(int argc, char** argv) {
  Args a("viz top-patches",
         "The image patches that excite units of a layer most (Zeiler and Fergus 2014): each scanned image\n"
         "counts once, at the position of the unit's largest response, and the patch shown is the unit's\n"
         "exact receptive field there (gray where it reaches into the padding). A short layer name (conv3)\n"
         "is read after its ReLU; a full path (features.pool2) as it is. Writes top-patches.png (one row\n"
         "per unit, best first, the unit's number on the left) and top-patches.json (image index, position,\n"
         "activation and box of every patch, and the receptive field).");
  common_flags(a, "runs/viz", "10000");
  a.flag("layer", "conv3", "the layer (a short name such as conv3 or a path from `patchwork summary`)")
      .flag("units", "0-15", "channels: 0-15, 3, 0,2,5 or all")
      .flag("cell", "56", "patches are scaled up by a whole factor to about this many pixels");
  if (!a.parse(argc, argv, 3)) return 0;
  Loaded l = load(a);
  // Checked before the scan: the layer, and (for "all") its number of channels.
  const std::string layer = tasks::resolve_layer(*l.model, a.str("layer"));
  const Shape out = tasks::layer_output_shape(*l.model, layer, {l.images.size(1), l.images.size(2), l.images.size(3)});
  PW_CHECK(out.size() == 4, "--layer ", a.str("layer"), ": ", layer, " gives ", shape_str(out),
           ", not a map of channels; top patches need a convolutional layer");
  const int64_t channels = out[1];
  const std::vector<int64_t> units = parse_indices(a.str("units"), channels, "units");
  for (int64_t u : units)
    PW_CHECK(u >= 0 && u < channels, "--units: unit ", u, " is out of range; ", layer, " has ", channels,
             " channels");
  const tasks::TopPatches tp =
      tasks::top_patches(*l.model, layer, units, l.images, a.i64("k"), a.i64("batch-size"));
  const int64_t scale = tasks::viz::scale_to_cell(std::max(tp.field.size[0], tp.field.size[1]), a.i64("cell"));
  const io::Image grid = tasks::top_patches_grid(tp, l.images, l.data.mean, l.data.std, scale);
  const io::Image img = with_unit_labels(grid, units, tp.field.size[0] * scale);
  for (size_t i = 0; i < units.size(); ++i)
    if (!tp.best[i].empty())
      std::printf("unit %lld: best %.4g (image %lld), %zu-th %.4g\n", (long long)units[i],
                  tp.best[i][0].activation, (long long)tp.best[i][0].image, tp.best[i].size(),
                  tp.best[i].back().activation);
  const io::Json r = io::Json::object({{"layer", tp.layer}, {"model", l.name}, {"images", l.images.size(0)},
                                      {"receptive_field", tasks::viz::field_json(tp.field)}, {"scale", scale},
                                      {"units", units_json(tp)}});
  write_viz_outputs(a, "top-patches", img, r);
  return 0;
}

int viz_sheet(int argc, char** argv) {
  Args a("viz sheet",
         "A contact sheet of what each convolution responds to (Zeiler and Fergus 2014; Yosinski et al.\n"
         "2015): per layer one picture with a row per unit holding the unit's filter (layers that see the\n"
         "input), the image that maximizes the channel's unit at the centre of the map (one batched\n"
         "gradient ascent per layer: Yosinski's set 3 shortened to 100 steps) and its top-k patches over\n"
         "the scanned images, both cut at the unit's receptive field. Units that never fire on those\n"
         "images (largest value after the ReLU <= 0) are marked DEAD; every unit of the layer is checked,\n"
         "the first --units-per-layer are drawn. Writes sheet.html, one PNG per layer next to it and\n"
         "sheet.json (every number and flag) to --out.");
  common_flags(a, "runs/viz/sheet", "2000");
  a.flag("layers", "all", "convolutions, comma-separated (conv1,conv3 or paths), or all")
      .flag("units-per-layer", "16", "units drawn per layer: the first N")
      .flag("iterations", "100", "gradient-ascent steps of the optimized images (0: none)")
      .flag("step", "0.2", "mean absolute change per step of the pixels the unit sees, in units of the\n"
                           "input's std")
      .flag("jitter", "0", "random circular shift of up to +-J pixels before each step")
      .flag("blur", "auto", "Gaussian blur sigma (pixels) applied every --blur-every steps (auto: side / 56\n"
                            "clamped to 0.5 .. 1 px; set 3's 1 px from 56-px images up)")
      .flag("blur-every", "4", "steps between blurs (0: never)")
      .flag("decay", "1e-4", "L2 decay: x *= (1 - decay) each step")
      .flag("cell", "48", "pictures are scaled up by a whole factor to about this many pixels")
      .flag("columns", "2", "units side by side in a layer's picture, at most ...")
      .flag("max-width", "1150", "... as many as fit in this many pixels (a 1200-px window)");
  if (!a.parse(argc, argv, 3)) return 0;
  PW_CHECK(a.i64("units-per-layer") > 0, "--units-per-layer must be positive, got ", a.i64("units-per-layer"));
  PW_CHECK(a.i64("iterations") >= 0, "--iterations must not be negative, got ", a.i64("iterations"));
  Loaded l = load(a);
  tasks::viz::SheetOptions o;
  if (a.str("layers") != "all") {
    std::stringstream ss(a.str("layers"));
    std::string part;
    while (std::getline(ss, part, ','))
      if (!part.empty()) o.layers.push_back(part);
    PW_CHECK(!o.layers.empty(), "--layers is empty; name convolutions such as conv1,conv2 or give all");
  }
  o.units_per_layer = a.i64("units-per-layer");
  o.k = a.i64("k");
  o.batch_size = a.i64("batch-size");
  o.cell = a.i64("cell");
  o.columns = a.i64("columns");
  o.max_width = a.i64("max-width");
  tasks::viz::InputSpace space;
  space.channels = l.images.size(1);
  space.height = l.images.size(2);
  space.width = l.images.size(3);
  space.mean = l.data.mean;
  space.std = l.data.std;
  o.ascent = tasks::viz::sheet_ascent(space.width);
  o.ascent.iterations = a.i64("iterations");
  o.ascent.step = a.f64("step");
  o.ascent.jitter = a.i64("jitter");
  if (a.str("blur") != "auto") o.ascent.blur_sigma = a.f64("blur");
  o.ascent.blur_every = a.i64("blur-every");
  o.ascent.decay = a.f64("decay");
  o.ascent.seed = (uint64_t)a.i64("seed");
  const tasks::viz::Sheet sheet = tasks::viz::make_sheet(*l.model, l.images, space, o);
  for (const tasks::viz::SheetLayer& L : sheet.layers)
    std::printf("%s: %lld units, %zu dead, receptive field %lld px\n", L.conv.c_str(), (long long)L.channels,
                L.dead_units.size(), (long long)L.field.size[0]);
  tasks::viz::SheetHeader h;
  h.model = l.name;
  h.checkpoint = a.on("random") ? "" : a.str("checkpoint");
  h.data = a.str("data");
  h.seed = (uint64_t)a.i64("seed");
  h.flags = a.json();
  const std::vector<std::string> files = tasks::viz::write_sheet(a.str("out"), sheet, h);
  std::printf("wrote %s (%zu files)\n", (fs::path(a.str("out")) / "sheet.html").string().c_str(), files.size());
  return 0;
}

int viz_invert(int argc, char** argv) {
  Args a("viz invert",
         "Feature inversion (Mahendran and Vedaldi 2015): from small noise, gradient descent on the relative\n"
         "feature error ||phi(x) - phi0||^2 / ||phi0||^2 at --layer plus an alpha-norm (alpha 6) and a total-\n"
         "variation (beta 2) regularizer, both means over pixels scaled by the valid range, so the weights do\n"
         "not depend on the image size. Each row: the image, and what the layer keeps of it. Prints each\n"
         "image's feature error before and after.");
  add_load_model_flags(a);
  a.flag("data", "fashion-mnist", "where the images come from (the test split, or the training images of unlabeled data)")
      .flag("image-size", "0", "images are resized to this square size first (0: as they are)")
      .flag("images", "0-3", "which images: 0-3, 5, 0,7,9")
      .flag("layer", "conv3", "the layer whose features are inverted (short name or path)")
      .flag("iterations", "200", "descent steps")
      .flag("step", "0.1", "mean absolute change per step (std units), decayed linearly to a tenth")
      .flag("alpha", "6", "exponent of the alpha-norm regularizer")
      .flag("lambda-alpha", "1", "its weight")
      .flag("beta", "2", "exponent of the total-variation regularizer")
      .flag("lambda-tv", "10", "its weight")
      .flag("out", "runs/viz", "output directory")
      .flag("seed", "0", "seed of the random start")
      .flag("device", "auto", "auto, cpu, simt or cuda")
      .flag("threads", "0", "CPU threads (0: all)");
  if (!a.parse(argc, argv, 3)) return 0;
  set_num_threads((int)a.i64("threads"));
  tasks::DataOptions dopt;
  dopt.image_size = a.i64("image-size");
  tasks::Dataset data = tasks::load_dataset(a.str("data"), dopt);
  const Tensor& pool = data.test_images.defined() ? data.test_images : data.train_images;
  std::vector<int64_t> idx = parse_indices(a.str("images"), pool.size(0), "images");
  std::vector<Tensor> rows;
  for (int64_t i : idx) {
    PW_CHECK(i >= 0 && i < pool.size(0), "--images: image ", i, " is out of range (", pool.size(0), " images)");
    rows.push_back(pool.select(0, i));
  }
  const Tensor images = stack(rows, 0);
  std::string name;
  auto model = load_model(a, images.size(1), &name);
  model->to(parse_device(a.str("device")));
  tasks::viz::InputSpace sp;
  sp.channels = images.size(1);
  sp.height = images.size(2);
  sp.width = images.size(3);
  sp.mean = data.mean;
  sp.std = data.std;
  tasks::viz::InversionOptions o;
  o.iterations = a.i64("iterations");
  o.step = a.f64("step");
  o.alpha = a.f64("alpha");
  o.lambda_alpha = a.f64("lambda-alpha");
  o.beta = a.f64("beta");
  o.lambda_tv = a.f64("lambda-tv");
  o.seed = (uint64_t)a.i64("seed");
  tasks::viz::InversionResult r = tasks::viz::invert_features(*model, sp, a.str("layer"), images, o);
  const int64_t f = std::max<int64_t>(1, 112 / images.size(3));
  std::vector<io::Image> cells;
  io::Json image_errors = io::Json::array();
  for (size_t i = 0; i < idx.size(); ++i) {
    std::printf("image %lld: relative feature error %.4g -> %.4g\n", (long long)idx[i], r.start[i], r.end[i]);
    cells.push_back(tasks::upscale(tasks::to_image(images.select(0, (int64_t)i), sp.mean, sp.std), f));
    cells.push_back(tasks::upscale(tasks::to_image(r.images.select(0, (int64_t)i), sp.mean, sp.std), f));
    image_errors.push(io::Json::object({{"image", idx[i]}, {"error_start", r.start[i]}, {"error_end", r.end[i]}}));
  }
  const io::Json js = io::Json::object({{"layer", tasks::viz::ascent_layer(*model, a.str("layer"))},
                                        {"images", image_errors}});
  write_viz_outputs(a, "invert", tasks::grid(cells, 2), js);
  return 0;
}

}  // namespace pw::cli
