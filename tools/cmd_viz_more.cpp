// `patchwork viz saliency|guided|deconv|invert|top-patches|sheet|colorize`: the methods that read images
// of a dataset (the run's own unless --data says otherwise). Each reads its flags into a config
// of tasks/viz/runs.h, runs it and prints what it found.
#include <cstdio>
#include <sstream>

#include "tools/cmd_viz.h"

namespace pw::cli {

int viz_saliency(int argc, char** argv, ReluRule rule, const std::string& what) {
  Args a("viz " + what,
         "Image-specific class saliency (Simonyan et al. 2014): the gradient of the class score with respect to\n"
         "the image, |grad| reduced over channels (--reduce), clipped at a percentile. Each row: the image\n"
         "(captioned with its true class, the predicted class and its probability), the map, the map over\n"
         "the image, and (--box) the object box from the map's quantiles (95% / 30% seeds; the paper's\n"
         "GraphCut is replaced by region growing from the foreground seeds). The rule of every ReLU on the\n"
         "way back is --rule: grad (saliency), guided (guided backpropagation) or deconvnet; `viz guided`\n"
         "and `viz deconv` also show the signed gradient.");
  viz_model_flags(a, "runs/viz");
  viz_data_flags(a, "where the images come from");
  a.flag("images", "", "which images: 0-7, 3, 0,5,9 (absent: the first 8)")
      .flag("classes", "", "the class explained, one value or one per image (absent: the predicted one)")
      .flag("reduce", "max", "over channels: max (the paper), sum or l2")
      .flag("rule", relu_rule_name(rule), "ReLU backward rule: grad, guided or deconvnet")
      .flag("clip", "99", "percentile the map is divided by and clipped at")
      .boolean("box", "draw the weakly supervised object box");
  if (!a.parse(argc, argv, 3)) return 0;
  tasks::viz::SaliencyConfig c;
  c.common = viz_common(a);
  c.data = viz_data_request(a);
  c.method = what;
  if (!a.str("images").empty()) c.images = parse_indices(a.str("images"), 0, "images");
  c.classes = indices_or_all(a, "classes");
  c.options.reduce = a.str("reduce");
  c.options.rule = parse_relu_rule(a.str("rule"));
  c.options.clip_percentile = a.f64("clip");
  c.box = a.on("box");
  const tasks::viz::SaliencyRunResult r = tasks::viz::run_saliency(c);
  for (const tasks::viz::ExplainedImage& e : r.images) {
    std::printf("image %lld:", (long long)e.image);
    for (const std::string& line : tasks::viz::caption(e)) std::printf("  %s", line.c_str());
    std::printf("\n");
  }
  print_written(r.files);
  return 0;
}

int viz_invert(int argc, char** argv) {
  Args a("viz invert",
         "Feature inversion (Mahendran and Vedaldi 2015): from small noise, gradient descent on the relative\n"
         "feature error ||phi(x) - phi0||^2 / ||phi0||^2 at --layer plus an alpha-norm (alpha 6) and a total-\n"
         "variation (beta 2) regularizer, both means over pixels scaled by the valid range, so the weights do\n"
         "not depend on the image size. Each row: the image, and what the layer keeps of it. Prints each\n"
         "image's feature error before and after.");
  viz_model_flags(a, "runs/viz");
  viz_data_flags(a, "where the images come from");
  a.flag("images", "", "which images: 0-3, 5, 0,7,9 (absent: the first 4)")
      .flag("layer", "conv3", "the layer whose features are inverted (short name or path)")
      .flag("iterations", "200", "descent steps")
      .flag("step", "0.1", "mean absolute change per step (std units), decayed linearly to a tenth")
      .flag("alpha", "6", "exponent of the alpha-norm regularizer")
      .flag("lambda-alpha", "1", "its weight")
      .flag("beta", "2", "exponent of the total-variation regularizer")
      .flag("lambda-tv", "10", "its weight");
  if (!a.parse(argc, argv, 3)) return 0;
  tasks::viz::InvertConfig c;
  c.common = viz_common(a);
  c.data = viz_data_request(a);
  if (!a.str("images").empty()) c.images = parse_indices(a.str("images"), 0, "images");
  c.layer = a.str("layer");
  c.options.iterations = a.i64("iterations");
  c.options.step = a.f64("step");
  c.options.alpha = a.f64("alpha");
  c.options.lambda_alpha = a.f64("lambda-alpha");
  c.options.beta = a.f64("beta");
  c.options.lambda_tv = a.f64("lambda-tv");
  c.options.seed = (uint64_t)a.i64("seed");
  const tasks::viz::InvertRunResult r = tasks::viz::run_invert(c);
  for (size_t i = 0; i < r.images.size(); ++i)
    std::printf("image %lld: relative feature error %.4g -> %.4g\n", (long long)r.images[i], r.inversion.start[i],
                r.inversion.end[i]);
  print_written(r.files);
  return 0;
}

namespace {

// The flags of the scans: the data, how many images, patches per unit, batch size.
void scan_flags(Args& a, const std::string& out, const std::string& limit) {
  viz_model_flags(a, out);
  viz_data_flags(a, "the images scanned");
  a.flag("limit", limit, "scan the first N images")
      .flag("k", "8", "patches per unit")
      .flag("batch-size", "64", "images per forward pass while scanning");
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
  scan_flags(a, "runs/viz", "10000");
  a.flag("layer", "conv3", "the layer (a short name such as conv3 or a path from `patchwork summary`)")
      .flag("units", "0-15", "channels: 0-15, 3, 0,2,5 or all")
      .flag("cell", "56", "patches are scaled up by a whole factor to about this many pixels");
  if (!a.parse(argc, argv, 3)) return 0;
  tasks::viz::TopPatchesConfig c;
  c.common = viz_common(a);
  c.data = viz_data_request(a);
  c.limit = a.i64("limit");
  c.k = a.i64("k");
  c.batch_size = a.i64("batch-size");
  c.layer = a.str("layer");
  c.units = indices_or_all(a, "units");
  c.cell = a.i64("cell");
  const tasks::viz::TopPatchesRunResult r = tasks::viz::run_top_patches(c);
  const tasks::TopPatches& tp = r.patches;
  for (size_t i = 0; i < tp.units.size(); ++i)
    if (!tp.best[i].empty())
      std::printf("unit %lld: best %.4g (image %lld), %zu-th %.4g\n", (long long)tp.units[i], tp.best[i][0].activation,
                  (long long)tp.best[i][0].image, tp.best[i].size(), tp.best[i].back().activation);
  print_written(r.files);
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
  scan_flags(a, "runs/viz/sheet", "2000");
  a.flag("layers", "all", "convolutions, comma-separated (conv1,conv3 or paths), or all")
      .flag("units-per-layer", "16", "units drawn per layer: the first N")
      .flag("iterations", "100", "gradient-ascent steps of the optimized images (0: none)")
      .flag("step", "0.2",
            "mean absolute change per step of the pixels the unit sees, in units of the\n"
            "input's std")
      .flag("jitter", "0", "random circular shift of up to +-J pixels before each step")
      .flag("blur", "auto",
            "Gaussian blur sigma (pixels) applied every --blur-every steps (auto: side / 56\n"
            "clamped to 0.5 .. 1 px; set 3's 1 px from 56-px images up)")
      .flag("blur-every", "4", "steps between blurs (0: never)")
      .flag("decay", "1e-4", "L2 decay: x *= (1 - decay) each step")
      .flag("cell", "48", "pictures are scaled up by a whole factor to about this many pixels")
      .flag("columns", "2", "units side by side in a layer's picture, at most ...")
      .flag("max-width", "1150", "... as many as fit in this many pixels (a 1200-px window)");
  if (!a.parse(argc, argv, 3)) return 0;
  tasks::viz::SheetConfig c;
  c.common = viz_common(a);
  c.data = viz_data_request(a);
  c.limit = a.i64("limit");
  tasks::viz::SheetOptions& o = c.options;
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
  o.ascent = tasks::viz::sheet_ascent(56);
  o.ascent.iterations = a.i64("iterations");
  o.ascent.step = a.f64("step");
  o.ascent.jitter = a.i64("jitter");
  if (a.str("blur") != "auto") c.blur = a.f64("blur");
  o.ascent.blur_every = a.i64("blur-every");
  o.ascent.decay = a.f64("decay");
  o.ascent.seed = (uint64_t)a.i64("seed");
  const tasks::viz::SheetRunResult r = tasks::viz::run_sheet(c);
  for (const tasks::viz::SheetLayer& L : r.sheet.layers)
    std::printf("%s: %lld units, %zu dead, receptive field %lld px\n", L.conv.c_str(), (long long)L.channels,
                L.dead_units.size(), (long long)L.field.size[0]);
  std::printf("wrote %s (%zu files)\n", r.page.c_str(), r.files.size());
  return 0;
}

int viz_colorize(int argc, char** argv) {
  Args a("viz colorize",
         "Colorization (Zhang et al. 2016): the first --images held-out crops of a `train --task colorization`\n"
         "run (the crops its evaluation used), one row each: the input L, the colours the network predicts\n"
         "(annealed mean of its bin distribution at --temperature, upsampled from its output grid) and the\n"
         "truth. Prints each crop's mean ab error and that of predicting gray (a = b = 0).");
  viz_model_flags(a, "runs/viz");
  a.flag("images", "8", "how many held-out crops")
      .flag("temperature", "0.38", "annealed-mean temperature (0.38: the paper's; 1: the mean; near 0: the mode)");
  if (!a.parse(argc, argv, 3)) return 0;
  tasks::viz::ColorizeConfig c;
  c.common = viz_common(a);
  c.images = a.i64("images");
  c.temperature = a.f64("temperature");
  const tasks::viz::ColorizeRunResult r = tasks::viz::run_colorize(c);
  for (const tasks::viz::ColorizedCrop& k : r.crops)
    std::printf("crop %lld: ab error %.3f, gray %.3f\n", (long long)k.crop, k.ab_error, k.gray_ab_error);
  std::printf("mean ab error %.3f against %.3f for gray on %zu crops\n", r.ab_error, r.gray_ab_error, r.crops.size());
  print_written(r.files);
  return 0;
}

}  // namespace pw::cli
