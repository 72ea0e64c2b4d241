// Colorization learns colours (slow): after a short training on the nature photos Debian ships
// (mate-backgrounds), the annealed-mean colours the network predicts for crops of the held-out
// photos are closer to the truth in ab than predicting gray (a = b = 0).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "tasks/train.h"

using namespace pw;

TEST(SlowColorization, HeldOutAbErrorIsBelowGrays) {
  const std::string dir = "/usr/share/backgrounds/mate/nature";
  if (!std::filesystem::is_directory(dir)) GTEST_SKIP() << dir << " is missing (Debian package mate-backgrounds)";
  tasks::TrainConfig c;
  c.task = "colorization";
  c.data = "images:" + dir;  // 12 photos: the 5th and 10th are held out
  c.image_size = 96;
  c.width = 0.5;
  c.batch_size = 32;
  c.samples_per_epoch = 1024;
  c.epochs = 2;
  c.optimizer = "adam";
  c.lr = 1e-3;
  c.weight_decay = 0;
  c.progress = false;
  const tasks::TrainResult r = tasks::run_train(c);
  ASSERT_TRUE(r.colorization.has_value());
  std::printf("held-out ab error %.3f, gray %.3f, on %lld crops after %lld steps (%.1f s of training)\n",
              r.colorization->ab_error, r.colorization->gray_ab_error, (long long)r.colorization->crops,
              (long long)r.loop.steps, r.loop.train_seconds);
  EXPECT_LT(r.colorization->ab_error, r.colorization->gray_ab_error);
}
