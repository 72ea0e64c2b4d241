// Image-specific class saliency (Simonyan et al. 2014) and its guided-backpropagation and
// deconvnet variants: the gradient of a class score with respect to the input image, through
// ReLUs that follow the chosen backward rule (DESIGN: Autograd; the rule is set for the whole
// pass, so every ReLU that was not built with a rule of its own obeys it -- the registry's
// models build none), reduced over channels to a map.
#pragma once
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "engine/nn.h"
#include "engine/ops/elementwise.h"
#include "tasks/receptive_field.h"  // Box

namespace pw::tasks::viz {

struct SaliencyOptions {
  std::string reduce = "max";      // over channels of |grad|: max (the paper), sum, or l2
  ReluRule rule = ReluRule::grad;  // grad (saliency), guided, deconvnet
  double clip_percentile = 99;     // the map is divided by this percentile and clipped to [0, 1]
};

struct SaliencyResult {
  Tensor gradient;                       // [N, C, H, W] cpu: d S_c / d x
  std::vector<std::vector<float>> maps;  // per image, H * W values in [0, 1]
  std::vector<int64_t> classes;          // the class each map explains
  std::vector<double> scores;            // S_c(x) per image
  std::vector<int64_t> predicted;        // the network's class for each image (the largest score)
  std::vector<double> probability;       // its softmax probability
  int64_t height = 0, width = 0;
  int64_t outputs = 0;  // the network's number of classes
};

// Saliency of images [N, C, H, W] (input space) for classes[i] (-1: the predicted class).
SaliencyResult saliency(nn::Module& model, const Tensor& images, const std::vector<int64_t>& classes,
                        const SaliencyOptions& options);

// Reduces a gradient [C, H, W] (cpu, f32 or f64) over channels: max|g|, sum|g| or sqrt(sum g^2).
std::vector<float> reduce_channels(const Tensor& grad_chw, const std::string& how);

// Divides by the given percentile of the values and clips to [0, 1].
std::vector<float> normalize_map(std::vector<float> map, double percentile);

// The weakly supervised object box from a saliency map (Simonyan et al. 2014, section 3.1):
// foreground seeds are the pixels above the `foreground` quantile of the map, background seeds
// those below the `background` quantile. The paper then fits colour models to the seeds and
// separates them with GraphCut; here each remaining pixel goes to the side whose mean seed colour
// is nearer (a one-component colour model, no smoothness term). The box is that of the 8-connected
// foreground region, grown from a foreground seed, that holds the most saliency. `image` gives the colours (1 or 3
// channels, the map's size).
Box saliency_box(const std::vector<float>& map, const io::Image& image, double foreground = 0.95,
                 double background = 0.30);

// Pictures: a map as a heat image (black - red - yellow - white), and the map laid over an image
// (alpha: the weight of the heat colours where the map is 1).
io::Image heat_image(const std::vector<float>& map, int64_t height, int64_t width);
io::Image overlay(const io::Image& image, const std::vector<float>& map, double alpha = 0.6);
// Guided-backprop style picture of a signed gradient [C, H, W]: 0.5 + g / (2 * max|g|), per image.
io::Image signed_gradient_image(const Tensor& grad_chw);
// Draws a box outline (2 px, RGB colour) on an image (made RGB if gray).
io::Image draw_box(const io::Image& image, const Box& box, float r, float g, float b);

}  // namespace pw::tasks::viz
