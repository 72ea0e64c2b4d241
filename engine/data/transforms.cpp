// Image transforms on CHW float images; the random ones reproduce torchvision's parameter
// sampling with pw::Generator draws (documented per function in transforms.h).
#include "engine/data/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/util/error.h"

namespace pw::data {
namespace {

// Python's round(): halves go to the even neighbour (nearbyint in the default rounding mode).
int64_t round_half_even(double v) { return int64_t(std::nearbyint(v)); }

std::string size_text(const io::Image& img) {
  return std::to_string(img.channels) + "x" + std::to_string(img.height) + "x" + std::to_string(img.width);
}

void check_crop_size(const io::Image& img, int64_t h, int64_t w, const char* op) {
  io::check_image(img, op);
  PW_CHECK(h > 0 && w > 0, op, ": crop size must be positive, got ", h, "x", w);
  PW_CHECK(h <= img.height && w <= img.width, op, ": crop of ", h, "x", w, " is larger than the ", img.height, "x",
           img.width, " image");
}

// The gray value of pixel i of a 1- or 3-channel image.
float luma(const io::Image& img, int64_t i) {
  if (img.channels == 1) return img.pixels[i];
  const int64_t plane = img.height * img.width;
  return 0.299f * img.pixels[i] + 0.587f * img.pixels[plane + i] + 0.114f * img.pixels[2 * plane + i];
}

void check_gray_or_rgb(const io::Image& img, const char* op) {
  PW_CHECK(img.channels == 1 || img.channels == 3, op, ": expected a 1- or 3-channel image, got ", size_text(img),
           " (channels x height x width)");
}

float clamp01(double v) { return float(std::clamp(v, 0.0, 1.0)); }

// Factor for one ColorJitter step: uniform on [max(0, 1 - v), 1 + v].
double jitter_factor(Generator& gen, double v) {
  const double lo = std::max(0.0, 1.0 - v), hi = 1.0 + v;
  return lo + (hi - lo) * gen.uniform_double();
}

}  // namespace

io::Image crop(const io::Image& img, const CropBox& box) {
  io::check_image(img, "crop");
  PW_CHECK(box.height > 0 && box.width > 0, "crop: crop size must be positive, got ", box.height, "x", box.width);
  PW_CHECK(box.top >= 0 && box.left >= 0 && box.top + box.height <= img.height && box.left + box.width <= img.width,
           "crop: region ", box.height, "x", box.width, " at (top ", box.top, ", left ", box.left,
           ") does not fit in the ", img.height, "x", img.width, " image");
  io::Image out = io::Image::filled(img.channels, box.height, box.width);
  for (int64_t c = 0; c < img.channels; ++c)
    for (int64_t y = 0; y < box.height; ++y)
      std::memcpy(&out.at(c, y, 0), &img.at(c, box.top + y, box.left), box.width * sizeof(float));
  return out;
}

io::Image resize_shorter(const io::Image& img, int64_t size) {
  io::check_image(img, "resize_shorter");
  PW_CHECK(size > 0, "resize_shorter: size must be positive, got ", size);
  const bool wide = img.width >= img.height;
  const int64_t shorter = wide ? img.height : img.width, longer = wide ? img.width : img.height;
  const int64_t new_long = std::max<int64_t>(1, int64_t(double(size) * double(longer) / double(shorter)));
  if (shorter == size) return img;  // torchvision returns the image unchanged too
  return wide ? io::resize_bilinear(img, size, new_long) : io::resize_bilinear(img, new_long, size);
}

io::Image center_crop(const io::Image& img, int64_t h, int64_t w) {
  check_crop_size(img, h, w, "center_crop");
  return crop(img, {round_half_even((img.height - h) / 2.0), round_half_even((img.width - w) / 2.0), h, w});
}

io::Image random_crop(const io::Image& img, int64_t h, int64_t w, Generator& gen) {
  check_crop_size(img, h, w, "random_crop");
  const int64_t top = gen.randint(0, img.height - h + 1);
  const int64_t left = gen.randint(0, img.width - w + 1);
  return crop(img, {top, left, h, w});
}

CropBox random_resized_crop_box(int64_t height, int64_t width, Generator& gen, std::pair<double, double> scale,
                                std::pair<double, double> ratio) {
  PW_CHECK(height > 0 && width > 0, "random_resized_crop: image size must be positive, got ", height, "x", width);
  PW_CHECK(scale.first > 0 && scale.first <= scale.second, "random_resized_crop: scale range (", scale.first, ", ",
           scale.second, ") must satisfy 0 < min <= max");
  PW_CHECK(ratio.first > 0 && ratio.first <= ratio.second, "random_resized_crop: ratio range (", ratio.first, ", ",
           ratio.second, ") must satisfy 0 < min <= max");
  const double area = double(height) * double(width);
  const double log_lo = std::log(ratio.first), log_hi = std::log(ratio.second);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * (scale.first + (scale.second - scale.first) * gen.uniform_double());
    const double aspect = std::exp(log_lo + (log_hi - log_lo) * gen.uniform_double());
    const int64_t w = round_half_even(std::sqrt(target_area * aspect));
    const int64_t h = round_half_even(std::sqrt(target_area / aspect));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const int64_t top = gen.randint(0, height - h + 1);
      const int64_t left = gen.randint(0, width - w + 1);
      return {top, left, h, w};
    }
  }
  // Fallback: the whole image, cut to the nearest allowed aspect ratio, centred.
  const double in_ratio = double(width) / double(height);
  int64_t h = height, w = width;
  if (in_ratio < ratio.first)
    h = round_half_even(double(w) / ratio.first);
  else if (in_ratio > ratio.second)
    w = round_half_even(double(h) * ratio.second);
  h = std::clamp<int64_t>(h, 1, height);
  w = std::clamp<int64_t>(w, 1, width);
  return {(height - h) / 2, (width - w) / 2, h, w};
}

