// The pieces of data-parallel training that run in one process: the autograd hook that reports a
// leaf's gradient complete, the world of one, sharding, bucketed and one-shot gradient sums
// (with one rank: the gradients unchanged), and the rank-count check on resume. The runs under
// mpirun are in test_cli_dist.
#include <gtest/gtest.h>

#include <map>

#include "engine/autograd.h"
#include "engine/dist/comm.h"
#include "engine/dist/sync_batch_norm.h"
#include "engine/ops.h"
#include "engine/util/error.h"
#include "models/registry.h"
#include "tasks/data_parallel.h"
#include "tasks/pretext_task.h"
#include "tasks/supervised.h"
#include "tasks/train_loop.h"

namespace pw {
namespace {

TEST(GradReadyHook, FiresOncePerLeafAfterEveryUseDelivered) {
  Tensor a = Tensor::from_vector(std::vector<float>{1, 2, 3}, {3});
  Tensor b = Tensor::from_vector(std::vector<float>{4, 5, 6}, {3});
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  std::map<TensorImpl*, int> calls;
  std::map<TensorImpl*, std::vector<float>> seen;
  {
    GradReadyHookGuard guard([&](TensorImpl* leaf) {
      calls[leaf]++;
      seen[leaf] = (leaf == a.impl_ptr() ? a : b).grad().to_vector_f32();
    });
    // a is used twice (two edges): its hook must wait for both contributions.
    Tensor y = sum(add(mul(a, b), mul(a, a)));
    y.backward();
  }
  EXPECT_EQ(calls[a.impl_ptr()], 1);
  EXPECT_EQ(calls[b.impl_ptr()], 1);
  EXPECT_EQ(seen[a.impl_ptr()], a.grad().to_vector_f32());  // complete when reported: b + 2a
  EXPECT_EQ(a.grad().to_vector_f32(), (std::vector<float>{6, 9, 12}));
  EXPECT_EQ(seen[b.impl_ptr()], b.grad().to_vector_f32());
  // Outside the guard no hook runs.
  a.zero_grad();
  sum(a).backward();
  EXPECT_EQ(calls[a.impl_ptr()], 1);
}

TEST(Dist, WorldOfOneWithoutLauncher) {
  dist::Communicator& w = dist::world();
  EXPECT_EQ(w.size(), 1);
  EXPECT_EQ(w.rank(), 0);
  float x[2] = {1, 2};
  w.all_reduce_sum(x, 2);
  EXPECT_EQ(x[1], 2.0f);
  w.start_all_reduce_sum(x, 2)->wait();
  EXPECT_EQ(x[0], 1.0f);
  EXPECT_EQ(dist::all_gather(w, 7.0), std::vector<double>{7.0});
}

// Gradients of a small network with one rank: one-shot and bucketed (tiny buckets, so that
// several launch during backward) leave them as backward made them.
// On another device than the cpu the buckets live there, summed by a device-memory communicator
// (NCCL on GPUs; here a world of one of its own).
std::vector<std::vector<float>> gradients_with(double bucket_mb, std::vector<std::vector<float>>* plain,
                                               Device device = Device::cpu()) {
  manual_seed(5);
  models::ModelConfig cfg;
  cfg.width = 0.25;
  cfg.in_channels = 1;
  auto model = models::create("alexnet-small", cfg);
  model->to(device);
  std::vector<Tensor> params = model->parameters();
  tasks::DataParallel dp(dist::world(), bucket_mb, false, device.is_cpu() ? nullptr : dist::make_single(), device);
  tasks::TrainingTask task;
  task.model = model;
  task.steps_per_epoch = 1;
  dp.start(task, params, nullptr);
  Generator gen(9);
  const Tensor x = Tensor::randn({4, 1, 28, 28}, DType::f32, &gen).to(device);
  const Tensor y = Tensor::from_vector(std::vector<int32_t>{1, 2, 3, 4}, {4});
  const tasks::Batch b = dp.shard({x, y});
  EXPECT_EQ(b.x.size(0), 4);
  {
    const auto watch = dp.watch_backward();
    EXPECT_EQ(watch != nullptr, bucket_mb > 0);
    tasks::cross_entropy_loss((*model)(b.x), b.y).loss.backward();
  }
  if (plain)
    for (const Tensor& p : params) plain->push_back(p.grad().to_vector_f32());
  dp.finish_gradients();
  EXPECT_EQ(dp.times().bytes_per_step, model->num_parameters() * 4);
  std::vector<std::vector<float>> g;
  for (const Tensor& p : params) g.push_back(p.grad().to_vector_f32());
  return g;
}

TEST(DataParallel, OneRankLeavesGradientsAsBackwardMadeThem) {
  std::vector<std::vector<float>> plain;
  const auto once = gradients_with(0, &plain);
  EXPECT_EQ(once, plain);
  EXPECT_EQ(gradients_with(0.002, nullptr), once);
}

// Buckets in device memory (the NCCL path's layout, on simt): the gradients come back unchanged,
// one-shot and bucketed; and MPI, which sums host memory, refuses device buckets.
TEST(DataParallel, DeviceBucketsLeaveGradientsAsBackwardMadeThem) {
  const Device simt{DeviceType::simt, 0};
  std::vector<std::vector<float>> plain;
  const auto once = gradients_with(0, &plain, simt);
  EXPECT_EQ(once, plain);
  EXPECT_EQ(gradients_with(0.002, nullptr, simt), once);
  EXPECT_THROW(tasks::DataParallel(dist::world(), 0, false, nullptr, simt), Error);
}

// With one rank, batch norm over every rank's rows is plain batch norm: outputs, input and
// parameter gradients and running statistics agree with the engine's batch_norm.
TEST(DataParallel, SyncBatchNormWithOneRankIsBatchNorm) {
  Generator gen(11);
  const Tensor x0 = Tensor::randn({5, 3, 4, 6}, DType::f32, &gen);
  const Tensor up = Tensor::randn({5, 3, 4, 6}, DType::f32, &gen);
  struct Out {
    std::vector<float> y, dx, dw, db, mean, var;
  };
  auto run = [&](bool sync) {
    Tensor x = x0.clone().set_requires_grad(true);
    Tensor w = Tensor::from_vector(std::vector<float>{1.5f, 0.5f, 2.0f}, {3}).set_requires_grad(true);
    Tensor b = Tensor::from_vector(std::vector<float>{0.1f, -0.2f, 0.3f}, {3}).set_requires_grad(true);
    Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
    Tensor y;
    if (sync) {
      dist::SyncBatchNormScope scope(dist::world(), 1.0);
      y = dist::sync_batch_norm(x, rm, rv, w, b, 0.1, 1e-5, scope);
    } else {
      y = batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
    }
    sum(mul(y, up)).backward();
    return Out{y.to_vector_f32(),        x.grad().to_vector_f32(), w.grad().to_vector_f32(),
               b.grad().to_vector_f32(), rm.to_vector_f32(),       rv.to_vector_f32()};
  };
  const Out a = run(false), s = run(true);
  auto close = [](const std::vector<float>& p, const std::vector<float>& q, const char* what) {
    ASSERT_EQ(p.size(), q.size()) << what;
    for (size_t i = 0; i < p.size(); ++i)
      EXPECT_NEAR(p[i], q[i], 1e-5 * std::max(1.0f, std::abs(p[i]))) << what << " [" << i << "]";
  };
  close(a.y, s.y, "output");
  close(a.dx, s.dx, "input gradient");
  close(a.dw, s.dw, "weight gradient");
  close(a.db, s.db, "bias gradient");
  close(a.mean, s.mean, "running mean");
  close(a.var, s.var, "running variance");
}

// Supervised training builds a rank's rows alone: they equal the rows of the whole batch,
// augmentation included (the draws of the rows before the part are skipped).
TEST(DataParallel, SupervisedBatchPartsEqualTheWholeBatchsRows) {
  Generator gen(3);
  tasks::SupervisedData d;
  d.train = std::make_shared<tasks::TensorSource>(Tensor::randn({21, 2, 6, 6}, DType::f32, &gen));
  std::vector<int32_t> labels(21);
  for (int i = 0; i < 21; ++i) labels[i] = i % 4;
  d.train_labels = Tensor::from_vector(labels, {21});
  d.classes = 4;
  tasks::Augmentation aug;
  aug.crop_padding = 2;
  aug.flip = true;
  aug.black = {-1.0f, -0.5f};
  const tasks::TrainingTask t = tasks::supervised_task(nullptr, d, 8, 5, aug);
  for (int64_t step : {0, 1, 2, 4}) {  // 2: the short last batch of an epoch (5 rows); 4: the next epoch
    const tasks::Batch whole = t.batch(step);
    const int64_t rows = t.batch_rows(step);
    ASSERT_EQ(rows, whole.x.size(0));
    for (const auto& [lo, hi] : {std::pair<int64_t, int64_t>{0, rows / 2}, {rows / 2, rows}, {1, rows - 1}}) {
      const tasks::Batch part = t.batch_part(step, lo, hi);
      EXPECT_EQ(part.x.to_vector_f32(), whole.x.slice(0, lo, hi).to_vector_f32()) << "step " << step << " rows " << lo;
      EXPECT_EQ(part.y.to_vector_i32(), whole.y.slice(0, lo, hi).to_vector_i32()) << "step " << step << " rows " << lo;
    }
  }
}

// The pretext tasks build a rank's rows alone too: each image draws from its own window of the
// step's stream, so any rows equal the rows of the whole batch (rotation: 4 rows per image, and
// a part may start or end inside an image's rotations).
TEST(DataParallel, PretextBatchPartsEqualTheWholeBatchsRows) {
  Generator gen(4);
  tasks::PretextData d;
  d.train = std::make_shared<tasks::TensorSource>(Tensor::rand({11, 3, 24, 24}, -1, 1, DType::f32, &gen));
  for (const std::string task : {"rotation", "jigsaw", "context"}) {
    tasks::PretextSampler s;
    s.task = task;
    s.context = tasks::context_config_for(24);
    s.jigsaw = tasks::jigsaw_config_for(24);
    s.permutations = tasks::make_permutation_set(12, 1);
    const tasks::TrainingTask t = tasks::pretext_task(nullptr, s, d, 4, std::nullopt, 5, 0);
    for (int64_t step : {0, 2, 3}) {  // 2: the short last batch of an epoch (3 images); 3: the next epoch
      const tasks::Batch whole = t.batch(step);
      const int64_t rows = t.batch_rows(step);
      ASSERT_EQ(rows, whole.x.size(0)) << task;
      for (const auto& [lo, hi] : {std::pair<int64_t, int64_t>{0, rows / 2}, {rows / 2, rows}, {1, rows - 1}}) {
        const tasks::Batch part = t.batch_part(step, lo, hi);
        EXPECT_EQ(part.x.to_vector_f32(), whole.x.slice(0, lo, hi).contiguous().to_vector_f32())
            << task << " step " << step << " rows " << lo << "-" << hi;
        EXPECT_EQ(part.y.to_vector_i32(), whole.y.slice(0, lo, hi).contiguous().to_vector_i32())
            << task << " step " << step << " rows " << lo << "-" << hi;
      }
    }
  }
}

// The overlap figure: what of the all-reduces' own time the wait after backward no longer shows.
TEST(DataParallel, OverlapIsTheHiddenShareOfTheAllReduces) {
  tasks::DataParallelTimes t;
  EXPECT_EQ(t.overlap(), 0);  // not measured
  t.steps = 4;
  t.all_reduce_alone_seconds = 0.01;
  t.wait_seconds = 0.02;  // 5 ms per step of 10
  EXPECT_DOUBLE_EQ(t.overlap(), 0.5);
  t.wait_seconds = 0.08;  // waited longer than the all-reduces take: nothing hidden
  EXPECT_EQ(t.overlap(), 0);
  t.wait_seconds = 0;
  EXPECT_EQ(t.overlap(), 1);
}

TEST(DataParallel, RejectsNegativeBucketsAndAnotherRankCount) {
  EXPECT_THROW(tasks::DataParallel(dist::world(), -1), Error);
  io::Checkpoint ck;
  ck.config["dist.ranks"] = "2";
  try {
    tasks::check_resume_ranks(ck, 1);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a run of 2 rank(s); this run has 1 (resume it with mpirun -np 2)"),
              std::string::npos)
        << e.what();
  }
  ck.config.erase("dist.ranks");
  EXPECT_NO_THROW(tasks::check_resume_ranks(ck, 1));
}

}  // namespace
}  // namespace pw
