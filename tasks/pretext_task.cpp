// The pretext tasks' batches and evaluation: see pretext_task.h.
#include "tasks/pretext_task.h"

#include <algorithm>

#include "engine/ops.h"
#include "engine/util/error.h"
#include "tasks/pretext/rotation.h"

namespace pw::tasks {

namespace {

// An unknown task, or colorization, whose batches and loss are its own (tasks/colorization_task.h).
[[noreturn]] void no_sampler(const std::string& task) {
  default_pretext_model(task);  // throws the error naming an unknown task
  PW_FAIL("pretext: the ", task, " task has no sampler here (its batches come from tasks/colorization_task.h)");
}

}  // namespace

int64_t PretextSampler::classes() const {
  if (task == "rotation") return 4;
  if (task == "context") return 8;
  if (task == "jigsaw") return (int64_t)permutations.size();
  no_sampler(task);
}

std::string default_pretext_model(const std::string& task) {
  if (task == "rotation") return "rotation-alexnet-small";
  if (task == "jigsaw") return "jigsaw-small";
  if (task == "context") return "context-small";
  if (task == "colorization") return "colorization-small";
  PW_FAIL("train: unknown task '", task, "' (supervised, rotation, jigsaw, context or colorization)");
}

bool is_pretext_task(const std::string& task) {
  return task == "rotation" || task == "jigsaw" || task == "context" || task == "colorization";
}

int64_t pretext_rows_per_image(const std::string& task) { return task == "rotation" ? 4 : 1; }

namespace {

// The words of a step's stream that image k of its batch draws from: k·2^32 onwards (no sample
// comes near 2^32 words), so each image's samples do not depend on the images before it.
Generator sample_generator(const Generator& step, int64_t k) {
  Generator g = step;
  g.set_offset(step.offset() + ((uint64_t)k << 32));
  return g;
}

}  // namespace

void make_pretext_batch(const PretextSampler& s, const Tensor& images, const std::vector<int64_t>& idx, Generator& gen,
                        Tensor& x, Tensor& y, int64_t first) {
  const int64_t b = (int64_t)idx.size(), ch = images.size(1);
  if (s.task == "rotation") {
    make_rotation_batch(TensorSource(images).gather(idx), x, y);
    return;
  }
  std::vector<int32_t> labels(b);
  if (s.task == "jigsaw") {
    const int64_t t = s.jigsaw.tile, per = 9 * ch * t * t;
    x = Tensor::empty({b, 9, ch, t, t});
    for (int64_t i = 0; i < b; ++i) {
      Generator g = sample_generator(gen, first + i);
      labels[i] = sample_jigsaw(image_of(images, idx[i]), g, s.jigsaw, s.permutations, x.data<float>() + i * per).label;
    }
  } else if (s.task == "context") {
    const int64_t p = s.context.patch, per = 2 * ch * p * p;
    x = Tensor::empty({b, 2, ch, p, p});
    for (int64_t i = 0; i < b; ++i) {
      Generator g = sample_generator(gen, first + i);
      labels[i] = sample_context(image_of(images, idx[i]), g, s.context, x.data<float>() + i * per).label;
    }
  } else {
    no_sampler(s.task);
  }
  y = Tensor::from_vector(labels, {b});
}

namespace {

// Pretext loss and accuracy on the first `count` held-out images, with fixed samples.
Evaluation evaluate_pretext(nn::Module& model, const PretextSampler& s, const Tensor& held_out, int64_t count,
                            int64_t batch_size, uint64_t seed) {
  Evaluation ev;
  const int64_t m = std::min(count, held_out.size(0));
  double loss_sum = 0;
  int64_t correct = 0, seen = 0;
  for (int64_t b = 0; b < m; b += batch_size) {
    std::vector<int64_t> idx;
    for (int64_t k = b; k < std::min(m, b + batch_size); ++k) idx.push_back(k);
    Generator gen(seed, 77 + (uint64_t)b);
    Tensor x, y;
    make_pretext_batch(s, held_out, idx, gen, x, y);
    const Tensor logits = model(x.to(model.device()));
    loss_sum += cross_entropy(logits, y.to(model.device()), Reduction::sum).item();
    std::vector<int32_t> pred = argmax(logits, 1).to_vector_i32(), lab = y.to_vector_i32();
    for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == lab[i];
    seen += (int64_t)pred.size();
  }
  ev.loss = seen ? loss_sum / (double)seen : 0;
  ev.accuracy = seen ? (double)correct / (double)seen : 0;
  return ev;
}

// The order of the epoch a step belongs to, kept while the steps stay in that epoch.
struct EpochOrder {
  int64_t epoch = -1;
  std::vector<int64_t> order;
};

}  // namespace

TrainingTask pretext_task(std::shared_ptr<nn::Module> model, const PretextSampler& sampler, const PretextData& data,
                          int64_t batch_size, std::optional<int64_t> samples_per_epoch, uint64_t seed,
                          int64_t eval_images) {
  PW_CHECK(data.train && data.train->size() > 0, "train: no images to train on");
  PW_CHECK(batch_size > 0, "train: --batch-size must be positive, got ", batch_size);
  PW_CHECK(!samples_per_epoch || *samples_per_epoch > 0, "train: --samples-per-epoch must be positive, got ",
           samples_per_epoch.value_or(0));
  sampler.classes();  // an unknown task fails here
  const int64_t n = data.train->size(), per_epoch = samples_per_epoch.value_or(n);
  TrainingTask t;
  t.model = model;
  t.steps_per_epoch = (per_epoch + batch_size - 1) / batch_size;
  const int64_t steps = t.steps_per_epoch;
  const std::shared_ptr<const ImageSource> images = data.train;
  auto cache = std::make_shared<EpochOrder>();
  const int64_t per_image = pretext_rows_per_image(sampler.task);
  auto images_in = [=](int64_t step) {
    const int64_t begin = (step % steps) * batch_size;
    return std::min(per_epoch, begin + batch_size) - begin;
  };
  t.batch_rows = [=](int64_t step) { return images_in(step) * per_image; };
  // Rows [lo, hi) of step s: the images that hold them, built alone (only they are decoded, for
  // a file source), then the rows cut out (rotation: 4 rows per image).
  t.batch_part = [=](int64_t step, int64_t lo, int64_t hi) {
    const int64_t epoch = step / steps, within = step % steps;
    if (cache->epoch != epoch) *cache = {epoch, Generator(seed, 10 + (uint64_t)epoch).permutation(n)};
    const int64_t first = lo / per_image, last = (hi + per_image - 1) / per_image;
    std::vector<int64_t> idx, local;
    for (int64_t k = first; k < last; ++k) {
      idx.push_back(cache->order[(within * batch_size + k) % n]);
      local.push_back(k - first);
    }
    Generator gen(seed, 1'000'000 + (uint64_t)step);
    Batch b;
    make_pretext_batch(sampler, images->gather(idx), local, gen, b.x, b.y, first);
    const int64_t cut = first * per_image;
    if (lo == cut && hi - lo == b.x.size(0)) return b;
    return Batch{b.x.slice(0, lo - cut, hi - cut).contiguous(), b.y.slice(0, lo - cut, hi - cut).contiguous()};
  };
  t.batch = [rows = t.batch_rows, part = t.batch_part](int64_t step) { return part(step, 0, rows(step)); };
  if (data.held_out.defined() && data.held_out.size(0) > 0 && eval_images > 0) {
    const Tensor held_out = data.held_out.contiguous();
    t.evaluate = [=] { return evaluate_pretext(*model, sampler, held_out, eval_images, batch_size, seed); };
  }
  return t;
}

}  // namespace pw::tasks
