// Where the pretext trainer reads its images from: a tensor already in memory, or image files
// decoded on demand (`--stream`), so that memory use stays fixed whatever the size of the
// collection: only the batch being built (one step ahead of training) and the held-out images
// are ever decoded at once.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "engine/tensor.h"

namespace pw::tasks {

class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual int64_t size() const = 0;
  virtual int64_t channels() const = 0;
  virtual Shape image_shape() const = 0;  // C, H, W of one image
  // The images at `indices` (any order, repeats allowed) as a fresh [B, C, S, S] f32 cpu
  // tensor, normalized as the source's mean and std say.
  virtual Tensor gather(const std::vector<int64_t>& indices) const = 0;
};

// Images already decoded and normalized: [N, C, S, S].
class TensorSource final : public ImageSource {
 public:
  explicit TensorSource(Tensor images);
  int64_t size() const override { return images_.size(0); }
  int64_t channels() const override { return images_.size(1); }
  Shape image_shape() const override { return {images_.size(1), images_.size(2), images_.size(3)}; }
  Tensor gather(const std::vector<int64_t>& indices) const override;

 private:
  Tensor images_;
};

struct StreamOptions {
  int64_t image_size = 128;  // S: shorter side shrunk to S (box-halving, then bilinear), centre crop
  int channels = 3;
  bool skip_bad = false;       // a file that does not decode is replaced by the next good one, counted
  int workers = 2;             // decoding threads per batch
  int64_t stats_images = 256;  // mean and std come from this many files spread over the list
};

// Image files decoded, shrunk and normalized each time they are asked for, exactly as
// load_dataset does for folder kinds (so a file gives the same tensor either way, given the
// same mean and std). The mean and std are measured on `stats_images` files taken evenly
// through the list (all of them when the list is shorter), once, at construction.
class FileSource final : public ImageSource {
 public:
  FileSource(std::vector<std::string> paths, const StreamOptions& options);
  // With a given normalization (held-out files normalized like the training files).
  FileSource(std::vector<std::string> paths, const StreamOptions& options, std::vector<float> mean,
             std::vector<float> std);
  int64_t size() const override { return (int64_t)paths_.size(); }
  int64_t channels() const override { return options_.channels; }
  Shape image_shape() const override { return {options_.channels, options_.image_size, options_.image_size}; }
  Tensor gather(const std::vector<int64_t>& indices) const override;

  const std::vector<float>& mean() const { return mean_; }
  const std::vector<float>& std() const { return std_; }
  int64_t skipped() const { return skipped_.load(); }  // decodes that failed and were replaced

 private:
  // Decodes file i (or, with skip_bad, the next one that decodes) into out (C*S*S floats).
  void decode(int64_t i, float* out) const;

  std::vector<std::string> paths_;
  StreamOptions options_;
  std::vector<float> mean_, std_;
  mutable std::atomic<int64_t> skipped_{0};
};

// Per-channel mean and standard deviation of images [N, C, H, W] (f32 cpu), in double precision.
void channel_stats(const Tensor& images, std::vector<float>& mean, std::vector<float>& std);

// An image shrunk to a size x size square as the folder kinds of load_dataset do it: halved by
// 2x2 box averages while the shorter side stays >= 2 * size, then the shorter side resized to
// `size` (bilinear) and the centre cropped.
io::Image fit_square(io::Image image, int64_t size);

}  // namespace pw::tasks
