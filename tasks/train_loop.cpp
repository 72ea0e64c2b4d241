// The one training loop: see train_loop.h.
#include "tasks/train_loop.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <new>
#include <sstream>

#include "engine/autograd.h"
#include "engine/device/allocator.h"
#include "engine/io/json.h"
#include "engine/ops.h"
#include "engine/util/error.h"
#include "engine/util/files.h"
#include "engine/util/interrupt.h"
#include "engine/util/progress.h"
#include "tasks/data_parallel.h"
#include "tasks/step_reads.h"

namespace pw::tasks {

namespace fs = std::filesystem;

StepLoss cross_entropy_loss(const Tensor& logits, const Tensor& labels, double label_smoothing) {
  StepLoss s;
  if (is_gpu(logits.device()) && labels.device().is_cpu()) {  // no wait for the device
    const Tensor on_device = labels.to(logits.device());
    s.loss = cross_entropy(logits, on_device, labels, Reduction::mean, label_smoothing);
    s.correct_on_device = count_correct(logits, on_device);
    s.count = logits.dim() > 0 ? logits.size(0) : 0;
    return s;
  }
  s.loss = cross_entropy(logits, labels.to(logits.device()), Tensor(), Reduction::mean, label_smoothing);
  const std::vector<int32_t> pred = argmax(logits.detach(), 1).to_vector_i32(), want = labels.to_vector_i32();
  for (size_t i = 0; i < pred.size(); ++i) s.correct += pred[i] == want[i];
  s.count = (int64_t)pred.size();
  return s;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const OptimizerSettings& o, std::vector<Tensor> params) {
  if (o.name == "sgd")
    return std::make_unique<optim::SGD>(std::move(params), o.lr, o.momentum, o.weight_decay, o.momentum > 0);
  if (o.name == "adam") return std::make_unique<optim::Adam>(std::move(params), o.lr, 0.9, 0.999, 1e-8, o.weight_decay);
  if (o.name == "adamw")
    return std::make_unique<optim::AdamW>(std::move(params), o.lr, 0.9, 0.999, 1e-8, o.weight_decay);
  PW_FAIL("train: --optimizer ", o.name, " is not known (sgd, adam or adamw)");
}

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The running sums of the epoch in progress; a checkpoint keeps them, so that the epoch record
// of a resumed run equals an uninterrupted run's.
struct EpochTally {
  double loss_sum = 0, seconds = 0;  // loss_sum: each step's loss times its examples
  int64_t correct = 0, count = 0;

  void put(std::map<std::string, std::string>& config) const {
    config["loop.epoch_loss_sum"] = io::config_number(loss_sum);
    config["loop.epoch_seconds"] = io::config_number(seconds);
    config["loop.epoch_correct"] = std::to_string(correct);
    config["loop.epoch_count"] = std::to_string(count);
  }
  static EpochTally from(const io::Checkpoint& ck) {
    EpochTally t;
    auto get = [&](const char* key) {
      const auto it = ck.config.find(key);
      PW_CHECK(it != ck.config.end(), "resume: the checkpoint has no '", key, "' (written by an older patchwork?)");
      return it->second;
    };
    t.loss_sum = std::stod(get("loop.epoch_loss_sum"));
    t.seconds = std::stod(get("loop.epoch_seconds"));
    t.correct = std::stoll(get("loop.epoch_correct"));
    t.count = std::stoll(get("loop.epoch_count"));
    return t;
  }
};

// metrics.jsonl, continued on resume without the records written after the checkpoint (a run
// that stopped without a checkpoint at its last step had written them). Each record is one
// write of a whole line (AppendFile), so a killed run leaves whole lines; a last line without
// its newline (cut by a full disk) is dropped on resume too.
class MetricsLog {
 public:
  MetricsLog(const std::string& dir, std::optional<int64_t> resume_step) {
    if (dir.empty()) return;
    const std::string path = (fs::path(dir) / "metrics.jsonl").string();
    if (resume_step && fs::exists(path)) write_file_atomic(path, kept_lines(path, *resume_step));
    out_ = AppendFile(path, !resume_step);
  }
  void write(const io::Json& record) {
    if (out_.is_open()) out_.line(record.dump());
  }

