// The pretext training loop: see pretext_train.h.
#include "tasks/pretext_train.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>

#include "engine/io/checkpoint.h"
#include "engine/io/json.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/util/error.h"
#include "engine/util/interrupt.h"
#include "engine/util/progress.h"
#include "models/registry.h"
#include "tasks/pretext/rotation.h"

namespace pw::tasks {

namespace {

std::unique_ptr<optim::Optimizer> make_optimizer(const PretextConfig& c, std::vector<Tensor> params) {
  if (c.optimizer == "sgd") return std::make_unique<optim::SGD>(std::move(params), c.lr, c.momentum, c.weight_decay, true);
  if (c.optimizer == "adam") return std::make_unique<optim::Adam>(std::move(params), c.lr, 0.9, 0.999, 1e-8, c.weight_decay);
  if (c.optimizer == "adamw") return std::make_unique<optim::AdamW>(std::move(params), c.lr, 0.9, 0.999, 1e-8, c.weight_decay);
  PW_FAIL("train: unknown optimizer '", c.optimizer, "' (sgd, adam or adamw)");
}

std::map<std::string, std::string> config_strings(const PretextConfig& c, const std::string& model, int64_t images) {
  // The sampler's geometry, one string: a resumed run must cut its samples the same way.
  std::string sampler;
  if (c.task == "context")
    sampler = "patch " + std::to_string(c.context.patch) + " gap " + std::to_string(c.context.gap) + " jitter " +
              std::to_string(c.context.jitter) + " color " + std::to_string((int)c.context.color) + " pixelate " +
              io::config_number(c.context.pixelate);
  if (c.task == "jigsaw")
    sampler = "grid " + std::to_string(c.jigsaw.grid) + " tile " + std::to_string(c.jigsaw.tile) + " grayscale " +
              io::config_number(c.jigsaw.grayscale);
  return {{"task", c.task}, {"model", model}, {"width", io::config_number(c.width)},
          {"batch_norm", c.batch_norm ? "true" : "false"}, {"epochs", std::to_string(c.epochs)},
          {"batch_size", std::to_string(c.batch_size)}, {"optimizer", c.optimizer}, {"lr", io::config_number(c.lr)},
          {"schedule", c.schedule}, {"seed", std::to_string(c.seed)}, {"device", c.device.str()},
          {"permutations", std::to_string(c.permutations)}, {"samples_per_epoch", std::to_string(c.samples_per_epoch)},
          {"images", std::to_string(images)}, {"sampler", sampler}};
}

}  // namespace

std::string default_pretext_model(const std::string& task) {
  if (task == "rotation") return "rotation-alexnet-small";
  if (task == "jigsaw") return "jigsaw-small";
  if (task == "context") return "context-small";
  PW_FAIL("train: unknown task '", task, "' (supervised, rotation, jigsaw or context)");
}

void make_pretext_batch(const PretextConfig& c, const std::vector<Permutation>& perms, const Tensor& images,
                        const std::vector<int64_t>& idx, Generator& gen, Tensor& x, Tensor& y) {
  const int64_t b = (int64_t)idx.size(), ch = images.size(1);
  if (c.task == "rotation") {
    make_rotation_batch(TensorSource(images).gather(idx), x, y);
    return;
  }
  std::vector<int32_t> labels(b);
  if (c.task == "jigsaw") {
    const int64_t t = c.jigsaw.tile, per = 9 * ch * t * t;
    x = Tensor::empty({b, 9, ch, t, t});
    for (int64_t i = 0; i < b; ++i)
      labels[i] = sample_jigsaw(image_of(images, idx[i]), gen, c.jigsaw, perms, x.data<float>() + i * per).label;
  } else if (c.task == "context") {
    const int64_t p = c.context.patch, per = 2 * ch * p * p;
    x = Tensor::empty({b, 2, ch, p, p});
    for (int64_t i = 0; i < b; ++i)
      labels[i] = sample_context(image_of(images, idx[i]), gen, c.context, x.data<float>() + i * per).label;
  } else {
    default_pretext_model(c.task);  // throws the error naming the task
  }
  y = Tensor::from_vector(labels, {b});
}

PretextResult train_pretext(const PretextConfig& c, const Tensor& images, const Tensor& eval_images) {
  PW_CHECK(images.dim() == 4 && images.size(0) > 0, "train: no images to train on");
  return train_pretext(c, TensorSource(images), eval_images);
}

PretextResult train_pretext(const PretextConfig& c, const ImageSource& images, const Tensor& eval_images) {
  const std::string model_name = c.model.empty() ? default_pretext_model(c.task) : c.model;
  default_pretext_model(c.task);
  PW_CHECK(images.size() > 0, "train: no images to train on");
  PW_CHECK(c.batch_size > 0 && c.epochs > 0, "train: batch size and epochs must be positive");
  namespace fs = std::filesystem;
  const fs::path out = c.out_dir.empty() ? fs::path() : fs::path(c.out_dir);
  if (!c.out_dir.empty()) fs::create_directories(out);

  std::vector<Permutation> perms;
  PretextResult r;
  if (c.task == "jigsaw") {
    // A resumed run keeps the permutation set its classifier was trained on.
    const std::string saved = c.out_dir.empty() ? "" : (out / "permutations.txt").string();
    perms = c.resume && !saved.empty() && fs::exists(saved) ? load_permutations(saved)
            : !c.permutation_file.empty()                   ? load_permutations(c.permutation_file)
                                                             : make_permutation_set(c.permutations, c.seed, c.criterion);
    r.permutation_stats = hamming_stats(perms);
    if (!c.out_dir.empty()) save_permutations((out / "permutations.txt").string(), perms);
  }
  r.classes = c.task == "rotation" ? 4 : c.task == "context" ? 8 : (int64_t)perms.size();

  manual_seed(c.seed);
  models::ModelConfig mc;
  mc.in_channels = images.channels();
  mc.width = c.width;
  mc.batch_norm = c.batch_norm;
  mc.num_classes = c.task == "jigsaw" ? r.classes : 0;
  models::ModelPtr model = models::create(model_name, mc);
  model->to(c.device);
  auto opt = make_optimizer(c, model->parameters());

  const int64_t n = images.size();
  const int64_t per_epoch = c.samples_per_epoch > 0 ? c.samples_per_epoch : n;
  const int64_t steps_per_epoch = (per_epoch + c.batch_size - 1) / c.batch_size;
  const int64_t total = steps_per_epoch * c.epochs;
  auto schedule = optim::make_schedule(c.schedule, c.lr, total);
  const std::string ckpt_path = c.out_dir.empty() ? "" : (out / "checkpoint.safetensors").string();

  int64_t step = 0;
  if (c.resume) {
    PW_CHECK(!ckpt_path.empty() && fs::exists(ckpt_path), "train: --resume needs a checkpoint at '", ckpt_path, "'");
    io::Checkpoint ck = io::read_checkpoint(ckpt_path);
    PW_CHECK(ck.config.count("task") && ck.config.at("task") == c.task && ck.config.at("model") == model_name,
             "train: the checkpoint in '", c.out_dir, "' is of task '", ck.config.count("task") ? ck.config.at("task") : "?",
             "' and model '", ck.config.count("model") ? ck.config.at("model") : "?", "', not ", c.task, " / ", model_name);
    // The same run: every setting that decides the steps, their data and their order.
    const auto now = config_strings(c, model_name, images.size());
    io::check_same_run(ck, now, {"width", "batch_norm", "epochs", "batch_size", "optimizer", "lr", "schedule", "seed",
                                 "permutations", "samples_per_epoch", "images", "sampler"});
    io::restore_checkpoint(ck, *model, opt.get(), &default_generator());
    step = ck.step;
  }
  r.first_step = step;
  auto save = [&](int64_t at) {
    if (!ckpt_path.empty())
      io::save_checkpoint(ckpt_path, *model, opt.get(), at, &default_generator(), config_strings(c, model_name, images.size()));
  };

  std::ofstream metrics;
  if (!c.out_dir.empty()) {
    metrics.open(out / "metrics.jsonl", c.resume ? std::ios::app : std::ios::trunc);
    PW_CHECK(metrics.good(), "train: cannot write metrics to '", c.out_dir, "'");
  }

  // Batch of step s: the images at positions s*B .. of the epoch's order, sampled with the
  // step's own generator, built on a worker thread while the previous step trains.
  auto batch_for = [&](int64_t s) {
    const int64_t epoch = s / steps_per_epoch, within = s % steps_per_epoch;
    std::vector<int64_t> order = Generator(c.seed, 10 + epoch).permutation(n);
    std::vector<int64_t> idx;
    for (int64_t k = within * c.batch_size; k < std::min(per_epoch, (within + 1) * c.batch_size); ++k)
      idx.push_back(order[k % n]);
    Generator gen(c.seed, 1'000'000 + s);
    std::pair<Tensor, Tensor> xy;
    // Only this batch's images are materialized (decoded, for a file source).
    std::vector<int64_t> local(idx.size());
    for (size_t k = 0; k < idx.size(); ++k) local[k] = (int64_t)k;
    make_pretext_batch(c, perms, images.gather(idx), local, gen, xy.first, xy.second);
    return xy;
  };

  InterruptScope sigint;
  model->train();
  const int64_t end = c.stop_after >= 0 ? std::min(total, c.stop_after) : total;
  Progress progress(end - step, c.task + " pretext, " + model_name, c.progress);
  auto t0 = std::chrono::steady_clock::now();
  std::future<std::pair<Tensor, Tensor>> next;
  if (step < end) next = std::async(std::launch::async, batch_for, step);
  double loss_avg = 0, acc_avg = 0;
  int64_t samples = 0;
  while (step < end) {
    std::pair<Tensor, Tensor> batch;
    try {
      batch = next.get();
    } catch (const Error& e) {
      // A file that does not decode (streamed data meets it only now): keep what was trained.
      save(step);
      PW_FAIL(e.what(), "; checkpoint saved at step ", step, " (fix the file or use --skip-bad, then --resume)");
    }
    auto& [x, y] = batch;
    if (step + 1 < end) next = std::async(std::launch::async, batch_for, step + 1);
    opt->set_lr(schedule->lr_at(step));
    opt->zero_grad();
    Tensor logits = (*model)(x.to(c.device));
    Tensor loss = cross_entropy(logits, y.to(c.device));
    loss.backward();
    opt->step();
    ++step;
    const double l = loss.item();
    std::vector<int32_t> pred = argmax(logits.detach(), 1).to_vector_i32(), lab = y.to_vector_i32();
    int64_t correct = 0;
    for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == lab[i];
    const double acc = (double)correct / (double)pred.size();
    r.losses.push_back(l);
    loss_avg = r.losses.size() == 1 ? l : 0.98 * loss_avg + 0.02 * l;
    acc_avg = r.losses.size() == 1 ? acc : 0.98 * acc_avg + 0.02 * acc;
    samples += (int64_t)pred.size();
    progress.update(step - r.first_step, {{"loss", loss_avg}, {"acc", acc_avg}, {"lr", opt->lr()}},
                    (double)pred.size());
    if (metrics.is_open() && (step % 10 == 0 || step == end))
      metrics << io::Json::object({{"step", step}, {"epoch", (step - 1) / steps_per_epoch + 1}, {"loss", l},
                                   {"accuracy", acc}, {"lr", opt->lr()}}).dump()
              << "\n";
    if (c.checkpoint_every > 0 && step % c.checkpoint_every == 0) save(step);
    if (InterruptScope::interrupted()) break;
  }
  if (next.valid()) next.wait();
  r.interrupted = step < total;
  r.steps = step;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.samples_per_second = r.seconds > 0 ? samples / r.seconds : 0;
  progress.finish({{"loss", loss_avg}, {"acc", acc_avg}});
  save(step);
  if (InterruptScope::interrupted() && c.progress)
    std::fprintf(stderr, "interrupted: checkpoint saved at step %lld\n", (long long)step);

  // Pretext accuracy on held-out images, with fixed samples.
  if (eval_images.defined() && eval_images.size(0) > 0 && !InterruptScope::interrupted()) {
    NoGradGuard ng;
    model->eval();
    const int64_t m = std::min<int64_t>(c.eval_images, eval_images.size(0));
    int64_t correct = 0, count = 0;
    for (int64_t b = 0; b < m; b += c.batch_size) {
      std::vector<int64_t> idx;
      for (int64_t k = b; k < std::min(m, b + c.batch_size); ++k) idx.push_back(k);
      Generator gen(c.seed, 77 + b);
      Tensor x, y;
      make_pretext_batch(c, perms, eval_images, idx, gen, x, y);
      std::vector<int32_t> pred = argmax((*model)(x.to(c.device)), 1).to_vector_i32(), lab = y.to_vector_i32();
      for (size_t i = 0; i < pred.size(); ++i) correct += pred[i] == lab[i];
      count += (int64_t)pred.size();
    }
    r.eval_accuracy = (double)correct / std::max<int64_t>(1, count);
    r.evaluated = true;
    if (metrics.is_open())
      metrics << io::Json::object({{"step", step}, {"eval_accuracy", r.eval_accuracy}}).dump() << "\n";
  }
  model->eval();
  r.model = model;
  return r;
}

}  // namespace pw::tasks
