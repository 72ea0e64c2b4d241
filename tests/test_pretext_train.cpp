// The pretext training loop: batches of each task have the right shapes and labels, a run is
// reproducible, and a run stopped halfway and resumed gives the same losses as one that was
// never stopped.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "engine/util/error.h"
#include "tasks/pretext_train.h"
#include "tests/support/json_files.h"

using namespace pw;
using namespace pw::tasks;

namespace {
Tensor random_images(int64_t n, int64_t c, int64_t s, uint64_t seed) {
  Generator g(seed);
  return Tensor::rand({n, c, s, s}, -1, 1, DType::f32, &g);
}

PretextConfig small(const std::string& task, const std::string& dir) {
  PretextConfig c;
  c.task = task;
  c.width = 0.25;
  c.epochs = 2;
  c.batch_size = 8;
  c.lr = 0.01;
  c.seed = 3;
  c.progress = false;
  c.out_dir = dir;
  c.context = context_config_for(24);
  c.context.color = ColorDefense::none;  // the images here are gray
  c.jigsaw = jigsaw_config_for(24);
  c.permutations = 12;
  c.eval_images = 16;
  return c;
}
}  // namespace

TEST(PretextTrain, BatchesOfEveryTask) {
  Tensor images = random_images(6, 3, 24, 1);
  std::vector<Permutation> perms = make_permutation_set(12, 1);
  Generator gen(2);
  Tensor x, y;
  PretextConfig c = small("rotation", "");
  make_pretext_batch(c, perms, images, {0, 2, 5}, gen, x, y);
  EXPECT_EQ(x.shape(), (Shape{12, 3, 24, 24}));
  c.task = "jigsaw";
  make_pretext_batch(c, perms, images, {0, 2, 5}, gen, x, y);
  EXPECT_EQ(x.shape(), (Shape{3, 9, 3, c.jigsaw.tile, c.jigsaw.tile}));
  for (int32_t l : y.to_vector_i32()) EXPECT_TRUE(l >= 0 && l < 12);
  c.task = "context";
  make_pretext_batch(c, perms, images, {1, 4}, gen, x, y);
  EXPECT_EQ(x.shape(), (Shape{2, 2, 3, c.context.patch, c.context.patch}));
  for (int32_t l : y.to_vector_i32()) EXPECT_TRUE(l >= 0 && l < 8);
  c.task = "colorization";
  EXPECT_THROW(make_pretext_batch(c, perms, images, {0}, gen, x, y), Error);
}

TEST(PretextTrain, EveryTaskTrainsAndWritesACheckpoint) {
  Tensor images = random_images(32, 1, 24, 4), held_out = random_images(16, 1, 24, 5);
  for (const char* task : {"rotation", "jigsaw", "context"}) {
    SCOPED_TRACE(task);
    const std::string dir = ::testing::TempDir() + "pw_pretext_" + task;
    std::filesystem::remove_all(dir);
    PretextConfig c = small(task, dir);
    c.epochs = 1;
    PretextResult r = train_pretext(c, images, held_out);
    EXPECT_EQ(r.steps, 4);
    EXPECT_EQ(r.losses.size(), 4u);
    for (double l : r.losses) EXPECT_TRUE(std::isfinite(l));
    EXPECT_TRUE(std::filesystem::exists(dir + "/checkpoint.safetensors"));
    EXPECT_GE(r.eval_accuracy, 0.0);
    EXPECT_LE(r.eval_accuracy, 1.0);
    EXPECT_EQ(r.classes, std::string(task) == "rotation" ? 4 : std::string(task) == "context" ? 8 : 12);
    // metrics.jsonl: the last step, then the held-out accuracy, exactly as computed.
    std::istringstream lines(pw::testing::read_text(dir + "/metrics.jsonl"));
    std::vector<io::JsonValue> records;
    for (std::string line; std::getline(lines, line);) records.push_back(io::parse_json(line, "metrics.jsonl"));
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(pw::testing::json_member(records[0], "step").value, 4);
    EXPECT_EQ(std::stod(pw::testing::json_member(records[0], "loss").text), r.losses.back());
    EXPECT_EQ(std::stod(pw::testing::json_member(records[1], "eval_accuracy").text), r.eval_accuracy);
    EXPECT_EQ(pw::testing::parse_every_json_file(dir).size(), 2u);  // with the checkpoint's header
  }
}

TEST(PretextTrain, ResumedRunGivesTheSameLossesAsAnUninterruptedOne) {
  Tensor images = random_images(40, 1, 24, 6);
  for (const char* task : {"rotation", "jigsaw"}) {
    SCOPED_TRACE(task);
    const std::string a = ::testing::TempDir() + "pw_resume_a", b = ::testing::TempDir() + "pw_resume_b";
    std::filesystem::remove_all(a);
    std::filesystem::remove_all(b);
    PretextResult whole = train_pretext(small(task, a), images, Tensor());
    ASSERT_EQ(whole.steps, 10);  // 2 epochs x 5 steps
    PretextConfig first = small(task, b);
    first.stop_after = 4;
    PretextResult part1 = train_pretext(first, images, Tensor());
    EXPECT_TRUE(part1.interrupted);
    ASSERT_EQ(part1.steps, 4);
    PretextConfig second = small(task, b);
    second.resume = true;
    PretextResult part2 = train_pretext(second, images, Tensor());
    EXPECT_EQ(part2.first_step, 4);
    ASSERT_EQ(part2.losses.size(), 6u);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(part1.losses[i], whole.losses[i]) << "step " << i;
    for (int i = 0; i < 6; ++i) EXPECT_EQ(part2.losses[i], whole.losses[4 + i]) << "step " << 4 + i;
    // Resuming with another task is refused.
    PretextConfig wrong = small(std::string(task) == "rotation" ? "jigsaw" : "rotation", b);
    wrong.resume = true;
    EXPECT_THROW(train_pretext(wrong, images, Tensor()), Error);
  }
}

TEST(PretextTrain, ResumeRefusesOtherSettingsAndKeepsThePermutations) {
  Tensor images = random_images(40, 1, 24, 8);
  const std::string dir = ::testing::TempDir() + "pw_resume_settings";
  std::filesystem::remove_all(dir);
  PretextConfig first = small("jigsaw", dir);
  first.stop_after = 3;
  train_pretext(first, images, Tensor());
  std::vector<Permutation> before = load_permutations(dir + "/permutations.txt");
  // Another seed would draw another permutation set (and another shuffle): refused, naming it.
  PretextConfig other = small("jigsaw", dir);
  other.resume = true;
  other.seed = first.seed + 7;
  try {
    train_pretext(other, images, Tensor());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("seed"), std::string::npos) << e.what();
  }
  other.seed = first.seed;
  other.batch_size = first.batch_size * 2;
  EXPECT_THROW(train_pretext(other, images, Tensor()), Error);
  // The same settings resume, with the saved permutation set.
  PretextConfig same = small("jigsaw", dir);
  same.resume = true;
  train_pretext(same, images, Tensor());
  EXPECT_EQ(load_permutations(dir + "/permutations.txt"), before);
}