 private:
  static std::string kept_lines(const std::string& path, int64_t step) {
    std::ifstream in(path, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::string kept;
    size_t begin = 0;
    for (size_t end; (end = text.find('\n', begin)) != std::string::npos; begin = end + 1) {
      const std::string line = text.substr(begin, end - begin);
      if (line.empty()) continue;
      const io::JsonValue v = io::parse_json(line, path);
      bool keep = true;
      for (const auto& [key, value] : v.members)
        if (key == "step" && value.integer) keep = value.value <= step;
      if (keep) kept += line + "\n";
    }
    return kept;  // text after the last newline: a line cut short, dropped
  }
  AppendFile out_;
};

class Loop {
 public:
  Loop(const LoopConfig& c, TrainingTask& t) : c_(c), task_(t) {
    PW_CHECK(t.model && t.batch && t.steps_per_epoch > 0, "train: the task has no model, batches or steps");
    PW_CHECK(c.epochs > 0, "train: --epochs must be positive, got ", c.epochs);
    PW_CHECK(!c.stop_after || *c.stop_after > 0, "train: --stop-after must be positive, got ",
             c.stop_after.value_or(0));
    PW_CHECK(!c.checkpoint_every || *c.checkpoint_every > 0, "train: --checkpoint-every must be positive, got ",
             c.checkpoint_every.value_or(0));
    PW_CHECK(c.log_every > 0, "train: --log-every must be positive, got ", c.log_every);
    for (const auto& [name, p] : t.model->named_parameters())
      if (p.requires_grad()) params_.push_back(p), param_names_.push_back(name);
    for (const auto& [name, b] : t.model->named_buffers())
      if (is_floating(b.dtype())) buffers_.push_back(b), buffer_names_.push_back(name);
    opt_ = make_optimizer(c.optimizer, params_);
    r_.total_steps = t.steps_per_epoch * c.epochs;
    schedule_ = optim::make_schedule(c.optimizer.schedule, c.optimizer.lr, r_.total_steps);
    if (c.resume) restore(*c.resume);
    if (c.data_parallel)
      c.data_parallel->start(t, params_, c.resume);
    else if (c.resume)
      check_resume_ranks(*c.resume, 1);
    end_ = c.stop_after ? std::min(r_.total_steps, *c.stop_after) : r_.total_steps;
    read_each_step_ = !is_gpu(c.device) || c.data_parallel;
    if (!c.out_dir.empty()) {
      fs::create_directories(c.out_dir);
      checkpoint_ = (fs::path(c.out_dir) / "checkpoint.safetensors").string();
    }
  }

  LoopResult run() {
    MetricsLog metrics(c_.out_dir, c_.resume ? std::optional<int64_t>(step_) : std::nullopt);
    metrics_ = &metrics;
    InterruptScope sigint;
    DetectAnomalyGuard anomaly(c_.detect_anomaly || AnomalyMode::enabled());
    Progress progress(std::max<int64_t>(0, end_ - step_), c_.label, c_.progress);
    progress_ = &progress;
    last_read_ = step_;  // a resumed run starts from its checkpoint's step, all read
    task_.model->train();
    std::future<Batch> next;
    const auto fetch = [this](int64_t s) {
      return c_.data_parallel ? c_.data_parallel->fetch(task_, s) : task_.batch(s);
    };
    if (step_ < end_) next = std::async(std::launch::async, fetch, step_);
    while (step_ < end_) {
      const Clock::time_point t0 = Clock::now();
      Batch batch = take(next);
      if (step_ + 1 < end_) next = std::async(std::launch::async, fetch, step_ + 1);
      try {
        train_step(batch, t0);
      } catch (const std::bad_alloc&) {  // a buffer outside tensors (tensors throw pw::Error naming themselves)
        PW_FAIL("train: out of memory in step ", step_ + 1,
                ": an allocation outside tensors (a kernel's scratch "
                "buffer, say) failed; ",
                memory_in_use_text(), ". Try a smaller --batch-size or --image-size");
      }
      if (step_ % task_.steps_per_epoch == 0)
        end_epoch();
      else if (c_.checkpoint_every && step_ % *c_.checkpoint_every == 0)
        save();
      if (interrupted()) break;
    }
    if (next.valid()) next.wait();
    r_.steps = step_;
    r_.stop = step_ >= r_.total_steps ? StopReason::finished
              : interrupted()         ? StopReason::interrupted
                                      : StopReason::stop_after;
    if (last_saved_ != step_) save();
    if (c_.data_parallel) {
      c_.data_parallel->check_identical(*task_.model);
      c_.data_parallel->measure_all_reduce();
    }
    progress.finish({{"last_loss", r_.losses.empty() ? 0.0 : r_.losses.back()}}, step_ - r_.first_step);
    r_.samples_per_second = r_.train_seconds > 0 ? (double)samples_ / r_.train_seconds : 0;
    task_.model->eval();
    return r_;
  }

