// A training step without host round trips (tasks/train_loop.h, "Reads of the device"): a run of
// the reference CNN (fmnist-cnn) on simt makes the host wait for the device only where the loop
// reads its metrics, counted through simt's runtime (pw::simt::sync_count), and reading every
// step or every few steps gives the same losses.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <optional>

#include "engine/nn.h"
#include "engine/ops.h"
#include "kernels/simt/runtime.h"
#include "models/registry.h"
#include "tasks/colorization_task.h"
#include "tasks/image_source.h"
#include "tasks/train_loop.h"

using namespace pw;

namespace {

const Device kSimt{DeviceType::simt, 0};
constexpr int64_t kBatch = 8;

struct SyncedRun {
  tasks::LoopResult result;
  uint64_t syncs = 0;
  std::string calls;
};

// The loop's settings of these runs: no progress output, a constant learning rate.
tasks::LoopConfig loop_config(Device device, int64_t log_every) {
  tasks::LoopConfig c;
  c.progress = false;
  c.device = device;
  c.log_every = log_every;
  c.optimizer.schedule = "constant";
  return c;
}

// Runs the loop and counts the host synchronizations simt saw meanwhile.
SyncedRun counted_run(const tasks::LoopConfig& c, tasks::TrainingTask& task) {
  SyncedRun run;
  const uint64_t before = simt::sync_count();
  run.calls = "before the run " + simt::sync_counts_text();
  run.result = tasks::run_training_loop(c, task);
  run.syncs = simt::sync_count() - before;
  run.calls += "; after it " + simt::sync_counts_text();
  return run;
}

// Step `step`'s batch of fmnist-cnn: random images and labels, the same for every run.
tasks::Batch fmnist_batch(int64_t step) {
  Generator gen(11, (uint64_t)step);
  std::vector<int32_t> labels(kBatch);
  for (auto& y : labels) y = (int32_t)gen.randint(0, 10);
  return tasks::Batch{Tensor::randn({kBatch, 1, 28, 28}, DType::f32, &gen), Tensor::from_vector(labels, {kBatch})};
}

// `epochs` epochs of `steps` steps of fmnist-cnn on fmnist_batch, with a metrics record every
// `log_every` steps; `loss` replaces the task's loss.
SyncedRun train_fmnist_cnn(int64_t steps, int64_t log_every, Device device, int64_t epochs = 1,
                           std::function<tasks::StepLoss(const Tensor&, const tasks::Batch&)> loss = {},
                           std::optional<double> clip_grad_norm = std::nullopt) {
  manual_seed(5);
  auto model = models::create("fmnist-cnn", {10, 1});
  model->to(device);
  tasks::TrainingTask task;
  task.model = model;
  task.steps_per_epoch = steps;
  task.loss = std::move(loss);
  task.batch = fmnist_batch;
  tasks::LoopConfig c = loop_config(device, log_every);
  c.epochs = epochs;
  c.optimizer.clip_grad_norm = clip_grad_norm;
  return counted_run(c, task);
}

}  // namespace

TEST(TrainSync, AStepOnSimtWaitsForTheDeviceOnlyWhereTheLoopReadsItsMetrics) {
  const SyncedRun run = train_fmnist_cnn(6, 3, kSimt);
  ASSERT_EQ(run.result.steps, 6);
  EXPECT_EQ(run.result.device_reads, 2);
  EXPECT_EQ(run.syncs, 2u) << "host synchronizations in 6 steps (metrics read after steps 3 and 6); by call, "
                           << "in the whole process, " << run.calls;
}

