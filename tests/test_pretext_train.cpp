// The pretext tasks in the one training loop: batches of each task have the right shapes and
// labels, every task trains and writes its files, and a resumed jigsaw run keeps its
// permutation set and refuses other settings. (Exact resume of every task: test_train.)
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "engine/util/error.h"
#include "tasks/pretext_task.h"
#include "tasks/train.h"
#include "tests/support/json_files.h"

using namespace pw;
using namespace pw::tasks;

namespace {
Tensor random_images(int64_t n, int64_t c, int64_t s, uint64_t seed) {
  Generator g(seed);
  return Tensor::rand({n, c, s, s}, -1, 1, DType::f32, &g);
}

// Images already normalized (mean 0, std 1 recorded), with an optional held-out set.
TrainData in_memory(const Tensor& images, const Tensor& held_out = Tensor()) {
  TrainData d;
  d.kind = "memory";
  d.train = std::make_shared<TensorSource>(images);
  d.test_images = held_out;
  d.mean.assign(images.size(1), 0.f);
  d.std.assign(images.size(1), 1.f);
  return d;
}

TrainConfig small(const std::string& task, const std::string& dir) {
  TrainConfig c;
  c.task = task;
  c.data = "random";
  c.width = 0.25;
  c.epochs = 2;
  c.batch_size = 8;
  c.lr = 0.01;
  c.seed = 3;
  c.progress = false;
  c.out_dir = dir;
  c.permutations = 12;
  c.eval_images = 16;
  return c;
}
}  // namespace

TEST(PretextTrain, BatchesOfEveryTask) {
  Tensor images = random_images(6, 3, 24, 1);
  PretextSampler s;
  s.context = context_config_for(24);
  s.jigsaw = jigsaw_config_for(24);
  s.permutations = make_permutation_set(12, 1);
  Generator gen(2);
  Tensor x, y;
  make_pretext_batch(s, images, {0, 2, 5}, gen, x, y);
  EXPECT_EQ(x.shape(), (Shape{12, 3, 24, 24}));
  s.task = "jigsaw";
  make_pretext_batch(s, images, {0, 2, 5}, gen, x, y);
  EXPECT_EQ(x.shape(), (Shape{3, 9, 3, s.jigsaw.tile, s.jigsaw.tile}));
  for (int32_t l : y.to_vector_i32()) EXPECT_TRUE(l >= 0 && l < 12);
  s.task = "context";
  make_pretext_batch(s, images, {1, 4}, gen, x, y);
  EXPECT_EQ(x.shape(), (Shape{2, 2, 3, s.context.patch, s.context.patch}));
  for (int32_t l : y.to_vector_i32()) EXPECT_TRUE(l >= 0 && l < 8);
  s.task = "colorization";
  EXPECT_THROW(make_pretext_batch(s, images, {0}, gen, x, y), Error);
}

TEST(PretextTrain, EveryTaskTrainsAndWritesItsFiles) {
  Tensor images = random_images(32, 1, 24, 4), held_out = random_images(16, 1, 24, 5);
  for (const char* task : {"rotation", "jigsaw", "context"}) {
    SCOPED_TRACE(task);
    const std::string dir = ::testing::TempDir() + "pw_pretext_" + task + "_" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    TrainConfig c = small(task, dir);
    c.epochs = 1;
    const TrainResult r = run_train(c, in_memory(images, held_out));
    EXPECT_EQ(r.loop.steps, 4);
    EXPECT_EQ(r.loop.losses.size(), 4u);
    for (double l : r.loop.losses) EXPECT_TRUE(std::isfinite(l));
    EXPECT_TRUE(std::filesystem::exists(dir + "/checkpoint.safetensors"));
    ASSERT_TRUE(r.evaluated);
    EXPECT_GE(r.last.accuracy, 0.0);
    EXPECT_LE(r.last.accuracy, 1.0);
    EXPECT_EQ(r.classes, std::string(task) == "rotation" ? 4 : std::string(task) == "context" ? 8 : 12);
    EXPECT_EQ(r.config.color_defense, "none");  // resolved from the gray images
    // metrics.jsonl: the last step, then the epoch with the held-out accuracy, exactly as computed.
    std::istringstream lines(pw::testing::read_text(dir + "/metrics.jsonl"));
    std::vector<io::JsonValue> records;
    for (std::string line; std::getline(lines, line);) records.push_back(io::parse_json(line, "metrics.jsonl"));
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(pw::testing::json_member(records[0], "step").value, 4);
    EXPECT_EQ(std::stod(pw::testing::json_member(records[0], "loss").text), r.loop.losses.back());
    EXPECT_EQ(std::stod(pw::testing::json_member(records[1], "test_accuracy").text), r.last.accuracy);
    EXPECT_EQ(pw::testing::parse_every_json_file(dir).size(), 3u);  // with the checkpoint's header and summary.json
  }
}

TEST(PretextTrain, ResumeRefusesOtherSettingsAndKeepsThePermutations) {
  Tensor images = random_images(40, 1, 24, 8);
  const std::string dir = ::testing::TempDir() + "pw_resume_settings_" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  TrainConfig first = small("jigsaw", dir);
  first.stop_after = 3;
  run_train(first, in_memory(images));
  std::vector<Permutation> before = load_permutations(dir + "/permutations.txt");
  // Another seed would draw another permutation set (and another shuffle): refused, naming it.
  TrainConfig other = small("jigsaw", dir);
  other.resume = true;
  other.seed = first.seed + 7;
  other.given = {"seed"};
  try {
    run_train(other, in_memory(images));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--seed gives seed '10' but the run in"), std::string::npos) << e.what();
  }
  // Other images than the run's (more of them): refused too.
  TrainConfig same = small("jigsaw", dir);
  same.resume = true;
  EXPECT_THROW(run_train(same, in_memory(random_images(48, 1, 24, 8))), Error);
  // The same settings resume, with the saved permutation set.
  const TrainResult r = run_train(same, in_memory(images));
  EXPECT_EQ(r.loop.first_step, 3);
  EXPECT_EQ(load_permutations(dir + "/permutations.txt"), before);
}