 private:
  // Ctrl-C; data-parallel: on any rank as of the last step, so that every rank stops at the same step.
  bool interrupted() const { return c_.data_parallel ? any_interrupted_ : InterruptScope::interrupted(); }
  int64_t epoch_of(int64_t step) const {
    return step / task_.steps_per_epoch + 1;
  }  // 1-based, of the step after `step`

  void restore(const io::Checkpoint& ck) {
    std::vector<std::string> keys;
    for (const auto& kv : c_.record) keys.push_back(kv.first);
    io::check_same_run(ck, c_.record, keys);
    PW_CHECK(ck.step <= r_.total_steps, "resume: the checkpoint is at step ", ck.step, ", past the run's ",
             r_.total_steps, " steps");
    io::restore_checkpoint(ck, *task_.model, opt_.get(), &default_generator());
    step_ = last_saved_ = r_.first_step = ck.step;
    tally_ = EpochTally::from(ck);
  }

  // The batch built on the worker; when building fails (a file that does not decode, met only
  // now when streaming) what was trained is saved first.
  Batch take(std::future<Batch>& next) {
    try {
      return next.get();
    } catch (const Error& e) {
      if (c_.data_parallel) throw;  // saving is collective: the other ranks are elsewhere
      save();
      PW_FAIL(e.what(), "; checkpoint saved at step ", step_, " (fix the cause, then --resume)");
    }
  }

  void train_step(const Batch& global, Clock::time_point t0) {
    DataParallel* dp = c_.data_parallel;
    const Batch batch = dp ? dp->shard(global) : global;
    if (dp) dp->sync_buffers();
    opt_->set_lr(schedule_->lr_at(step_));
    opt_->zero_grad();
    const auto sync_bn = dp ? dp->batch_norm_scope() : nullptr;
    Tensor output = (*task_.model)(batch.x.to(c_.device));
    StepLoss s = task_.loss ? task_.loss(output, batch) : cross_entropy_loss(output, batch.y);
    if (dp) {
      const Clock::time_point b0 = Clock::now();
      {
        const auto watch = dp->watch_backward();
        s.loss.backward();
      }
      dp->add_backward_seconds(seconds_since(b0));
      dp->finish_gradients();
    } else {
      s.loss.backward();
    }
    // data-parallel: of the summed gradients, the same on every rank
    // The buffers only at a read: a non-finite running statistic stays non-finite, so checking
    // them there finds it without a reduction per buffer at every step (launches on a GPU).
    const std::optional<double> clip = c_.optimizer.clip_grad_norm;
    const bool read = read_after(step_ + 1);
    pending_.push_back(PendingStep{step_ + 1, s.loss.detach(), s.correct_on_device,
                                   finite_flag(params_, read ? buffers_ : std::vector<Tensor>{}),
                                   clip ? optim::total_grad_norm(params_) : Tensor(), s.correct, s.count});
    if (read) read_and_check();  // before the optimizer step: a bad gradient never reaches the weights
    PendingStep& p = pending_.back();
    if (clip) optim::scale_to_norm(params_, p.norm, *clip);  // on the device: no wait
    opt_->step();
    p.lr = opt_->lr();
    p.seconds = seconds_since(t0);
    ++step_;
    if (read) publish();
  }

  // Whether the loop reads the steps' figures after `done` steps: see train_loop.h.
  bool read_after(int64_t done) const {
    return read_each_step_ || done % c_.log_every == 0 || done % task_.steps_per_epoch == 0 || done == end_ ||
           (c_.checkpoint_every && done % *c_.checkpoint_every == 0);
  }

  // Downloads the figures of the pending steps; stops the run at the first that is not finite.
  void read_and_check() {
    read_steps(pending_);
    r_.device_reads++;
    for (const PendingStep& p : pending_)
      if (!std::isfinite(p.loss_value) || !p.all_finite) fail_not_finite(p);
    last_read_ = pending_.empty() ? last_read_ : pending_.back().step;
  }