io::Image random_resized_crop(const io::Image& img, int64_t h, int64_t w, Generator& gen,
                              std::pair<double, double> scale, std::pair<double, double> ratio) {
  io::check_image(img, "random_resized_crop");
  PW_CHECK(h > 0 && w > 0, "random_resized_crop: output size must be positive, got ", h, "x", w);
  const CropBox box = random_resized_crop_box(img.height, img.width, gen, scale, ratio);
  return io::resize_bilinear(crop(img, box), h, w);
}

io::Image hflip(const io::Image& img) {
  io::check_image(img, "hflip");
  io::Image out = img;
  for (int64_t c = 0; c < img.channels; ++c)
    for (int64_t y = 0; y < img.height; ++y) std::reverse(&out.at(c, y, 0), &out.at(c, y, 0) + img.width);
  return out;
}

io::Image random_hflip(const io::Image& img, Generator& gen, double p) {
  PW_CHECK(p >= 0 && p <= 1, "random_hflip: probability ", p, " is not in [0, 1]");
  return gen.uniform() < p ? hflip(img) : img;
}

io::Image to_grayscale(const io::Image& img, bool keep_channels) {
  io::check_image(img, "to_grayscale");
  check_gray_or_rgb(img, "to_grayscale");
  if (img.channels == 1) return img;
  const int64_t plane = img.height * img.width;
  io::Image out = io::Image::filled(keep_channels ? 3 : 1, img.height, img.width);
  for (int64_t i = 0; i < plane; ++i) {
    const float l = luma(img, i);
    for (int64_t c = 0; c < out.channels; ++c) out.pixels[c * plane + i] = l;
  }
  return out;
}

io::Image color_jitter(const io::Image& img, Generator& gen, double brightness, double contrast, double saturation) {
  io::check_image(img, "color_jitter");
  PW_CHECK(brightness >= 0 && contrast >= 0 && saturation >= 0,
           "color_jitter: brightness, contrast and saturation must be >= 0, got ", brightness, ", ", contrast, ", ",
           saturation);
  if (contrast > 0 || saturation > 0) check_gray_or_rgb(img, "color_jitter");
  io::Image out = img;
  const int64_t plane = img.height * img.width;
  if (brightness > 0) {
    const double f = jitter_factor(gen, brightness);
    for (float& v : out.pixels) v = clamp01(f * v);
  }
  if (contrast > 0) {
    const double f = jitter_factor(gen, contrast);
    double sum = 0;
    for (int64_t i = 0; i < plane; ++i) sum += luma(out, i);
    const double mean = sum / double(plane);
    for (float& v : out.pixels) v = clamp01(f * v + (1 - f) * mean);
  }
  if (saturation > 0) {
    const double f = jitter_factor(gen, saturation);
    if (out.channels == 3) {
      for (int64_t i = 0; i < plane; ++i) {
        const double l = luma(out, i);
        for (int64_t c = 0; c < 3; ++c) {
          float& v = out.pixels[c * plane + i];
          v = clamp01(f * v + (1 - f) * l);
        }
      }
    }
  }
  return out;
}

io::Image normalize(const io::Image& img, const std::vector<float>& mean, const std::vector<float>& std) {
  io::check_image(img, "normalize");
  auto per_channel = [&](const std::vector<float>& v, const char* name) {
    PW_CHECK(v.size() == 1 || int64_t(v.size()) == img.channels, "normalize: ", name, " has ", v.size(),
             " values for an image of ", img.channels, " channels (expected ", img.channels, " or 1)");
  };
  per_channel(mean, "mean");
  per_channel(std, "std");
  for (float s : std) PW_CHECK(s != 0.0f && std::isfinite(s), "normalize: std value ", s, " is not usable");
  io::Image out = img;
  const int64_t plane = img.height * img.width;
  for (int64_t c = 0; c < img.channels; ++c) {
    const float m = mean.size() == 1 ? mean[0] : mean[c];
    const float s = std.size() == 1 ? std[0] : std[c];
    for (int64_t i = 0; i < plane; ++i) out.pixels[c * plane + i] = (img.pixels[c * plane + i] - m) / s;
  }
  return out;
}

Tensor to_tensor(const std::vector<io::Image>& images) {
  PW_CHECK(!images.empty(), "to_tensor: no images");
  const io::Image& first = images[0];
  io::check_image(first, "to_tensor");
  for (size_t i = 1; i < images.size(); ++i) {
    io::check_image(images[i], "to_tensor");
    PW_CHECK(images[i].channels == first.channels && images[i].height == first.height && images[i].width == first.width,
             "to_tensor: image ", i, " is ", size_text(images[i]), " but image 0 is ", size_text(first),
             " (channels x height x width); all must have one size");
  }
  Tensor out = Tensor::empty({int64_t(images.size()), first.channels, first.height, first.width});
  float* dst = out.data<float>();
  for (const io::Image& img : images) {
    std::memcpy(dst, img.pixels.data(), img.pixels.size() * sizeof(float));
    dst += img.numel();
  }
  return out;
}

}  // namespace pw::data
