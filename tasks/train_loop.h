// The one training loop. Every task (supervised classification, rotation, jigsaw, context)
// plugs in a model, a batch source and a loss; the loop owns the rest: the optimizer and the
// learning-rate schedule, optional gradient clipping, checkpoints (atomic, with everything a
// resumed run needs), exact resume, metrics.jsonl, the progress bar, Ctrl-C, the evaluation
// after every epoch, and building the next batch on a worker thread while a step trains.
//
// Determinism. The batch of step s must depend on s alone (and on what the task was built
// with): the task draws its own randomness from generators keyed by the seed and s. Dropout
// and initialization use the default generator, whose state each checkpoint saves. So a run
// stopped at any step and resumed from its checkpoint gives the losses and weights of a run
// that never stopped (same device and thread count).
//
// Files in out_dir (when set):
//   checkpoint.safetensors  model, optimizer, step, default generator, `record` and the loop's
//                           own state (the current epoch's running sums); written atomically
//                           after every epoch, every checkpoint_every steps, when the run
//                           stops (stop_after, Ctrl-C, a batch that fails) and at the end
//   metrics.jsonl           a step record every log_every steps and at the end of each epoch
//                           {"step", "epoch", "loss", "accuracy", "lr"[, "grad_norm"]}, and an
//                           epoch record {"epoch", "step", "train_loss", "train_accuracy",
//                           ["test_loss", "test_accuracy",] "seconds"}; on resume the records
//                           after the checkpoint's step are dropped and the file continues
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/device/device.h"
#include "engine/io/checkpoint.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "tasks/evaluate.h"  // Evaluation: loss and accuracy on held-out data

