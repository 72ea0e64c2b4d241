// One --data argument for every kind: folders of PNG files written here, their kinds guessed,
// split, normalized; bad specs are clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/io/image.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "tasks/datasets.h"

using namespace pw;
namespace fs = std::filesystem;

namespace {
void write_random_png(const std::string& path, int64_t c, int64_t h, int64_t w, uint64_t seed) {
  Generator g(seed);
  io::Image img{c, h, w, std::vector<float>(c * h * w)};
  g.fill_uniform(img.pixels.data(), (int64_t)img.pixels.size(), 0.f, 1.f);
  io::write_png(path, img);
}
}  // namespace

TEST(DataSpec, ClassFoldersAreSplitResizedAndNormalized) {
  const fs::path dir = fs::path(::testing::TempDir()) / "pw_data_spec_folder";
  fs::remove_all(dir);
  for (const char* cls : {"cat", "ant", "bee"}) {
    fs::create_directories(dir / cls);
    for (int i = 0; i < 5; ++i)
      write_random_png((dir / cls / ("img" + std::to_string(i) + ".png")).string(), 3, 40 + i, 30, i * 7 + cls[0]);
  }
  tasks::DataOptions o;
  o.image_size = 16;
  o.test_fraction = 0.2;  // every 5th image of each class
  for (const std::string& spec : {"folder:" + dir.string(), dir.string()}) {
    tasks::Dataset d = tasks::load_dataset(spec, o);
    EXPECT_EQ(d.kind, "folder");
    EXPECT_EQ(d.classes, (std::vector<std::string>{"ant", "bee", "cat"}));
    EXPECT_EQ(d.train_images.shape(), (Shape{12, 3, 16, 16}));
    EXPECT_EQ(d.test_images.shape(), (Shape{3, 3, 16, 16}));
    EXPECT_EQ(d.train_labels.to_vector_i32(), (std::vector<int32_t>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}));
    EXPECT_EQ(d.test_labels.to_vector_i32(), (std::vector<int32_t>{0, 1, 2}));
    // Normalized with the training set's statistics: mean 0, std 1 per channel.
    std::vector<float> v = d.train_images.to_vector_f32();
    double s = 0, sq = 0;
    for (size_t i = 0; i < v.size(); i += 3) s += v[i], sq += v[i] * v[i];
    const double n = (double)v.size() / 3;
    EXPECT_NEAR(s / n, 0, 0.05);
    EXPECT_NEAR(sq / n, 1, 0.1);
    EXPECT_EQ(d.mean.size(), 3u);
    EXPECT_NEAR(d.mean[0], 0.5, 0.05);  // uniform pixels
  }
}

TEST(DataSpec, FlatFoldersAreUnlabeledAndBadSpecsAreErrors) {
  const fs::path dir = fs::path(::testing::TempDir()) / "pw_data_spec_flat";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (int i = 0; i < 3; ++i) write_random_png((dir / ("p" + std::to_string(i) + ".png")).string(), 3, 50, 70, i);
  tasks::DataOptions o;
  o.image_size = 24;
  tasks::Dataset d = tasks::load_dataset(dir.string(), o);
  EXPECT_EQ(d.kind, "images");
  EXPECT_FALSE(d.labeled());
  EXPECT_FALSE(d.test_images.defined());
  EXPECT_EQ(d.train_images.shape(), (Shape{3, 3, 24, 24}));
  auto message = [&](const std::string& spec) {
    try {
      tasks::load_dataset(spec, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("/nonexistent/pw_data").find("/nonexistent/pw_data"), std::string::npos);
  EXPECT_NE(message("imagenet:/tmp").find("unknown kind 'imagenet'"), std::string::npos);
  EXPECT_NE(message("cifar10:/nonexistent/cifar").find("/nonexistent/cifar"), std::string::npos);
  fs::create_directories(dir / "empty");
  EXPECT_NE(message("images:" + (dir / "empty").string()).find("empty"), std::string::npos);
  // A name longer than the system allows is a pw::Error, not a std::filesystem_error (the inputs:
  // tests/fuzz_regressions/data_spec/).
  const std::string long_name(300, 'a');
  EXPECT_NE(message(long_name).find("nor a folder"), std::string::npos);
  EXPECT_NE(message("mnist:" + long_name).find("not found"), std::string::npos);
}
