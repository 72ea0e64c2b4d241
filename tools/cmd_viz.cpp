// `patchwork viz <method>`: filters, class models, units, DeepDream here; saliency, guided,
// deconv, invert, top-patches and sheet in tools/cmd_viz_more.cpp. Each reads its flags into a
// config of tasks/viz/runs.h, runs it and prints what it found.
#include "tools/cmd_viz.h"

#include <cstdio>
#include <sstream>

#include "engine/device/device.h"
#include "engine/util/threads.h"

namespace pw::cli {

namespace {

const char* kVizUsage =
    "usage: patchwork viz <method> [options]      (patchwork viz <method> --help for each)\n\n"
    "Pictures of what a trained network learned, made by gradient ascent and backpropagation to the\n"
    "input on patchwork's own autograd. Each writes <method>.png and <method>.json (every flag, the\n"
    "seed and the numbers behind the picture) to --out. With --checkpoint, a run reads what the\n"
    "checkpoint records: its data, input size, normalization and class names; a flag that\n"
    "contradicts them is an error.\n\n"
    "methods:\n"
    "  filters    a convolution's filters as images (layers with 1 or 3 input channels)\n"
    "  class      class models (Simonyan et al. 2014): images that maximize a class score\n"
    "  saliency   image-specific class saliency |dS_c/dx| (Simonyan et al. 2014), with the object box\n"
    "  guided     saliency through guided backpropagation (Springenberg et al. 2015)\n"
    "  deconv     saliency through the deconvnet rule (Zeiler and Fergus 2014)\n"
    "  gradcam    Grad-CAM and Guided Grad-CAM (Selvaraju et al. 2017)\n"
    "  smoothgrad saliency averaged over noisy copies of the image (Smilkov et al. 2017)\n"
    "  integrated-gradients  attributions along a path from a baseline (Sundararajan et al. 2017)\n"
    "  unit       activation maximization of a layer's units (Erhan et al. 2009; Yosinski et al. 2015)\n"
    "  dream      DeepDream of a photo (Mordvintsev et al. 2015)\n"
    "  invert     feature inversion: what a layer keeps of an image (Mahendran and Vedaldi 2015)\n"
    "  top-patches  the data set patches that excite a layer's units most, at their receptive field\n"
    "  sheet      an HTML contact sheet of every convolution: optimized image, top patches, dead units\n"
    "  colorize   a colorization run's held-out crops: input L, predicted colours, truth (Zhang et al. 2016)\n";

// "0.5" or "0.485,0.456,0.406"; empty or auto: absent.
std::vector<float> parse_floats(const Args& a, const std::string& flag) {
  const std::string text = a.str(flag);
  std::vector<float> v;
  if (text.empty() || text == "auto") return v;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    size_t used = 0;
    try {
      v.push_back(std::stof(part, &used));
    } catch (const std::logic_error&) {
      used = 0;
    }
    PW_CHECK(used > 0 && used == part.size(), "--", flag, ": expected numbers separated by commas, got '", text, "'");
  }
  return v;
}

void normalization_flags(Args& a) {
  a.flag("mean", "",
         "per-channel mean the network's inputs were normalized with, 1 or C values (absent: the\n"
         "checkpoint's; Fashion-MNIST's for 1 channel and ImageNet's for 3 without a record)")
      .flag("std", "", "per-channel standard deviation, likewise");
}

void model_flags(Args& a) {
  viz_model_flags(a, "runs/viz");
  a.flag("channels", "",
         "input channels of a network without a run record (absent: the checkpoint's, else\n"
         "read from the weights)");
}

void space_flags(Args& a) {
  a.flag("image-size", "",
         "side of the optimized images (absent: the checkpoint's input size, else the\n"
         "network's native input)");
  normalization_flags(a);
}

tasks::viz::VizCommon common_with_channels(const Args& a) {
  tasks::viz::VizCommon c = viz_common(a);
  c.channels = a.maybe_i64("channels");
  return c;
}

tasks::viz::SpaceRequest space_request(const Args& a) {
  tasks::viz::SpaceRequest q;
  q.image_size = a.maybe_i64("image-size");
  q.mean = parse_floats(a, "mean");
  q.std = parse_floats(a, "std");
  return q;
}

// Defaults for --jitter/--blur/--blur-every are given by the caller; "auto" jitter is a 16th of the
// image side (16 px at 224, as commonly used for class models; 1-2 px on 28-px images).
void ascent_flags(Args& a, const std::string& iterations, const std::string& step, const std::string& blur,
                  const std::string& blur_every) {
  a.flag("iterations", iterations, "gradient-ascent steps")
      .flag("step", step, "mean absolute change of a pixel per step, in units of the input's std")
      .flag("jitter", "auto",
            "random circular shift of up to +-J pixels before each step, undone after\n"
            "(auto: a 16th of the image side)")
      .flag("blur", blur, "Gaussian blur sigma (pixels) applied every --blur-every steps")
      .flag("blur-every", blur_every, "steps between blurs (0: never)")
      .boolean("no-clip", "do not clamp the image to the valid pixel range after each step")
      .boolean("random-start", "start from small noise instead of the mean image");
}

tasks::viz::AscentOptions ascent_options(const Args& a) {
  tasks::viz::AscentOptions o;
  o.iterations = a.i64("iterations");
  o.step = a.f64("step");
  o.blur_sigma = a.f64("blur");
  o.blur_every = a.i64("blur-every");
  o.clip = !a.on("no-clip");
  o.random_start = a.on("random-start");
  o.seed = (uint64_t)a.i64("seed");
  return o;
}

std::optional<int64_t> jitter(const Args& a) {
  if (a.str("jitter") == "auto") return std::nullopt;
  return a.i64("jitter");
}

void print_gains(const char* what, const tasks::viz::AscentRunResult& r) {
  for (size_t i = 0; i < r.targets.size(); ++i) {
    const std::string plain = std::string(what) + " " + std::to_string(r.targets[i]);
    const std::string name = r.labels[i] == plain ? "" : " (" + r.labels[i] + ")";
    std::printf("%s%s: objective %.4g -> %.4g\n", plain.c_str(), name.c_str(), r.ascent.start[i], r.ascent.end[i]);
  }
  print_written(r.files);
}

int viz_filters(int argc, char** argv) {
  Args a("viz filters",
         "A convolution's filters as an image grid (gray is zero). --global puts every filter on one\n"
         "scale so that magnitudes compare; by default each filter is stretched to its own range.");
  model_flags(a);
  a.flag("layer", "", "the convolution (short name or path; absent: the first)")
      .flag("scale", "0", "pixels per weight (0: about 40 px per filter)")
      .flag("cols", "0", "filters per row (0: about square)")
      .boolean("global", "one scale for all filters");
  if (!a.parse(argc, argv, 3)) return 0;
  tasks::viz::FiltersConfig c;
  c.common = common_with_channels(a);
  c.layer = a.str("layer");
  c.options.per_filter = !a.on("global");
  c.options.scale = a.i64("scale");
  c.options.cols = a.i64("cols");
  const tasks::viz::FiltersResult r = tasks::viz::run_filters(c);
  std::printf("%s: %lld filters\n", r.layer.c_str(), (long long)r.filters);
  print_written(r.files);
  return 0;
}

int viz_class(int argc, char** argv) {
  Args a("viz class",
         "Class models (Simonyan et al. 2014): from the mean image, gradient ascent on the pre-softmax score\n"
         "S_c(x) - l2*||x||^2 of each class (or its softmax probability, --objective prob), one image per\n"
         "class, all classes in one batched pass, each captioned with its class name. Prints each class's\n"
         "score before and after.");
  model_flags(a);
  space_flags(a);
  ascent_flags(a, "200", "0.05", "0.5", "10");
  a.flag("classes", "all", "which classes: all, 3, 0,2,5 or 0-4")
      .flag("l2", "1e-3", "lambda of the L2 penalty")
      .flag("objective", "score", "score (pre-softmax, the paper) or prob (softmax probability)");
  if (!a.parse(argc, argv, 3)) return 0;
  PW_CHECK(a.str("objective") == "score" || a.str("objective") == "prob", "--objective must be score or prob, not '",
           a.str("objective"), "'");
  tasks::viz::ClassConfig c;
  c.common = common_with_channels(a);
  c.space = space_request(a);
  c.ascent = ascent_options(a);
  c.ascent.l2 = a.f64("l2");
  c.jitter = jitter(a);
  c.classes = indices_or_all(a, "classes");
  c.probability = a.str("objective") == "prob";
  print_gains("class", tasks::viz::run_class(c));
  return 0;
}

// Yosinski et al.'s set (--set 1..4): its regularizers and length; flags given on the command line win.
void apply_yosinski_set(const Args& a, tasks::viz::AscentOptions& o) {
  if (a.i64("set") != 0) {
    const tasks::viz::AscentOptions y = tasks::viz::yosinski_set((int)a.i64("set"));
    if (!a.given("iterations")) o.iterations = y.iterations;
    if (!a.given("blur")) o.blur_sigma = y.blur_sigma;
    if (!a.given("blur-every")) o.blur_every = y.blur_every;
    o.decay = y.decay;
    o.norm_percentile = y.norm_percentile;
    o.contrib_percentile = y.contrib_percentile;
  }
  if (a.given("decay")) o.decay = a.f64("decay");
  if (a.given("norm-pct")) o.norm_percentile = a.f64("norm-pct");
  if (a.given("contrib-pct")) o.contrib_percentile = a.f64("contrib-pct");
}

int viz_unit(int argc, char** argv) {
  Args a("viz unit",
         "Activation maximization (Erhan et al. 2009): images that excite units of one layer, all units in one\n"
         "batched pass that stops at the layer. A short layer name (conv3, fc6) means the layer's output\n"
         "before its batch norm and ReLU; a full path (features.relu3) any layer. --set 1..4 takes the\n"
         "regularizers of Yosinski et al. 2015 (decay, blur, norm / contribution clipping, iterations);\n"
         "explicit flags override them.");
  model_flags(a);
  space_flags(a);
  ascent_flags(a, "200", "0.05", "0.5", "10");
  a.flag("layer", "conv3", "the layer")
      .flag("units", "0-15", "channels (or features): 0-15, 3, 0,2,5 or all")
      .boolean("neuron", "a single unit at (--y, --x) of each channel's map instead of the channel's mean")
      .flag("y", "", "with --neuron: row in the map (absent: the centre)")
      .flag("x", "", "with --neuron: column (absent: the centre)")
      .flag("set", "0", "Yosinski et al.'s hyperparameter set 1, 2, 3 or 4 (0: none)")
      .flag("decay", "0", "L2 decay: x *= (1 - decay) each step")
      .flag("norm-pct", "0", "zero pixels whose norm is below this percentile")
      .flag("contrib-pct", "0", "zero pixels whose contribution |sum_c x*g| is below this percentile");
  if (!a.parse(argc, argv, 3)) return 0;
  tasks::viz::UnitConfig c;
  c.common = common_with_channels(a);
  c.space = space_request(a);
  c.ascent = ascent_options(a);
  apply_yosinski_set(a, c.ascent);
  c.jitter = jitter(a);
  c.layer = a.str("layer");
  c.units = indices_or_all(a, "units");
  c.neuron = a.on("neuron");
  c.y = a.maybe_i64("y");
  c.x = a.maybe_i64("x");
  print_gains("unit", tasks::viz::run_unit(c));
  return 0;
}

int viz_dream(int argc, char** argv) {
  Args a("viz dream",
         "DeepDream (the 2015 reference notebook): gradient ascent on 1/2 ||a||^2 of a layer's output,\n"
         "over octaves of the photo from small to large with the detail carried up, random jitter undone\n"
         "after each step, steps of --step / mean|g| (in 0-255 pixel units), clipped to the valid range.\n"
         "Writes the photo and its dream side by side, and each octave's objective.");
  model_flags(a);
  a.flag("image", "", "the photo (JPEG, PNG or BMP)")
      .flag("size", "224", "the photo's longer side is resized to this first")
      .flag("layer", "conv3", "the layer whose activations are amplified")
      .flag("octaves", "4", "number of octaves")
      .flag("octave-scale", "1.4", "size ratio between octaves")
      .flag("iterations", "10", "steps per octave")
      .flag("jitter", "32", "random shift of up to +-J pixels, undone after each step")
      .flag("step", "1.5", "step size (0-255 pixel units, divided by the mean |gradient|)");
  normalization_flags(a);
  if (!a.parse(argc, argv, 3)) return 0;
  tasks::viz::DreamConfig c;
  c.common = common_with_channels(a);
  c.mean = parse_floats(a, "mean");
  c.std = parse_floats(a, "std");
  c.image = a.str("image");
  c.size = a.i64("size");
  c.layer = a.str("layer");
  c.options.octaves = a.i64("octaves");
  c.options.octave_scale = a.f64("octave-scale");
  c.options.iterations = a.i64("iterations");
  c.options.jitter = a.i64("jitter");
  c.options.step = a.f64("step");
  c.options.seed = (uint64_t)a.i64("seed");
  const tasks::viz::DreamRunResult r = tasks::viz::run_dream(c);
  for (size_t i = 0; i < r.dream.sizes.size(); ++i)
    std::printf("octave %zu (%lldx%lld): objective %.4g -> %.4g\n", i + 1, (long long)r.dream.sizes[i].first,
                (long long)r.dream.sizes[i].second, r.dream.octave_start[i], r.dream.octave_end[i]);
  print_written(r.files);
  return 0;
}

}  // namespace

