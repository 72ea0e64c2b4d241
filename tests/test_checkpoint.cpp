// Checkpoints: a run resumed from a checkpoint continues exactly as the uninterrupted run, the
// generator and configuration round-trip, weight files load by torchvision names, and a
// checkpoint that does not fit (other model, other optimizer, bad metadata) is an error that
// changes nothing.
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "engine/io/checkpoint.h"
#include "engine/io/safetensors.h"
#include "engine/nn.h"
#include "engine/ops/loss.h"
#include "engine/optim.h"

using namespace pw;
namespace fs = std::filesystem;

namespace {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

::testing::AssertionResult mentions(const std::string& message, const std::vector<std::string>& parts) {
  if (message.empty()) return ::testing::AssertionFailure() << "no pw::Error was thrown";
  for (const auto& p : parts)
    if (message.find(p) == std::string::npos)
      return ::testing::AssertionFailure() << "the message \"" << message << "\" does not mention \"" << p << "\"";
  return ::testing::AssertionSuccess();
}
#define EXPECT_ERROR(stmt, ...) EXPECT_TRUE(mentions(error_of([&] { stmt; }), {__VA_ARGS__}))

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Linear + BatchNorm1d + ReLU + Linear: "0.weight", "0.bias", "1.weight", "1.bias",
// "1.running_mean", "1.running_var", "3.weight", "3.bias".
std::shared_ptr<nn::Sequential> make_model(int64_t in = 5, int64_t hidden = 8, int64_t out = 3, bool relu = true) {
  auto m = std::make_shared<nn::Sequential>();
  m->push_back(std::make_shared<nn::Linear>(in, hidden));
  m->push_back(std::make_shared<nn::BatchNorm1d>(hidden));
  if (relu) m->push_back(std::make_shared<nn::ReLU>());
  m->push_back(std::make_shared<nn::Linear>(hidden, out));
  return m;
}

std::unique_ptr<optim::SGD> make_sgd(const nn::Module& m) {
  return std::make_unique<optim::SGD>(m.parameters(), 0.1, 0.9, 1e-3);
}

// One training step on a batch drawn from `data`.
void train_step(nn::Module& model, optim::Optimizer& opt, Generator& data) {
  Tensor x = Tensor::randn({6, 5}, DType::f32, &data);
  std::vector<int32_t> labels(6);
  for (auto& l : labels) l = (int32_t)data.randint(0, 3);
  Tensor loss = cross_entropy(model(x), Tensor::from_vector(labels, {6}));
  opt.zero_grad();
  loss.backward();
  opt.step();
}

// A deep copy of the model's state, to compare against later.
std::map<std::string, std::vector<float>> snapshot(const nn::Module& m) {
  std::map<std::string, std::vector<float>> s;
  for (const auto& [name, t] : m.state_dict()) s[name] = t.to_vector_f32();
  return s;
}

class Checkpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("pw_test_checkpoint_" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    path = (dir / "run" / "step2.safetensors").string();
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
  std::string path;
};

}  // namespace

TEST_F(Checkpoint, ResumedRunMatchesTheUninterruptedRun) {
  const std::map<std::string, std::string> config = {
      {"model", "tiny"}, {"lr", "0.1"}, {"note", "spaces, \"quotes\" and\nnewlines"}};
  manual_seed(1);
  auto model = make_model();
  auto opt = make_sgd(*model);
  Generator data(42, 3);
  for (int s = 0; s < 2; ++s) train_step(*model, *opt, data);
  io::save_checkpoint(path, *model, opt.get(), 2, &data, config);
  const uint64_t saved_offset = data.offset();
  ASSERT_GT(saved_offset, 0u);
  for (int s = 0; s < 3; ++s) train_step(*model, *opt, data);

  // A fresh process, as far as the model is concerned: other initial weights, other generator.
  manual_seed(999);
  auto resumed = make_model();
  auto resumed_opt = make_sgd(*resumed);
  Generator resumed_data(7, 0);
  ASSERT_NE(snapshot(*resumed), snapshot(*model));
  io::Checkpoint ckpt = io::read_checkpoint(path);
  EXPECT_EQ(ckpt.step, 2);
  EXPECT_EQ(ckpt.config, config);
  EXPECT_EQ(ckpt.optimizer_name, "SGD");
  io::restore_checkpoint(ckpt, *resumed, resumed_opt.get(), &resumed_data);
  EXPECT_EQ(resumed_data.seed(), 42u);
  EXPECT_EQ(resumed_data.stream(), 3u);
  EXPECT_EQ(resumed_data.offset(), saved_offset);
  EXPECT_EQ(resumed_opt->step_count(), 2);
  for (int s = 0; s < 3; ++s) train_step(*resumed, *resumed_opt, resumed_data);

  // Bit for bit: parameters, batch-norm running statistics, optimizer state, generator.
  EXPECT_EQ(snapshot(*resumed), snapshot(*model));
  const auto a = opt->state(), b = resumed_opt->state();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_EQ(b.at(name).to_vector_f64(), t.to_vector_f64()) << name;
  EXPECT_EQ(resumed_data.offset(), data.offset());
}

