// Gradient ascent in input space, on patchwork's own autograd: class models (Simonyan et al.
// 2014), activation maximization (Erhan et al. 2009, with the regularizers of Yosinski et al.
// 2015) and DeepDream (the 2015 reference notebook). RECIPES.md, "Visualization", has the
// published constants these defaults follow.
//
// Images live in the model's input space: x = (pixel - mean) / std per channel, so the valid
// range of channel c is [-mean_c / std_c, (1 - mean_c) / std_c] and x = 0 is the mean image.
// Every method optimizes a batch of images in one pass (one image per class or unit); the model
// runs in eval mode with its parameters' gradients off, and both are put back afterwards. The
// image updates (steps, jitter, blur, decay, clipping) run on the CPU; the network runs on its
// own device.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "engine/nn.h"
#include "engine/ops/elementwise.h"

namespace pw::tasks::viz {

struct InputSpace {
  std::vector<float> mean, std;  // per channel, as the training data were normalized
  int64_t channels = 1, height = 28, width = 28;
  float lo(int64_t c) const { return -mean[c] / std[c]; }
  float hi(int64_t c) const { return (1 - mean[c]) / std[c]; }
};

// What a batch of images is optimized for: given the network's output at the target layer
// (batch first), the per-image objective values [B] whose sum is differentiated.
using Objective = std::function<Tensor(const Tensor& activation)>;

// The model in eval mode with no parameter gradients for the guard's lifetime: visualization
// differentiates with respect to the input only, and must not leave .grad behind or change
// batch-norm statistics. Both are put back when it goes.
class InputOnlyGuard {
 public:
  explicit InputOnlyGuard(nn::Module& m) : eval_(m) {
    for (const Tensor& p : m.parameters()) {
      flags_.push_back({p, p.requires_grad()});
      Tensor(p).set_requires_grad(false);
    }
  }
  ~InputOnlyGuard() {
    for (auto& [p, on] : flags_) p.set_requires_grad(on);
  }

 private:
  nn::EvalModeScope eval_;
  std::vector<std::pair<Tensor, bool>> flags_;
};

// The gradient of sum(objective(layer output)) with respect to the input x [B, C, H, W] (any
// device), and each image's objective value. `layer` is a path from model_layers, or empty for
// the model's output. The forward pass stops at the layer. ReLUs follow `rule` (grad, deconvnet,
// guided: DESIGN, Autograd). The model's training modes and requires_grad flags are restored.
struct InputGradient {
  Tensor grad;                    // like x, on the cpu
  std::vector<double> objective;  // one per image
};
InputGradient input_gradient(nn::Module& model, const std::string& layer, const Tensor& x, const Objective& objective,
                             ReluRule rule = ReluRule::grad);

// A layer name as the user writes it: a path from model_layers ("features.relu3") is taken as is;
// a short conv/linear name ("conv3", "fc6", or its path) means the output that its ReLU receives
// (after its batch norm, when it has one), so a unit that is off still has a gradient. Unknown
// names are errors listing what exists. (DeepDream reads the ReLU's output instead, as the
// notebook does: tasks::resolve_layer.)
std::string ascent_layer(const nn::Module& model, const std::string& name);

struct AscentOptions {
  int64_t iterations = 200;
  // Each step moves x by step * d / mean|d| (d: the ascent direction; the mean over the pixels
  // with a nonzero gradient, at most the unit's receptive field), so `step` is the mean absolute
  // change of those pixels in input (std) units, whatever the scale of the gradient; it is
  // annealed linearly to 30% of itself over the run. The papers' learning rates were for
  // 0-255 Caffe inputs and do not carry over as numbers.
  double step = 0.1;
  double l2 = 0;                  // class models: lambda of -lambda*||x||^2 (adds -2*lambda*x to d)
  double decay = 0;               // Yosinski: x *= (1 - decay) after each step
  double blur_sigma = 0;          // Gaussian blur of each channel ...
  int64_t blur_every = 0;         // ... every k steps (0: never)
  double norm_percentile = 0;     // zero pixels whose norm over channels is below this percentile
  double contrib_percentile = 0;  // zero pixels whose |sum_c x * grad| is below this percentile
  int64_t jitter = 0;             // random circular shift of up to +-jitter px, undone after each step
  bool clip = true;               // clamp to the valid pixel range after each step
  bool random_start = false;      // start from small noise (std 0.1) instead of the mean image
  uint64_t seed = 0;
};

// Yosinski et al.'s four hyperparameter sets (1-4), by number: decay, blur, percentiles and
// iterations as published; the step is the normalized one above. Their decays were balanced
// against lr 100 on 0-255 images: with small normalized steps, set 2's decay of 0.3 holds the
// image near the mean (the objective still rises, but much less).
AscentOptions yosinski_set(int which);

struct AscentResult {
  Tensor images;                           // [B, C, H, W] cpu, input space
  std::vector<double> start, end;          // objective per image before the first and after the last step
  std::vector<std::vector<double>> curve;  // objective per image, every iteration (before its step)
};

// Class models: maximize the pre-softmax score S_c(x) - l2*||x||^2 of each class (or, with
// `probability`, its softmax probability), one image per class.
AscentResult class_model(nn::Module& model, const InputSpace& space, const std::vector<int64_t>& classes,
                         bool probability, const AscentOptions& options);

// Activation maximization of units of one layer (ascent_layer names), one image per unit: the
// mean of a channel over its map, or with `neuron` the single unit at (y, x) of the map (-1:
// the centre); for a linear layer, the feature itself.
struct UnitSpec {
  std::string layer;
  std::vector<int64_t> units;
  bool neuron = false;
  int64_t y = -1, x = -1;
};
AscentResult maximize_units(nn::Module& model, const InputSpace& space, const UnitSpec& spec,
                            const AscentOptions& options);

struct DreamOptions {
  int64_t octaves = 4;
  double octave_scale = 1.4;
  int64_t iterations = 10;  // per octave
  int64_t jitter = 32;
  double step = 1.5;  // x += step / mean|g| * g, as the notebook (its images are 0-255)
  uint64_t seed = 0;
};
struct DreamResult {
  Tensor image;                                    // [C, H, W] cpu, input space
  std::vector<double> octave_start, octave_end;    // 1/2*||a||^2 / numel(a) at each octave's first and last step
  std::vector<std::pair<int64_t, int64_t>> sizes;  // each octave's height and width, smallest first
};
// A photo for deep_dream: read with space.channels channels, its longer side resized to
// `longer_side`, normalized by space's mean and std into [C, H, W]; space's height and width are
// set to the photo's. `shown`, if given, receives the resized photo itself (for pictures).
Tensor load_photo(const std::string& path, int64_t longer_side, InputSpace& space, io::Image* shown = nullptr);

// DeepDream of one image [C, H, W] (input space) at a layer: objective 1/2 ||a||^2.
DreamResult deep_dream(nn::Module& model, const InputSpace& space, const std::string& layer, const Tensor& image,
                       const DreamOptions& options);

// The value below which a fraction q of v lies (nearest rank); v must not be empty.
float quantile(std::vector<float> v, double q);

// Image helpers (exposed for tests): Gaussian blur of each channel of [B, C, H, W] (cpu, in
// place), circular shift of each image by (dy, dx).
void gaussian_blur(Tensor& images, double sigma);
Tensor roll(const Tensor& images, int64_t dy, int64_t dx);

}  // namespace pw::tasks::viz
