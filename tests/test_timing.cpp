// `patchwork time` (tasks/timing.h) and the machine's measured limits (engine/util/machine.h):
// what the table counts and how its columns relate, not how fast anything is.
#include <gtest/gtest.h>

#include "engine/util/machine.h"
#include "models/registry.h"
#include "models/summary.h"
#include "tasks/timing.h"
#include "tests/support/gradcheck.h"

using namespace pw;

namespace {

tasks::TimeConfig small(bool train) {
  tasks::TimeConfig c;
  c.model = "fmnist-cnn";
  c.batch = 3;
  c.train = train;
  c.iterations = 1;
  c.peaks.gflops = 100;  // given: nothing is measured
  c.peaks.bandwidth_gbs = 10;
  return c;
}

}  // namespace

TEST(Timing, EveryLayerOfTheSummaryWithItsFlopsFromTheSummary) {
  const tasks::TimeResult r = tasks::run_time(small(true));
  models::ModelConfig mc;
  mc.in_channels = 1;
  auto model = models::create("fmnist-cnn", mc);
  const std::vector<models::LayerSummary> summary = models::summarize(*model, models::info("fmnist-cnn").input);
  ASSERT_EQ(r.layers.size(), summary.size());
  double flops = 0;
  for (size_t i = 0; i < summary.size(); ++i) {
    const tasks::LayerTime& l = r.layers[i];
    EXPECT_EQ(l.path, summary[i].path);
    Shape batch_output = summary[i].output;
    batch_output[0] = 3;  // the summary's batch of one, here three
    EXPECT_EQ(l.output, batch_output) << l.path;
    EXPECT_EQ(l.forward_flops, 2.0 * summary[i].macs * 3) << l.path;
    // Backward: input and weight gradients, the first layer's weight gradient only.
    EXPECT_EQ(l.backward_flops, l.forward_flops * (i == 0 ? 1 : 2)) << l.path;
    EXPECT_GT(l.forward_ms, 0) << l.path;
    EXPECT_GT(l.forward_bytes, 0) << l.path;
    if (l.ms() > 0) {
      EXPECT_DOUBLE_EQ(l.gflops(), (l.forward_flops + l.backward_flops) / (l.ms() * 1e6));
    }
    flops += l.forward_flops + l.backward_flops;
  }
  EXPECT_DOUBLE_EQ(r.step_flops, flops);
  EXPECT_GT(r.step.forward_ms, 0);
  EXPECT_GT(r.step.backward_ms, 0);
  EXPECT_GT(r.images_per_second(), 0);
  const std::string table = tasks::format_time_table(r);
  EXPECT_NE(table.find("sum of layers"), std::string::npos) << table;
  EXPECT_NE(table.find("machine: FMA peak 100.0 GFLOP/s, bandwidth 10.0 GB/s"), std::string::npos) << table;
}

TEST(Timing, EvalModeTimesTheForwardOnly) {
  const tasks::TimeResult r = tasks::run_time(small(false));
  for (const tasks::LayerTime& l : r.layers) {
    EXPECT_EQ(l.backward_ms, 0) << l.path;
    EXPECT_EQ(l.backward_flops, 0) << l.path;
  }
  EXPECT_EQ(r.step.backward_ms, 0);
  EXPECT_GT(r.step.forward_ms, 0);
}

TEST(Timing, BadSizesAreErrors) {
  tasks::TimeConfig c = small(true);
  c.batch = 0;
  pw::testing::expect_error([&] { tasks::run_time(c); }, "time: --batch must be positive, got 0");
  c = small(true);
  c.iterations = -2;
  pw::testing::expect_error([&] { tasks::run_time(c); }, "time: --iterations must be positive, got -2");
}

TEST(Machine, MeasuredPeaksArePositive) {
  EXPECT_GT(measure_fma_gflops(0.02), 0);
  EXPECT_GT(measure_bandwidth_gbs(), 0);
}
