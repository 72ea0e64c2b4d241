// Supervised classification for the training loop: shuffled batches with optional
// augmentation, and evaluation. See supervised.h.
#include "tasks/supervised.h"

#include <algorithm>
#include <map>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/util/error.h"
#include "tasks/evaluate.h"

namespace pw::tasks {

void augment(Tensor& images, const Augmentation& a, Generator& gen) {
  if (!a.any()) return;
  PW_CHECK(images.dim() == 4 && images.is_contiguous() && images.dtype() == DType::f32,
           "augment: expected a contiguous f32 [B, C, H, W] batch, got ", shape_str(images.shape()));
  const int64_t b = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3), P = a.crop_padding;
  PW_CHECK(P >= 0 && P < std::min(H, W), "augment: --crop-padding ", P, " must be below the image size ", H, "x", W);
  PW_CHECK(P == 0 || (int64_t)a.black.size() == C, "augment: the padding value needs one number per channel (", C, ")");
  std::vector<float> src(C * H * W);
  float* data = images.data<float>();
  for (int64_t i = 0; i < b; ++i) {
    float* img = data + i * C * H * W;
    std::copy(img, img + C * H * W, src.begin());
    const int64_t top = P > 0 ? gen.randint(0, 2 * P + 1) - P : 0, left = P > 0 ? gen.randint(0, 2 * P + 1) - P : 0;
    const bool mirror = a.flip && gen.uniform() < 0.5f;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          const int64_t sy = y + top, sx = (mirror ? W - 1 - x : x) + left;
          img[(c * H + y) * W + x] = sy >= 0 && sy < H && sx >= 0 && sx < W ? src[(c * H + sy) * W + sx] : a.black[c];
        }
  }
  images.bump_version();
}

namespace {

// What augment() draws for `images` images, without images: where a part of a batch starts.
void skip_augment_draws(const Augmentation& a, Generator& gen, int64_t images) {
  for (int64_t i = 0; i < images; ++i) {
    if (a.crop_padding > 0) {
      gen.randint(0, 2 * a.crop_padding + 1);
      gen.randint(0, 2 * a.crop_padding + 1);
    }
    if (a.flip) gen.uniform();
  }
}

// The order of the epoch a step belongs to, drawing every epoch's permutation in turn.
class EpochOrders {
 public:
  EpochOrders(uint64_t seed, int64_t n) : seed_(seed), n_(n), gen_(seed, /*stream=*/1) {}
  const std::vector<int64_t>& of(int64_t epoch) {  // 0-based
    if (epoch < drawn_ - 1) {                      // backwards: start again (the loop never asks)
      gen_ = Generator(seed_, 1);
      drawn_ = 0;
    }
    while (drawn_ <= epoch) {
      order_ = gen_.permutation(n_);
      ++drawn_;
    }
    return order_;
  }

 private:
  uint64_t seed_;
  int64_t n_, drawn_ = 0;
  Generator gen_;
  std::vector<int64_t> order_;
};

}  // namespace

TrainingTask supervised_task(std::shared_ptr<nn::Module> model, const SupervisedData& data, int64_t batch_size,
                             uint64_t seed, const Augmentation& augmentation, double label_smoothing) {
  PW_CHECK(data.train && data.train->size() > 0, "train: no training images");
  PW_CHECK(data.train_labels.defined() && data.train_labels.numel() == data.train->size(),
           "train: supervised training needs one label per training image");
  PW_CHECK(batch_size > 0, "train: --batch-size must be positive, got ", batch_size);
  const int64_t n = data.train->size();
  TrainingTask t;
  t.model = model;
  t.steps_per_epoch = (n + batch_size - 1) / batch_size;
  if (label_smoothing > 0)
    t.loss = [label_smoothing](const Tensor& out, const Batch& b) {
      return cross_entropy_loss(out, b.y, label_smoothing);
    };
  auto orders = std::make_shared<EpochOrders>(seed, n);
  const Tensor labels = data.train_labels.contiguous();
  const std::shared_ptr<const ImageSource> images = data.train;
  const int64_t per_epoch = t.steps_per_epoch;
  t.batch_rows = [=](int64_t step) {
    const int64_t begin = (step % per_epoch) * batch_size;
    return std::min(n, begin + batch_size) - begin;
  };
  t.batch_part = [=](int64_t step, int64_t lo, int64_t hi) {
    const std::vector<int64_t>& order = orders->of(step / per_epoch);
    const int64_t begin = (step % per_epoch) * batch_size + lo, end = (step % per_epoch) * batch_size + hi;
    std::vector<int64_t> idx(order.begin() + begin, order.begin() + end);
    Batch b;
    b.x = images->gather(idx);
    std::vector<int32_t> y(idx.size());
    for (size_t i = 0; i < idx.size(); ++i) y[i] = labels.data<int32_t>()[idx[i]];
    b.y = Tensor::from_vector(y, {(int64_t)y.size()});
    if (augmentation.any()) {
      Generator gen(seed, 3'000'000 + (uint64_t)step);
      skip_augment_draws(augmentation, gen, lo);  // the rows before this part draw first
      augment(b.x, augmentation, gen);
    }
    return b;
  };
  t.batch = [rows = t.batch_rows, part = t.batch_part](int64_t step) { return part(step, 0, rows(step)); };
  if (data.test_images.defined() && data.test_images.size(0) > 0) {
    const Tensor test_x = data.test_images, test_y = data.test_labels;
    const int64_t classes = data.classes;
    t.evaluate = [model, test_x, test_y, classes] { return evaluate(*model, test_x, test_y, 256, classes); };
  }
  return t;
}

}  // namespace pw::tasks