TEST_F(Checkpoint, GeneratorStateRoundTripsAs64BitIntegers) {
  auto model = make_model();
  Generator gen(0xFFFFFFFFFFFFFFFFull, 0x8000000000000001ull);
  gen.set_offset(0xFEDCBA9876543211ull);
  io::save_checkpoint(path, *model, nullptr, (int64_t)1 << 53 | 1, &gen);
  io::Checkpoint ckpt = io::read_checkpoint(path);
  EXPECT_EQ(ckpt.step, ((int64_t)1 << 53) + 1);
  ASSERT_TRUE(ckpt.has_rng);
  Generator restored(1, 2);
  io::restore_checkpoint(ckpt, *model, nullptr, &restored);
  EXPECT_EQ(restored.seed(), gen.seed());
  EXPECT_EQ(restored.stream(), gen.stream());
  EXPECT_EQ(restored.offset(), gen.offset());
  EXPECT_EQ(restored.next_u32(), gen.next_u32());
  EXPECT_EQ(io::read_safetensors(path).metadata.at("rng.seed"), "18446744073709551615");
}

TEST_F(Checkpoint, FileIsPlainSafetensorsWithTorchvisionNames) {
  auto model = make_model();
  auto opt = make_sgd(*model);
  Generator data(5);
  train_step(*model, *opt, data);
  io::save_checkpoint(path, *model, opt.get(), 1, nullptr, {{"epochs", "3"}});

  io::SafetensorsFile file = io::read_safetensors(path);
  EXPECT_EQ(file.metadata.at("format"), "patchwork-checkpoint");
  EXPECT_EQ(file.metadata.at("step"), "1");
  EXPECT_EQ(file.metadata.at("optimizer"), "SGD");
  EXPECT_EQ(file.metadata.at("config.epochs"), "3");
  EXPECT_EQ(file.metadata.count("rng.seed"), 0u);
  EXPECT_TRUE(file.tensors.count("model.0.weight"));
  EXPECT_TRUE(file.tensors.count("model.1.running_var"));
  EXPECT_TRUE(file.tensors.count("optim.step_count"));
  EXPECT_TRUE(file.tensors.count("optim.param.0.momentum_buffer"));

  // read_weights strips "model." from a checkpoint and takes a plain weight file as it is.
  const auto expected = snapshot(*model);
  for (const std::string& p : {path, (dir / "plain.safetensors").string()}) {
    if (p != path) io::save_state_dict_file(*model, p);
    std::map<std::string, Tensor> weights = io::read_weights(p);
    ASSERT_EQ(weights.size(), expected.size()) << p;
    for (const auto& [name, v] : expected) EXPECT_EQ(weights.at(name).to_vector_f32(), v) << p << " " << name;
    auto fresh = make_model();
    io::load_state_dict_file(*fresh, p);
    EXPECT_EQ(snapshot(*fresh), expected) << p;
  }
  EXPECT_ERROR(io::read_checkpoint((dir / "plain.safetensors").string()), "plain.safetensors",
               "not a patchwork checkpoint");
  // A plain file with an extra name: strict loading names it, non-strict loading takes the rest.
  std::map<std::string, Tensor> extra = io::read_weights(path);
  extra["head.weight"] = Tensor::ones({2, 2});
  io::write_safetensors((dir / "extra.safetensors").string(), extra);
  auto fresh = make_model();
  EXPECT_ERROR(io::load_state_dict_file(*fresh, (dir / "extra.safetensors").string()), "extra.safetensors",
               "head.weight");
  io::load_state_dict_file(*fresh, (dir / "extra.safetensors").string(), /*strict=*/false);
  EXPECT_EQ(snapshot(*fresh), expected);
}