  // Hands the read steps to the results, the tallies, metrics.jsonl and the progress bar.
  void publish() {
    DataParallel* dp = c_.data_parallel;
    for (PendingStep& p : pending_) {
      double loss = p.loss_value;
      int64_t correct = p.correct_value, count = p.count;
      if (dp) {  // the whole batch's loss and accuracy, the same on every rank
        double sum = loss * (double)count;
        any_interrupted_ = dp->reduce_stats(sum, correct, count, InterruptScope::interrupted());
        loss = sum / (double)count;
      }
      r_.losses.push_back(loss);
      r_.train_seconds += p.seconds;
      samples_ += count;
      tally_.loss_sum += loss * (double)count;
      tally_.correct += correct;
      tally_.count += count;
      tally_.seconds += p.seconds;
      if (p.step % c_.log_every == 0 || p.step % task_.steps_per_epoch == 0 || p.step == end_)
        write_step_record(p, loss, count ? (double)correct / (double)count : 0.0);
    }
    const double lr = pending_.back().lr;
    pending_.clear();
    progress_->update(step_ - r_.first_step,
                      {{"epoch", (double)epoch_of(step_ - 1)},
                       {"loss", tally_.loss_sum / (double)tally_.count},
                       {"acc", (double)tally_.correct / (double)tally_.count},
                       {"lr", lr}},
                      r_.train_seconds > 0 ? (double)samples_ / r_.train_seconds : 0);
  }

  void write_step_record(const PendingStep& p, double loss, double accuracy) {
    io::Json rec = io::Json::object(
        {{"step", p.step}, {"epoch", epoch_of(p.step - 1)}, {"loss", loss}, {"accuracy", accuracy}, {"lr", p.lr}});
    if (c_.optimizer.clip_grad_norm) rec.set("grad_norm", p.grad_norm);
    metrics_->write(rec);
  }

  // A step whose loss, a gradient or a buffer is not finite: the error names it, and, when it is
  // the step in progress (its gradients are still there), the first parameter whose gradient is
  // not finite or else the first buffer (batch norm's running_var can overflow while the loss and
  // the gradients stay finite).
  void fail_not_finite(const PendingStep& p) {
    const bool current = p.step == step_ + 1;
    std::string culprit = p.all_finite ? "every gradient is finite" : "";
    for (size_t i = 0; i < params_.size() && current && culprit.empty(); ++i)
      culprit = non_finite_text("the first parameter whose gradient is not finite is '", param_names_[i],
                                params_[i].grad(), "");
    for (size_t i = 0; i < buffers_.size() && current && culprit.empty(); ++i)
      culprit =
          non_finite_text("every gradient is finite, but the buffer '", buffer_names_[i], buffers_[i], buffers_since());
    if (culprit.empty()) culprit = "a gradient or a buffer is not finite";
    const std::string kept = checkpoint_.empty() ? "no checkpoint is written (no output folder)"
                             : last_saved_ < 0   ? "no checkpoint was written (none had been saved yet)"
                                                 : "the last checkpoint (step " + std::to_string(last_saved_) + ", " +
                                                     checkpoint_ + ") is kept as it was";
    const std::string stop = current ? "The run stops before this step's update; "
                                     : "The device was read after step " + std::to_string(step_ + 1) +
                                           ": the model in memory took the updates of steps " + std::to_string(p.step) +
                                           " to " + std::to_string(step_) + "; ";
    PW_FAIL("train: stopped at step ", p.step, " of ", r_.total_steps, ": the loss is ", number_text(p.loss_value),
            "; ", culprit, ". ", stop, kept, ". Try a lower --lr (it is ", c_.optimizer.lr,
            ") or --clip-grad-norm; --detect-anomaly names the "
            "first op that made a non-finite value");
  }

  // The buffers are checked at reads: " is not" when the loop read the step before, else since when.
  std::string buffers_since() const {
    if (last_read_ == step_) return " is not";
    return " is not (the loop checks buffers where it reads the device: it became so after step " +
           std::to_string(last_read_) + ")";
  }

