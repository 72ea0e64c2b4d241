// The one training loop's own contract (tasks/train_loop.h), apart from the tasks that plug in
// (test_train covers runs, resume and checkpoints): the next batch is built on a worker thread
// while a step trains.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "engine/nn.h"
#include "engine/ops.h"
#include "tasks/train_loop.h"

using namespace pw;

TEST(TrainLoop, BuildsTheNextBatchOnAWorkerThreadWhileAStepTrains) {
  constexpr int64_t kSteps = 6;
  tasks::TrainingTask task;
  task.model = std::make_shared<nn::Linear>(3, 2);
  task.steps_per_epoch = kSteps;
  std::atomic<int64_t> batches_asked{0};
  std::mutex m;
  std::set<std::thread::id> batch_threads;
  task.batch = [&](int64_t step) {
    {
      std::lock_guard<std::mutex> lock(m);
      batch_threads.insert(std::this_thread::get_id());
    }
    batches_asked = step + 1;
    return tasks::Batch{Tensor::ones({4, 3}), Tensor::from_vector(std::vector<int32_t>{0, 1, 0, 1}, {4})};
  };
  // While step s trains, the batch of step s + 1 is already being built: wait for it (it never
  // comes if batches were built one after another in the training thread).
  std::vector<bool> overlapped;
  int64_t step = 0;
  task.loss = [&](const Tensor& out, const tasks::Batch& b) {
    const bool last = step == kSteps - 1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!last && batches_asked < step + 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    overlapped.push_back(last || batches_asked >= step + 2);
    ++step;
    return tasks::cross_entropy_loss(out, b.y);
  };
  tasks::LoopConfig c;
  c.progress = false;
  c.optimizer.schedule = "constant";
  const tasks::LoopResult r = tasks::run_training_loop(c, task);
  EXPECT_EQ(r.steps, kSteps);
  EXPECT_EQ(overlapped, std::vector<bool>(kSteps, true));
  EXPECT_EQ(batch_threads.count(std::this_thread::get_id()), 0u) << "a batch was built on the training thread";
}
