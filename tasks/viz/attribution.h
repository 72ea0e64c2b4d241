// Attribution beyond plain saliency: Grad-CAM and Guided Grad-CAM (Selvaraju et al. 2017),
// SmoothGrad (Smilkov et al. 2017) and Integrated Gradients (Sundararajan et al. 2017). Each
// explains the pre-softmax score S_c of one class per image, like saliency (tasks/viz/saliency.h),
// on patchwork's own autograd; the model runs in eval mode with its parameters' gradients off,
// and both are put back afterwards.
#pragma once
#include <string>
#include <vector>

#include "engine/nn.h"
#include "engine/ops/elementwise.h"
#include "tasks/viz/ascent.h"
#include "tasks/viz/saliency.h"

namespace pw::tasks::viz {

// The class each image is explained for: classes[i], or the network's prediction where it is -1.
// Also checks the output is [N, K] and every class is in [0, K). scores[i]: S_c(x_i).
struct ClassScores {
  std::vector<int64_t> classes;
  std::vector<double> scores;
};
ClassScores class_scores(nn::Module& model, const Tensor& images, const std::vector<int64_t>& classes);

// The gradient of S_{classes[i]} with respect to images[i] [N, C, H, W], and the scores; ReLUs
// follow `rule` on the way back.
InputGradient class_score_gradient(nn::Module& model, const Tensor& images, const std::vector<int64_t>& classes,
                                   ReluRule rule = ReluRule::grad);

// ---- Grad-CAM -------------------------------------------------------------------------------
// For a layer with maps A^k [h, w]: alpha_k = mean over (h, w) of dS_c/dA^k, and the map is
// ReLU(sum_k alpha_k A^k), at the layer's resolution. It is brought to the input's size by
// bilinear interpolation (pixel centres aligned, as align_corners=false) and divided by its
// maximum for the picture. Guided Grad-CAM is the guided-backpropagation gradient times that map.
struct GradCamOptions {
  // A path from model_layers or a probe name (conv5: read after its ReLU, as resolve_layer);
  // empty: the ReLU after the last convolution of the trunk, the paper's choice.
  std::string layer;
  bool guided = true;  // also compute Guided Grad-CAM
};

struct GradCamResult {
  std::string layer;                         // the layer path read
  int64_t map_height = 0, map_width = 0;     // the layer's spatial size
  std::vector<std::vector<double>> cams;     // per image: ReLU(sum_k alpha_k A^k), map_height x map_width
  std::vector<std::vector<double>> weights;  // per image: alpha_k, one per channel
  std::vector<std::vector<float>> maps;      // per image: the cam upsampled to height x width, in [0, 1]
  Tensor guided;                             // [N, C, H, W] cpu: guided gradient x map (when options.guided)
  std::vector<int64_t> classes;
  std::vector<double> scores;
  int64_t height = 0, width = 0;
};

// Grad-CAM of images [N, C, H, W] (input space) for classes[i] (-1: the predicted class). The
// model must run as one chain of layers to its output: a FeaturesClassifier or a plain Sequential.
GradCamResult grad_cam(nn::Module& model, const Tensor& images, const std::vector<int64_t>& classes,
                       const GradCamOptions& options);

// Bilinear resize of one map [h, w] to [H, W] with pixel centres aligned (align_corners=false):
// output pixel (y, x) samples the map at ((y + 0.5) h / H - 0.5, (x + 0.5) w / W - 0.5), clamped
// to the edge.
std::vector<double> resize_bilinear(const std::vector<double>& map, int64_t h, int64_t w, int64_t H, int64_t W);

// ---- SmoothGrad -----------------------------------------------------------------------------
// The gradient averaged over `samples` copies of each image with Gaussian noise of standard
// deviation noise * (max - min of that image) added; the map is made from the mean gradient as
// saliency makes its map (|g| reduced over channels, clipped at a percentile). With noise 0 it is
// plain saliency. The class is decided (or given) on the clean image.
struct SmoothGradOptions {
  int64_t samples = 50;  // Smilkov et al.: n = 50
  double noise = 0.15;   // sigma / (x_max - x_min); the paper finds 10-20% best
  SaliencyOptions saliency;
  int64_t batch = 32;  // noisy copies per forward pass
  uint64_t seed = 0;
};
SaliencyResult smooth_grad(nn::Module& model, const Tensor& images, const std::vector<int64_t>& classes,
                           const SmoothGradOptions& options);

// ---- Integrated Gradients -------------------------------------------------------------------
// attribution_i = (x_i - x'_i) * integral over a in [0, 1] of dS_c/dx_i at x' + a (x - x'),
// the integral by a rule over `steps` equal intervals: midpoint (a gradient at the middle of each),
// trapezoid (at both ends of each: steps + 1 gradients) or right (at the right end of each: the
// paper's Riemann sum). By
// completeness, sum_i attribution_i = S_c(x) - S_c(x') up to the quadrature's error, which is
// reported per image: |sum - (S_c(x) - S_c(x'))| / max(|S_c(x) - S_c(x')|, 1e-12).
struct IntegratedGradientsOptions {
  int64_t steps = 64;
  std::string rule = "midpoint";
  SaliencyOptions saliency{"sum"};  // map: sum over channels of |attribution|, clipped at a percentile
  int64_t batch = 33;               // path points per forward pass
};

struct IntegratedGradientsResult {
  Tensor attributions;                   // [N, C, H, W] cpu
  std::vector<std::vector<float>> maps;  // per image, H * W values in [0, 1]
  std::vector<int64_t> classes;
  std::vector<double> scores, baseline_scores;  // S_c(x), S_c(x')
  std::vector<double> sums;                     // sum of each image's attributions
  std::vector<double> completeness_error;       // relative, as above
  int64_t height = 0, width = 0;
};

// The points a in [0, 1] and weights of a rule above.
void integration_rule(const std::string& rule, int64_t steps, std::vector<double>& nodes, std::vector<double>& weights);

// baseline: [C, H, W] (the same for every image) or [N, C, H, W], in input space.
IntegratedGradientsResult integrated_gradients(nn::Module& model, const Tensor& images, const Tensor& baseline,
                                               const std::vector<int64_t>& classes,
                                               const IntegratedGradientsOptions& options);

}  // namespace pw::tasks::viz
