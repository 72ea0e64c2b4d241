// Convolution filters as pictures: each output channel's kernel as a small image (1- or
// 3-channel input layers), laid out in a grid.
#pragma once
#include <string>

#include "engine/io/image.h"
#include "engine/nn.h"

namespace pw::tasks::viz {

struct FilterOptions {
  bool per_filter = true;  // stretch each filter to its own range; false: one scale for all, so magnitudes compare
  int64_t scale = 0;       // pixels per weight (0: chosen so that a filter is about 40 px)
  int64_t cols = 0;        // filters per row (0: about square)
};

// The conv layer named `layer` (a path or short name such as "conv1"; empty: the first
// convolution), or an error naming the convolutions that exist.
const nn::Conv2d& find_conv(const nn::Module& model, const std::string& layer, std::string* path = nullptr);

// A grid of the layer's filters. Weights w map to 0.5 + w / (2m) where m is max|w| of the filter
// (per_filter) or of the layer, so gray is zero in both. Only layers with 1 or 3 input channels
// per group can be shown as images; others are an error saying so.
io::Image filter_grid(const nn::Conv2d& conv, const FilterOptions& options);

}  // namespace pw::tasks::viz
