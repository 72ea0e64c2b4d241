// Streaming image files (patchwork train --stream): decoded on demand, the same tensors as the
// in-memory loader, bad files named or skipped and counted, and the same pretext training.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "engine/io/image.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "tasks/datasets.h"
#include "tasks/image_source.h"
#include "tasks/train.h"

using namespace pw;
namespace fs = std::filesystem;

namespace {

// A flat folder of small photos of different sizes (random smooth-ish content, never constant).
std::vector<std::string> make_folder(const fs::path& dir, int n) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  Generator g(4);
  std::vector<std::string> paths;
  for (int i = 0; i < n; ++i) {
    io::Image img = io::Image::filled(3, 30 + 7 * i, 41 + 3 * i);
    for (float& v : img.pixels) v = 0.2f + 0.6f * g.uniform();
    const std::string p = (dir / ("img" + std::to_string(i) + ".png")).string();
    io::write_png(p, img);
    paths.push_back(p);
  }
  return paths;
}

}  // namespace

TEST(Stream, FilesDecodeToTheSameTensorsAsTheInMemoryLoader) {
  const fs::path dir = fs::temp_directory_path() / ("pw_stream_" + std::to_string(::getpid()));
  std::vector<std::string> paths = make_folder(dir, 7);
  tasks::DataOptions o;
  o.image_size = 16;
  tasks::Dataset d = tasks::load_dataset("images:" + dir.string(), o);
  tasks::StreamOptions so;
  so.image_size = 16;
  so.workers = 3;
  tasks::FileSource src(paths, so);
  ASSERT_EQ(src.size(), 7);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(src.mean()[c], d.mean[c], 1e-5);
    EXPECT_NEAR(src.std()[c], d.std[c], 1e-5);
  }
  Tensor all = src.gather({0, 1, 2, 3, 4, 5, 6});
  std::vector<float> a = all.to_vector_f32(), b = d.train_images.to_vector_f32();
  ASSERT_EQ(a.size(), b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, (double)std::fabs(a[i] - b[i]));
  EXPECT_LT(worst, 1e-4);
  // Any order, repeats allowed.
  Tensor some = src.gather({6, 0, 6});
  EXPECT_EQ(some.select(0, 0).to_vector_f32(), all.select(0, 6).to_vector_f32());
  EXPECT_EQ(some.select(0, 2).to_vector_f32(), all.select(0, 6).to_vector_f32());
  EXPECT_THROW(src.gather({7}), Error);
  fs::remove_all(dir);
}

TEST(Stream, BadFilesAreNamedOrSkippedAndCounted) {
  const fs::path dir = fs::temp_directory_path() / ("pw_stream_bad_" + std::to_string(::getpid()));
  std::vector<std::string> paths = make_folder(dir, 4);
  const std::string bad = (dir / "broken.png").string();
  std::ofstream(bad) << "\x89PNG not really";
  paths.insert(paths.begin() + 2, bad);
  tasks::StreamOptions so;
  so.image_size = 8;
  try {
    tasks::FileSource src(paths, so);  // the statistics decode every file of a short list
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("broken.png"), std::string::npos) << e.what();
  }
  so.skip_bad = true;
  tasks::FileSource src(paths, so);
  Tensor x = src.gather({2, 3});  // the broken file is replaced by the next one
  EXPECT_EQ(x.select(0, 0).to_vector_f32(), x.select(0, 1).to_vector_f32());
  EXPECT_GE(src.skipped(), 1);
  fs::remove_all(dir);
}

TEST(Stream, PretextTrainingFromFilesEqualsTrainingFromMemory) {
  const fs::path dir = fs::temp_directory_path() / ("pw_stream_train_" + std::to_string(::getpid()));
  std::vector<std::string> paths = make_folder(dir, 6);
  tasks::StreamOptions so;
  so.image_size = 24;
  auto files = std::make_shared<tasks::FileSource>(paths, so);
  Tensor memory = files->gather({0, 1, 2, 3, 4, 5});
  tasks::TrainConfig c;
  c.task = "rotation";
  c.width = 0.25;
  c.batch_size = 4;
  c.epochs = 2;
  c.optimizer = "adam";
  c.lr = 1e-3;
  c.progress = false;
  tasks::TrainData from_files, from_memory;
  from_files.train = files;
  from_memory.train = std::make_shared<tasks::TensorSource>(memory);
  from_files.mean = from_memory.mean = files->mean();
  from_files.std = from_memory.std = files->std();
  const tasks::TrainResult a = tasks::run_train(c, from_files);
  const tasks::TrainResult b = tasks::run_train(c, from_memory);
  ASSERT_EQ(a.loop.losses.size(), 4u);
  EXPECT_EQ(a.loop.losses, b.loop.losses);
  fs::remove_all(dir);
}