TEST_F(Checkpoint, CheckpointOfAnotherModelChangesNothing) {
  auto source = make_model();
  auto source_opt = make_sgd(*source);
  Generator data(8);
  train_step(*source, *source_opt, data);
  io::save_checkpoint(path, *source, source_opt.get(), 1, &data);
  const io::Checkpoint ckpt = io::read_checkpoint(path);

  // Wrong shape: the last layer has 4 outputs.
  auto wide = make_model(5, 8, 4);
  auto before = snapshot(*wide);
  EXPECT_ERROR(io::restore_checkpoint(ckpt, *wide, nullptr, nullptr), "3.bias", "[3]", "[4]");
  EXPECT_EQ(snapshot(*wide), before);

  // Other names: without the ReLU the last Linear is "2", so "3.*" is unexpected and "2.*" missing.
  auto other = make_model(5, 8, 3, /*relu=*/false);
  before = snapshot(*other);
  EXPECT_ERROR(io::restore_checkpoint(ckpt, *other, nullptr, nullptr), "missing", "2.weight", "unexpected", "3.weight");
  EXPECT_EQ(snapshot(*other), before);

  // The right model, but another kind of optimizer: refused before anything is loaded.
  auto model = make_model();
  optim::Adam adam(model->parameters());
  before = snapshot(*model);
  EXPECT_ERROR(io::restore_checkpoint(ckpt, *model, &adam, nullptr), "SGD", "Adam");
  EXPECT_EQ(snapshot(*model), before);

  // An optimizer over fewer parameters refuses the state after the model has loaded: the model is
  // put back as it was.
  optim::SGD partial(std::vector<Tensor>{model->parameters()[0], model->parameters()[1]}, 0.1, 0.9);
  Generator rng(123);
  EXPECT_ERROR(io::restore_checkpoint(ckpt, *model, &partial, &rng), "optim", "parameter");
  EXPECT_EQ(snapshot(*model), before);
  EXPECT_EQ(partial.step_count(), 0);
  EXPECT_EQ(rng.seed(), 123u);

  // A step count that is not a whole number in range (a corrupt file; tests/fuzz_regressions/checkpoint/):
  // refused with the value, before it is converted.
  for (const double bad : {6.6e170, -1.0, 2.5, std::nan("")}) {
    io::Checkpoint odd = ckpt;
    odd.optimizer["step_count"] = Tensor::from_vector(std::vector<double>{bad}, {1});
    auto sgd = make_sgd(*model);
    EXPECT_ERROR(io::restore_checkpoint(odd, *model, sgd.get(), nullptr), "step_count", "whole number of steps");
    EXPECT_EQ(snapshot(*model), before);
  }

  // Asking for what was not saved.
  io::save_checkpoint(path, *source, nullptr, 1, nullptr);
  const io::Checkpoint bare = io::read_checkpoint(path);
  auto opt = make_sgd(*model);
  EXPECT_ERROR(io::restore_checkpoint(bare, *model, opt.get(), nullptr), "no optimizer state");
  EXPECT_ERROR(io::restore_checkpoint(bare, *model, nullptr, &rng), "no generator state");
  EXPECT_EQ(snapshot(*model), before);
  // And everything that was saved loads.
  io::restore_checkpoint(ckpt, *model, opt.get(), &rng);
  EXPECT_EQ(snapshot(*model), snapshot(*source));
}

TEST_F(Checkpoint, BadMetadataIsAnError) {
  const std::string file = (dir / "bad.safetensors").string();
  const std::map<std::string, Tensor> tensors = {{"model.w", Tensor::ones({2})}};
  const auto write = [&](std::map<std::string, std::string> md, std::map<std::string, Tensor> t) {
    md.emplace("format", "patchwork-checkpoint");
    io::write_safetensors(file, t, md);
  };
  write({}, tensors);
  EXPECT_ERROR(io::read_checkpoint(file), "bad.safetensors", "'step' is missing");
  write({{"step", "12x"}}, tensors);
  EXPECT_ERROR(io::read_checkpoint(file), "'step'", "12x");
  write({{"step", "-3"}}, tensors);
  EXPECT_ERROR(io::read_checkpoint(file), "'step'", "negative");
  write({{"step", "1"}, {"rng.seed", "1"}, {"rng.stream", "0"}}, tensors);
  EXPECT_ERROR(io::read_checkpoint(file), "generator state is incomplete");
  write({{"step", "1"}, {"rng.seed", "1"}, {"rng.stream", "0"}, {"rng.offset", "18446744073709551616"}}, tensors);
  EXPECT_ERROR(io::read_checkpoint(file), "'rng.offset'", "18446744073709551616");
  write({{"step", "1"}}, {{"model.w", Tensor::ones({2})}, {"stray", Tensor::ones({1})}});
  EXPECT_ERROR(io::read_checkpoint(file), "unexpected tensor 'stray'");
  io::write_safetensors(file, tensors, {{"format", "something-else"}, {"step", "1"}});
  EXPECT_ERROR(io::read_checkpoint(file), "not a patchwork checkpoint", "something-else");
}

TEST_F(Checkpoint, FailedSaveKeepsThePreviousCheckpoint) {
  auto model = make_model();
  auto opt = make_sgd(*model);
  io::save_checkpoint(path, *model, opt.get(), 1, nullptr, {{"k", "v"}});
  const std::string before = read_file(path);
  EXPECT_ERROR(io::save_checkpoint(path, *model, opt.get(), 2, nullptr, {{"k", "\xff\xfe"}}), path, "UTF-8");
  EXPECT_EQ(read_file(path), before);
  EXPECT_ERROR(io::save_checkpoint(path, *model, opt.get(), -1, nullptr), path, "step");
  EXPECT_EQ(read_file(path), before);
}
