// `patchwork viz <method>`: filters, class models, saliency (plain, guided, deconvnet),
// activation maximization of units, DeepDream. Each writes a PNG and a JSON sidecar holding
// every flag (the seed included) and the numbers behind the picture.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "engine/device/device.h"
#include "engine/io/image.h"
#include "engine/io/checkpoint.h"
#include "engine/io/json.h"
#include "engine/ops.h"
#include "engine/util/files.h"
#include "engine/util/threads.h"
#include "tasks/datasets.h"
#include "tasks/features.h"
#include "tasks/pictures.h"
#include "tasks/receptive_field.h"
#include "tasks/viz/ascent.h"
#include "tasks/viz/filters.h"
#include "tasks/viz/saliency.h"
#include "tools/commands.h"

namespace pw::cli {

namespace fs = std::filesystem;

namespace {

const char* kVizUsage =
    "usage: patchwork viz <method> [options]      (patchwork viz <method> --help for each)\n\n"
    "Pictures of what a trained network learned, made by gradient ascent and backpropagation to the\n"
    "input on patchwork's own autograd. Each writes <method>.png and <method>.json (every flag, the\n"
    "seed and the numbers behind the picture) to --out.\n\n"
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
    "  sheet      an HTML contact sheet of every convolution: optimized image, top patches, dead units\n";

std::vector<float> parse_floats(const std::string& text, int64_t channels, const std::string& flag) {
  std::vector<float> v;
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
  if (v.size() == 1) v.assign(channels, v[0]);
  PW_CHECK((int64_t)v.size() == channels, "--", flag, " needs 1 or ", channels, " values, got ", v.size());
  return v;
}

void model_flags(Args& a) {
  add_load_model_flags(a);
  a.flag("channels", "0", "input channels of the network (0: read from the weights)")
      .flag("out", "runs/viz", "output directory")
      .flag("seed", "0", "seed of every random choice (jitter, starts, sampling)")
      .flag("device", "auto", "auto, cpu, simt or cuda")
      .flag("threads", "0", "CPU threads (0: all)");
}

void space_flags(Args& a, const std::string& size) {
  a.flag("image-size", size, "side of the optimized images (0: the network's native input)")
      .flag("mean", "auto", "per-channel mean the network's inputs were normalized with (auto: Fashion-MNIST's\n"
                            "for 1 channel, ImageNet's for 3)")
      .flag("std", "auto", "per-channel standard deviation, likewise");
}

// The number of input channels from the weights: the first convolution's second dimension.
int64_t infer_channels(const Args& a) {
  if (a.i64("channels") > 0) return a.i64("channels");
  if (a.on("random") || a.str("checkpoint").empty()) return 1;
  std::map<std::string, Tensor> w = io::read_weights(a.str("checkpoint"));
  for (const char* name : {"features.conv1.weight", "features.0.weight", "tower.features.conv1.weight"})
    if (w.count(name) && w.at(name).dim() == 4) return w.at(name).size(1);
  for (const auto& [name, t] : w)
    if (t.dim() == 4) return t.size(1);
  return 1;
}

struct Loaded {
  std::shared_ptr<nn::Module> model;
  std::string name;
  tasks::viz::InputSpace space;
};

// --mean and --std into space.mean / space.std (auto: Fashion-MNIST's for 1 channel, ImageNet's for 3).
void parse_normalization(const Args& a, tasks::viz::InputSpace& space) {
  const bool gray = space.channels == 1;
  space.mean = parse_floats(a.str("mean") == "auto" ? (gray ? "0.2860" : "0.485,0.456,0.406") : a.str("mean"),
                            space.channels, "mean");
  space.std = parse_floats(a.str("std") == "auto" ? (gray ? "0.3530" : "0.229,0.224,0.225") : a.str("std"),
                           space.channels, "std");
}

// with_space: the command declared space_flags (--image-size, --mean, --std).
Loaded load(const Args& a, int64_t channels, bool with_space = true) {
  set_num_threads((int)a.i64("threads"));
  Loaded l;
  l.model = load_model(a, channels, &l.name);
  l.model->to(parse_device(a.str("device")));
  l.space.channels = channels;
  if (!with_space) return l;
  parse_normalization(a, l.space);
  int64_t size = a.i64("image-size");
  if (size <= 0) {
    Shape native = models::info(l.name).input;
    size = native.back();
  }
  l.space.height = l.space.width = size;
  return l;
}

io::Image picture(const Tensor& chw, const tasks::viz::InputSpace& s) { return tasks::to_image(chw, s.mean, s.std); }

int64_t upscale_factor(int64_t side) { return std::max<int64_t>(1, 112 / std::max<int64_t>(1, side)); }

}  // namespace

void write_viz_outputs(const Args& a, const std::string& what, const io::Image& img, const io::Json& results) {
  fs::create_directories(a.str("out"));
  const std::string png = (fs::path(a.str("out")) / (what + ".png")).string();
  const std::string json = (fs::path(a.str("out")) / (what + ".json")).string();
  io::write_png(png, img);
  const io::Json sidecar = io::Json::object({{"method", what}, {"flags", a.json()}, {"results", results}});
  write_file_atomic(json, sidecar.dump(io::JsonStyle::indented) + "\n");
  std::printf("wrote %s and %s\n", png.c_str(), json.c_str());
}

namespace {

// Defaults for --jitter/--blur/--blur-every are given by the caller; "auto" jitter is a 16th of the
// image side (16 px at 224, as commonly used for class models; 1-2 px on 28-px images).
void ascent_flags(Args& a, const std::string& iterations, const std::string& step, const std::string& blur,
                  const std::string& blur_every) {
  a.flag("iterations", iterations, "gradient-ascent steps")
      .flag("step", step, "mean absolute change of a pixel per step, in units of the input's std")
      .flag("jitter", "auto", "random circular shift of up to +-J pixels before each step, undone after\n"
                              "(auto: a 16th of the image side)")
      .flag("blur", blur, "Gaussian blur sigma (pixels) applied every --blur-every steps")
      .flag("blur-every", blur_every, "steps between blurs (0: never)")
      .boolean("no-clip", "do not clamp the image to the valid pixel range after each step")
      .boolean("random-start", "start from small noise instead of the mean image");
}

tasks::viz::AscentOptions ascent_options(const Args& a, int64_t side) {
  tasks::viz::AscentOptions o;
  o.iterations = a.i64("iterations");
  o.step = a.f64("step");
  o.jitter = a.str("jitter") == "auto" ? side / 16 : a.i64("jitter");
  o.blur_sigma = a.f64("blur");
  o.blur_every = a.i64("blur-every");
  o.clip = !a.on("no-clip");
  o.random_start = a.on("random-start");
  o.seed = (uint64_t)a.i64("seed");
  return o;
}

io::Json ascent_json(const tasks::viz::AscentResult& r, const std::vector<int64_t>& targets,
                     const tasks::viz::AscentOptions& a) {
  const io::Json effective = io::Json::object(
      {{"iterations", a.iterations}, {"step", a.step}, {"l2", a.l2}, {"decay", a.decay}, {"blur", a.blur_sigma},
       {"blur_every", a.blur_every}, {"norm_percentile", a.norm_percentile},
       {"contrib_percentile", a.contrib_percentile}, {"jitter", a.jitter}, {"clip", a.clip},
       {"random_start", a.random_start}, {"seed", a.seed}});
  return io::Json::object({{"effective", effective}, {"targets", targets}, {"start", r.start}, {"end", r.end},
                           {"curves", r.curve}});
}

void print_gains(const char* what, const std::vector<int64_t>& targets, const tasks::viz::AscentResult& r) {
  for (size_t i = 0; i < targets.size(); ++i)
    std::printf("%s %lld: objective %.4g -> %.4g\n", what, (long long)targets[i], r.start[i], r.end[i]);
}

int viz_filters(int argc, char** argv) {
  Args a("viz filters", "A convolution's filters as an image grid (gray is zero). --global puts every filter on one\n"
                        "scale so that magnitudes compare; by default each filter is stretched to its own range.");
  model_flags(a);
  a.flag("layer", "conv1", "the convolution (short name or path)")
      .flag("scale", "0", "pixels per weight (0: about 40 px per filter)")
      .flag("cols", "0", "filters per row (0: about square)")
      .boolean("global", "one scale for all filters");
  if (!a.parse(argc, argv, 3)) return 0;
  Loaded l = load(a, infer_channels(a), /*with_space=*/false);
  std::string path;
  const nn::Conv2d& conv = tasks::viz::find_conv(*l.model, a.str("layer"), &path);
  tasks::viz::FilterOptions o;
  o.per_filter = !a.on("global");
  o.scale = a.i64("scale");
  o.cols = a.i64("cols");
  io::Image img = tasks::viz::filter_grid(conv, o);
  const io::Json r = io::Json::object({{"layer", path}, {"filters", conv.out_channels},
                                      {"kernel", io::Json::array({conv.kernel_h, conv.kernel_w})}});
  write_viz_outputs(a, "filters", img, r);
  return 0;
}

int viz_class(int argc, char** argv) {
  Args a("viz class",
         "Class models (Simonyan et al. 2014): from the mean image, gradient ascent on the pre-softmax score\n"
         "S_c(x) - l2*||x||^2 of each class (or its softmax probability, --objective prob), one image per\n"
         "class, all classes in one batched pass. Prints each class's score before and after.");
  model_flags(a);
  space_flags(a, "0");
  ascent_flags(a, "200", "0.05", "0.5", "10");
  a.flag("classes", "all", "which classes: all, 3, 0,2,5 or 0-4")
      .flag("l2", "1e-3", "lambda of the L2 penalty")
      .flag("objective", "score", "score (pre-softmax, the paper) or prob (softmax probability)");
  if (!a.parse(argc, argv, 3)) return 0;
  Loaded l = load(a, infer_channels(a));
  PW_CHECK(a.str("objective") == "score" || a.str("objective") == "prob", "--objective must be score or prob, not '",
           a.str("objective"), "'");
  const Shape out = tasks::layer_output_shape(*l.model, "", {l.space.channels, l.space.height, l.space.width});
  std::vector<int64_t> classes = parse_indices(a.str("classes"), out.size() == 2 ? out[1] : 0, "classes");
  tasks::viz::AscentOptions o = ascent_options(a, l.space.width);
  o.l2 = a.f64("l2");
  tasks::viz::AscentResult r = tasks::viz::class_model(*l.model, l.space, classes, a.str("objective") == "prob", o);
  print_gains("class", classes, r);
  std::vector<io::Image> cells;
  for (size_t i = 0; i < classes.size(); ++i)
    cells.push_back(tasks::upscale(picture(r.images.select(0, (int64_t)i), l.space), upscale_factor(l.space.width)));
  write_viz_outputs(a, "class", tasks::grid(cells, std::min<int64_t>(5, (int64_t)cells.size())), ascent_json(r, classes, o));
  return 0;
}

int viz_unit(int argc, char** argv) {
  Args a("viz unit",
         "Activation maximization (Erhan et al. 2009): images that excite units of one layer, all units in one\n"
         "batched pass that stops at the layer. A short layer name (conv3, fc6) means the layer's output\n"
         "before its batch norm and ReLU; a full path (features.relu3) any layer. --set 1..4 takes the\n"
         "regularizers of Yosinski et al. 2015 (decay, blur, norm / contribution clipping, iterations);\n"
         "explicit flags override them.");
  model_flags(a);
  space_flags(a, "0");
  ascent_flags(a, "200", "0.05", "0.5", "10");
  a.flag("layer", "conv3", "the layer")
      .flag("units", "0-15", "channels (or features): 0-15, 3, 0,2,5 or all")
      .boolean("neuron", "a single unit at (--y, --x) of each channel's map instead of the channel's mean")
      .flag("y", "-1", "with --neuron: row in the map (-1: centre)")
      .flag("x", "-1", "with --neuron: column (-1: centre)")
      .flag("set", "0", "Yosinski et al.'s hyperparameter set 1, 2, 3 or 4 (0: none)")
      .flag("decay", "0", "L2 decay: x *= (1 - decay) each step")
      .flag("norm-pct", "0", "zero pixels whose norm is below this percentile")
      .flag("contrib-pct", "0", "zero pixels whose contribution |sum_c x*g| is below this percentile");
  if (!a.parse(argc, argv, 3)) return 0;
  Loaded l = load(a, infer_channels(a));
  tasks::viz::AscentOptions o = ascent_options(a, l.space.width);
  if (a.i64("set") != 0) {
    // The set's regularizers and length; flags given on the command line win.
    tasks::viz::AscentOptions y = tasks::viz::yosinski_set((int)a.i64("set"));
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
  tasks::viz::UnitSpec spec;
  spec.layer = a.str("layer");
  spec.neuron = a.on("neuron");
  spec.y = a.i64("y");
  spec.x = a.i64("x");
  int64_t channels = 0;
  if (a.str("units") == "all")
    channels = tasks::layer_output_shape(*l.model, tasks::viz::ascent_layer(*l.model, spec.layer),
                                         {l.space.channels, l.space.height, l.space.width})[1];
  spec.units = parse_indices(a.str("units"), channels, "units");
  tasks::viz::AscentResult r = tasks::viz::maximize_units(*l.model, l.space, spec, o);
  print_gains("unit", spec.units, r);
  std::vector<io::Image> cells;
  for (size_t i = 0; i < spec.units.size(); ++i)
    cells.push_back(tasks::upscale(picture(r.images.select(0, (int64_t)i), l.space), upscale_factor(l.space.width)));
  write_viz_outputs(a, "unit", tasks::grid(cells, std::min<int64_t>(8, (int64_t)cells.size())), ascent_json(r, spec.units, o));
  return 0;
}

int viz_saliency(int argc, char** argv, ReluRule rule, const std::string& what) {
  Args a("viz " + what,
         "Image-specific class saliency (Simonyan et al. 2014): the gradient of the class score with respect to\n"
         "the image, |grad| reduced over channels (--reduce), clipped at a percentile. Each row: the image,\n"
         "the map, the map over the image, and (--box) the object box from the map's quantiles (95% / 30%\n"
         "seeds; the paper's GraphCut is replaced by region growing from the foreground seeds). The rule of\n"
         "every ReLU on the way back is --rule: grad (saliency), guided (guided backpropagation) or deconvnet;\n"
         "`viz guided` and `viz deconv` also show the signed gradient.");
  model_flags(a);
  a.flag("data", "fashion-mnist", "where the images come from (the test split, or the training images of\n"
                                  "unlabeled data); see `patchwork probe --help`")
      .flag("image-size", "0", "images are resized to this square size first (0: as they are)")
      .flag("images", "0-7", "which images: 0-7, 3, 0,5,9")
      .flag("classes", "-1", "the class explained for each image (-1: the predicted one); one value or one per image")
      .flag("reduce", "max", "over channels: max (the paper), sum or l2")
      .flag("rule", relu_rule_name(rule), "ReLU backward rule: grad, guided or deconvnet")
      .flag("clip", "99", "percentile the map is divided by and clipped at")
      .boolean("box", "draw the weakly supervised object box");
  if (!a.parse(argc, argv, 3)) return 0;
  tasks::DataOptions dopt;
  dopt.image_size = a.i64("image-size");
  tasks::Dataset data = tasks::load_dataset(a.str("data"), dopt);
  const Tensor& pool = data.test_images.defined() ? data.test_images : data.train_images;
  std::vector<int64_t> idx = parse_indices(a.str("images"), pool.size(0), "images");
  for (int64_t i : idx)
    PW_CHECK(i >= 0 && i < pool.size(0), "--images: image ", i, " is out of range (", pool.size(0), " images)");
  std::vector<int64_t> cls = parse_indices(a.str("classes"), 0, "classes");
  if (cls.size() == 1) cls.assign(idx.size(), cls[0]);
  PW_CHECK(cls.size() == idx.size(), "--classes: ", cls.size(), " values for ", idx.size(), " images");
  std::vector<Tensor> rows;
  for (int64_t i : idx) rows.push_back(pool.select(0, i));
  Tensor images = stack(rows, 0);
  set_num_threads((int)a.i64("threads"));
  std::string name;
  auto model = load_model(a, images.size(1), &name);
  model->to(parse_device(a.str("device")));
  tasks::viz::SaliencyOptions o;
  o.reduce = a.str("reduce");
  o.rule = parse_relu_rule(a.str("rule"));
  o.clip_percentile = a.f64("clip");
  tasks::viz::SaliencyResult r = tasks::viz::saliency(*model, images, cls, o);
  const int64_t f = upscale_factor(images.size(3));
  std::vector<io::Image> cells;
  std::vector<tasks::Box> boxes;
  for (size_t i = 0; i < idx.size(); ++i) {
    io::Image img = tasks::to_image(images.select(0, (int64_t)i), data.mean, data.std);
    cells.push_back(tasks::upscale(img, f));
    cells.push_back(tasks::upscale(tasks::viz::heat_image(r.maps[i], r.height, r.width), f));
    cells.push_back(tasks::upscale(tasks::viz::overlay(img, r.maps[i]), f));
    if (o.rule != ReluRule::grad) cells.push_back(tasks::upscale(tasks::viz::signed_gradient_image(r.gradient.select(0, (int64_t)i)), f));
    if (a.on("box")) {
      tasks::Box b = tasks::viz::saliency_box(r.maps[i], img);
      boxes.push_back(b);
      tasks::Box big{b.y0 * f, b.x0 * f, b.y1 * f, b.x1 * f};
      cells.push_back(tasks::viz::draw_box(tasks::upscale(img, f), big, 0.1f, 0.9f, 0.2f));
    }
  }
  const int64_t cols = 3 + (o.rule != ReluRule::grad) + a.on("box");
  io::Json js = io::Json::object({{"images", idx}, {"classes", r.classes}, {"scores", r.scores}});
  if (!data.classes.empty()) {
    io::Json names = io::Json::array();
    for (int64_t c : r.classes) names.push((size_t)c < data.classes.size() ? data.classes[c] : "");
    js.set("class_names", names);
  }
  if (!boxes.empty()) {
    io::Json box_list = io::Json::array();
    for (const tasks::Box& b : boxes) box_list.push(io::Json::array({b.y0, b.x0, b.y1, b.x1}));
    js.set("boxes", box_list);
  }
  write_viz_outputs(a, what, tasks::grid(cells, cols), js);
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
      .flag("step", "1.5", "step size (0-255 pixel units, divided by the mean |gradient|)")
      .flag("mean", "auto", "per-channel mean the network's inputs were normalized with (auto: Fashion-MNIST's\n"
                            "for 1 channel, ImageNet's for 3)")
      .flag("std", "auto", "per-channel standard deviation, likewise");
  if (!a.parse(argc, argv, 3)) return 0;
  PW_CHECK(!a.str("image").empty(), "viz dream: give --image PHOTO");
  const int64_t channels = infer_channels(a);
  set_num_threads((int)a.i64("threads"));
  Loaded l;
  l.model = load_model(a, channels, &l.name);
  l.model->to(parse_device(a.str("device")));
  l.space.channels = channels;
  parse_normalization(a, l.space);
  io::Image photo;
  const Tensor x = tasks::viz::load_photo(a.str("image"), a.i64("size"), l.space, &photo);
  tasks::viz::DreamOptions o;
  o.octaves = a.i64("octaves");
  o.octave_scale = a.f64("octave-scale");
  o.iterations = a.i64("iterations");
  o.jitter = a.i64("jitter");
  o.step = a.f64("step");
  o.seed = (uint64_t)a.i64("seed");
  tasks::viz::DreamResult r = tasks::viz::deep_dream(*l.model, l.space, a.str("layer"), x, o);
  for (size_t i = 0; i < r.sizes.size(); ++i)
    std::printf("octave %zu (%lldx%lld): objective %.4g -> %.4g\n", i + 1, (long long)r.sizes[i].first,
                (long long)r.sizes[i].second, r.octave_start[i], r.octave_end[i]);
  io::Image dream = picture(r.image, l.space);
  io::Json sizes = io::Json::array();
  for (const auto& [height, width] : r.sizes) sizes.push(io::Json::array({height, width}));
  const io::Json js = io::Json::object({{"layer", tasks::resolve_layer(*l.model, a.str("layer"))},
                                        {"octave_start", r.octave_start}, {"octave_end", r.octave_end},
                                        {"sizes", sizes}});
  write_viz_outputs(a, "dream", tasks::grid({photo, dream}, 2, 4), js);
  return 0;
}

}  // namespace

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
  std::fprintf(stderr, "patchwork viz: unknown method '%s'\n\n%s", what.c_str(), kVizUsage);
  return 2;
}

}  // namespace pw::cli
