// report.html of the study (report_parts.h): one function per section, in the page's order.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "tasks/features.h"
#include "tasks/report_parts.h"

namespace pw::tasks::report {

namespace {

std::string img_tag(const std::string& src, const std::string& alt, int width = 0) {
  return "<img src=\"" + html_escape(src) + "\" alt=\"" + html_escape(alt) + "\"" +
         (width ? " style=\"width:" + std::to_string(width) + "px\"" : "") + ">";
}

std::string head() {
  return "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>patchwork study</title>\n<style>\n"
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
}

std::string title(const StudyResult& r) {
  std::ostringstream h;
  h << "<h1>patchwork study</h1>\n<p class=\"muted\">Budget <b>" << html_escape(r.config.budget) << "</b> on device <b>"
    << html_escape(r.device) << "</b>; " << fmt(r.seconds, 0)
    << " s in all. Small AlexNet-style trunk (alexnet-small, width " << r.config.width
    << ") on Fashion-MNIST and the nature photos of Debian's mate-backgrounds.</p>\n";
  return h.str();
}

std::string claims_section(const std::vector<Claim>& claims) {
  std::ostringstream h;
  h << "<h2>Claims tested</h2>\n<table><tr><th>claim</th><th>at this scale</th><th>evidence</th></tr>\n";
  for (const Claim& cl : claims)
    h << "<tr><td>" << html_escape(cl.text) << "</td><td class=\"" << (cl.holds ? "ok\">holds" : "no\">does not hold")
      << "</td><td>" << html_escape(cl.evidence) << "</td></tr>\n";
  h << "</table>\n";
  return h.str();
}

std::string trunk_row(const TrunkResult& t) {
  std::ostringstream h;
  h << "<tr><td>" << html_escape(t.name) << "</td><td>" << html_escape(t.model) << "</td><td>" << html_escape(t.task)
    << "</td><td class=\"n\">" << (t.pretext_accuracy >= 0 ? fmt(t.pretext_accuracy) : "&ndash;")
    << "</td><td class=\"n\">" << (t.chance > 0 ? fmt(t.chance) : "&ndash;") << "</td><td class=\"n\">"
    << (t.seconds > 0 ? fmt(t.seconds, 1) : "&ndash;") << "</td><td class=\"n\">"
    << (t.samples_per_second > 0 ? fmt(t.samples_per_second, 0) : "&ndash;") << "</td></tr>\n";
  return h.str();
}

std::string training_section(const StudyResult& r, const Plots& plots) {
  std::ostringstream h;
  h << "<h2>Training</h2>\n<table><tr><th>trunk</th><th>model</th><th>task</th><th class=\"n\">accuracy on its "
       "task</th>"
       "<th class=\"n\">chance</th><th class=\"n\">seconds</th><th class=\"n\">samples/s</th></tr>\n";
  for (const TrunkResult& t : r.trunks) h << trunk_row(t);
  for (const TrunkResult& t : r.photo_trunks) h << trunk_row(t);
  h << "</table>\n<p class=\"muted\">Supervised: test accuracy of the classifier itself. Pretext tasks: accuracy on "
       "held-out images (rotation: 4 classes; jigsaw: one class per permutation; context: 8 positions; colorization: "
       "the share of output cells whose most likely ab bin is the true one, on crops of held-out photos). A sample is "
       "an image for supervised training, one rotated copy for rotation (4 per image), a 9-tile puzzle for jigsaw, "
       "a patch pair for context and a photo crop for colorization.</p>\n";
  for (const TrunkResult& t : r.trunks)
    if (t.ab_error >= 0)
      h << "<p>Colorization on the held-out crops: mean ab error " << fmt(t.ab_error, 2) << " against "
        << fmt(t.gray_ab_error, 2)
        << " for predicting gray (a = b = 0): " << (t.ab_error < t.gray_ab_error ? "below" : "not below")
        << " it.</p>\n";
  if (!plots.loss_png.empty()) h << "<div class=\"fig\">" << img_tag(plots.loss_png, "pretext loss") << "</div>\n";
  return h.str();
}

std::string probes_section(const StudyResult& r, const Plots& plots) {
  const StudyConfig& c = r.config;
  std::ostringstream h;
  h << "<h2>Linear probes</h2>\n<p>Frozen features of each layer, average-pooled to at most 9216 values and "
       "standardized, then softmax regression; "
    << c.probe_train << " training and " << c.probe_test << " test images, " << c.probe_epochs
    << " epochs. Best layer of each trunk shaded. At 28 px the 9216-value "
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
  if (!plots.probe_png.empty())
    h << "<div class=\"fig\">" << img_tag(plots.probe_png, "probe accuracy per layer") << "</div>\n";
  return h.str();
}

std::string neighbors_section(const StudyResult& r) {
  std::ostringstream h;
  h << "<h2>Nearest neighbours (conv5, cosine)</h2>\n<p>Each row: a test image (blue) and its 6 nearest training "
       "images; green when the label matches, red when not. The percentage is over 1000 test images.</p>\n"
       "<div class=\"row\">\n";
  for (const TrunkResult& t : r.trunks)
    h << "<div class=\"fig\">" << img_tag(t.neighbors_png, t.name + " neighbours", 300) << html_escape(t.name) << ": "
      << fmt(100 * t.neighbor_agreement, 1) << "% same label</div>\n";
  h << "</div>\n";
  return h.str();
}

std::string filters_section(const StudyResult& r) {
  std::ostringstream h;
  h << "<h2>conv1 filters</h2>\n<div class=\"row\">\n";
  for (const TrunkResult& t : r.trunks)
    h << "<div class=\"fig\">" << img_tag(t.filters_png, t.name + " filters", 176) << html_escape(t.name) << "</div>\n";
  h << "</div>\n<p class=\"muted\">Each filter stretched to its own range (gray = 0). Similarity to the supervised "
       "filters (mean best-match |cosine|): ";
  for (const auto& [name, sim] : r.filter_similarity) h << html_escape(name) << " " << fmt(sim, 3) << "; ";
  h << "movement from each trunk's own initialization (mean filter cosine, 1 = unmoved): ";
  for (const TrunkResult& t : r.trunks)
    if (t.conv1_init_cosine >= 0) h << html_escape(t.name) << " " << fmt(t.conv1_init_cosine, 3) << "; ";
  h << "</p>\n";
  return h.str();
}

std::string tsne_section(const StudyResult& r) {
  if (r.tsne_points == 0) return "";
  std::ostringstream h;
  h << "<h2>t-SNE maps of conv5 (as DeCAF's figure)</h2>\n<p>The first " << r.tsne_points
    << " test images, each trunk's conv5 features average-pooled to at most 1024 values and L2-normalized, mapped "
       "by Barnes-Hut t-SNE (perplexity 30, theta 0.5, early exaggeration 12), coloured by class. The percentage "
       "is the share of each point's 10 nearest map neighbours with its class.</p>\n<div class=\"row\">\n";
  for (const TrunkResult& t : r.trunks)
    if (!t.tsne_png.empty())
      h << "<div class=\"fig\">" << img_tag(t.tsne_png, t.name + " t-SNE", 300) << html_escape(t.name) << ": "
        << fmt(100 * t.tsne_agreement, 1) << "%</div>\n";
  h << "</div>\n";
  return h.str();
}

std::string supervised_pictures_section(const StudyResult& r) {
  std::ostringstream h;
  h << "<h2>What the supervised network looks for</h2>\n<div class=\"row\"><div class=\"fig\">"
    << img_tag(r.class_png, "class models", 420) << "Class models (Simonyan et al. 2014), " << r.config.viz_iterations
    << " steps from the mean image: ";
  for (size_t k = 0; k < r.class_end.size(); ++k)
    h << html_escape(k < r.class_names.size() ? r.class_names[k] : std::to_string(k)) << " " << fmt(r.class_start[k], 1)
      << "&rarr;" << fmt(r.class_end[k], 1) << (k + 1 < r.class_end.size() ? ", " : "");
  h << "</div><div class=\"fig\">" << img_tag(r.saliency_png, "saliency", 330)
    << "Saliency |dS/dx| over one test image per class</div>";
  if (!r.gradcam_png.empty())
    h << "<div class=\"fig\">" << img_tag(r.gradcam_png, "Grad-CAM", 330)
      << "Grad-CAM (Selvaraju et al. 2017) at the last conv layer, same images</div>";
  h << "</div>\n";
  return h.str();
}

std::string units_section(const StudyResult& r) {
  std::ostringstream h;
  h << "<h2>Unit visualizations (centre unit of conv3 channels 0-7, Yosinski et al. set 3 regularizers)</h2>\n<div "
       "class=\"row\">\n";
  for (const TrunkResult& t : r.trunks)
    h << "<div class=\"fig\">" << img_tag(t.units_png, t.name + " units", 520) << html_escape(t.name) << "</div>\n";
  h << "</div>\n";
  return h.str();
}

std::string photos_section(const StudyResult& r) {
  std::ostringstream h;
  h << "<h2>Nature photos</h2>\n<div class=\"row\"><div class=\"fig\">"
    << img_tag(r.photo_neighbors_png, "patch neighbours", 440)
    << "Patches (blue) and their nearest patches from the other photos in the photo-trained context tower's "
       "conv5</div><div class=\"fig\">"
    << img_tag(r.dream_png, "deep dream", 560)
    << "DeepDream at the photo-trained jigsaw tower's conv3 (the context tower, trained on "
       "green-magenta-projected patches, only amplifies colour noise along that axis), objective per octave: ";
  for (size_t i = 0; i < r.dream_octave_end.size(); ++i)
    h << fmt(r.dream_octave_start[i], 3) << "&rarr;" << fmt(r.dream_octave_end[i], 3)
      << (i + 1 < r.dream_octave_end.size() ? ", " : "");
  h << "</div></div>\n";
  return h.str();
}

std::string time_section(const StudyResult& r) {
  std::ostringstream h;
  h << "<h2>Time</h2>\n<table><tr><th>stage</th><th class=\"n\">seconds</th></tr>\n";
  for (const StageTime& s : r.stages)
    h << "<tr><td>" << html_escape(s.name) << "</td><td class=\"n\">" << fmt(s.seconds, 1) << "</td></tr>\n";
  h << "<tr><th>total</th><th class=\"n\">" << fmt(r.seconds, 1) << "</th></tr></table>\n";
  return h.str();
}

std::string reproduce_section(const StudyResult& r, const std::string& command) {
  const StudyConfig& c = r.config;
  std::ostringstream h;
  h << "<h2>Reproduce</h2>\n<pre>" << html_escape(command) << "</pre>\n<p class=\"muted\">Configuration: width "
    << c.width << ", " << c.train_images << " training images (supervised " << c.supervised_epochs
    << " epochs, rotation " << c.rotation_epochs << "), jigsaw/context " << c.tile_images << " images at "
    << c.tile_size << " px for " << c.tile_epochs << " epochs, photos at " << c.photo_size << " px (" << c.photo_samples
    << " samples x " << c.photo_epochs << " epochs), seed " << c.seed
    << ". Checkpoints: runs/*/checkpoint.safetensors (each also "
       "works with <code>patchwork probe</code>, <code>eval</code>, <code>neighbors</code> and "
       "<code>viz</code>).</p>\n";
  return h.str();
}

}  // namespace

std::string report_html(const StudyResult& r, const std::vector<Claim>& claims, const Plots& plots,
                        const std::string& command) {
  return head() + title(r) + claims_section(claims) + training_section(r, plots) + probes_section(r, plots) +
         neighbors_section(r) + filters_section(r) + tsne_section(r) + supervised_pictures_section(r) +
         units_section(r) + photos_section(r) + time_section(r) + reproduce_section(r, command) + "</body></html>\n";
}

}  // namespace pw::tasks::report
