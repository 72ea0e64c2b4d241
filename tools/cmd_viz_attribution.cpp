// `patchwork viz gradcam | smoothgrad | integrated-gradients`: attribution beyond plain saliency
// (tasks/viz/attribution.h). Parses flags into a tasks::viz::AttributionConfig, runs it and writes
// the PNG + JSON sidecar like the other viz methods.
#include <cstdio>

#include "engine/device/device.h"
#include "engine/util/threads.h"
#include "tasks/viz/attribution_run.h"
#include "tools/commands.h"

namespace pw::cli {

namespace {

const char* method_help(const std::string& method) {
  if (method == "gradcam")
    return "Grad-CAM (Selvaraju et al. 2017): the maps of a layer weighted by the mean gradient of the class\n"
           "score over each map, summed and rectified, brought to the image's size by bilinear interpolation.\n"
           "Guided Grad-CAM multiplies guided backpropagation by that map. Each row: the image, the map, the map\n"
           "over the image, Guided Grad-CAM. The JSON holds each map at the layer's resolution and the weights.";
  if (method == "smoothgrad")
    return "SmoothGrad (Smilkov et al. 2017): saliency averaged over --samples copies of the image with Gaussian\n"
           "noise of standard deviation --noise times the image's range. Each row: the image, the map, the map\n"
           "over the image.";
  return "Integrated Gradients (Sundararajan et al. 2017): (x - x') times the average gradient of the class score\n"
         "on the straight path from the baseline x' to the image x (--steps intervals, --rule). The attributions\n"
         "sum to S(x) - S(x') up to the quadrature's error, which is printed and kept in the JSON. Each row: the\n"
         "image, |attribution| over channels, the map over the image, the signed attribution.";
}

}  // namespace

int viz_attribution(int argc, char** argv) {
  const std::string method = argv[2];
  Args a("viz " + method, method_help(method));
  add_load_model_flags(a);
  add_data_flags(a);
  a.flag("images", "",
         "which images of the test split (the training images of unlabeled data): 0-7, 3, 0,5,9\n"
         "(absent: the first 8, or all of a smaller split)")
      .flag("classes", "-1", "the class explained for each image (-1: the predicted one); one value or one per image")
      .flag("out", "runs/viz", "output directory")
      .flag("seed", "0", "seed of the noise (smoothgrad) and of random weights")
      .flag("device", "auto", "auto, cpu, simt or cuda")
      .flag("threads", "0", "CPU threads (0: all)");
  if (method == "gradcam")
    a.flag("layer", "", "the layer (conv5: after its ReLU; a path as it is); empty: the last convolution's ReLU")
        .boolean("no-guided", "leave out Guided Grad-CAM");
  if (method != "gradcam")
    a.flag("reduce", method == "smoothgrad" ? "max" : "sum", "the map: |values| over channels by max, sum or l2")
        .flag("clip", "99", "percentile the map is divided by and clipped at");
  if (method == "smoothgrad")
    a.flag("samples", "50", "noisy copies per image").flag("noise", "0.15", "noise sigma / (max - min of the image)");
  if (method == "integrated-gradients")
    a.flag("steps", "64", "intervals of the path")
        .flag("rule", "midpoint", "midpoint, trapezoid, or right (the paper's Riemann sum)")
        .flag("baseline", "black", "black (pixel value 0) or mean (the mean image)");
  if (!a.parse(argc, argv, 3)) return 0;
  set_num_threads((int)a.i64("threads"));
  tasks::viz::AttributionConfig c;
  c.method = method;
  c.source = model_source(a);
  c.data = data_request(a, false);
  if (!a.str("images").empty()) c.images = parse_indices(a.str("images"), 0, "images");
  c.classes = parse_indices(a.str("classes"), 0, "classes");
  c.device = parse_device(a.str("device"));
  if (method == "gradcam") {
    c.gradcam.layer = a.str("layer");
    c.gradcam.guided = !a.on("no-guided");
  } else if (method == "smoothgrad") {
    c.smoothgrad.samples = a.i64("samples");
    c.smoothgrad.noise = a.f64("noise");
    c.smoothgrad.seed = (uint64_t)a.i64("seed");
    c.smoothgrad.saliency.reduce = a.str("reduce");
    c.smoothgrad.saliency.clip_percentile = a.f64("clip");
  } else {
    c.integrated_gradients.steps = a.i64("steps");
    c.integrated_gradients.rule = a.str("rule");
    c.integrated_gradients.saliency.reduce = a.str("reduce");
    c.integrated_gradients.saliency.clip_percentile = a.f64("clip");
    c.baseline = a.str("baseline");
  }
  const tasks::viz::AttributionOutput r = tasks::viz::run_attribution(c);
  for (const std::string& line : r.lines) std::printf("%s\n", line.c_str());
  write_viz_outputs(a, method, r.picture, r.results);
  return 0;
}

}  // namespace pw::cli
