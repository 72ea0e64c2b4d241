// `viz colorize` (runs.h): the held-out crops of a colorization run, coloured by its network.
#include <cstdio>

#include "engine/ops.h"
#include "tasks/colorization_task.h"
#include "tasks/pictures.h"
#include "tasks/train.h"
#include "tasks/viz/run_support.h"
#include "tasks/viz/runs.h"

namespace pw::tasks::viz {

namespace {

constexpr const char* kCommand = "viz colorize";

// The run's own held-out crops, as its evaluation saw them: its settings read back from the
// checkpoint, its photos loaded and normalized as it loaded them, the same split and places.
void run_crops(const RunRecord& r, int64_t count, std::string& data, Tensor& x, Tensor& ab) {
  TrainConfig t;
  apply_settings_record(t, r.config, r.path);
  data = t.data;
  const TrainData d = load_train_data(t, r.mean, r.std);
  const ColorizationSplit split = colorization_split(*d.train, d.test_images);
  PW_CHECK(split.held_out.defined() && split.held_out.size(0) > 0, kCommand, ": the run in '", r.path,
           "' has no held-out photos in '", t.data, "' (it needs 5 photos or more, or a test split)");
  PW_CHECK(t.crop.has_value(), kCommand, ": '", r.path, "' does not record its crop size");
  held_out_crops(split.held_out, d.mean, d.std, *t.crop, count, t.seed, x, ab);
}

// A crop's L (the network's input undone) with the given ab, as an RGB image.
io::Image colour_image(const Tensor& x, const Tensor& ab, int64_t i) {
  const int64_t side = x.size(2), n = side * side;
  std::vector<float> L(n);
  for (int64_t k = 0; k < n; ++k) L[k] = (float)(x.data<float>()[i * n + k] * kLabLScale + kLabLCenter);
  io::Image img = io::Image::filled(3, side, side);
  lab_planes_to_rgb(L.data(), ab.data<float>() + 2 * i * n, n, img.pixels.data());
  return img;
}

io::Image gray_image(const Tensor& x, int64_t i) {
  const int64_t side = x.size(2), n = side * side;
  io::Image img = io::Image::filled(1, side, side);
  for (int64_t k = 0; k < n; ++k)
    img.pixels[k] = (float)((x.data<float>()[i * n + k] * kLabLScale + kLabLCenter) / 100);
  return img;
}

io::Image picture(const Tensor& x, const Tensor& truth, const Tensor& predicted,
                  const std::vector<ColorizedCrop>& crops) {
  const int64_t f = upscale_factor(x.size(2));
  std::vector<io::Image> cells;
  char text[64];
  for (size_t i = 0; i < crops.size(); ++i) {
    std::snprintf(text, sizeof text, "error %.1f", crops[i].ab_error);
    cells.push_back(with_caption(upscale(gray_image(x, (int64_t)i), f), {"input L"}));
    cells.push_back(with_caption(upscale(colour_image(x, predicted, (int64_t)i), f), {"predicted", text}));
    std::snprintf(text, sizeof text, "gray %.1f", crops[i].gray_ab_error);
    cells.push_back(with_caption(upscale(colour_image(x, truth, (int64_t)i), f), {"truth", text}));
  }
  return grid(cells, 3, 4);
}

io::Json results_json(const ColorizeRunResult& r, double temperature) {
  io::Json crops = io::Json::array();
  for (const ColorizedCrop& c : r.crops)
    crops.push(io::Json::object({{"crop", c.crop}, {"ab_error", c.ab_error}, {"gray_ab_error", c.gray_ab_error}}));
  return io::Json::object({{"model", r.model},
                           {"data", r.data},
                           {"temperature", temperature},
                           {"ab_error", r.ab_error},
                           {"gray_ab_error", r.gray_ab_error},
                           {"crops", crops}});
}

}  // namespace

ColorizeRunResult run_colorize(const ColorizeConfig& c) {
  PW_CHECK(c.images > 0, kCommand, ": --images must be positive, got ", c.images);
  PW_CHECK(c.temperature > 0, kCommand, ": --temperature must be positive, got ", c.temperature);
  const RunRecord record = read_run_record(c.common.source.checkpoint);
  PW_CHECK(record.recorded && record.task == "colorization", kCommand, ": '", c.common.source.checkpoint, "' is ",
           describe(record), "; colorize needs a checkpoint of `patchwork train --task colorization`");
  ColorizeRunResult r;
  Tensor x, ab;
  run_crops(record, c.images, r.data, x, ab);
  const LoadedModel net = load_network(c.common, 1, kCommand);
  r.model = net.name;
  const std::vector<double> uniform((size_t)ab_bins().size(), 1.0);  // the loss is not reported here
  for (int64_t i = 0; i < x.size(0); ++i) {
    const ColorizationEval e =
        evaluate_colorization(*net.model, x.slice(0, i, i + 1), ab.slice(0, i, i + 1), uniform, 1, c.temperature);
    r.crops.push_back({i, e.ab_error, e.gray_ab_error});
    r.ab_error += e.ab_error / (double)x.size(0);
    r.gray_ab_error += e.gray_ab_error / (double)x.size(0);
  }
  Tensor predicted;
  {
    NoGradGuard ng;
    const Tensor logits = (*net.model)(x.to(net.model->device()));
    predicted = resize(decode_ab(logits, c.temperature), x.size(2), x.size(3), ResizeMode::bilinear).contiguous();
  }
  r.files = write_viz_outputs(c.common.out_dir, "colorize", picture(x, ab, predicted, r.crops), c.common.flags,
                              results_json(r, c.temperature));
  return r;
}

}  // namespace pw::tasks::viz
