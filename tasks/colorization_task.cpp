// Colorization as a task of the training loop: see colorization_task.h.
#include "tasks/colorization_task.h"

#include <algorithm>
#include <cmath>

#include "engine/ops.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "tasks/step_reads.h"

namespace pw::tasks {

namespace {

// Every fifth photo is held out when the data has no test split (as folder:DIR splits classes).
constexpr int64_t kHeldOutEvery = 5;

// One crop's pixels: RGB undone from the normalization, clamped to [0, 1] (the decoded range).
void crop_to_lab(const float* image, int64_t side, const std::vector<float>& mean, const std::vector<float>& std,
                 int64_t crop, int64_t top, int64_t left, float* x, float* ab) {
  const int64_t n = crop * crop, plane = side * side;
  std::vector<float> rgb(3 * n), L(n);
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < crop; ++y)
      for (int64_t k = 0; k < crop; ++k) {
        const float v = image[c * plane + (top + y) * side + left + k] * std[c] + mean[c];
        rgb[c * n + y * crop + k] = std::clamp(v, 0.0f, 1.0f);
      }
  rgb_to_lab_planes(rgb.data(), n, L.data(), ab);
  for (int64_t i = 0; i < n; ++i) x[i] = (float)((L[i] - kLabLCenter) / kLabLScale);
}

// Crops of images[photo[i]] at (top[i], left[i]).
void crops_of(const Tensor& images, const std::vector<int64_t>& photo, const std::vector<float>& mean,
              const std::vector<float>& std, int64_t crop, const std::vector<int64_t>& top,
              const std::vector<int64_t>& left, Tensor& x, Tensor& ab) {
  PW_CHECK(images.dim() == 4 && images.size(1) == 3 && images.size(2) == images.size(3),
           "colorization: needs square colour images [N, 3, S, S], got ", shape_str(images.shape()));
  PW_CHECK(mean.size() == 3 && std.size() == 3, "colorization: needs 3 means and standard deviations, got ",
           mean.size(), " and ", std.size());
  const int64_t side = images.size(2), b = (int64_t)photo.size();
  PW_CHECK(crop > 0 && crop <= side, "colorization: crop ", crop, " does not fit images of ", side, "x", side);
  const Tensor img = images.contiguous();
  x = Tensor::empty({b, 1, crop, crop});
  ab = Tensor::empty({b, 2, crop, crop});
  const int64_t n = crop * crop, per = 3 * side * side;
  for (int64_t i = 0; i < b; ++i) {
    PW_CHECK(top[i] >= 0 && left[i] >= 0 && top[i] + crop <= side && left[i] + crop <= side, "colorization: crop at (",
             top[i], ", ", left[i], ") of side ", crop, " leaves the ", side, "x", side, " image");
    crop_to_lab(img.data<float>() + photo[i] * per, side, mean, std, crop, top[i], left[i], x.data<float>() + i * n,
                ab.data<float>() + 2 * i * n);
  }
}

// Random crop places for b crops of images of side `side`.
void random_places(Generator& gen, int64_t b, int64_t side, int64_t crop, std::vector<int64_t>& top,
                   std::vector<int64_t>& left) {
  top.resize(b);
  left.resize(b);
  for (int64_t i = 0; i < b; ++i) {
    top[i] = gen.randint(0, side - crop + 1);
    left[i] = gen.randint(0, side - crop + 1);
  }
}

std::vector<int64_t> iota_of(int64_t n) {
  std::vector<int64_t> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

}  // namespace

ColorizationSplit colorization_split(const ImageSource& train, const Tensor& test_images) {
  ColorizationSplit s;
  if (test_images.defined() && test_images.size(0) > 0) {
    s.train = iota_of(train.size());
    s.held_out = test_images;
    return s;
  }
  std::vector<int64_t> held;
  for (int64_t i = 0; i < train.size(); ++i) (i % kHeldOutEvery == kHeldOutEvery - 1 ? held : s.train).push_back(i);
  if (!held.empty()) s.held_out = train.gather(held);
  return s;
}

void make_colorization_crops(const Tensor& images, const std::vector<float>& mean, const std::vector<float>& std,
                             int64_t crop, const std::vector<int64_t>& top, const std::vector<int64_t>& left, Tensor& x,
                             Tensor& ab) {
  PW_CHECK((int64_t)top.size() == images.size(0) && top.size() == left.size(), "colorization: ", top.size(), " and ",
           left.size(), " crop places for ", images.size(0), " images");
  crops_of(images, iota_of(images.size(0)), mean, std, crop, top, left, x, ab);
}

std::vector<double> colorization_weights(const ImageSource& source, const std::vector<int64_t>& train,
                                         const std::vector<float>& mean, const std::vector<float>& std,
                                         int64_t max_photos) {
  PW_CHECK(!train.empty(), "colorization: no training photos to measure the colour distribution on");
  const AbBins& bins = ab_bins();
  const int64_t m = std::min<int64_t>(max_photos, (int64_t)train.size()), side = source.image_shape()[1];
  std::vector<double> counts(bins.size(), 0.0);
  for (int64_t k = 0; k < m; ++k) {
    const Tensor photo = source.gather({train[k * (int64_t)train.size() / m]});
    Tensor x, ab;
    make_colorization_crops(photo, mean, std, side, {0}, {0}, x, ab);
    count_bins(bins, ab.data<float>(), side * side, counts);
  }
  return rebalancing_weights(smooth_distribution(bins, counts));
}

Tensor colorization_targets(const Tensor& ab, int64_t h, int64_t w, const std::vector<double>& weights,
                            std::vector<int32_t>* modes) {
  const AbBins& bins = ab_bins();
  const int64_t q_count = bins.size();
  PW_CHECK((int64_t)weights.size() == q_count, "colorization: ", weights.size(), " weights for ", q_count, " bins");
  PW_CHECK(ab.dim() == 4 && ab.size(1) == 2, "colorization: true ab must be [B, 2, H, W], got ", shape_str(ab.shape()));
  NoGradGuard ng;
  const Tensor cells = adaptive_avg_pool2d(ab.to(Device::cpu()), h, w).contiguous();
  const int64_t b = ab.size(0), hw = h * w;
  Tensor targets = Tensor::zeros({b, q_count, h, w});
  float* t = targets.data<float>();
  const float* c = cells.data<float>();
  std::vector<float> z(q_count);
  if (modes) modes->assign(b * hw, 0);
  for (int64_t i = 0; i < b; ++i)
    for (int64_t k = 0; k < hw; ++k) {
      const int64_t mode = soft_encode(bins, c[(2 * i) * hw + k], c[(2 * i + 1) * hw + k], z.data());
      const float weight = (float)weights[mode];
      for (int64_t q = 0; q < q_count; ++q)
        if (z[q] != 0) t[(i * q_count + q) * hw + k] = weight * z[q];
      if (modes) (*modes)[i * hw + k] = (int32_t)mode;
    }
  return targets;
}

Tensor colorization_loss(const Tensor& logits, const Tensor& targets) {
  PW_CHECK(logits.dim() == 4 && logits.shape() == targets.shape(), "colorization: logits ", shape_str(logits.shape()),
           " and targets ", shape_str(targets.shape()), " must both be [B, Q, h, w]");
  const double cells = (double)(logits.size(0) * logits.size(2) * logits.size(3));
  return mul(sum(mul(targets, log_softmax(logits, 1))), -1.0 / cells);
}

Tensor decode_ab(const Tensor& logits, double temperature) {
  const AbBins& bins = ab_bins();
  PW_CHECK(logits.dim() == 4 && logits.size(1) == bins.size(), "colorization: logits must be [B, ", bins.size(),
           ", h, w], got ", shape_str(logits.shape()));
  const Tensor l = logits.detach().to(Device::cpu()).to(DType::f32).contiguous();
  const int64_t b = l.size(0), q_count = l.size(1), hw = l.size(2) * l.size(3);
  Tensor out = Tensor::empty({b, 2, l.size(2), l.size(3)});
  float* o = out.data<float>();
  for (int64_t i = 0; i < b; ++i)
    for (int64_t k = 0; k < hw; ++k) {
      double a = 0, bb = 0;
      annealed_mean(bins, l.data<float>() + i * q_count * hw + k, hw, temperature, a, bb);
      o[(2 * i) * hw + k] = (float)a;
      o[(2 * i + 1) * hw + k] = (float)bb;
    }
  return out;
}

void held_out_crops(const Tensor& held_out, const std::vector<float>& mean, const std::vector<float>& std, int64_t crop,
                    int64_t count, uint64_t seed, Tensor& x, Tensor& ab) {
  PW_CHECK(held_out.defined() && held_out.size(0) > 0 && count > 0, "colorization: no held-out photos to crop");
  const int64_t m = held_out.size(0), side = held_out.size(2);
  std::vector<int64_t> photo(count), top(count), left(count);
  for (int64_t k = 0; k < count; ++k) {
    Generator gen(seed, 77 + (uint64_t)k);
    photo[k] = k % m;
    top[k] = gen.randint(0, side - crop + 1);
    left[k] = gen.randint(0, side - crop + 1);
  }
  crops_of(held_out, photo, mean, std, crop, top, left, x, ab);
}

namespace {

// The errors of one batch's decoded prediction against its truth, summed over pixels.
void add_ab_errors(const Tensor& logits, const Tensor& ab, double temperature, double& predicted, double& gray) {
  const int64_t side = ab.size(2);
  const Tensor pred = resize(decode_ab(logits, temperature), side, side, ResizeMode::bilinear).contiguous();
  const Tensor truth = ab.contiguous();
  const float *p = pred.data<float>(), *t = truth.data<float>();
  const int64_t n = side * side;
  for (int64_t i = 0; i < ab.size(0); ++i)
    for (int64_t k = 0; k < n; ++k) {
      const float ta = t[2 * i * n + k], tb = t[(2 * i + 1) * n + k];
      predicted += std::hypot(p[2 * i * n + k] - ta, p[(2 * i + 1) * n + k] - tb);
      gray += std::hypot(ta, tb);
    }
}

}  // namespace

ColorizationEval evaluate_colorization(nn::Module& model, const Tensor& x, const Tensor& ab,
                                       const std::vector<double>& weights, int64_t batch_size, double temperature) {
  PW_CHECK(batch_size > 0, "colorization: the evaluation batch size must be positive, got ", batch_size);
  nn::EvalModeScope eval(model);
  NoGradGuard ng;
  ColorizationEval e;
  e.crops = x.size(0);
  double loss = 0, predicted = 0, gray = 0;
  int64_t correct = 0, cells = 0;
  for (int64_t s = 0; s < e.crops; s += batch_size) {
    const int64_t end = std::min(e.crops, s + batch_size);
    const Tensor xb = x.slice(0, s, end).contiguous(), abb = ab.slice(0, s, end).contiguous();
    const Tensor logits = model(xb.to(model.device()));
    std::vector<int32_t> modes;
    const Tensor targets = colorization_targets(abb, logits.size(2), logits.size(3), weights, &modes);
    const std::vector<int32_t> top = argmax(logits, 1).to_vector_i32();
    loss += colorization_loss(logits, targets.to(logits.device())).item() * (double)modes.size();
    for (size_t k = 0; k < modes.size(); ++k) correct += top[k] == modes[k];
    cells += (int64_t)modes.size();
    add_ab_errors(logits, abb, temperature, predicted, gray);
  }
  const double pixels = (double)(e.crops * ab.size(2) * ab.size(3));
  e.loss = cells ? loss / (double)cells : 0;
  e.accuracy = cells ? (double)correct / (double)cells : 0;
  e.ab_error = e.crops ? predicted / pixels : 0;
  e.gray_ab_error = e.crops ? gray / pixels : 0;
  return e;
}

namespace {

// The order of the epoch a step belongs to, kept while the steps stay in that epoch.
struct EpochOrder {
  int64_t epoch = -1;
  std::vector<int64_t> order;
};

// The loss and how many cells' most likely bin is the true mode, both left on the training
// device (the targets and modes are made on the host from the batch and uploaded): a step
// makes the host wait for nothing.
StepLoss step_loss(const Tensor& logits, const Batch& batch, const std::vector<double>& weights) {
  std::vector<int32_t> modes;
  const int64_t h = logits.size(2), w = logits.size(3);
  const Tensor targets = colorization_targets(batch.y, h, w, weights, &modes);
  StepLoss s;
  s.loss = colorization_loss(logits, targets.to(logits.device()));
  const Tensor truth = Tensor::from_vector(modes, {logits.size(0), h, w}).to(logits.device());
  s.correct_on_device = count_correct(logits, truth);
  s.count = (int64_t)modes.size();
  return s;
}

}  // namespace

TrainingTask colorization_task(std::shared_ptr<nn::Module> model, const ColorizationData& data,
                               const std::vector<double>& weights, int64_t crop, int64_t batch_size,
                               std::optional<int64_t> samples_per_epoch, uint64_t seed,
                               std::shared_ptr<ColorizationEval> last) {
  PW_CHECK(data.source && !data.train.empty(), "train: colorization: no training photos");
  PW_CHECK(batch_size > 0, "train: --batch-size must be positive, got ", batch_size);
  PW_CHECK(!samples_per_epoch || *samples_per_epoch > 0, "train: --samples-per-epoch must be positive, got ",
           samples_per_epoch.value_or(0));
  const int64_t n = (int64_t)data.train.size(), per_epoch = samples_per_epoch.value_or(n);
  const int64_t side = data.source->image_shape()[1];
  PW_CHECK(crop > 0 && crop <= side, "train: --crop ", crop, " does not fit the ", side, "x", side,
           " photos (give --crop at most --image-size)");
  TrainingTask t;
  t.model = model;
  t.steps_per_epoch = (per_epoch + batch_size - 1) / batch_size;
  const int64_t steps = t.steps_per_epoch;
  auto cache = std::make_shared<EpochOrder>();
  const ColorizationData d = data;
  t.batch = [=](int64_t step) {
    const int64_t epoch = step / steps, within = step % steps;
    if (cache->epoch != epoch) *cache = {epoch, Generator(seed, 10 + (uint64_t)epoch).permutation(n)};
    std::vector<int64_t> idx;
    for (int64_t k = within * batch_size; k < std::min(per_epoch, (within + 1) * batch_size); ++k)
      idx.push_back(d.train[cache->order[k % n]]);
    Generator gen(seed, 1'000'000 + (uint64_t)step);
    std::vector<int64_t> top, left;
    random_places(gen, (int64_t)idx.size(), side, crop, top, left);
    Batch b;
    make_colorization_crops(d.source->gather(idx), d.mean, d.std, crop, top, left, b.x, b.y);
    return b;
  };
  t.loss = [weights](const Tensor& logits, const Batch& b) { return step_loss(logits, b, weights); };
  if (d.eval_x.defined() && d.eval_x.size(0) > 0)
    t.evaluate = [=] {
      const ColorizationEval e = evaluate_colorization(*model, d.eval_x, d.eval_ab, weights, batch_size);
      if (last) *last = e;
      Evaluation ev;
      ev.images = e.crops;
      ev.loss = e.loss;
      ev.accuracy = e.accuracy;
      return ev;
    };
  return t;
}

}  // namespace pw::tasks
