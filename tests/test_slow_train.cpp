// End to end: the reference CNN learns Fashion-MNIST (the real data from Debian's
// dataset-fashion-mnist), evaluated on held-out test images.
#include <filesystem>

#include "engine/data/mnist.h"
#include "engine/io/checkpoint.h"
#include "models/registry.h"
#include "tasks/train.h"
#include "tests/support/gradcheck.h"

using namespace pw;

static bool have_fashion_mnist() {
  return std::filesystem::exists(data::default_fashion_mnist_dir() + "/t10k-labels-idx1-ubyte.gz");
}

TEST(SlowTrain, SmallCnnLearnsFashionMnist) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  tasks::TrainConfig c;
  c.epochs = 2;
  c.limit_train = 4000;  // the first 4000 training images
  c.limit_test = 2000;   // 2000 held-out test images, never trained on
  c.batch_size = 50;
  c.optimizer = "adamw";
  c.lr = 3e-3;
  c.weight_decay = 1e-4;
  c.seed = 1;
  c.flip = false;  // as when the bar was set (with flips, the default since: 0.8325 on 2026-12-07)
  c.progress = false;
  const tasks::TrainResult r = tasks::run_train(c);
  ASSERT_EQ(r.loop.epochs.size(), 2u);
  ASSERT_TRUE(r.evaluated);
  // Stated bar: 82% on held-out images after 8000 image-steps (chance is 10%; this
  // configuration reached 85.6% when the bar was set).
  EXPECT_GE(r.last.accuracy, 0.82);
  std::printf("test accuracy %.4f\n", r.last.accuracy);
  EXPECT_LT(r.loop.epochs[1].train_loss, r.loop.epochs[0].train_loss);
  int64_t total = 0;
  for (int64_t v : r.loop.epochs[1].eval.confusion) total += v;
  EXPECT_EQ(total, 2000);
}

// `patchwork train`'s default recipe (fmnist-cnn on all of Fashion-MNIST, batch 64, SGD with
// Nesterov momentum, lr 0.05 onecycle, weight decay 5e-4, flips) cut from kSupervisedEpochs
// epochs to 2, scored on all 10,000 test images. The full recipe's accuracy is in the README.
TEST(SlowTrain, TheDefaultRecipeShortened) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  tasks::TrainConfig c;
  c.epochs = 2;
  c.progress = false;
  const tasks::TrainResult r = tasks::run_train(c);
  EXPECT_EQ(r.config.model, "fmnist-cnn");
  EXPECT_EQ(r.config.flip, true);
  ASSERT_EQ(r.loop.epochs.size(), 2u);
  ASSERT_TRUE(r.evaluated);
  int64_t total = 0;
  for (int64_t v : r.last.confusion) total += v;
  EXPECT_EQ(total, 10000);
  std::printf("test accuracy %.4f after 2 epochs, %.1f s of training\n", r.last.accuracy, r.loop.train_seconds);
  // Stated bar: 89%. Measured when it was set (2026-12-07): 0.9028 (2072 s on the 2-core machine
  // under a load average near 12; 2 threads). 1.3 points of margin for float reassociation
  // (thread counts, faster kernels): about four standard errors (0.3 points) on 10,000 images.
  EXPECT_GE(r.last.accuracy, 0.89);
}

TEST(SlowTrain, SameSeedSameRun) {
  if (!have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  tasks::TrainConfig c;
  c.epochs = 1;
  c.limit_train = 300;
  c.limit_test = 200;
  c.batch_size = 32;
  c.seed = 5;
  c.progress = false;
  const tasks::TrainResult a = tasks::run_train(c);
  c.out_dir = ::testing::TempDir() + "pw_same_seed_run";
  c.force = true;
  const tasks::TrainResult b = tasks::run_train(c);
  EXPECT_EQ(a.loop.epochs[0].train_loss, b.loop.epochs[0].train_loss);
  EXPECT_EQ(a.last.accuracy, b.last.accuracy);

  // The checkpoint written at the end reloads into a fresh model that gives identical outputs.
  io::Checkpoint ckpt = io::read_checkpoint(c.out_dir + "/checkpoint.safetensors");
  EXPECT_EQ(ckpt.step, b.loop.steps);
  EXPECT_EQ(ckpt.config.at("model"), "fmnist-cnn");
  auto fresh = models::create("fmnist-cnn", {10, 1});
  io::restore_checkpoint(ckpt, *fresh, nullptr, nullptr);
  fresh->eval();
  Generator g(8);
  Tensor x = Tensor::randn({16, 1, 28, 28}, DType::f32, &g);
  NoGradGuard ng;
  std::vector<float> want = (*b.model)(x).to_vector_f32(), got = (*fresh)(x).to_vector_f32();
  EXPECT_EQ(got, want);
}

TEST(Data, MissingDatasetIsAClearError) {
  try {
    data::load_mnist_format("/nonexistent/folder", true);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("train-images-idx3-ubyte"), std::string::npos) << e.what();
  }
}
