// Feature inversion (Mahendran and Vedaldi 2015): the image whose features at a layer match a
// given image's, found by gradient descent on
//   ||phi(x) - phi0||^2 / ||phi0||^2  +  lambda_alpha * R_alpha(x)  +  lambda_tv * R_TV(x)
// with R_alpha(x) = mean |x / B|^alpha (keeps pixels in range; alpha 6) and
// R_TV(x) = mean ((dx^2 + dy^2) / B^2)^(beta / 2) (total variation with exponent beta = 2, which
// discourages spikes), B the width of the valid pixel range in input units. The regularizers are
// means over pixels, so their weights do not depend on the image size; the paper's weights were
// for sums over 0-255 images and do not carry over as numbers.
#pragma once
#include <string>
#include <vector>

#include "tasks/viz/ascent.h"

namespace pw::tasks::viz {

struct InversionOptions {
  int64_t iterations = 200;
  double step = 0.1;  // mean absolute change per step (std units), decayed linearly to a tenth
  double alpha = 6, lambda_alpha = 1.0;
  double beta = 2, lambda_tv = 10.0;
  bool clip = true;   // clamp to the valid range after each step
  uint64_t seed = 0;  // the random start (small noise)
};

struct InversionResult {
  Tensor images;                   // [N, C, H, W] cpu, input space
  std::vector<double> start, end;  // relative feature error ||phi(x) - phi0||^2 / ||phi0||^2 per image
};

// Reconstructs each of `images` [N, C, H, W] (input space) from its features at `layer`
// (ascent_layer names; the model's output when empty).
InversionResult invert_features(nn::Module& model, const InputSpace& space, const std::string& layer,
                                const Tensor& images, const InversionOptions& options);

// The regularizer lambda_alpha * R_alpha + lambda_tv * R_TV of each image of x [N, C, H, W]
// (f32 or f64, cpu) and, when grad is given, its gradient (same shape and dtype). B is the
// width of the valid range. Exposed for tests.
std::vector<double> inversion_regularizer(const Tensor& x, const InversionOptions& options, double B, Tensor* grad);

}  // namespace pw::tasks::viz
