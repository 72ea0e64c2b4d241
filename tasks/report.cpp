// The study's report: see report.h. write_report draws the plots, then writes the page
// (report_html.cpp), summary.json and the terminal summary, all from the StudyResult that the
// study's stages filled and the claims evaluated on it (report_claims.cpp).
#include "tasks/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "engine/io/image.h"
#include "engine/io/json.h"
#include "engine/util/files.h"
#include "engine/util/threads.h"
#include "tasks/features.h"
#include "tasks/plots.h"
#include "tasks/report_parts.h"

namespace pw::tasks {

namespace fs = std::filesystem;

namespace {

using report::fmt;
using report::probe_at;

// Mean of consecutive windows, so that per-step losses of different lengths read as curves.
std::vector<double> smooth(const std::vector<double>& v, size_t window) {
  std::vector<double> o;
  for (size_t i = 0; i + window <= v.size(); i += window) {
    double s = 0;
    for (size_t j = i; j < i + window; ++j) s += v[j];
    o.push_back(s / (double)window);
  }
  if (o.empty() && !v.empty()) o = v;
  return o;
}

// pictures/pretext_loss.png: the pretext trunks' losses against the fraction of training.
std::string loss_plot(const StudyResult& r, const fs::path& out) {
  std::vector<Series> curves;
  for (const TrunkResult& t : r.trunks)
    if (report::is_pretext(t) && !t.losses.empty()) {
      Series s;
      s.name = t.name;
      const size_t w = std::max<size_t>(1, t.losses.size() / 60);
      s.y = smooth(t.losses, w);
      for (size_t i = 0; i < s.y.size(); ++i) s.x.push_back((double)(i + 1) / (double)s.y.size());
      curves.push_back(s);
    }
  if (curves.empty()) return "";
  PlotOptions lo;
  lo.title = "Pretext training loss";
  lo.x_label = "fraction of training";
  lo.y_label = "loss";
  io::write_png((out / "pictures" / "pretext_loss.png").string(), line_plot(curves, lo));
  return "pictures/pretext_loss.png";
}

// pictures/probe_accuracy.png: each trunk's probe accuracy at every layer.
std::string probe_plot(const StudyResult& r, const fs::path& out) {
  if (r.layers.empty()) return "";
  std::vector<Series> probe_series;
  for (const TrunkResult& t : r.trunks) {
    Series s;
    s.name = t.name;
    for (const std::string& l : r.layers) s.y.push_back(probe_at(t, l));
    probe_series.push_back(s);
  }
  PlotOptions po;
  po.title = "Linear probe accuracy per layer (Fashion-MNIST test)";
  po.x_label = "layer";
  po.y_label = "test accuracy";
  po.x_categories = r.layers;
  io::write_png((out / "pictures" / "probe_accuracy.png").string(), line_plot(probe_series, po));
  return "pictures/probe_accuracy.png";
}

io::Json trunk_json(const TrunkResult& t) {
  io::Json probes = io::Json::object();
  for (const ProbeResult& p : t.probes) probes.set(short_name(p.layer), p.test_accuracy);
  return io::Json::object({{"name", t.name},
                           {"model", t.model},
                           {"task", t.task},
                           {"task_accuracy", t.pretext_accuracy},
                           {"chance", t.chance},
                           {"seconds", t.seconds},
                           {"neighbor_agreement", t.neighbor_agreement},
                           {"conv1_init_cosine", t.conv1_init_cosine},
                           {"steps", t.steps},
                           {"lr", t.lr},
                           {"ab_error", t.ab_error},
                           {"gray_ab_error", t.gray_ab_error},
                           {"tsne_neighbor_class_agreement", t.tsne_agreement},
                           {"probes", probes}});
}

io::Json config_json(const StudyConfig& c) {
  return io::Json::object({{"train_images", c.train_images},
                           {"supervised_epochs", c.supervised_epochs},
                           {"rotation_epochs", c.rotation_epochs},
                           {"tile_images", c.tile_images},
                           {"tile_size", c.tile_size},
                           {"tile_epochs", c.tile_epochs},
                           {"photo_size", c.photo_size},
                           {"photo_samples", c.photo_samples},
                           {"photo_epochs", c.photo_epochs},
                           {"probe_train", c.probe_train},
                           {"probe_test", c.probe_test},
                           {"probe_epochs", c.probe_epochs},
                           {"viz_iterations", c.viz_iterations},
                           {"tsne_points", c.tsne_points},
                           {"threads", num_threads()},
                           {"photos", c.photos_dir}});
}

// summary.json: every number the report shows.
io::Json summary_json(const StudyResult& r, const std::vector<Claim>& claims, const std::string& command) {
  const StudyConfig& c = r.config;
  io::Json trunks = io::Json::array(), photo_trunks = io::Json::array(), claim_list = io::Json::array();
  for (const TrunkResult& t : r.trunks) trunks.push(trunk_json(t));
  for (const TrunkResult& t : r.photo_trunks) photo_trunks.push(trunk_json(t));
  for (const Claim& cl : claims)
    claim_list.push(io::Json::object({{"claim", cl.text}, {"holds", cl.holds}, {"evidence", cl.evidence}}));
  io::Json similarity = io::Json::object(), stages = io::Json::array();
  for (const auto& [name, value] : r.filter_similarity) similarity.set(name, value);
  for (const StageTime& st : r.stages) stages.push(io::Json::object({{"stage", st.name}, {"seconds", st.seconds}}));
  return io::Json::object({{"budget", c.budget},
                           {"device", r.device},
                           {"seconds", r.seconds},
                           {"seed", c.seed},
                           {"width", c.width},
                           {"supervised_test_accuracy", r.supervised_test_accuracy},
                           {"trunks", trunks},
                           {"photo_trunks", photo_trunks},
                           {"claims", claim_list},
                           {"class_model_start", r.class_start},
                           {"class_model_end", r.class_end},
                           {"dream_octave_start", r.dream_octave_start},
                           {"dream_octave_end", r.dream_octave_end},
                           {"filter_similarity", similarity},
                           {"tsne_points", r.tsne_points},
                           {"stages", stages},
                           {"config", config_json(c)},
                           {"command", command}});
}

// The probe table as text, one row per trunk.
std::string probe_table_text(const StudyResult& r) {
  std::ostringstream t;
  t << "linear probe test accuracy per layer:\n" << std::string(12, ' ');
  for (const std::string& l : r.layers) {
    char b[16];
    std::snprintf(b, sizeof b, "%8s", l.c_str());
    t << b;
  }
  t << "\n";
  for (const TrunkResult& tr : r.trunks) {
    char b[32];
    std::snprintf(b, sizeof b, "%-12s", tr.name.c_str());
    t << b;
    for (const std::string& l : r.layers) {
      const double a = probe_at(tr, l);
      std::snprintf(b, sizeof b, "%8s", std::isfinite(a) ? fmt(a, 3).c_str() : "-");
      t << b;
    }
    t << "\n";
  }
  return t.str();
}

// What the terminal shows at the end: the probe table, the claims and where the report is.
std::string terminal_summary(const StudyResult& r, const std::vector<Claim>& claims, const fs::path& page) {
  std::ostringstream t;
  t << "\npatchwork study (" << r.config.budget << ", " << r.device << ", " << fmt(r.seconds, 0) << " s)\n\n";
  t << probe_table_text(r);
  t << "\nclaims:\n";
  for (const Claim& cl : claims) t << "  [" << (cl.holds ? "holds" : "does not hold") << "] " << cl.text << "\n";
  t << "\nreport: " << page.string() << "\n";
  return t.str();
}

}  // namespace

std::string write_report(const StudyResult& r, const std::string& command) {
  const fs::path out(r.config.out_dir);
  fs::create_directories(out / "pictures");
  const std::vector<Claim> claims = evaluate_claims(r);
  report::Plots plots;
  plots.loss_png = loss_plot(r, out);
  plots.probe_png = probe_plot(r, out);
  write_file_atomic((out / "report.html").string(), report::report_html(r, claims, plots, command));
  write_file_atomic((out / "summary.json").string(),
                    summary_json(r, claims, command).dump(io::JsonStyle::indented) + "\n");
  return terminal_summary(r, claims, out / "report.html");
}

}  // namespace pw::tasks
