// Image transforms for data augmentation and preprocessing on io::Image (CHW, values 0..1),
// following torchvision.transforms where a counterpart exists. Random transforms draw from the
// Generator they are given, so a (seed, stream) reproduces the same augmentation on any machine.
// Bad arguments (a crop larger than the image, mismatched sizes) are pw::Errors naming sizes.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "engine/io/image.h"
#include "engine/tensor.h"
#include "engine/util/rng.h"

namespace pw::data {

// A region of an image: rows top .. top + height - 1, columns left .. left + width - 1.
struct CropBox {
  int64_t top = 0, left = 0, height = 0, width = 0;
};

// The region `box`, which must lie inside the image.
io::Image crop(const io::Image& img, const CropBox& box);

// Resize so that the shorter side becomes `size`, keeping the aspect ratio; the longer side
// is int(size * long / short), truncated, as torchvision's Resize(int). Bilinear, without
// antialiasing (io::resize_bilinear).
io::Image resize_shorter(const io::Image& img, int64_t size);

// The central h x w region; the offsets are round((H - h) / 2) and round((W - w) / 2) with
// halves to even, as torchvision's CenterCrop (which pads a too-small image; this throws).
io::Image center_crop(const io::Image& img, int64_t h, int64_t w);

// An h x w region at a uniform random position: top = randint(0, H - h + 1), then
// left = randint(0, W - w + 1).
io::Image random_crop(const io::Image& img, int64_t h, int64_t w, Generator& gen);

// torchvision's RandomResizedCrop.get_params: up to 10 tries of area fraction
// s ~ U(scale) and aspect ratio r = exp(U(log ratio)), giving w = round(sqrt(s * H * W * r)) and
// h = round(sqrt(s * H * W / r)); the first that fits is placed at top = randint(0, H - h + 1),
// left = randint(0, W - w + 1). If none fits, the central crop of the whole image clamped to
// the ratio range. Draws per try: 2 uniform_double (scale, then ratio), then 2 randint.
CropBox random_resized_crop_box(int64_t height, int64_t width, Generator& gen,
                                std::pair<double, double> scale = {0.08, 1.0},
                                std::pair<double, double> ratio = {3.0 / 4.0, 4.0 / 3.0});
// That crop resized (bilinear) to h x w.
io::Image random_resized_crop(const io::Image& img, int64_t h, int64_t w, Generator& gen,
                              std::pair<double, double> scale = {0.08, 1.0},
                              std::pair<double, double> ratio = {3.0 / 4.0, 4.0 / 3.0});

// Mirror left-right.
io::Image hflip(const io::Image& img);
// hflip with probability p: flips when gen.uniform() < p (one draw either way).
io::Image random_hflip(const io::Image& img, Generator& gen, double p = 0.5);

// ITU-R 601-2 luma, L = 0.299 R + 0.587 G + 0.114 B (PIL's convert("L"), which torchvision's
// Grayscale uses on PIL images; its tensor path rounds the red weight to 0.2989). A 3-channel
// image gives 3 equal channels when keep_channels, else 1; a 1-channel image is returned as is.
io::Image to_grayscale(const io::Image& img, bool keep_channels = true);

// torchvision's ColorJitter without hue, in a fixed order (torchvision shuffles it):
// brightness, then contrast, then saturation. Each factor f is drawn as uniform_double on
// [max(0, 1 - v), 1 + v] for its value v > 0; v == 0 leaves that step out and draws nothing.
//   brightness: x * f
//   contrast:   f * x + (1 - f) * mean(grayscale(x))  (one mean over the whole image)
//   saturation: f * x + (1 - f) * grayscale(x)         (per pixel; skipped for 1 channel)
// each clamped to [0, 1]. Contrast and saturation need 1 or 3 channels.
io::Image color_jitter(const io::Image& img, Generator& gen, double brightness, double contrast, double saturation);

// (x - mean[c]) / std[c] per channel; mean and std hold one value per channel, or one for all.
io::Image normalize(const io::Image& img, const std::vector<float>& mean, const std::vector<float>& std);

// Stacks equally sized images into a [N, C, H, W] f32 tensor on the CPU.
Tensor to_tensor(const std::vector<io::Image>& images);

}  // namespace pw::data
