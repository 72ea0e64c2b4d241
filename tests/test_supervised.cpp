// Supervised training as a task of the one loop: augmentation (random crops with padding,
// horizontal flips) does what torchvision's does, and a run on an image folder trains on that
// folder's classes, recording them, and on CIFAR-10 with the published class names.
#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>

#include "engine/io/checkpoint.h"
#include "engine/util/error.h"
#include "tasks/supervised.h"
#include "tasks/train.h"
#include "tests/support/data_files.h"
#include "tests/support/json_files.h"

using namespace pw;
using namespace pw::tasks;
namespace fs = std::filesystem;

TEST(Supervised, AugmentationCropsFromThePaddedImageAndFlips) {
  // Two 2-channel 5x5 images with distinct values; black is -1 in channel 0 and -2 in channel 1.
  const int64_t C = 2, H = 5, W = 5, P = 2;
  Tensor x = Tensor::empty({2, C, H, W});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = (float)i;
  const std::vector<float> before = x.to_vector_f32();
  Augmentation a;
  a.crop_padding = P;
  a.flip = true;
  a.black = {-1.f, -2.f};
  Generator gen(11), replay(11);
  augment(x, a, gen);
  const std::vector<float> after = x.to_vector_f32();
  for (int64_t i = 0; i < 2; ++i) {
    // The draws in the documented order: top, left, then the flip.
    const int64_t top = replay.randint(0, 2 * P + 1) - P, left = replay.randint(0, 2 * P + 1) - P;
    const bool mirror = replay.uniform() < 0.5f;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t xx = 0; xx < W; ++xx) {
          const int64_t sy = y + top, sx = (mirror ? W - 1 - xx : xx) + left;
          const float want =
              sy >= 0 && sy < H && sx >= 0 && sx < W ? before[((i * C + c) * H + sy) * W + sx] : a.black[c];
          ASSERT_EQ(after[((i * C + c) * H + y) * W + xx], want) << i << " " << c << " " << y << " " << xx;
        }
  }
  // No augmentation asked: nothing changes, nothing is drawn.
  Generator untouched(3);
  Tensor same = Tensor::from_vector(before, {2, C, H, W});
  augment(same, Augmentation{}, untouched);
  EXPECT_EQ(same.to_vector_f32(), before);
  EXPECT_EQ(untouched.offset(), 0u);
}

TEST(Supervised, AFolderOfImagesTrainsOnItsOwnClasses) {
  const fs::path base = fs::temp_directory_path() / ("pw_sup_folder_" + std::to_string(::getpid()));
  fs::remove_all(base);
  pw::testing::write_image_folder((base / "photos").string(), {"cat", "dog", "owl"}, 10, 20, 4);
  TrainConfig c;
  c.model = "vgg-small";
  c.width = 0.25;
  c.data = "folder:" + (base / "photos").string();
  c.image_size = 28;
  c.epochs = 1;
  c.batch_size = 8;
  c.crop_padding = 3;
  c.flip = true;
  c.progress = false;
  c.out_dir = (base / "run").string();
  const TrainResult r = run_train(c);
  EXPECT_EQ(r.class_names, (std::vector<std::string>{"cat", "dog", "owl"}));
  EXPECT_EQ(r.classes, 3);
  EXPECT_EQ(r.loop.steps, 3);  // 24 training images (every fifth of each class is a test image)
  ASSERT_TRUE(r.evaluated);
  const io::Checkpoint ck = io::read_checkpoint(c.out_dir + "/checkpoint.safetensors");
  EXPECT_EQ(ck.config.at("data.classes"), "[\"cat\",\"dog\",\"owl\"]");
  EXPECT_EQ(ck.config.at("data.kind"), "folder");
  EXPECT_EQ(ck.config.at("data.test_images"), "6");
  EXPECT_EQ(ck.model.at("classifier.6.bias").size(0), 3);
  const io::JsonValue summary = io::parse_json(pw::testing::read_text(c.out_dir + "/summary.json"), "summary.json");
  EXPECT_EQ(pw::testing::json_member(summary, "classes").items.size(), 3u);
  fs::remove_all(base);
}
