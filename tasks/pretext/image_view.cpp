// ImageView helpers: see image_view.h.
#include "tasks/pretext/image_view.h"

#include <cmath>
#include <cstring>

#include "engine/util/error.h"

namespace pw::tasks {

ImageView image_of(const Tensor& batch, int64_t i) {
  PW_CHECK(batch.dim() == 4 && batch.dtype() == DType::f32 && batch.device().is_cpu() && batch.is_contiguous(),
           "pretext: images must be a contiguous f32 cpu tensor [N, C, H, W], got ", shape_str(batch.shape()));
  PW_CHECK(i >= 0 && i < batch.size(0), "pretext: image ", i, " of ", batch.size(0));
  const int64_t c = batch.size(1), h = batch.size(2), w = batch.size(3);
  return {batch.data<float>() + i * c * h * w, c, h, w};
}

void copy_window(const ImageView& img, int64_t top, int64_t left, int64_t h, int64_t w, float* out) {
  PW_CHECK(top >= 0 && left >= 0 && top + h <= img.height && left + w <= img.width, "pretext: window ", h, "x", w,
           " at (", top, ", ", left, ") is outside the ", img.height, "x", img.width, " image");
  for (int64_t c = 0; c < img.channels; ++c)
    for (int64_t y = 0; y < h; ++y)
      std::memcpy(out + (c * h + y) * w, img.data + (c * img.height + top + y) * img.width + left, w * sizeof(float));
}

void normalize_patch(float* p, int64_t channels, int64_t pixels) {
  double sq = 0;
  for (int64_t c = 0; c < channels; ++c) {
    double mean = 0;
    for (int64_t i = 0; i < pixels; ++i) mean += p[c * pixels + i];
    mean /= pixels;
    for (int64_t i = 0; i < pixels; ++i) {
      p[c * pixels + i] = (float)(p[c * pixels + i] - mean);
      sq += (double)p[c * pixels + i] * p[c * pixels + i];
    }
  }
  const float inv = (float)(1.0 / (std::sqrt(sq / (channels * pixels)) + 1e-5));
  for (int64_t i = 0; i < channels * pixels; ++i) p[i] *= inv;
}

}  // namespace pw::tasks
