// The image patches that excite chosen units of a layer most, over a data set (as in Zeiler and
// Fergus 2014 and Girshick et al. 2014): each image counts once, at the position of its largest
// response, and the patch shown is the unit's receptive field there.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "engine/nn.h"
#include "tasks/receptive_field.h"

namespace pw::tasks {

struct TopPatch {
  int64_t image = 0;     // index in the data set
  int64_t y = 0, x = 0;  // the unit's position in the layer's output (its first maximum)
  float activation = 0;  // the unit's value there: the image's maximum
  Box box;               // the input pixels the unit sees there (clipped to the image)
};

struct TopPatches {
  std::string layer;  // the layer path read (resolve_layer)
  ReceptiveField field;
  std::vector<int64_t> units;               // channel indices, as asked
  std::vector<std::vector<TopPatch>> best;  // per unit: at most k images, largest activation first
};

// Runs images [N, C, H, W] through `model` up to `layer` (resolve_layer: a path or a probe name)
// in batches, without gradients and in eval mode (each module's mode is restored afterwards), and
// keeps for each unit (channel) the k images with the largest activation maximum; ties go to the
// lower image index. The images move to the model's device and dtype batch by batch.
TopPatches top_patches(nn::Module& model, const std::string& layer, const std::vector<int64_t>& units,
                       const Tensor& images, int64_t k, int64_t batch_size = 64);

// The whole receptive field of unit (y, x) cut out of `image` [C, H, W] and undone from
// normalization (to_image); the part outside the image (padding) is gray (0.5).
io::Image crop_field(const Tensor& image, const ReceptiveField& rf, int64_t y, int64_t x,
                     const std::vector<float>& mean = {}, const std::vector<float>& std = {});

// One row per unit, its patches best first (crop_field from images, the data set top_patches
// read), each scaled up by `scale`; a row with fewer patches than the longest ends in blank cells.
io::Image top_patches_grid(const TopPatches& tp, const Tensor& images, const std::vector<float>& mean = {},
                           const std::vector<float>& std = {}, int64_t scale = 1);

}  // namespace pw::tasks
