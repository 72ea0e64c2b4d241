// The attribution commands as library calls: see attribution_run.h.
#include "tasks/viz/attribution_run.h"

#include <algorithm>
#include <cstdio>

#include "engine/ops.h"
#include "engine/util/error.h"
#include "tasks/pictures.h"

namespace pw::tasks::viz {

namespace {

struct Inputs {
  Dataset data;
  Tensor images;                // [N, C, H, W], the chosen ones
  std::vector<int64_t> chosen;  // their indices
  std::vector<int64_t> classes;
};

Inputs load_inputs(const AttributionConfig& c, const RunRecord& record) {
  Inputs in;
  const DataChoice choice = choose_data(record, c.data, "viz " + c.method);
  in.data = load_dataset(choice.spec, choice.options);
  const Tensor& pool = in.data.test_images.defined() ? in.data.test_images : in.data.train_images;
  std::vector<int64_t> chosen = c.images;  // absent: the first 8 (all of a smaller split)
  if (chosen.empty())
    for (int64_t i = 0; i < std::min<int64_t>(8, pool.size(0)); ++i) chosen.push_back(i);
  PW_CHECK(!chosen.empty(), "viz ", c.method, ": no images in ", choice.spec);
  std::vector<Tensor> rows;
  for (int64_t i : chosen) {
    PW_CHECK(i >= 0 && i < pool.size(0), "viz ", c.method, ": image ", i, " is out of range (", pool.size(0),
             " images)");
    rows.push_back(pool.select(0, i));
  }
  in.images = stack(rows, 0);
  in.chosen = chosen;
  in.classes = c.classes;
  if (in.classes.size() == 1) in.classes.assign(chosen.size(), c.classes[0]);
  PW_CHECK(in.classes.size() == chosen.size(), "viz ", c.method, ": ", c.classes.size(), " classes for ", chosen.size(),
           " images (give one, or one per image)");
  return in;
}

// The baseline of Integrated Gradients in input space: black (every pixel 0, which normalization
// maps to -mean / std) or the mean image (0).
Tensor baseline_image(const std::string& kind, const Dataset& d, int64_t C, int64_t H, int64_t W) {
  PW_CHECK(kind == "black" || kind == "mean", "viz integrated-gradients: --baseline must be black or mean, not '", kind,
           "'");
  std::vector<float> v(C * H * W, 0.f);
  if (kind == "black")
    for (int64_t c = 0; c < C; ++c)
      std::fill(v.begin() + c * H * W, v.begin() + (c + 1) * H * W, -d.mean.at(c) / d.std.at(c));
  return Tensor::from_vector(v, {C, H, W});
}

int64_t upscale_factor(int64_t side) { return std::max<int64_t>(1, 112 / std::max<int64_t>(1, side)); }

// One row per image: the image, the map as heat, the map over the image, and any further
// pictures (signed, per image), scaled up alike.
io::Image rows_picture(const Inputs& in, const std::vector<std::vector<float>>& maps, int64_t H, int64_t W,
                       const std::vector<Tensor>& extra) {
  const int64_t f = upscale_factor(W);
  std::vector<io::Image> cells;
  for (size_t i = 0; i < maps.size(); ++i) {
    const io::Image img = to_image(in.images.select(0, (int64_t)i), in.data.mean, in.data.std);
    cells.push_back(upscale(img, f));
    cells.push_back(upscale(heat_image(maps[i], H, W), f));
    cells.push_back(upscale(overlay(img, maps[i]), f));
    for (const Tensor& t : extra) cells.push_back(upscale(signed_gradient_image(t.select(0, (int64_t)i)), f));
  }
  return grid(cells, 3 + (int64_t)extra.size());
}

io::Json common_json(const AttributionConfig& c, const Inputs& in, const std::vector<int64_t>& classes,
                     const std::vector<double>& scores) {
  io::Json js = io::Json::object({{"images", in.chosen}, {"classes", classes}, {"scores", scores}});
  if (!in.data.classes.empty()) {
    io::Json names = io::Json::array();
    for (int64_t k : classes) names.push((size_t)k < in.data.classes.size() ? in.data.classes[k] : "");
    js.set("class_names", names);
  }
  return js;
}

AttributionOutput run_gradcam(const AttributionConfig& c, const Inputs& in, nn::Module& model) {
  const GradCamResult r = grad_cam(model, in.images, in.classes, c.gradcam);
  AttributionOutput out;
  std::vector<Tensor> extra;
  if (c.gradcam.guided) extra.push_back(r.guided);
  out.picture = rows_picture(in, r.maps, r.height, r.width, extra);
  out.results = common_json(c, in, r.classes, r.scores);
  out.results.set("layer", r.layer);
  out.results.set("map_size", io::Json::array({r.map_height, r.map_width}));
  out.results.set("cams", r.cams);
  out.results.set("weights", r.weights);
  out.results.set("columns",
                  c.gradcam.guided ? "image, Grad-CAM, overlay, Guided Grad-CAM" : "image, Grad-CAM, overlay");
  for (size_t i = 0; i < r.classes.size(); ++i) {
    const double top = r.cams[i].empty() ? 0 : *std::max_element(r.cams[i].begin(), r.cams[i].end());
    char line[160];
    std::snprintf(line, sizeof line, "image %lld class %lld: score %.4g, Grad-CAM at %s max %.4g",
                  (long long)in.chosen[i], (long long)r.classes[i], r.scores[i], r.layer.c_str(), top);
    out.lines.push_back(line);
  }
  return out;
}

AttributionOutput run_smoothgrad(const AttributionConfig& c, const Inputs& in, nn::Module& model) {
  const SaliencyResult r = smooth_grad(model, in.images, in.classes, c.smoothgrad);
  AttributionOutput out;
  out.picture = rows_picture(in, r.maps, r.height, r.width, {});
  out.results = common_json(c, in, r.classes, r.scores);
  out.results.set("effective", io::Json::object({{"samples", c.smoothgrad.samples},
                                                 {"noise", c.smoothgrad.noise},
                                                 {"reduce", c.smoothgrad.saliency.reduce},
                                                 {"clip_percentile", c.smoothgrad.saliency.clip_percentile},
                                                 {"seed", c.smoothgrad.seed}}));
  out.results.set("columns", "image, SmoothGrad, overlay");
  for (size_t i = 0; i < r.classes.size(); ++i) {
    char line[160];
    std::snprintf(line, sizeof line, "image %lld class %lld: score %.4g", (long long)in.chosen[i],
                  (long long)r.classes[i], r.scores[i]);
    out.lines.push_back(line);
  }
  return out;
}

AttributionOutput run_integrated_gradients(const AttributionConfig& c, const Inputs& in, nn::Module& model) {
  const Tensor base = baseline_image(c.baseline, in.data, in.images.size(1), in.images.size(2), in.images.size(3));
  const IntegratedGradientsOptions& o = c.integrated_gradients;
  const IntegratedGradientsResult r = integrated_gradients(model, in.images, base, in.classes, o);
  AttributionOutput out;
  out.picture = rows_picture(in, r.maps, r.height, r.width, {r.attributions});
  out.results = common_json(c, in, r.classes, r.scores);
  out.results.set("effective", io::Json::object({{"steps", o.steps},
                                                 {"rule", o.rule},
                                                 {"baseline", c.baseline},
                                                 {"reduce", o.saliency.reduce},
                                                 {"clip_percentile", o.saliency.clip_percentile}}));
  out.results.set("baseline_scores", r.baseline_scores);
  out.results.set("attribution_sums", r.sums);
  out.results.set("completeness_error", r.completeness_error);
  out.results.set("max_completeness_error",
                  *std::max_element(r.completeness_error.begin(), r.completeness_error.end()));
  out.results.set("columns", "image, |attribution|, overlay, signed attribution");
  for (size_t i = 0; i < r.classes.size(); ++i) {
    char line[200];
    std::snprintf(line, sizeof line,
                  "image %lld class %lld: S(x) - S(baseline) = %.4g, attributions sum to %.4g (relative error %.2e)",
                  (long long)in.chosen[i], (long long)r.classes[i], r.scores[i] - r.baseline_scores[i], r.sums[i],
                  r.completeness_error[i]);
    out.lines.push_back(line);
  }
  return out;
}

}  // namespace

const std::vector<std::string>& attribution_methods() {
  static const std::vector<std::string> methods{"gradcam", "smoothgrad", "integrated-gradients"};
  return methods;
}

AttributionOutput run_attribution(const AttributionConfig& c) {
  const auto& known = attribution_methods();
  PW_CHECK(std::find(known.begin(), known.end(), c.method) != known.end(), "viz: unknown attribution method '",
           c.method, "' (gradcam, smoothgrad, integrated-gradients)");
  const RunRecord record = read_run_record(c.source.checkpoint);
  require_classifier(record, "viz " + c.method);
  const Inputs in = load_inputs(c, record);
  LoadedModel loaded = load_model(c.source, in.images.size(1), "viz " + c.method);
  loaded.model->to(c.device);
  if (c.method == "gradcam") return run_gradcam(c, in, *loaded.model);
  if (c.method == "smoothgrad") return run_smoothgrad(c, in, *loaded.model);
  return run_integrated_gradients(c, in, *loaded.model);
}

}  // namespace pw::tasks::viz
