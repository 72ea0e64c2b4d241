// A read-only view of one image's pixels (CHW floats), the input of the pretext samplers, so
// that they take Fashion-MNIST tensors and decoded photos alike without copying.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace pw::tasks {

struct ImageView {
  const float* data = nullptr;  // channels x height x width, contiguous
  int64_t channels = 0, height = 0, width = 0;

  float at(int64_t c, int64_t y, int64_t x) const { return data[(c * height + y) * width + x]; }
};

// Image i of a contiguous f32 cpu tensor [N, C, H, W].
ImageView image_of(const Tensor& batch, int64_t i);

// Copies the h x w window at (top, left) of every channel into out (C x h x w); the window
// must lie inside the image.
void copy_window(const ImageView& img, int64_t top, int64_t left, int64_t h, int64_t w, float* out);

// Per-patch normalization: each channel minus its mean, then the whole patch divided by its
// standard deviation (plus 1e-5), so that patches differ in content, not in brightness or contrast.
void normalize_patch(float* patch, int64_t channels, int64_t pixels);

}  // namespace pw::tasks
