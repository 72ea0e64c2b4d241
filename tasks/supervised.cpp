// Supervised training loop: seeded shuffling, mini-batch SGD/Adam with a schedule, per-epoch
// evaluation, metrics as JSON lines.
#include "tasks/supervised.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "engine/data/mnist.h"
#include "engine/io/checkpoint.h"
#include "engine/io/json.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/util/interrupt.h"
#include "engine/util/progress.h"
#include "models/registry.h"
#include "models/transfer.h"
#include "tasks/load_model.h"

namespace pw::tasks {

// Gathers rows `idx[begin, end)` of images/labels into a fresh batch.
static void gather(const Tensor& images, const Tensor& labels, const std::vector<int64_t>& idx,
                   int64_t begin, int64_t end, Tensor& xb, Tensor& yb) {
  int64_t n = end - begin, per = images.numel() / images.shape()[0];
  Shape s = images.shape();
  s[0] = n;
  xb = Tensor::empty(s);
  yb = Tensor::empty({n}, DType::i32);
  const float* src = images.data<float>();
  float* dst = xb.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    std::copy(src + idx[begin + i] * per, src + (idx[begin + i] + 1) * per, dst + i * per);
    yb.data<int32_t>()[i] = labels.data<int32_t>()[idx[begin + i]];
  }
}

Evaluation evaluate(nn::Module& model, const Tensor& images_in, const Tensor& labels_in,
                    int64_t batch_size, int64_t num_classes) {
  PW_CHECK(batch_size > 0, "evaluate: batch size must be positive, got ", batch_size);
  PW_CHECK(images_in.dim() >= 1 && labels_in.dim() == 1 && images_in.shape()[0] == labels_in.shape()[0],
           "evaluate: ", images_in.shape()[0], " images but labels of shape ", shape_str(labels_in.shape()));
  Tensor images = images_in.contiguous(), labels = labels_in.contiguous();
  NoGradGuard ng;
  // Restores each module's own mode afterwards (a frozen backbone may be in eval on purpose).
  nn::EvalModeScope eval(model);
  int64_t n = images.shape()[0];
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) order[i] = i;
  Evaluation ev;
  ev.confusion.assign(num_classes * num_classes, 0);
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t b = 0; b < n; b += batch_size) {
    int64_t e = std::min(n, b + batch_size);
    Tensor xb, yb;
    gather(images, labels, order, b, e, xb, yb);
    Tensor logits = model(xb.to(model.device()));
    loss_sum += cross_entropy(logits, yb.to(model.device()), Reduction::sum).item();
    std::vector<int32_t> pred = argmax(logits, 1).to_vector_i32();
    for (int64_t i = 0; i < e - b; ++i) {
      int32_t t = yb.data<int32_t>()[i];
      correct += pred[i] == t;
      if (t < num_classes && pred[i] < num_classes) ev.confusion[t * num_classes + pred[i]]++;
    }
  }
  ev.loss = n ? loss_sum / n : 0;
  ev.accuracy = n ? (double)correct / n : 0;
  return ev;
}

static std::unique_ptr<optim::Optimizer> make_optimizer(const SupervisedConfig& c,
                                                        std::vector<Tensor> params) {
  if (c.optimizer == "sgd")
    return std::make_unique<optim::SGD>(params, c.lr, c.momentum, c.weight_decay, c.nesterov && c.momentum > 0);
  if (c.optimizer == "adam") return std::make_unique<optim::Adam>(params, c.lr, 0.9, 0.999, 1e-8, c.weight_decay);
  if (c.optimizer == "adamw") return std::make_unique<optim::AdamW>(params, c.lr, 0.9, 0.999, 1e-8, c.weight_decay);
  PW_FAIL("train: unknown optimizer '", c.optimizer, "' (expected sgd, adam or adamw)");
}

// The settings a resumed run must share with the run it continues, as checkpoint strings.
static std::map<std::string, std::string> run_settings(const SupervisedConfig& c) {
  return {{"width", io::config_number(c.width)},
          {"init_from", c.init_from},
          {"transfer_layers", std::to_string(c.transfer_layers)},
          {"freeze", c.freeze ? "true" : "false"},
          {"epochs", std::to_string(c.epochs)},
          {"batch_size", std::to_string(c.batch_size)},
          {"optimizer", c.optimizer},
          {"lr", io::config_number(c.lr)},
          {"momentum", io::config_number(c.momentum)},
          {"weight_decay", io::config_number(c.weight_decay)},
          {"schedule", c.schedule},
          {"seed", std::to_string(c.seed)},
          {"limit_train", std::to_string(c.limit_train)},
          {"data_dir", c.data_dir}};
}

