// Supervised training stopped halfway (inside an epoch) and resumed gives the same losses and the
// same weights as an uninterrupted run with the same seed on cpu.
#include <gtest/gtest.h>

#include <filesystem>
#include <unistd.h>

#include "engine/util/error.h"
#include "tasks/supervised.h"
#include "tests/support/json_files.h"

using namespace pw;

namespace {

tasks::SupervisedConfig run_config(const std::string& dir) {
  tasks::SupervisedConfig c;
  c.model = "alexnet-small";
  c.width = 0.25;  // dropout in the classifier: the restored generator matters
  c.epochs = 2;
  c.batch_size = 32;
  c.optimizer = "sgd";
  c.lr = 0.02;
  c.limit_train = 320;  // 10 steps per epoch
  c.limit_test = 64;
  c.progress = false;
  c.out_dir = dir;
  return c;
}

}  // namespace

TEST(Supervised, StoppedHalfwayAndResumedEqualsUninterrupted) {
  namespace fs = std::filesystem;
  const fs::path base = fs::temp_directory_path() / ("pw_sup_resume_" + std::to_string(::getpid()));
  fs::remove_all(base);
  tasks::SupervisedResult full = tasks::train_supervised(run_config((base / "full").string()));
  ASSERT_EQ(full.losses.size(), 20u);

  tasks::SupervisedConfig c = run_config((base / "split").string());
  c.stop_after = 13;  // inside the second epoch
  tasks::SupervisedResult first = tasks::train_supervised(c);
  EXPECT_TRUE(first.interrupted);
  ASSERT_EQ(first.losses.size(), 13u);
  c.stop_after = -1;
  c.resume = true;
  tasks::SupervisedResult second = tasks::train_supervised(c);
  EXPECT_FALSE(second.interrupted);
  EXPECT_EQ(second.first_step, 13);
  ASSERT_EQ(second.losses.size(), 7u);
  for (size_t i = 0; i < 13; ++i) EXPECT_EQ(first.losses[i], full.losses[i]) << "step " << i + 1;
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ(second.losses[i], full.losses[13 + i]) << "step " << 14 + i;
  auto a = full.model->state_dict(), b = second.model->state_dict();
  for (const auto& [name, t] : a) EXPECT_EQ(t.to_vector_f32(), b.at(name).to_vector_f32()) << name;
  EXPECT_EQ(second.test_accuracy, full.test_accuracy);
  // metrics.jsonl (appended to on resume) and the checkpoint header are strict JSON.
  EXPECT_EQ(pw::testing::parse_every_json_file((base / "split").string()).size(), 2u);

  // A checkpoint of another model, or none, is a clear error.
  c.model = "vgg-small";
  EXPECT_THROW(tasks::train_supervised(c), Error);
  tasks::SupervisedConfig none = run_config((base / "none").string());
  none.resume = true;
  EXPECT_THROW(tasks::train_supervised(none), Error);
  fs::remove_all(base);
}

TEST(Supervised, ResumeRefusesOtherSettingsAndStopsAtEpochsAreReported) {
  namespace fs = std::filesystem;
  const fs::path base = fs::temp_directory_path() / ("pw_sup_settings_" + std::to_string(::getpid()));
  fs::remove_all(base);
  tasks::SupervisedConfig c = run_config((base / "run").string());
  c.stop_after = 10;  // exactly the end of the first epoch
  tasks::SupervisedResult first = tasks::train_supervised(c);
  EXPECT_TRUE(first.interrupted);
  EXPECT_EQ(first.steps, 10);
  c.stop_after = -1;
  c.resume = true;
  c.batch_size = 16;
  try {
    tasks::train_supervised(c);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batch_size = 16"), std::string::npos) << e.what();
  }
  c.batch_size = 32;
  tasks::SupervisedResult second = tasks::train_supervised(c);
  EXPECT_FALSE(second.interrupted);
  EXPECT_EQ(second.losses.size(), 10u);
  fs::remove_all(base);
}