void viz_model_flags(Args& a, const std::string& out) {
  add_load_model_flags(a);
  a.flag("out", out, "output directory")
      .flag("seed", "0", "seed of every random choice (random weights, jitter, starts, sampling)")
      .flag("device", "auto", "auto, cpu, simt or cuda")
      .flag("threads", "0", "CPU threads (0: all)");
}

void viz_data_flags(Args& a, const std::string& what) {
  a.flag("data", "",
         what +
             ": the test split (or the training\n"
             "images of unlabeled data), normalized as the data set is (absent: the data the\n"
             "checkpoint was trained on, normalized as it was; fashion-mnist without a checkpoint);\n"
             "see `patchwork probe --help`")
      .flag("image-size", "",
            "images are resized to this square size first (absent: the checkpoint's input size,\n"
            "else as they are)")
      .boolean("skip-bad", "skip (and count) images that do not decode instead of stopping");
}

tasks::DataRequest viz_data_request(const Args& a) {
  tasks::DataRequest q;
  if (!a.str("data").empty()) q.data = a.str("data");
  q.image_size = a.maybe_i64("image-size");
  q.skip_bad = a.on("skip-bad");
  return q;
}

tasks::viz::VizCommon viz_common(const Args& a) {
  set_num_threads((int)a.i64("threads"));
  tasks::viz::VizCommon c;
  c.source = model_source(a);
  c.device = parse_device(a.str("device"));
  c.out_dir = a.str("out");
  c.flags = a.json();
  return c;
}