SupervisedResult train_supervised(const SupervisedConfig& c) {
  PW_CHECK(c.epochs > 0, "train: --epochs must be positive, got ", c.epochs);
  PW_CHECK(c.batch_size > 0, "train: --batch-size must be positive, got ", c.batch_size);
  PW_CHECK(c.lr > 0, "train: --lr must be positive, got ", c.lr);
  std::string dir = c.data_dir.empty() ? data::default_fashion_mnist_dir() : c.data_dir;
  data::LabeledImages train = data::load_mnist_format(dir, true, c.limit_train);
  data::LabeledImages test = data::load_mnist_format(dir, false, c.limit_test);
  // Normalize once, in place.
  for (Tensor* t : {&train.images, &test.images}) {
    float* p = t->data<float>();
    for (int64_t i = 0; i < t->numel(); ++i) p[i] = (float)((p[i] - kFashionMean) / kFashionStd);
  }
  const int64_t classes = 10;

  manual_seed(c.seed);
  models::ModelConfig mc{classes, train.images.shape()[1]};
  mc.width = c.width;
  models::ModelPtr model = models::create(c.model, mc);
  SupervisedResult result;
  if (!c.init_from.empty()) {
    ModelSource src;
    src.checkpoint = c.init_from;
    LoadedModel from = load_model(src, train.images.shape()[1]);
    models::TransferResult tr = models::transfer_features(*from.model, *model, c.transfer_layers, c.freeze);
    result.transfer = tr.lines;
    if (c.progress)
      for (const std::string& line : tr.lines)
        std::fprintf(stderr, "from %s: %s\n", c.init_from.c_str(), line.c_str());
  }
  model->to(c.device);
  Generator shuffle_gen(c.seed, /*stream=*/1);
  std::vector<Tensor> trainable;
  for (const Tensor& p : model->parameters())
    if (p.requires_grad()) trainable.push_back(p);
  auto opt = make_optimizer(c, trainable);
  int64_t n = train.images.shape()[0];
  int64_t steps_per_epoch = (n + c.batch_size - 1) / c.batch_size;
  int64_t total_steps = steps_per_epoch * c.epochs;
  auto schedule = optim::make_schedule(c.schedule, c.lr, total_steps);

  const std::string ckpt_path =
      c.out_dir.empty() ? "" : (std::filesystem::path(c.out_dir) / "checkpoint.safetensors").string();
  int64_t step = 0;
  if (c.resume) {
    PW_CHECK(!ckpt_path.empty() && std::filesystem::exists(ckpt_path), "train: --resume needs a checkpoint at '",
             ckpt_path, "'");
    io::Checkpoint ck = io::read_checkpoint(ckpt_path);
    PW_CHECK(ck.config.count("task") && ck.config.at("task") == "supervised" && ck.config.count("model") &&
                 ck.config.at("model") == c.model,
             "train: the checkpoint in '", c.out_dir, "' is not a supervised run of ", c.model);
    // The run must be the same run: every setting that decides the steps, their data and order.
    const std::map<std::string, std::string> now = run_settings(c);
    std::vector<std::string> keys;
    for (const auto& kv : now) keys.push_back(kv.first);
    io::check_same_run(ck, now, keys);
    io::restore_checkpoint(ck, *model, opt.get(), &default_generator());
    step = ck.step;
    PW_CHECK(step <= total_steps, "train: the checkpoint is at step ", step, ", past the run's ", total_steps,
             " steps (different --epochs, --batch-size or --limit-train?)");
  }
  result.first_step = step;
  auto save = [&](int64_t epoch, const Evaluation* ev) {
    if (ckpt_path.empty()) return;
    // Atomically: a crash never leaves a half-written checkpoint. The default generator (dropout
    // masks) is the state worth saving; each epoch's shuffle is replayed from the seed.
    std::map<std::string, std::string> config = run_settings(c);
    config["task"] = "supervised";
    config["model"] = c.model;
    config["epoch"] = std::to_string(epoch);
    config["device"] = c.device.str();
    if (ev) config["test_accuracy"] = std::to_string(ev->accuracy);
    io::save_checkpoint(ckpt_path, *model, opt.get(), step, &default_generator(), config);
  };

  std::ofstream metrics;
  if (!c.out_dir.empty()) {
    std::filesystem::create_directories(c.out_dir);
    metrics.open(std::filesystem::path(c.out_dir) / "metrics.jsonl", c.resume ? std::ios::app : std::ios::trunc);
    PW_CHECK(metrics.good(), "train: cannot write metrics to '", c.out_dir, "'");
  }

  result.parameters = model->num_parameters();
  double train_time = 0;
  int64_t trained = 0;  // images through the network in this run
  const int64_t last = c.stop_after >= 0 ? std::min(total_steps, c.stop_after) : total_steps;
  InterruptScope sigint;
  for (int64_t epoch = 1; epoch <= c.epochs && step < last; ++epoch) {
    // Every epoch's order is drawn, also those a resumed run skips, so the shuffle stays in step.
    std::vector<int64_t> order = shuffle_gen.permutation(n);
    const int64_t epoch_first = (epoch - 1) * steps_per_epoch;
    if (step >= epoch_first + steps_per_epoch) continue;
    model->train();
    Progress progress(std::min(last, epoch_first + steps_per_epoch) - step,
                      "epoch " + std::to_string(epoch) + "/" + std::to_string(c.epochs), c.progress);
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    for (int64_t b = step - epoch_first; b < steps_per_epoch && step < last; ++b) {
      int64_t begin = b * c.batch_size, end = std::min(n, begin + c.batch_size);
      Tensor xb, yb;
      gather(train.images, train.labels, order, begin, end, xb, yb);
      opt->set_lr(schedule->lr_at(step));
      opt->zero_grad();
      Tensor logits = (*model)(xb.to(c.device));
      Tensor loss = cross_entropy(logits, yb.to(c.device));
      loss.backward();
      opt->step();
      ++step;
      double l = loss.item();
      result.losses.push_back(l);
      loss_sum += l * (end - begin);
      std::vector<int32_t> pred = argmax(logits.detach(), 1).to_vector_i32();
      for (int64_t i = 0; i < end - begin; ++i) correct += pred[i] == yb.data<int32_t>()[i];
      seen += end - begin;
      trained += end - begin;
      progress.update(step - std::max(epoch_first, result.first_step),
                      {{"loss", loss_sum / seen}, {"acc", (double)correct / seen}, {"lr", opt->lr()}},
                      (double)c.batch_size);
      if (metrics.is_open() && (step % 50 == 0 || b + 1 == steps_per_epoch))
        metrics << io::Json::object({{"step", step}, {"epoch", epoch}, {"loss", l}, {"lr", opt->lr()}}).dump() << "\n";
      if (InterruptScope::interrupted()) break;
    }
    double secs = progress.elapsed_seconds();
    train_time += secs;
    if (step < epoch_first + steps_per_epoch) {
      // Stopped inside the epoch (Ctrl-C or stop_after): checkpoint, no evaluation.
      progress.finish({{"loss", seen ? loss_sum / seen : 0}});
      save(epoch, nullptr);
      result.interrupted = true;
      if (InterruptScope::interrupted() && c.progress)
        std::fprintf(stderr, "interrupted: checkpoint saved at step %lld (continue with --resume)\n", (long long)step);
      break;
    }
    Evaluation ev = evaluate(*model, test.images, test.labels, 256, classes);
    progress.finish({{"loss", loss_sum / seen}, {"acc", (double)correct / seen}, {"test_acc", ev.accuracy}});
    EpochRecord rec{epoch, loss_sum / seen, (double)correct / seen, ev.loss, ev.accuracy, secs};
    result.epochs.push_back(rec);
    result.test_accuracy = ev.accuracy;
    result.test_loss = ev.loss;
    result.confusion = ev.confusion;
    save(epoch, &ev);
    if (metrics.is_open()) {
      metrics << io::Json::object({{"epoch", epoch}, {"train_loss", rec.train_loss},
                                   {"train_accuracy", rec.train_accuracy}, {"test_loss", rec.test_loss},
                                   {"test_accuracy", rec.test_accuracy}, {"seconds", secs}}).dump()
              << "\n";
      metrics.flush();
    }
  }
  result.steps = step;
  result.interrupted = step < total_steps;
  model->eval();
  result.model = model;
  result.train_seconds = train_time;
  result.images_per_second = train_time > 0 ? (double)trained / train_time : 0;
  return result;
}

}  // namespace pw::tasks
