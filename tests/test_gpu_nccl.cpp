// The NCCL backend of engine/dist on a GPU (label gpu; tools/gpu_check.sh runs it): a world of
// one rank (bootstrapped without mpirun) sums and broadcasts device buffers, and data-parallel
// training's gradient buckets on the GPU come back through it unchanged. Skips, saying "not
// run", without NCCL in the build or without a GPU. Two ranks over NCCL need two GPUs (NCCL
// refuses two ranks on one device): not tested here.
#include <gtest/gtest.h>

#include "engine/device/device.h"
#include "engine/dist/comm.h"
#include "engine/tensor.h"
#include "models/registry.h"
#include "tasks/data_parallel.h"
#include "tasks/train_loop.h"

namespace pw {
namespace {

TEST(Nccl, OneRankSumsAndBroadcastsDeviceBuffers) {
  if (!dist::built_with_nccl()) GTEST_SKIP() << "patchwork was built without NCCL: not run";
  const Device gpu{DeviceType::cuda, 0};
  if (!device_available(gpu)) GTEST_SKIP() << "no GPU: not run";
  const std::unique_ptr<dist::Communicator> nccl = dist::make_nccl(dist::world(), 0);
  EXPECT_EQ(nccl->backend(), "nccl");
  EXPECT_EQ(nccl->size(), 1);
  const Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5}, {5}).to(gpu);
  nccl->all_reduce_sum(static_cast<float*>(t.raw_data()), t.numel());
  EXPECT_EQ(t.to_vector_f32(), (std::vector<float>{1, 2, 3, 4, 5}));
  nccl->broadcast(t.raw_data(), t.numel() * (int64_t)sizeof(float), 0);
  EXPECT_EQ(t.to_vector_f32(), (std::vector<float>{1, 2, 3, 4, 5}));
  nccl->barrier();
}

// The training path: a small network's gradients on the GPU, summed in device buckets over
// NCCL (one rank), equal the gradients backward made.
TEST(Nccl, GradientBucketsOnTheGpuComeBackUnchanged) {
  if (!dist::built_with_nccl()) GTEST_SKIP() << "patchwork was built without NCCL: not run";
  const Device gpu{DeviceType::cuda, 0};
  if (!device_available(gpu)) GTEST_SKIP() << "no GPU: not run";
  manual_seed(5);
  models::ModelConfig cfg;
  cfg.width = 0.25;
  cfg.in_channels = 1;
  auto model = models::create("alexnet-small", cfg);
  model->to(gpu);
  std::vector<Tensor> params = model->parameters();
  tasks::DataParallel dp(dist::world(), 0.002, false, dist::make_nccl(dist::world(), 0), gpu);
  tasks::TrainingTask task;
  task.model = model;
  task.steps_per_epoch = 1;
  dp.start(task, params, nullptr);
  Generator gen(9);
  const Tensor x = Tensor::randn({4, 1, 28, 28}, DType::f32, &gen).to(gpu);
  const Tensor y = Tensor::from_vector(std::vector<int32_t>{1, 2, 3, 4}, {4});
  const tasks::Batch b = dp.shard({x, y});
  {
    const auto watch = dp.watch_backward();
    tasks::cross_entropy_loss((*model)(b.x), b.y).loss.backward();
  }
  std::vector<std::vector<float>> plain;
  for (const Tensor& p : params) plain.push_back(p.grad().to_vector_f32());
  dp.finish_gradients();
  for (size_t i = 0; i < params.size(); ++i) EXPECT_EQ(params[i].grad().to_vector_f32(), plain[i]) << i;
}

}  // namespace
}  // namespace pw