std::vector<int64_t> indices_or_all(const Args& a, const std::string& name) {
  const std::string text = a.str(name);
  if (text.empty() || text == "all") return {};
  return parse_indices(text, 0, name);
}

void print_written(const tasks::viz::VizFiles& files) {
  std::printf("wrote %s and %s\n", files.picture.c_str(), files.json.c_str());
}

void write_viz_outputs(const Args& a, const std::string& what, const io::Image& img, const io::Json& results) {
  print_written(tasks::viz::write_viz_outputs(a.str("out"), what, img, a.json(), results));
}

int cmd_viz(int argc, char** argv) {
  std::string what = argc > 2 ? argv[2] : "--help";
  if (what == "--help" || what == "-h" || what == "help") {
    std::printf("%s", kVizUsage);
    return 0;
  }
  if (what == "filters") return viz_filters(argc, argv);
  if (what == "class") return viz_class(argc, argv);
  if (what == "unit") return viz_unit(argc, argv);
  if (what == "saliency") return viz_saliency(argc, argv, ReluRule::grad, "saliency");
  if (what == "guided") return viz_saliency(argc, argv, ReluRule::guided, "guided");
  if (what == "deconv") return viz_saliency(argc, argv, ReluRule::deconvnet, "deconv");
  if (what == "invert") return viz_invert(argc, argv);
  if (what == "gradcam" || what == "smoothgrad" || what == "integrated-gradients") return viz_attribution(argc, argv);
  if (what == "dream") return viz_dream(argc, argv);
  if (what == "top-patches") return viz_top_patches(argc, argv);
  if (what == "sheet") return viz_sheet(argc, argv);
  if (what == "colorize") return viz_colorize(argc, argv);
  std::fprintf(stderr, "patchwork viz: unknown method '%s'\n\n%s", what.c_str(), kVizUsage);
  return 2;
}

}  // namespace pw::cli