  // "<lead><name>' [shape]<verb> (<value> at element k)" when t has a non-finite element, else "".
  static std::string non_finite_text(const char* lead, const std::string& name, const Tensor& t,
                                     const std::string& verb) {
    const int64_t at = t.defined() ? first_non_finite(t) : -1;
    if (at < 0) return "";
    return lead + name + "' " + shape_str(t.shape()) + verb + " (" + number_text(t.to_vector_f32()[at]) +
           " at element " + std::to_string(at) + ")";
  }

  static std::string number_text(double v) {
    if (std::isnan(v)) return "nan";  // not printf's "-nan"
    char text[40];
    std::snprintf(text, sizeof text, "%.6g", v);
    return text;
  }

  void end_epoch() {
    EpochRecord e;
    e.epoch = step_ / task_.steps_per_epoch;
    e.step = step_;
    e.train_loss = tally_.count ? tally_.loss_sum / (double)tally_.count : 0;
    e.train_accuracy = tally_.count ? (double)tally_.correct / (double)tally_.count : 0;
    e.seconds = tally_.seconds;
    if (task_.evaluate && (!c_.data_parallel || c_.data_parallel->rank() == 0)) {
      NoGradGuard no_grad;
      const std::map<std::string, bool> modes = task_.model->training_modes();
      task_.model->eval();
      e.eval = task_.evaluate();
      e.evaluated = true;
      task_.model->restore_training_modes(modes);
    }
    io::Json rec = io::Json::object(
        {{"epoch", e.epoch}, {"step", e.step}, {"train_loss", e.train_loss}, {"train_accuracy", e.train_accuracy}});
    char text[160];
    std::snprintf(text, sizeof text, "epoch %lld/%lld: train loss %.4f, accuracy %.4f", (long long)e.epoch,
                  (long long)c_.epochs, e.train_loss, e.train_accuracy);
    std::string note = text;
    if (e.evaluated) {
      rec.set("test_loss", e.eval.loss);
      rec.set("test_accuracy", e.eval.accuracy);
      std::snprintf(text, sizeof text, "; test loss %.4f, accuracy %.4f", e.eval.loss, e.eval.accuracy);
      note += text;
    }
    rec.set("seconds", e.seconds);
    metrics_->write(rec);
    progress_->note(note);
    r_.epochs.push_back(e);
    tally_ = EpochTally{};
    save();
  }

  void save() {
    if (!pending_.empty()) {                // steps since the last read (Ctrl-C, a batch that failed)
      PendingStep& last = pending_.back();  // the checkpoint must not keep a non-finite buffer
      const Tensor buffers = finite_flag({}, buffers_);
      if (buffers.defined()) last.finite = last.finite.defined() ? add(last.finite, buffers) : buffers;
      read_and_check();
      publish();
    }
    if (checkpoint_.empty() && !c_.data_parallel) return;
    std::map<std::string, std::string> config = c_.notes;
    for (const auto& [key, value] : c_.record) config[key] = value;
    config["loop.epochs_completed"] = std::to_string(step_ / task_.steps_per_epoch);
    tally_.put(config);
    if (c_.data_parallel) c_.data_parallel->put(config);  // collective: every rank, files or not
    last_saved_ = step_;
    if (checkpoint_.empty()) return;
    io::save_checkpoint(checkpoint_, *task_.model, opt_.get(), step_, &default_generator(), config);
  }

  const LoopConfig& c_;
  TrainingTask& task_;
  std::vector<Tensor> params_;
  std::vector<Tensor> buffers_;            // the model's floating-point buffers (batch norm's running statistics)
  std::vector<std::string> param_names_;   // of params_
  std::vector<std::string> buffer_names_;  // of buffers_
  int64_t last_read_ = 0;                  // the last step read (0: none yet)
  std::unique_ptr<optim::Optimizer> opt_;
  std::unique_ptr<optim::LrSchedule> schedule_;
  LoopResult r_;
  int64_t step_ = 0, end_ = 0, last_saved_ = -1, samples_ = 0;
  EpochTally tally_;
  std::vector<PendingStep> pending_;  // trained, not yet read from the device
  bool read_each_step_ = true;
  bool any_interrupted_ = false;
  std::string checkpoint_;
  MetricsLog* metrics_ = nullptr;
  Progress* progress_ = nullptr;
};

}  // namespace

LoopResult run_training_loop(const LoopConfig& config, TrainingTask& task) {
  Loop loop(config, task);
  return loop.run();
}

}  // namespace pw::tasks