namespace pw::tasks {

// One step's inputs and labels (cpu tensors; the loop moves them to the device).
struct Batch {
  Tensor x, y;
  int64_t whole_rows = 0;  // data-parallel: the rows of the whole batch when this is one rank's part
};

// A step's loss (a 0-d tensor with its graph) and how many of its `count` examples the
// network got right: `correct`, or, when defined, `correct_on_device` (a 0-d tensor on the
// training device, which the loop reads with the loss without an extra wait for the device).
struct StepLoss {
  Tensor loss;
  int64_t correct = 0, count = 0;
  Tensor correct_on_device;
};

// What a task plugs into the loop.
struct TrainingTask {
  std::shared_ptr<nn::Module> model;  // on the training device; its parameters that require grad train
  int64_t steps_per_epoch = 0;
  // The batch of step s (0-based over the whole run). Called on a worker thread one step ahead
  // of training, one call at a time, so it may keep a cache (the current epoch's order).
  std::function<Batch(int64_t step)> batch;
  // Optional, for data-parallel runs (tasks/data_parallel.h): how many rows batch(s) has, and its
  // rows [begin, end), equal to batch(s) sliced, so that each rank reads only its share. Same
  // calling rules as batch.
  std::function<int64_t(int64_t step)> batch_rows;
  std::function<Batch(int64_t step, int64_t begin, int64_t end)> batch_part;
  // The loss of the network's output on a batch (labels still on the cpu). Default
  // (empty): cross-entropy of the logits, accuracy by argmax.
  std::function<StepLoss(const Tensor& output, const Batch& batch)> loss;
  // Evaluation after every epoch, with the model in eval mode and no graph; empty: none.
  std::function<Evaluation()> evaluate;
};

// Cross-entropy of logits [N, K] against labels [N] (i32, any device), accuracy by argmax. With
// logits on a GPU device and labels on the cpu (a Batch's), the labels are range-checked on the
// host, uploaded without a wait, and the accuracy is counted on the device (correct_on_device):
// the host does not wait for the device. label_smoothing: see pw::cross_entropy (engine/ops/loss.h).
StepLoss cross_entropy_loss(const Tensor& logits, const Tensor& labels, double label_smoothing = 0);

class DataParallel;  // tasks/data_parallel.h

struct OptimizerSettings {
  std::string name = "sgd";  // sgd (Nesterov momentum when momentum > 0) | adam | adamw
  double lr = 0.05, momentum = 0.9, weight_decay = 5e-4;
  std::string schedule = "cosine";       // optim::make_schedule's spec, over the whole run
  std::optional<double> clip_grad_norm;  // clip the total gradient norm to this; absent: off
};

// The one optimizer factory; errors name the flag (--optimizer) and the value.
std::unique_ptr<optim::Optimizer> make_optimizer(const OptimizerSettings& settings, std::vector<Tensor> params);

struct LoopConfig {
  int64_t epochs = 1;
  OptimizerSettings optimizer;
  std::string out_dir;  // checkpoint.safetensors and metrics.jsonl go here; empty: no files
  // The run's settings, written into every checkpoint; a resumed run must have the same (the
  // caller gives the checkpoint's own, so any difference means the data or code changed).
  std::map<std::string, std::string> record;
  std::map<std::string, std::string> notes;  // written too, never compared (device, threads)
  const io::Checkpoint* resume = nullptr;    // continue from this checkpoint (of out_dir)
  std::optional<int64_t> stop_after;         // stop after this many steps in total (a checkpoint first)
  std::optional<int64_t> checkpoint_every;   // steps; absent: only at epoch ends and when stopping
  int64_t log_every = 10;                    // a metrics record (and, on a GPU, a read) every this many steps
  Device device = Device::cpu();
  bool progress = true;
  std::string label = "train";  // the progress bar's
  // Data-parallel training (tasks/data_parallel.h): this rank's rows of every batch, gradients
  // summed over the ranks, evaluation and files on rank 0 only (the caller gives the other ranks
  // no out_dir and no progress). Null: one process.
  DataParallel* data_parallel = nullptr;
  // Anomaly detection (engine/autograd.h) during the run: the first op, forward or backward,
  // that makes a non-finite value is an error naming it and its shapes. Slow.
  bool detect_anomaly = false;
};

struct EpochRecord {
  int64_t epoch = 0, step = 0;
  double train_loss = 0, train_accuracy = 0, seconds = 0;
  bool evaluated = false;
  Evaluation eval;
};

enum class StopReason { finished, stop_after, interrupted };

struct LoopResult {
  std::vector<double> losses;          // every step of this run (after a resume: from where it resumed)
  int64_t first_step = 0;              // where this run started (0, or the checkpoint's step)
  int64_t steps = 0, total_steps = 0;  // steps: reached, counting those before a resume
  std::vector<EpochRecord> epochs;     // the epochs this run completed
  double train_seconds = 0;            // in training steps (not evaluation, not checkpoints)
  double samples_per_second = 0;       // examples (one label each) per second of train_seconds
  int64_t device_reads = 0;            // reads of the steps' figures (on a GPU: the waits for the device)
  StopReason stop = StopReason::finished;
  bool stopped() const { return stop != StopReason::finished; }
};

// Reads of the device. A step's loss, accuracy, whether its gradients and buffers are finite
// and (with clipping) its gradient norm stay on the training device (tasks/step_reads.h) until
// the loop reads them, several steps in one download: on the cpu after every step (a read
// costs nothing there), on a GPU device after the steps that need them on the host -- every
// log_every steps, at the end of an epoch and of the run, before a checkpoint -- and with
// data-parallel training after every step. Between reads a step on a GPU device makes the
// host wait for nothing: its batch is uploaded through pinned memory (engine/device/upload.h),
// labels are range-checked on the host before the upload, and nothing is downloaded
// (tests/test_train_sync.cpp counts the waits on simt); --clip-grad-norm scales the gradients
// on the device by a norm computed there, and colorization counts its correct cells there.
// Not yet without waits: data-parallel runs.
//
// Numeric failure: a step whose loss, any gradient or any floating-point buffer of the model
// (batch norm's running statistics after its forward) is not finite (NaN, +-inf) stops the run
// with a pw::Error naming the step and the loss; no checkpoint is written, so the last good one
// stays as it was. When the loop reads after that step (always on the cpu), the run stops before
// the optimizer applies it and the error names the first parameter whose gradient is not
// finite, or else the first buffer that is not. When the step was between two reads of a GPU device, it is found at the
// next read: the model in memory has taken that step's update and those up to the read (the error says which), and its
// gradients are gone.
LoopResult run_training_loop(const LoopConfig& config, TrainingTask& task);

}  // namespace pw::tasks