// --clip-grad-norm computes the norm and scales the gradients on the device: still 2 waits in 6
// steps, and the same run as on the cpu (a bound of 0.5 clips every step here).
TEST(TrainSync, ClippingTheGradientNormWaitsForNothing) {
  const SyncedRun run = train_fmnist_cnn(6, 3, kSimt, 1, {}, 0.5);
  EXPECT_EQ(run.result.device_reads, 2);
  EXPECT_EQ(run.syncs, 2u) << run.calls;
  const SyncedRun cpu = train_fmnist_cnn(6, 3, Device::cpu(), 1, {}, 0.5);
  const SyncedRun unclipped = train_fmnist_cnn(6, 3, Device::cpu());
  ASSERT_EQ(run.result.losses.size(), 6u);
  ASSERT_EQ(cpu.result.losses.size(), 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_NEAR(run.result.losses[i], cpu.result.losses[i], 1e-4) << i;
  EXPECT_NE(cpu.result.losses.back(), unclipped.result.losses.back());  // the bound did clip
}

// Colorization's step (its targets and true modes are made on the host from the batch) counts
// its correct cells on the device too: 2 waits in 6 steps with a read every 3, and the same
// losses and counts as reading after every step. Random 16 px "photos", crops of 8.
TEST(TrainSync, AColorizationStepWaitsForNothing) {
  const auto run = [](int64_t log_every) {
    manual_seed(3);
    const Tensor photos = Tensor::rand({6, 3, 16, 16});
    tasks::ColorizationData data;
    data.source = std::make_shared<tasks::TensorSource>(photos);
    data.train = {0, 1, 2, 3, 4, 5};
    data.mean = {0, 0, 0};
    data.std = {1, 1, 1};
    const std::vector<double> weights = tasks::colorization_weights(*data.source, data.train, data.mean, data.std);
    models::ModelConfig mc;
    mc.in_channels = 1;
    mc.width = 0.25;
    auto model = models::create("colorization-small", mc);
    model->to(kSimt);
    tasks::TrainingTask task = tasks::colorization_task(model, data, weights, 8, 4, 24, 7);
    return counted_run(loop_config(kSimt, log_every), task);
  };
  const SyncedRun few = run(3), each = run(1);
  ASSERT_EQ(few.result.steps, 6);
  EXPECT_EQ(few.syncs, 2u) << few.calls;
  EXPECT_EQ(few.result.losses, each.result.losses);
  ASSERT_EQ(few.result.epochs.size(), 1u);
  EXPECT_EQ(few.result.epochs[0].train_accuracy, each.result.epochs[0].train_accuracy);
}

// The figures read every step or every few steps are the same numbers: the same losses, epoch
// records and accuracy (two epochs of three steps; reads after steps 2, 3, 4 and 6 or after each).
TEST(TrainSync, ReadingEveryStepOrEveryFewStepsGivesTheSameRun) {
  const SyncedRun each = train_fmnist_cnn(3, 1, kSimt, 2), few = train_fmnist_cnn(3, 2, kSimt, 2);
  EXPECT_EQ(each.result.device_reads, 6);
  EXPECT_EQ(few.result.device_reads, 4);
  EXPECT_EQ(few.syncs, 4u) << few.calls;
  ASSERT_EQ(few.result.losses.size(), 6u);
  EXPECT_EQ(each.result.losses, few.result.losses);
  ASSERT_EQ(each.result.epochs.size(), 2u);
  ASSERT_EQ(few.result.epochs.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(each.result.epochs[e].train_loss, few.result.epochs[e].train_loss);
    EXPECT_EQ(each.result.epochs[e].train_accuracy, few.result.epochs[e].train_accuracy);
  }
}

// A step whose loss and gradients are NaN between two reads stops the run at the next read,
// naming that step and the updates the model in memory took since.
TEST(TrainSync, ANonFiniteStepBetweenReadsStopsTheRunAtTheNextRead) {
  int64_t step = 0;
  auto poisoned = [&step](const Tensor& out, const tasks::Batch& b) {
    tasks::StepLoss s = tasks::cross_entropy_loss(out, b.y);
    if (++step == 2) s.loss = mul(s.loss, std::nan(""));
    return s;
  };
  try {
    train_fmnist_cnn(4, 4, kSimt, 1, poisoned);
    FAIL() << "the run went on past a NaN loss";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("train: stopped at step 2 of 4: the loss is nan; a gradient or a buffer is not finite. "
                        "The device was read after step 4: the model in memory took the updates of steps 2 to 3; "),
              std::string::npos)
        << what;
  }
  EXPECT_EQ(step, 4);
}

// A buffer that becomes infinite between reads (batch norm's running_var, set to inf here in step
// 2's loss while the loss and gradients stay finite) stops the run at the next read, naming the
// buffer and the last step read before it. The loop checks buffers only at its reads.
TEST(TrainSync, ABufferThatTurnsInfiniteBetweenReadsStopsTheRunAtTheNextRead) {
  manual_seed(5);
  auto model = models::create("fmnist-cnn", {10, 1});
  model->to(kSimt);
  Tensor running_var;
  for (const auto& [name, b] : model->named_buffers())
    if (name == "features.1.running_var") running_var = b;
  ASSERT_TRUE(running_var.defined());
  tasks::TrainingTask task;
  task.model = model;
  task.steps_per_epoch = 6;
  task.batch = fmnist_batch;
  int64_t step = 0;
  task.loss = [&](const Tensor& out, const tasks::Batch& b) {
    if (++step == 2) running_var.fill_(INFINITY);
    return tasks::cross_entropy_loss(out, b.y);
  };
  try {
    tasks::run_training_loop(loop_config(kSimt, 3), task);
    FAIL() << "the run went on past an infinite running_var";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("train: stopped at step 3 of 6: the loss is "), std::string::npos) << what;
    EXPECT_NE(what.find("every gradient is finite, but the buffer 'features.1.running_var' [32] is not (the loop "
                        "checks buffers where it reads the device: it became so after step 0)"),
              std::string::npos)
        << what;
  }
  EXPECT_EQ(step, 3);
}

// On the cpu the loop reads after every step, so a NaN step stops before its update, as ever.
TEST(TrainSync, OnTheCpuANonFiniteStepStopsBeforeItsUpdate) {
  int64_t step = 0;
  auto poisoned = [&step](const Tensor& out, const tasks::Batch& b) {
    tasks::StepLoss s = tasks::cross_entropy_loss(out, b.y);
    if (++step == 2) s.loss = mul(s.loss, std::nan(""));
    return s;
  };
  try {
    train_fmnist_cnn(4, 4, Device::cpu(), 1, poisoned);
    FAIL() << "the run went on past a NaN loss";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("train: stopped at step 2 of 4: the loss is nan; the first parameter whose gradient is not "
                        "finite is '"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("The run stops before this step's update; "), std::string::npos) << what;
  }
  EXPECT_EQ(step, 2);
}
