// Fine-tuning a transferred trunk through the supervised trainer: the checkpoint's first n
// convolutions are copied before training and, frozen, stay exactly as they were.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <filesystem>

#include "engine/io/checkpoint.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "models/registry.h"
#include "tasks/load_model.h"
#include "tasks/train.h"

using namespace pw;

namespace {

std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("pw_finetune_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}

// A "pretext" trunk: rotation-alexnet-small with non-default weights, saved as a checkpoint.
std::string make_source(const std::string& dir) {
  models::ModelConfig mc;
  mc.in_channels = 1;
  mc.width = 0.5;
  manual_seed(123);
  auto src = models::create("rotation-alexnet-small", mc);
  std::string path = dir + "/source.safetensors";
  io::save_checkpoint(path, *src, nullptr, 0, nullptr, {{"model", "rotation-alexnet-small"}, {"width", "0.5"}});
  return path;
}

tasks::TrainConfig small_run(const std::string& dir) {
  tasks::TrainConfig c;
  c.model = "alexnet-small";
  c.width = 0.5;
  c.epochs = 1;
  c.batch_size = 32;
  c.optimizer = "adamw";
  c.lr = 3e-3;
  c.limit_train = 256;
  c.limit_test = 64;
  c.progress = false;
  c.out_dir = dir + "/run";
  return c;
}

}  // namespace

TEST(FineTune, FrozenTransferredLayersStayAndTheRestTrains) {
  std::string dir = temp_dir("frozen");
  std::string src_path = make_source(dir);
  tasks::TrainConfig c = small_run(dir);
  c.init_from = src_path;
  c.transfer_layers = 2;
  c.freeze = true;
  const tasks::TrainResult r = tasks::run_train(c);
  ASSERT_EQ(r.transfer.size(), 2u);

  tasks::ModelSource s;
  s.checkpoint = src_path;
  auto src = tasks::load_model(s, 1).model->state_dict();
  auto dst = r.model->state_dict();
  // Copied and frozen: bit-identical after training.
  for (const char* name : {"features.conv1.weight", "features.conv1.bias", "features.conv2.weight"})
    EXPECT_EQ(src.at(name).to_vector_f32(), dst.at(name).to_vector_f32()) << name;
  // Not copied: trained from its own initialization, so it differs from the source's.
  EXPECT_NE(src.at("features.conv3.weight").to_vector_f32(), dst.at("features.conv3.weight").to_vector_f32());
  // The checkpoint says where the trunk came from.
  io::Checkpoint ck = io::read_checkpoint(c.out_dir + "/checkpoint.safetensors");
  EXPECT_EQ(ck.config.at("init_from"), src_path);
  EXPECT_EQ(ck.config.at("freeze"), "true");
  std::filesystem::remove_all(dir);
}

TEST(FineTune, UnfrozenTransferStartsFromTheSourceAndMoves) {
  std::string dir = temp_dir("unfrozen");
  std::string src_path = make_source(dir);
  tasks::TrainConfig c = small_run(dir);
  c.init_from = src_path;
  const tasks::TrainResult r = tasks::run_train(c);
  EXPECT_EQ(r.transfer.size(), 5u);  // every convolution of alexnet-small
  tasks::ModelSource s;
  s.checkpoint = src_path;
  auto src = tasks::load_model(s, 1).model->state_dict();
  auto dst = r.model->state_dict();
  std::vector<float> a = src.at("features.conv1.weight").to_vector_f32(),
                     b = dst.at("features.conv1.weight").to_vector_f32();
  ASSERT_EQ(a.size(), b.size());
  EXPECT_NE(a, b);
  // Moved by training but still close to where it started (AdamW, 8 steps of 3e-3).
  double max_diff = 0;
  for (size_t i = 0; i < a.size(); ++i) max_diff = std::max(max_diff, (double)std::fabs(a[i] - b[i]));
  EXPECT_LT(max_diff, 0.1);
  std::filesystem::remove_all(dir);
}

TEST(FineTune, MismatchedTrunkIsAnErrorNamingTheLayers) {
  std::string dir = temp_dir("mismatch");
  std::string src_path = make_source(dir);  // width 0.5
  tasks::TrainConfig c = small_run(dir);
  c.width = 1;
  c.init_from = src_path;
  try {
    tasks::run_train(c);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("features.conv1"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

TEST(FineTune, CheckpointsRecordWhetherTheNetworkHasBatchNorm) {
  // jigsaw-small without batch norm (the paper's CFN) reloads as it was built: load_model reads
  // config.batch_norm, so a strict load finds exactly the tensors the file holds.
  std::string dir = temp_dir("bn");
  for (bool bn : {false, true}) {
    models::ModelConfig mc;
    mc.in_channels = 1;
    mc.width = 0.5;
    mc.batch_norm = bn;
    auto net = models::create("jigsaw-small", mc);
    const std::string path = dir + (bn ? "/bn.safetensors" : "/plain.safetensors");
    io::save_checkpoint(path, *net, nullptr, 0, nullptr,
                        {{"model", "jigsaw-small"}, {"width", "0.5"}, {"batch_norm", bn ? "true" : "false"}});
    tasks::ModelSource s;
    s.checkpoint = path;
    auto loaded = tasks::load_model(s, 1).model;
    EXPECT_EQ(loaded->state_dict().size(), net->state_dict().size()) << "batch norm " << bn;
    EXPECT_EQ(loaded->state_dict().count("features.bn3.running_mean"), bn ? 1u : 0u);
  }
  std::filesystem::remove_all(dir);
}
