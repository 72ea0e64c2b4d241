#include "tasks/image_source.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>

#include "engine/data/transforms.h"
#include "engine/util/error.h"

namespace pw::tasks {

io::Image fit_square(io::Image img, int64_t size) {
  PW_CHECK(size > 0, "images: size must be positive, got ", size);
  while (std::min(img.height, img.width) >= 2 * size) {
    io::Image h{img.channels, img.height / 2, img.width / 2, {}};
    h.pixels.resize(h.channels * h.height * h.width);
    for (int64_t c = 0; c < h.channels; ++c)
      for (int64_t y = 0; y < h.height; ++y)
        for (int64_t x = 0; x < h.width; ++x) {
          const float* p = img.pixels.data() + (c * img.height + 2 * y) * img.width + 2 * x;
          h.pixels[(c * h.height + y) * h.width + x] = 0.25f * (p[0] + p[1] + p[img.width] + p[img.width + 1]);
        }
    img = std::move(h);
  }
  return data::center_crop(data::resize_shorter(img, size), size, size);
}

void channel_stats(const Tensor& images, std::vector<float>& mean, std::vector<float>& std) {
  PW_CHECK(images.dim() == 4 && images.size(0) > 0, "images: statistics need [N, C, H, W], got ",
           shape_str(images.shape()));
  const Tensor x = images.contiguous();
  const int64_t n = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  const float* p = x.data<float>();
  mean.assign(C, 0.f);
  std.assign(C, 1.f);
  for (int64_t c = 0; c < C; ++c) {
    double s = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < HW; ++j) {
        const double v = p[(i * C + c) * HW + j];
        s += v, sq += v * v;
      }
    const double m = s / (double)(n * HW);
    mean[c] = (float)m;
    std[c] = (float)std::sqrt(std::max(1e-12, sq / (double)(n * HW) - m * m));
  }
}

TensorSource::TensorSource(Tensor images) : images_(images.contiguous()) {
  PW_CHECK(images_.dim() == 4 && images_.size(0) > 0 && images_.dtype() == DType::f32,
           "images: an f32 tensor [N, C, H, W] with N > 0 is needed, got ", shape_str(images_.shape()));
}

Tensor TensorSource::gather(const std::vector<int64_t>& idx) const {
  const int64_t per = images_.numel() / images_.size(0);
  Shape s = images_.shape();
  s[0] = (int64_t)idx.size();
  Tensor out = Tensor::empty(s);
  for (size_t i = 0; i < idx.size(); ++i) {
    PW_CHECK(idx[i] >= 0 && idx[i] < images_.size(0), "images: index ", idx[i], " out of range (", images_.size(0),
             ")");
    std::copy_n(images_.data<float>() + idx[i] * per, per, out.data<float>() + i * per);
  }
  return out;
}

FileSource::FileSource(std::vector<std::string> paths, const StreamOptions& o) : paths_(std::move(paths)), options_(o) {
  PW_CHECK(!paths_.empty(), "images: no files to stream");
  PW_CHECK(o.channels == 1 || o.channels == 3, "images: 1 or 3 channels, not ", o.channels);
  PW_CHECK(o.image_size > 0 && o.workers >= 1 && o.stats_images >= 1, "images: bad stream options (size ", o.image_size,
           ", workers ", o.workers, ", stats images ", o.stats_images, ")");
  // Statistics first, with identity normalization.
  const int64_t C = o.channels;
  mean_.assign(C, 0.f);
  std_.assign(C, 1.f);
  const int64_t n = size(), k = std::min(n, o.stats_images);
  std::vector<int64_t> pick;
  for (int64_t i = 0; i < k; ++i) pick.push_back(i * n / k);
  channel_stats(gather(pick), mean_, std_);
  skipped_ = 0;
}

FileSource::FileSource(std::vector<std::string> paths, const StreamOptions& o, std::vector<float> mean,
                       std::vector<float> std)
    : paths_(std::move(paths)), options_(o), mean_(std::move(mean)), std_(std::move(std)) {
  PW_CHECK(!paths_.empty(), "images: no files to stream");
  PW_CHECK((int64_t)mean_.size() == o.channels && (int64_t)std_.size() == o.channels, "images: need ", o.channels,
           " means and standard deviations");
}

void FileSource::decode(int64_t i, float* out) const {
  const int64_t n = size(), C = options_.channels, HW = options_.image_size * options_.image_size;
  for (int64_t tries = 0;; ++tries) {
    const int64_t j = (i + tries) % n;
    try {
      io::Image img = fit_square(io::read_image(paths_[j], (int)C), options_.image_size);
      for (int64_t c = 0; c < C; ++c)
        for (int64_t k = 0; k < HW; ++k) out[c * HW + k] = (img.pixels[c * HW + k] - mean_[c]) / std_[c];
      return;
    } catch (const Error&) {
      if (!options_.skip_bad) throw;
      ++skipped_;
      PW_CHECK(tries + 1 < n, "images: none of the ", n, " files decodes");
    }
  }
}

Tensor FileSource::gather(const std::vector<int64_t>& idx) const {
  const int64_t C = options_.channels, S = options_.image_size, per = C * S * S, b = (int64_t)idx.size();
  for (int64_t i : idx) PW_CHECK(i >= 0 && i < size(), "images: index ", i, " out of range (", size(), " files)");
  Tensor out = Tensor::empty({b, C, S, S});
  float* dst = out.data<float>();
  const int w = (int)std::min<int64_t>(options_.workers, std::max<int64_t>(1, b));
  std::exception_ptr error;
  std::mutex m;
  auto work = [&](int t) {
    for (int64_t i = t; i < b; i += w) {
      try {
        decode(idx[i], dst + i * per);
      } catch (...) {
        std::lock_guard<std::mutex> lock(m);
        if (!error) error = std::current_exception();
        return;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < w; ++t) threads.emplace_back(work, t);
  work(0);
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
  return out;
}

}  // namespace pw::tasks
