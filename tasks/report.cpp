// The study's report: see report.h.
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
#include "tasks/html.h"
#include "tasks/plots.h"

namespace pw::tasks {

namespace fs = std::filesystem;

namespace {

std::string fmt(double v, int decimals = 4) { return fixed(v, decimals); }

// The probe accuracy of a trunk at a layer (short name), NaN when it has no such layer.
double probe_at(const TrunkResult& t, const std::string& layer) {
  for (const ProbeResult& p : t.probes)
    if (short_name(p.layer) == layer) return p.test_accuracy;
  return NAN;
}

const TrunkResult* find(const StudyResult& r, const std::string& name) {
  for (const TrunkResult& t : r.trunks)
    if (t.name == name) return &t;
  return nullptr;
}

bool is_pretext(const TrunkResult& t) { return t.name == "rotation" || t.name == "jigsaw" || t.name == "context"; }

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

std::string img_tag(const std::string& src, const std::string& alt, int width = 0) {
  return "<img src=\"" + html_escape(src) + "\" alt=\"" + html_escape(alt) + "\"" +
         (width ? " style=\"width:" + std::to_string(width) + "px\"" : "") + ">";
}

io::Json trunk_json(const TrunkResult& t) {
  io::Json probes = io::Json::object();
  for (const ProbeResult& p : t.probes) probes.set(short_name(p.layer), p.test_accuracy);
  return io::Json::object({{"name", t.name}, {"model", t.model}, {"task", t.task},
                           {"task_accuracy", t.pretext_accuracy}, {"chance", t.chance}, {"seconds", t.seconds},
                           {"neighbor_agreement", t.neighbor_agreement}, {"probes", probes}});
}

io::Json config_json(const StudyConfig& c) {
  return io::Json::object({{"train_images", c.train_images}, {"supervised_epochs", c.supervised_epochs},
                           {"rotation_epochs", c.rotation_epochs}, {"tile_images", c.tile_images},
                           {"tile_size", c.tile_size}, {"tile_epochs", c.tile_epochs}, {"photo_size", c.photo_size},
                           {"photo_samples", c.photo_samples}, {"photo_epochs", c.photo_epochs},
                           {"probe_train", c.probe_train}, {"probe_test", c.probe_test},
                           {"probe_epochs", c.probe_epochs}, {"viz_iterations", c.viz_iterations},
                           {"threads", num_threads()}, {"photos", c.photos_dir}});
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
  return io::Json::object({{"budget", c.budget}, {"device", r.device}, {"seconds", r.seconds}, {"seed", c.seed},
                           {"width", c.width}, {"supervised_test_accuracy", r.supervised_test_accuracy},
                           {"trunks", trunks}, {"photo_trunks", photo_trunks}, {"claims", claim_list},
                           {"class_model_start", r.class_start}, {"class_model_end", r.class_end},
                           {"dream_octave_start", r.dream_octave_start}, {"dream_octave_end", r.dream_octave_end},
                           {"filter_similarity", similarity}, {"stages", stages}, {"config", config_json(c)},
                           {"command", command}});
}

}  // namespace

std::vector<Claim> evaluate_claims(const StudyResult& r) {
  std::vector<Claim> claims;
  const TrunkResult* random = find(r, "random");
  const TrunkResult* sup = find(r, "supervised");
  if (!random) return claims;
  // A difference of two accuracies near p on n test images has a standard error of about
  // sqrt(2 p (1 - p) / n); a margin counts when it is above two of them.
  const double n = (double)std::max<int64_t>(1, r.config.probe_test);
  auto significant = [n](double a, double b) {
    const double p = std::clamp((a + b) / 2, 0.01, 0.99);
    return a - b > 2 * std::sqrt(2 * p * (1 - p) / n);
  };
  {
    Claim c;
    c.text = "Self-supervised features beat random features in a linear probe at some convolutional layer "
             "(by more than two standard errors)";
    std::ostringstream ev;
    for (const TrunkResult& t : r.trunks) {
      if (!is_pretext(t)) continue;
      double best = -1, a_best = 0, b_best = 0;
      std::string where;
      // Only conv1..conv5: the fully connected layers of the tiled networks (tower.fc6) are not
      // those of the random alexnet-small, so they are not compared here.
      for (const std::string& l : r.layers) {
        if (l.rfind("conv", 0) != 0) continue;
        const double a = probe_at(t, l), b = probe_at(*random, l);
        if (std::isfinite(a) && std::isfinite(b) && a - b > best) best = a - b, where = l, a_best = a, b_best = b;
      }
      const bool sig = best > -1 && significant(a_best, b_best);
      c.holds |= sig;
      ev << t.name << ": best margin " << (best >= 0 ? "+" : "") << fmt(100 * best, 1) << " points at " << where
         << (sig ? " (significant)" : " (within noise)") << "; ";
    }
    c.evidence = ev.str();
    claims.push_back(c);
  }
  {
    Claim c;
    c.text = "Probe accuracy peaks before the last layer of every pretext network and falls towards it faster than "
             "in the random network (late layers specialize to the pretext task)";
    std::ostringstream ev;
    bool all = true;
    int count = 0;
    for (const TrunkResult& t : r.trunks) {
      if (!is_pretext(t) || t.probes.empty()) continue;
      size_t best = 0;
      for (size_t i = 0; i < t.probes.size(); ++i)
        if (t.probes[i].test_accuracy > t.probes[best].test_accuracy) best = i;
      const std::string peak = short_name(t.probes[best].layer), last = short_name(t.probes.back().layer);
      const double drop = t.probes[best].test_accuracy - t.probes.back().test_accuracy;
      const double random_drop = probe_at(*random, peak) - probe_at(*random, last);
      // Four accuracies enter the difference of two drops: its standard error is at most
      // sqrt(4 * 0.25 / n); the margin must exceed two of them.
      const bool ok = best + 1 < t.probes.size() && std::isfinite(random_drop) &&
                      drop - random_drop > 2 * std::sqrt(1.0 / n);
      all &= ok;
      ++count;
      ev << t.name << ": peak " << fmt(t.probes[best].test_accuracy, 3) << " at " << peak << ", " << last << " "
         << fmt(t.probes.back().test_accuracy, 3) << " (drop " << fmt(100 * drop, 1) << " points; random over the same "
         << "layers " << fmt(100 * random_drop, 1) << ")" << (ok ? "" : " -- not shown") << "; ";
    }
    c.holds = count > 0 && all;
    c.evidence = ev.str();
    claims.push_back(c);
  }
  {
    Claim c;
    c.text = "Self-supervised conv1 filters differ from the supervised ones: no more alike than random filters are";
    std::ostringstream ev;
    double floor = NAN, worst = 0;
    for (const auto& [name, sim] : r.filter_similarity) {
      if (name == "random") floor = sim;
      else worst = std::max(worst, sim);
      ev << name << " " << fmt(sim, 3) << "; ";
    }
    c.holds = std::isfinite(floor) && worst < floor + 0.05;
    c.evidence = "mean best-match |cosine| of the supervised conv1 filters with each trunk's (1 = identical filters; "
                 "random filters give " + fmt(floor, 3) + "): " + ev.str() +
                 "at this scale conv1 moves little from its initialization; see the filter pictures";
    claims.push_back(c);
  }
  if (sup) {
    Claim c;
    c.text = "Supervised features are the upper bound: their best probe is at least as good as every other trunk's best";
    double bs = 0;
    for (const ProbeResult& p : sup->probes) bs = std::max(bs, p.test_accuracy);
    std::ostringstream ev;
    ev << "supervised " << fmt(bs, 4);
    c.holds = true;
    for (const TrunkResult& t : r.trunks) {
      if (&t == sup) continue;
      double bt = 0;
      std::string where;
      for (const ProbeResult& p : t.probes)
        if (p.test_accuracy > bt) bt = p.test_accuracy, where = short_name(p.layer);
      if (bt > bs) c.holds = false;
      ev << ", " << t.name << " " << fmt(bt, 4) << " (" << where << ")";
    }
    c.evidence = ev.str();
    claims.push_back(c);
  }
  return claims;
}

std::string write_report(const StudyResult& r, const std::string& command) {
  const StudyConfig& c = r.config;
  const fs::path out(c.out_dir);
  fs::create_directories(out / "pictures");
  const std::vector<Claim> claims = evaluate_claims(r);

  // ---- plots ----
  std::vector<Series> curves;
  for (const TrunkResult& t : r.trunks)
    if (is_pretext(t) && !t.losses.empty()) {
      Series s;
      s.name = t.name;
      const size_t w = std::max<size_t>(1, t.losses.size() / 60);
      s.y = smooth(t.losses, w);
      for (size_t i = 0; i < s.y.size(); ++i) s.x.push_back((double)(i + 1) / (double)s.y.size());
      curves.push_back(s);
    }
  PlotOptions lo;
  lo.title = "Pretext training loss";
  lo.x_label = "fraction of training";
  lo.y_label = "loss";
  std::string loss_png;
  if (!curves.empty()) {
    io::write_png((out / "pictures" / "pretext_loss.png").string(), line_plot(curves, lo));
    loss_png = "pictures/pretext_loss.png";
  }
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
  std::string probe_png;
  if (!r.layers.empty()) {
    io::write_png((out / "pictures" / "probe_accuracy.png").string(), line_plot(probe_series, po));
    probe_png = "pictures/probe_accuracy.png";
  }

  // ---- HTML ----
  std::ostringstream h;
  h << "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>patchwork study</title>\n<style>\n"
       "body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:24px auto;"
       "padding:0 16px;color:#222;line-height:1.45}\n"
       "h1{margin-bottom:4px}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}\n"
       "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;"
       "vertical-align:top}th{background:#f4f4f4}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\n"
       ".ok{color:#1a7f37;font-weight:bold}.no{color:#c62828;font-weight:bold}.best{background:#e6f4ea}\n"
       ".row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}.fig{text-align:center;font-size:13px}"
       ".fig img{image-rendering:pixelated;border:1px solid #eee;display:block;margin-bottom:4px}\n"
       ".muted{color:#666;font-size:13px}code,pre{background:#f6f8fa;padding:2px 4px;border-radius:3px}"
       "pre{padding:8px;overflow-x:auto}\n</style></head><body>\n";
  h << "<h1>patchwork study</h1>\n<p class=\"muted\">Budget <b>" << html_escape(c.budget) << "</b> on device <b>"
    << html_escape(r.device) << "</b>; " << fmt(r.seconds, 0) << " s in all. Small AlexNet-style trunk (alexnet-small, width "
    << c.width << ") on Fashion-MNIST and the nature photos of Debian's mate-backgrounds.</p>\n";

  h << "<h2>Claims tested</h2>\n<table><tr><th>claim</th><th>at this scale</th><th>evidence</th></tr>\n";
  for (const Claim& cl : claims)
    h << "<tr><td>" << html_escape(cl.text) << "</td><td class=\"" << (cl.holds ? "ok\">holds" : "no\">does not hold")
      << "</td><td>" << html_escape(cl.evidence) << "</td></tr>\n";
  h << "</table>\n";

  h << "<h2>Training</h2>\n<table><tr><th>trunk</th><th>model</th><th>task</th><th class=\"n\">accuracy on its task</th>"
       "<th class=\"n\">chance</th><th class=\"n\">seconds</th><th class=\"n\">samples/s</th></tr>\n";
  auto trunk_row = [&](const TrunkResult& t) {
    h << "<tr><td>" << html_escape(t.name) << "</td><td>" << html_escape(t.model) << "</td><td>" << html_escape(t.task)
      << "</td><td class=\"n\">" << (t.pretext_accuracy >= 0 ? fmt(t.pretext_accuracy) : "&ndash;") << "</td><td class=\"n\">"
      << (t.chance > 0 ? fmt(t.chance) : "&ndash;") << "</td><td class=\"n\">" << (t.seconds > 0 ? fmt(t.seconds, 1) : "&ndash;")
      << "</td><td class=\"n\">" << (t.samples_per_second > 0 ? fmt(t.samples_per_second, 0) : "&ndash;") << "</td></tr>\n";
  };
  for (const TrunkResult& t : r.trunks) trunk_row(t);
  for (const TrunkResult& t : r.photo_trunks) trunk_row(t);
  h << "</table>\n<p class=\"muted\">Supervised: test accuracy of the classifier itself. Pretext tasks: accuracy on "
       "held-out images (rotation: 4 classes; jigsaw: one class per permutation; context: 8 positions). A sample is "
       "an image for supervised training, one rotated copy for rotation (4 per image), a 9-tile puzzle for jigsaw "
       "and a patch pair for context.</p>\n";
  if (!loss_png.empty()) h << "<div class=\"fig\">" << img_tag(loss_png, "pretext loss") << "</div>\n";

  h << "<h2>Linear probes</h2>\n<p>Frozen features of each layer, average-pooled to at most 9216 values and "
       "standardized, then softmax regression; " << c.probe_train << " training and " << c.probe_test
    << " test images, " << c.probe_epochs << " epochs. Best layer of each trunk shaded. At 28 px the 9216-value "
       "budget keeps the early layers almost unpooled, so their probes see nearly the whole image and a random "
       "network's conv1 is already a strong baseline there; the comparison is more telling in the deeper layers.</p>\n"
       "<table><tr><th>trunk</th>";
  for (const std::string& l : r.layers) h << "<th class=\"n\">" << html_escape(l) << "</th>";
  h << "</tr>\n";
  for (const TrunkResult& t : r.trunks) {
    double best = 0;
    for (const ProbeResult& p : t.probes) best = std::max(best, p.test_accuracy);
    h << "<tr><td>" << html_escape(t.name) << "</td>";
    for (const std::string& l : r.layers) {
      const double a = probe_at(t, l);
      h << "<td class=\"n" << (std::isfinite(a) && a == best ? " best" : "") << "\">"
        << (std::isfinite(a) ? fmt(a) : "&ndash;") << "</td>";
    }
    h << "</tr>\n";
  }
  h << "</table>\n";
  if (!probe_png.empty()) h << "<div class=\"fig\">" << img_tag(probe_png, "probe accuracy per layer") << "</div>\n";

  h << "<h2>Nearest neighbours (conv5, cosine)</h2>\n<p>Each row: a test image (blue) and its 6 nearest training "
       "images; green when the label matches, red when not. The percentage is over 1000 test images.</p>\n"
       "<div class=\"row\">\n";
  for (const TrunkResult& t : r.trunks)
    h << "<div class=\"fig\">" << img_tag(t.neighbors_png, t.name + " neighbours", 300) << html_escape(t.name) << ": "
      << fmt(100 * t.neighbor_agreement, 1) << "% same label</div>\n";
  h << "</div>\n";

  h << "<h2>conv1 filters</h2>\n<div class=\"row\">\n";
  for (const TrunkResult& t : r.trunks)
    h << "<div class=\"fig\">" << img_tag(t.filters_png, t.name + " filters", 176) << html_escape(t.name) << "</div>\n";
  h << "</div>\n<p class=\"muted\">Each filter stretched to its own range (gray = 0). Similarity to the supervised "
       "filters (mean best-match |cosine|): ";
  for (const auto& [name, sim] : r.filter_similarity) h << html_escape(name) << " " << fmt(sim, 3) << "; ";
  h << "</p>\n";

  h << "<h2>What the supervised network looks for</h2>\n<div class=\"row\"><div class=\"fig\">"
    << img_tag(r.class_png, "class models", 420) << "Class models (Simonyan et al. 2014), " << c.viz_iterations
    << " steps from the mean image: ";
  for (size_t k = 0; k < r.class_end.size(); ++k)
    h << html_escape(k < r.class_names.size() ? r.class_names[k] : std::to_string(k)) << " " << fmt(r.class_start[k], 1)
      << "&rarr;" << fmt(r.class_end[k], 1) << (k + 1 < r.class_end.size() ? ", " : "");
  h << "</div><div class=\"fig\">" << img_tag(r.saliency_png, "saliency", 330)
    << "Saliency |dS/dx| over one test image per class</div></div>\n";

  h << "<h2>Unit visualizations (centre unit of conv3 channels 0-7, Yosinski et al. set 3 regularizers)</h2>\n<div class=\"row\">\n";
  for (const TrunkResult& t : r.trunks)
    h << "<div class=\"fig\">" << img_tag(t.units_png, t.name + " units", 520) << html_escape(t.name) << "</div>\n";
  h << "</div>\n";

  h << "<h2>Nature photos</h2>\n<div class=\"row\"><div class=\"fig\">"
    << img_tag(r.photo_neighbors_png, "patch neighbours", 440)
    << "Patches (blue) and their nearest patches from the other photos in the photo-trained context tower's conv5</div><div class=\"fig\">"
    << img_tag(r.dream_png, "deep dream", 560) << "DeepDream at the photo-trained jigsaw tower's conv3 (the context tower, trained on "
       "green-magenta-projected patches, only amplifies colour noise along that axis), objective per octave: ";
  for (size_t i = 0; i < r.dream_octave_end.size(); ++i)
    h << fmt(r.dream_octave_start[i], 3) << "&rarr;" << fmt(r.dream_octave_end[i], 3)
      << (i + 1 < r.dream_octave_end.size() ? ", " : "");
  h << "</div></div>\n";

  h << "<h2>Time</h2>\n<table><tr><th>stage</th><th class=\"n\">seconds</th></tr>\n";
  for (const StageTime& s : r.stages)
    h << "<tr><td>" << html_escape(s.name) << "</td><td class=\"n\">" << fmt(s.seconds, 1) << "</td></tr>\n";
  h << "<tr><th>total</th><th class=\"n\">" << fmt(r.seconds, 1) << "</th></tr></table>\n";

  h << "<h2>Reproduce</h2>\n<pre>" << html_escape(command) << "</pre>\n<p class=\"muted\">Configuration: width "
    << c.width << ", " << c.train_images << " training images (supervised " << c.supervised_epochs << " epochs, rotation "
    << c.rotation_epochs << "), jigsaw/context " << c.tile_images << " images at " << c.tile_size << " px for "
    << c.tile_epochs << " epochs, photos at " << c.photo_size << " px (" << c.photo_samples << " samples x "
    << c.photo_epochs << " epochs), seed " << c.seed << ". Checkpoints: runs/*/checkpoint.safetensors (each also "
    "works with <code>patchwork probe</code>, <code>eval</code>, <code>neighbors</code> and <code>viz</code>).</p>\n";
  h << "</body></html>\n";
  write_file_atomic((out / "report.html").string(), h.str());

  write_file_atomic((out / "summary.json").string(),
                    summary_json(r, claims, command).dump(io::JsonStyle::indented) + "\n");

  // ---- terminal ----
  std::ostringstream t;
  t << "\npatchwork study (" << c.budget << ", " << r.device << ", " << fmt(r.seconds, 0) << " s)\n\n";
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
  t << "\nclaims:\n";
  for (const Claim& cl : claims) t << "  [" << (cl.holds ? "holds" : "does not hold") << "] " << cl.text << "\n";
  t << "\nreport: " << (out / "report.html").string() << "\n";
  return t.str();
}

}  // namespace pw::tasks
