// `patchwork tsne` as a library call: see tsne_map.h.
#include "tasks/tsne_map.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/io/image.h"
#include "engine/io/json.h"
#include "engine/util/error.h"
#include "engine/util/files.h"
#include "tasks/features.h"
#include "tasks/probe.h"
#include "tasks/tsne_pictures.h"

namespace pw::tasks {

namespace fs = std::filesystem;

namespace {

io::Json settings_json(const TsneMapConfig& c, const TsneMapResult& r) {
  const TsneOptions& o = c.tsne;
  return io::Json::object({{"method", r.map.exact ? "exact" : "barnes-hut"},
                           {"perplexity", o.perplexity},
                           {"theta", r.map.exact ? 0.0 : o.theta},
                           {"iterations", o.iterations},
                           {"exaggeration", o.exaggeration},
                           {"exaggeration_iterations", o.exaggeration_iterations},
                           {"momentum", io::Json::array({o.momentum, o.final_momentum})},
                           {"momentum_switch", o.momentum_switch},
                           {"learning_rate", r.map.learning_rate},
                           {"seed", o.seed},
                           {"max_dims", c.max_dims},
                           {"normalize", c.normalize}});
}

io::Json result_json(const TsneMapConfig& c, const TsneMapResult& r, const std::string& data_spec,
                     const std::vector<int32_t>& labels, const std::vector<std::string>& classes) {
  io::Json curve = io::Json::array();
  for (const auto& [it, kl] : r.map.kl_curve) curve.push(io::Json::array({it, kl}));
  io::Json map = io::Json::array();
  for (size_t i = 0; i + 1 < r.map.y.size(); i += 2) map.push(io::Json::array({r.map.y[i], r.map.y[i + 1]}));
  io::Json js = io::Json::object({{"model", r.model},
                                  {"layer", r.layer},
                                  {"data", data_spec},
                                  {"points", r.points},
                                  {"dims", r.dims},
                                  {"settings", settings_json(c, r)},
                                  {"kl", r.map.kl},
                                  {"kl_curve", curve},
                                  {"k", c.k},
                                  {"trustworthiness", r.trustworthiness},
                                  {"seconds", r.seconds}});
  if (r.agreement >= 0) js.set("neighbor_class_agreement", r.agreement);
  if (r.feature_agreement >= 0) js.set("feature_neighbor_class_agreement", r.feature_agreement);
  if (!classes.empty()) js.set("classes", classes);
  if (!labels.empty()) js.set("labels", labels);
  js.set("map", map);
  js.set("pictures", io::Json::object({{"scatter", fs::path(r.scatter).filename().string()},
                                       {"thumbnails", fs::path(r.thumbnails).filename().string()}}));
  return js;
}

// The share of each row's k nearest rows (Euclidean) with its label, averaged.
double feature_agreement(const Tensor& features, const std::vector<int32_t>& labels, int64_t k) {
  const NearestRows nn = nearest_rows(features, k);
  double total = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    int64_t same = 0;
    for (int64_t m = 0; m < k; ++m) same += labels[nn.index[i * k + m]] == labels[i];
    total += (double)same / (double)k;
  }
  return total / (double)labels.size();
}

}  // namespace

Tensor normalize_features(const Tensor& features, const std::string& how) {
  PW_CHECK(how == "l2" || how == "none", "tsne: --normalize must be l2 or none, not '", how, "'");
  if (how == "none") return features;
  Tensor f = features.to(Device::cpu()).to(DType::f32).contiguous().clone();
  const int64_t N = f.size(0), D = f.size(1);
  float* p = f.data<float>();
  for (int64_t i = 0; i < N; ++i) {
    double n2 = 0;
    for (int64_t d = 0; d < D; ++d) n2 += (double)p[i * D + d] * p[i * D + d];
    const float inv = n2 > 0 ? (float)(1.0 / std::sqrt(n2)) : 0.f;
    for (int64_t d = 0; d < D; ++d) p[i * D + d] *= inv;
  }
  return f;
}

TsneMapResult run_tsne_map(const TsneMapConfig& c) {
  PW_CHECK(c.points >= 2, "tsne: at least 2 points are needed, got --points ", c.points);
  PW_CHECK(c.max_dims > 0, "tsne: --max-dims must be positive, got ", c.max_dims);
  const RunRecord record = read_run_record(c.source.checkpoint);
  DataChoice choice = choose_data(record, c.data, "tsne");
  choice.options.limit_test = choice.options.limit_test > 0 ? std::min(choice.options.limit_test, c.points) : c.points;
  const Dataset data = load_dataset(choice.spec, choice.options);
  const bool test = data.test_images.defined();
  const Tensor& pool = test ? data.test_images : data.train_images;
  const Tensor images = pool.slice(0, 0, std::min(c.points, pool.size(0))).contiguous();
  std::vector<int32_t> labels;
  const Tensor& label_pool = test ? data.test_labels : data.train_labels;
  if (label_pool.defined()) labels = label_pool.slice(0, 0, images.size(0)).to_vector_i32();
  LoadedModel loaded = load_model(c.source, images.size(1), "tsne");
  loaded.model->to(c.device);
  const ProbePoint point = find_probe_point(*loaded.model, c.layer);
  const Tensor features =
      normalize_features(extract_features(*loaded.model, {point}, images, c.max_dims)[0], c.normalize);

  TsneMapResult r;
  r.model = loaded.name;
  r.layer = point.name;
  r.points = features.size(0);
  r.dims = features.size(1);
  const auto start = std::chrono::steady_clock::now();
  r.map = tsne(features, c.tsne);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.trustworthiness = trustworthiness(features, r.map.y, c.k);
  if (!labels.empty()) {
    r.agreement = neighbor_agreement(r.map.y, labels, c.k);
    r.feature_agreement = feature_agreement(features, labels, c.k);
  }

  fs::create_directories(c.out_dir);
  r.scatter = (fs::path(c.out_dir) / "tsne.png").string();
  r.thumbnails = (fs::path(c.out_dir) / "tsne-thumbnails.png").string();
  r.json = (fs::path(c.out_dir) / "tsne.json").string();
  char title[256];
  std::snprintf(title, sizeof title, "t-SNE of %s (%s), %lld images, %s, KL %.3f, trustworthiness %.3f",
                r.layer.c_str(), r.model.c_str(), (long long)r.points, r.map.exact ? "exact" : "Barnes-Hut", r.map.kl,
                r.trustworthiness);
  io::write_png(r.scatter, tsne_scatter(r.map.y, labels, data.classes, title));
  io::write_png(r.thumbnails, tsne_thumbnails(r.map.y, images, data.mean, data.std, labels, c.thumbnails));
  write_file_atomic(r.json, result_json(c, r, choice.spec, labels, data.classes).dump(io::JsonStyle::indented) + "\n");
  return r;
}

}  // namespace pw::tasks
