// Classifier evaluation (tasks/evaluate) and `patchwork neighbors` as a task (tasks/neighbors):
// hand-computed top-1 / top-5 / confusion / loss, label checks, and both commands' runs on a small
// generated class-folder dataset (files written, their JSON, the exclusions of patch retrieval).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/io/image.h"
#include "engine/io/json.h"
#include "engine/nn.h"
#include "engine/util/rng.h"
#include "tasks/evaluate.h"
#include "tasks/neighbors.h"
#include "tests/support/gradcheck.h"

using namespace pw;
using pw::testing::expect_error;
namespace fs = std::filesystem;

namespace {

// A linear classifier over 2 inputs and 3 classes with weights [[1, 0], [0, 1], [0.5, 0.5]].
std::shared_ptr<nn::Linear> three_class_linear() {
  auto lin = std::make_shared<nn::Linear>(2, 3);
  lin->weight.copy_(Tensor::from_vector(std::vector<float>{1, 0, 0, 1, 0.5f, 0.5f}, {3, 2}));
  lin->bias.fill_(0);
  return lin;
}

// A class-folder dataset of random 28x28 colour images: 3 classes x 5 images (1 per class in test).
std::string class_folders(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / name;
  fs::remove_all(dir);
  Generator g(9);
  for (const char* cls : {"ant", "bee", "cat"}) {
    fs::create_directories(dir / cls);
    for (int i = 0; i < 5; ++i) {
      io::Image img = io::Image::filled(3, 28, 28);
      g.fill_uniform(img.pixels.data(), (int64_t)img.pixels.size(), 0.f, 1.f);
      io::write_png((dir / cls / ("img" + std::to_string(i) + ".png")).string(), img);
    }
  }
  return "folder:" + dir.string();
}

io::JsonValue read_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return io::parse_json(ss.str(), path);
}

const io::JsonValue& member(const io::JsonValue& v, const std::string& key) {
  for (const auto& [k, m] : v.members)
    if (k == key) return m;
  throw Error("no member " + key);
}

tasks::ModelSource random_alexnet_small() {
  tasks::ModelSource s;
  s.model = "alexnet-small";
  s.seed = 3;
  return s;
}

}  // namespace

TEST(Evaluate, TopOneTopFiveConfusionAndLossByHand) {
  auto lin = three_class_linear();
  // logits: [2, 0, 1], [0, 3, 1.5], [1, 1, 1] (a tie: argmax takes class 0), [-1, -2, -1.5]
  const Tensor x = Tensor::from_vector(std::vector<float>{2, 0, 0, 3, 1, 1, -1, -2}, {4, 2});
  const Tensor y = Tensor::from_vector(std::vector<int32_t>{0, 2, 2, 1}, {4});
  const tasks::Evaluation ev = tasks::evaluate(*lin, x, y, 3, 3);  // two batches
  EXPECT_EQ(ev.images, 4);
  EXPECT_DOUBLE_EQ(ev.accuracy, 0.25);  // only the first: the tie counts for class 0, not 2
  EXPECT_DOUBLE_EQ(ev.top5, 1.0);       // 3 classes
  EXPECT_EQ(ev.confusion, (std::vector<int64_t>{1, 0, 0, 1, 0, 0, 1, 1, 0}));
  const double rows[4][3] = {{2, 0, 1}, {0, 3, 1.5}, {1, 1, 1}, {-1, -2, -1.5}};
  const int truth[4] = {0, 2, 2, 1};
  double loss = 0;
  for (int i = 0; i < 4; ++i)
    loss += std::log(std::exp(rows[i][0]) + std::exp(rows[i][1]) + std::exp(rows[i][2])) - rows[i][truth[i]];
  EXPECT_NEAR(ev.loss, loss / 4, 1e-6);
  EXPECT_TRUE(lin->is_training());  // its mode is back
}

TEST(Evaluate, LabelsOutsideTheClassesAreErrorsBeforeThePass) {
  auto lin = three_class_linear();
  const Tensor x = Tensor::zeros({2, 2});
  expect_error(
      [&] {
        tasks::evaluate(*lin, x, Tensor::from_vector(std::vector<int32_t>{0, 3}, {2}), 8, 3);
      },
      "label 3 of image 1 is outside the model's 3 classes");
  expect_error([&] { tasks::evaluate(*lin, x, Tensor::from_vector(std::vector<int32_t>{0}, {1}), 8, 3); },
               "2 images but labels of shape [1]");
  expect_error(
      [&] {
        tasks::evaluate(*lin, x, Tensor::from_vector(std::vector<int32_t>{0, 1}, {2}), 0, 3);
      },
      "batch size must be positive");
}

TEST(Evaluate, RunEvalWritesThePictureAndTheJson) {
  tasks::EvalConfig c;
  c.source = random_alexnet_small();
  c.data.data = class_folders("pw_eval_folders");
  c.data.image_size = 28;
  c.out_dir = ::testing::TempDir() + "pw_eval_out";
  const tasks::EvalResult r = tasks::run_eval(c);
  EXPECT_EQ(r.model, "alexnet-small");
  EXPECT_EQ(r.evaluation.images, 3);
  EXPECT_EQ(r.evaluation.classes, 10);  // the network's outputs; the data uses 3 of them
  EXPECT_TRUE(r.class_names.empty());   // so no names are attached
  int64_t total = 0;
  for (int64_t v : r.evaluation.confusion) total += v;
  EXPECT_EQ(total, 3);
  EXPECT_LE(r.evaluation.accuracy, r.evaluation.top5);
  EXPECT_TRUE(fs::exists(r.picture));
  const io::JsonValue js = read_json(r.json);
  EXPECT_EQ(member(js, "images").value, 3);
  EXPECT_EQ(member(js, "confusion").items.size(), 10u);
}

tasks::DataOptions sized(int64_t side) {
  tasks::DataOptions o;
  o.image_size = side;
  return o;
}

TEST(Neighbors, RunNeighborsOnImagesAndOnPatches) {
  tasks::NeighborsConfig c;
  c.source = random_alexnet_small();
  c.data.data = class_folders("pw_neighbors_folders");
  c.data.image_size = 28;
  c.layer = "conv2";
  c.queries = 2;
  c.k = 4;
  c.out_dir = ::testing::TempDir() + "pw_neighbors_out";
  tasks::NeighborsResult r = tasks::run_neighbors(c);
  EXPECT_EQ(r.layer, "features.conv2");
  ASSERT_EQ(r.neighbors.index.size(), 2u);  // the first two test images
  EXPECT_EQ(r.neighbors.index[0].size(), 4u);
  EXPECT_GE(r.label_agreement, 0.0);
  EXPECT_LE(r.label_agreement, 1.0);
  EXPECT_TRUE(fs::exists(r.picture));
  EXPECT_EQ(member(read_json(r.json), "queries").items.size(), 2u);

  c.patch = 12;  // random patches as base and queries: a query never retrieves itself
  c.patches_per_image = 3;
  c.queries = 5;
  r = tasks::run_neighbors(c);
  const tasks::PatchQueries pq =
      tasks::random_patch_queries(tasks::load_dataset(*c.data.data, sized(28)).train_images, 3, 12, 5, c.seed);
  ASSERT_EQ(r.neighbors.index.size(), 5u);
  for (size_t q = 0; q < 5; ++q)
    for (int64_t j : r.neighbors.index[q]) EXPECT_NE(j, pq.picked[q]);
  EXPECT_LT(r.label_agreement, 0);  // patches carry no labels

  c.k = 0;
  expect_error([&] { tasks::run_neighbors(c); }, "--queries and --k must be positive");
}
