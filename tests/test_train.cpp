// The one training loop (tasks/train_loop.h) through run_train (tasks/train.h): every task stopped
// inside an epoch and resumed with nothing but its output folder gives the losses and weights
// of a run that never stopped; the output folder's rules; settings that make no sense or
// contradict the checkpoint are errors naming flag and values; Ctrl-C saves and stops.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/io/checkpoint.h"
#include "engine/nn/layers.h"
#include "engine/util/error.h"
#include "tasks/train.h"
#include "tasks/train_loop.h"
#include "tests/support/data_files.h"
#include "tests/support/gradcheck.h"
#include "tests/support/json_files.h"

using namespace pw;
using namespace pw::tasks;
namespace fs = std::filesystem;

namespace {

std::string scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("pw_train_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d.string();
}

// 40 training images (3 x 32 x 32, random pixels, labels 0..9) and 16 test images.
const std::string& cifar_dir() {
  static const std::string dir = [] {
    const std::string d = scratch("cifar");
    pw::testing::write_cifar10(d, 8, 16, 5);
    return d;
  }();
  return dir;
}

// A few PNGs in class folders (read as unlabeled photos by images:DIR).
const std::string& photos_dir() {
  static const std::string dir = [] {
    const std::string d = scratch("photos");
    pw::testing::write_image_folder(d, {"a", "b"}, 2, 8, 1);
    return d;
  }();
  return dir;
}

// 2 epochs of 5 steps (batch 8) on the CIFAR files, small networks, a step record per step.
TrainConfig small_run(const std::string& task, const std::string& out) {
  TrainConfig c;
  c.task = task;
  c.model = task == "supervised" ? "alexnet-small" : "";  // dropout: the restored generator matters
  c.data = "cifar10:" + cifar_dir();
  c.width = 0.25;
  c.epochs = 2;
  c.batch_size = 8;
  c.lr = 0.01;
  c.seed = 3;
  if (task == "jigsaw") c.permutations = 12;
  c.eval_images = 8;
  c.log_every = 1;
  c.progress = false;
  c.out_dir = out;
  return c;
}

std::vector<io::JsonValue> metrics_of(const std::string& dir) {
  std::istringstream lines(pw::testing::read_text(dir + "/metrics.jsonl"));
  std::vector<io::JsonValue> records;
  for (std::string line; std::getline(lines, line);) records.push_back(io::parse_json(line, "metrics.jsonl"));
  return records;
}

bool has(const io::JsonValue& v, const std::string& key) {
  for (const auto& [k, m] : v.members)
    if (k == key) return true;
  return false;
}

// step -> loss of every step record.
std::map<int64_t, std::string> step_losses(const std::string& dir) {
  std::map<int64_t, std::string> out;
  for (const io::JsonValue& r : metrics_of(dir))
    if (!has(r, "train_loss")) {
      const int64_t step = pw::testing::json_member(r, "step").value;
      EXPECT_EQ(out.count(step), 0u) << "step " << step << " recorded twice";
      out[step] = pw::testing::json_member(r, "loss").text;
    }
  return out;
}

}  // namespace

class EveryTask : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryTask, StoppedInsideAnEpochAndResumedWithOnlyItsFolderEqualsAnUninterruptedRun) {
  const std::string task = GetParam(), a = scratch("whole_" + task), b = scratch("split_" + task);
  const TrainResult whole = run_train(small_run(task, a));
  ASSERT_EQ(whole.loop.losses.size(), 10u);
  ASSERT_EQ(whole.loop.epochs.size(), 2u);

  TrainConfig first = small_run(task, b);
  first.stop_after = 7;  // inside the second epoch
  const TrainResult part1 = run_train(first);
  EXPECT_EQ(part1.loop.stop, StopReason::stop_after);
  ASSERT_EQ(part1.loop.steps, 7);
  // Records a run writes after its last checkpoint (a crash) are dropped on resume.
  std::ofstream(b + "/metrics.jsonl", std::ios::app) << "{\"step\": 8, \"loss\": 99}\n";

  TrainConfig again;  // nothing but the folder: every setting comes from the checkpoint
  again.out_dir = b;
  again.resume = true;
  again.progress = false;
  again.log_every = 1;  // how often this invocation logs is not part of the run
  const TrainResult part2 = run_train(again);
  EXPECT_EQ(part2.config.task, task);
  EXPECT_EQ(part2.config.model, whole.config.model);
  EXPECT_EQ(part2.loop.stop, StopReason::finished);
  EXPECT_EQ(part2.loop.first_step, 7);
  ASSERT_EQ(part2.loop.losses.size(), 3u);
  for (size_t i = 0; i < 7; ++i) EXPECT_EQ(part1.loop.losses[i], whole.loop.losses[i]) << "step " << i + 1;
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(part2.loop.losses[i], whole.loop.losses[7 + i]) << "step " << i + 8;
  const auto wa = whole.model->state_dict(), wb = part2.model->state_dict();
  for (const auto& [name, t] : wa) EXPECT_EQ(t.to_vector_f32(), wb.at(name).to_vector_f32()) << name;
  // The second epoch's record sums the steps of both invocations.
  ASSERT_EQ(part2.loop.epochs.size(), 1u);
  EXPECT_EQ(part2.loop.epochs[0].train_loss, whole.loop.epochs[1].train_loss);
  EXPECT_EQ(part2.loop.epochs[0].train_accuracy, whole.loop.epochs[1].train_accuracy);
  EXPECT_EQ(part2.last.accuracy, whole.last.accuracy);
  EXPECT_EQ(part2.last.loss, whole.last.loss);
  // metrics.jsonl: every step once, with the uninterrupted run's losses.
  EXPECT_EQ(step_losses(b), step_losses(a));
  const io::JsonValue summary = io::parse_json(pw::testing::read_text(b + "/summary.json"), "summary.json");
  EXPECT_EQ(pw::testing::json_member(summary, "status").text, "finished");
  EXPECT_EQ(pw::testing::json_member(summary, "steps").value, 10);
  EXPECT_EQ(pw::testing::parse_every_json_file(b).size(), 3u);  // checkpoint header, metrics, summary
  fs::remove_all(a);
  fs::remove_all(b);
}

INSTANTIATE_TEST_SUITE_P(Train, EveryTask, ::testing::Values("supervised", "rotation", "jigsaw", "context"));

TEST(Train, TheCheckpointRecordsTheWholeRun) {
  const std::string dir = scratch("record");
  TrainConfig c = small_run("supervised", dir);
  c.epochs = 1;
  c.crop_padding = 2;
  c.flip = true;
  c.clip_grad_norm = 5;
  c.optimizer = "adamw";
  const TrainResult r = run_train(c);
  const io::Checkpoint ck = io::read_checkpoint(dir + "/checkpoint.safetensors");
  const std::map<std::string, std::string> want = {
      {"task", "supervised"},
      {"model", "alexnet-small"},
      {"width", "0.25"},
      {"batch_norm", "true"},
      {"data", "cifar10:" + cifar_dir()},
      {"limit_train", ""},
      {"crop_padding", "2"},
      {"flip", "true"},
      {"epochs", "1"},
      {"batch_size", "8"},
      {"optimizer", "adamw"},
      {"schedule", "onecycle"},
      {"clip_grad_norm", "5"},
      {"seed", "3"},
      {"data.kind", "cifar10"},
      {"data.train_images", "40"},
      {"data.test_images", "16"},
      {"data.image", "3,32,32"},
      {"outputs", "10"},
      {"data.classes",
       "[\"airplane\",\"automobile\",\"bird\",\"cat\",\"deer\",\"dog\",\"frog\",\"horse\",\"ship\",\"truck\"]"}};
  for (const auto& [key, value] : want) EXPECT_EQ(ck.config.at(key), value) << key;
  for (const char* key : {"data.mean", "data.std"})
    EXPECT_EQ(io::parse_json(ck.config.at(key), key).items.size(), 3u) << key;
  for (const TrainSetting& s : train_settings()) EXPECT_EQ(ck.config.count(s.key), 1u) << s.key;
  EXPECT_EQ(r.class_names.size(), 10u);
  // Clipping is recorded per step.
  for (const io::JsonValue& rec : metrics_of(dir))
    if (!has(rec, "train_loss")) {
      EXPECT_TRUE(has(rec, "grad_norm"));
    }
  fs::remove_all(dir);
}

// Supervised training flips by default where a mirror image keeps its class, trains
// kSupervisedEpochs epochs with label smoothing kSupervisedLabelSmoothing, and the checkpoint
// records them resolved, so that --resume keeps them.
TEST(Train, TheDefaultsResolvedPerDatasetAreRecorded) {
  EXPECT_TRUE(default_flip("fashion-mnist", "mnist"));
  EXPECT_TRUE(default_flip("cifar10:/x", "cifar10"));
  EXPECT_TRUE(default_flip("cifar100:/x", "cifar100"));
  EXPECT_TRUE(default_flip("folder:/x", "folder"));
  EXPECT_FALSE(default_flip("mnist:/x", "mnist"));
  EXPECT_FALSE(default_flip("/a/folder/of/idx/files", "mnist"));  // digits, maybe
  const std::string dir = scratch("defaults");
  TrainConfig c = small_run("supervised", dir);
  c.epochs.reset();
  c.stop_after = 1;
  EXPECT_EQ(run_train(c).config.epochs, kSupervisedEpochs);
  const io::Checkpoint ck = io::read_checkpoint(dir + "/checkpoint.safetensors");
  EXPECT_EQ(ck.config.at("flip"), "true");
  EXPECT_EQ(ck.config.at("epochs"), std::to_string(kSupervisedEpochs));
  EXPECT_EQ(ck.config.at("label_smoothing"), io::config_number(kSupervisedLabelSmoothing));
  TrainConfig again;
  again.out_dir = dir;
  again.resume = true;
  again.progress = false;
  again.flip = false;  // --no-flip
  again.given = {"flip"};
  pw::testing::expect_error([&] { run_train(again); },
                            "--flip gives flip 'false' but the run in '" + dir + "' has 'true'");
  c = small_run("supervised", dir);
  c.flip = false;
  c.force = true;
  c.stop_after = 1;
  run_train(c);
  EXPECT_EQ(io::read_checkpoint(dir + "/checkpoint.safetensors").config.at("flip"), "false");
  c = small_run("rotation", dir);
  c.force = true;
  c.stop_after = 1;
  const TrainResult rotation = run_train(c);
  EXPECT_EQ(rotation.config.flip, false);
  EXPECT_EQ(rotation.config.label_smoothing, 0.0);
  fs::remove_all(dir);
}

// --label-smoothing reaches the loss: the same first step (same weights and batch) has another
// loss with 0.3 than with 0, and 0 is plain cross-entropy (higher smoothing, higher loss at chance).
TEST(Train, LabelSmoothingChangesTheTrainingLoss) {
  const std::string dir = scratch("smoothing");
  std::vector<double> first;
  for (double eps : {0.0, 0.3}) {
    TrainConfig c = small_run("supervised", dir);
    c.label_smoothing = eps;
    c.stop_after = 1;
    c.force = true;
    const TrainResult r = run_train(c);
    ASSERT_EQ(r.loop.losses.size(), 1u);
    first.push_back(r.loop.losses[0]);
    EXPECT_EQ(io::read_checkpoint(dir + "/checkpoint.safetensors").config.at("label_smoothing"),
              io::config_number(eps));
  }
  EXPECT_TRUE(std::isfinite(first[0]) && std::isfinite(first[1]));
  EXPECT_NE(first[0], first[1]);
  fs::remove_all(dir);
}

TEST(Train, ANewRunRefusesAFolderThatIsNotEmptyUnlessForced) {
  const std::string dir = scratch("refuse");
  fs::create_directories(dir);
  std::ofstream(dir + "/notes.txt") << "mine";
  TrainConfig c = small_run("rotation", dir);
  c.epochs = 1;
  pw::testing::expect_error([&] { run_train(c); }, "is not empty (it holds notes.txt)");
  EXPECT_FALSE(fs::exists(dir + "/checkpoint.safetensors"));
  c.force = true;
  run_train(c);
  EXPECT_TRUE(fs::exists(dir + "/checkpoint.safetensors"));
  EXPECT_TRUE(fs::exists(dir + "/notes.txt"));  // --force removes a run's files only
  c.resume = true;
  pw::testing::expect_error([&] { run_train(c); }, "give one");
  TrainConfig none;
  none.out_dir = scratch("nothing_here");
  none.resume = true;
  pw::testing::expect_error([&] { run_train(none); }, "no run to continue");
  none.out_dir = "";
  pw::testing::expect_error([&] { run_train(none); }, "--resume needs --out");
  fs::remove_all(dir);
}

TEST(Train, AFlagThatContradictsTheCheckpointIsAnErrorNamingBothValues) {
  const std::string dir = scratch("contradict");
  TrainConfig first = small_run("jigsaw", dir);
  first.stop_after = 3;
  run_train(first);
  TrainConfig again;
  again.out_dir = dir;
  again.resume = true;
  again.progress = false;
  again.batch_size = 16;
  again.given = {"batch_size"};
  pw::testing::expect_error([&] { run_train(again); },
                            "--batch-size gives batch_size '16' but the run in '" + dir + "' has '8'");
  again.batch_size = 8;  // the same value is no contradiction
  again.task = "supervised";
  again.given = {"batch_size", "task"};
  pw::testing::expect_error([&] { run_train(again); },
                            "--task gives task 'supervised' but the run in '" + dir + "' has 'jigsaw'");
  again.given = {"batch_size"};
  again.stop_after = 4;  // how far this invocation goes is not part of the run
  const TrainResult r = run_train(again);
  EXPECT_EQ(r.loop.steps, 4);
  EXPECT_EQ(r.config.task, "jigsaw");
  fs::remove_all(dir);
}

TEST(Train, SizesThatMakeNoSenseAreErrorsNamingFlagAndValue) {
  struct Case {
    std::function<void(TrainConfig&)> set;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](TrainConfig& c) { c.batch_size = 0; }, "--batch-size must be positive, got 0"},
      {[](TrainConfig& c) { c.batch_size = -4; }, "--batch-size must be positive, got -4"},
      {[](TrainConfig& c) { c.epochs = 0; }, "--epochs must be positive, got 0"},
      {[](TrainConfig& c) { c.limit_train = 0; }, "--limit-train must be positive, got 0"},
      {[](TrainConfig& c) { c.limit_test = -1; }, "--limit-test must be positive, got -1"},
      {[](TrainConfig& c) { c.image_size = 0; }, "--image-size must be positive, got 0"},
      {[](TrainConfig& c) { c.stop_after = 0; }, "--stop-after must be positive, got 0"},
      {[](TrainConfig& c) { c.checkpoint_every = -2; }, "--checkpoint-every must be positive, got -2"},
      {[](TrainConfig& c) { c.clip_grad_norm = 0.0; }, "--clip-grad-norm must be positive, got 0"},
      {[](TrainConfig& c) { c.crop_padding = -1; }, "--crop-padding must be 0 or more, got -1"},
      {[](TrainConfig& c) { c.label_smoothing = 1.0; }, "--label-smoothing must lie in [0, 1), got 1"},
      {[](TrainConfig& c) { c.label_smoothing = -0.1; }, "--label-smoothing must lie in [0, 1), got -0.1"},
      {[](TrainConfig& c) {
         c.task = "rotation";
         c.label_smoothing = 0.1;
       },
       "--label-smoothing applies to supervised training, not to the rotation task"},
      {[](TrainConfig& c) { c.lr = 0; }, "--lr must be positive, got 0"},
      {[](TrainConfig& c) { c.optimizer = "rmsprop"; }, "--optimizer must be one of sgd, adam, adamw, got 'rmsprop'"},
      {[](TrainConfig& c) { c.task = "colorize"; }, "unknown task 'colorize'"},
      {[](TrainConfig& c) { c.patch = 12; }, "--patch applies to the pretext tasks"},
      {[](TrainConfig& c) {
         c.task = "rotation";
         c.flip = true;
       },
       "--flip applies to supervised training, not to the rotation task"},
      {[](TrainConfig& c) {
         c.task = "rotation";
         c.samples_per_epoch = 0;
       },
       "--samples-per-epoch must be positive, got 0"},
      {[](TrainConfig& c) { c.freeze = true; }, "--transfer-layers and --freeze need --init-from"},
      {[](TrainConfig& c) {
         c.data = "mnist:/somewhere";
         c.flip = true;
       },
       "a mirrored digit is not the same digit"},
      {[](TrainConfig& c) { c.crop_padding = 32; }, "--crop-padding 32 must be below the image size 32x32"},
      {[](TrainConfig& c) { c.data = "images:" + photos_dir(); }, "supervised training needs labeled data"},
  };
  for (const Case& k : cases) {
    const std::string dir = scratch("sizes");
    TrainConfig c = small_run("supervised", dir);
    k.set(c);
    SCOPED_TRACE(k.message);
    pw::testing::expect_error([&] { run_train(c); }, k.message);
    EXPECT_FALSE(fs::exists(dir + "/checkpoint.safetensors"));
  }
}

// Ctrl-C (SIGINT, raised here during the fourth step) finishes the step, saves a checkpoint and
// returns `interrupted`; the command line turns that into exit status 130 (test_cli).
TEST(Train, CtrlCFinishesTheStepSavesACheckpointAndStops) {
  const std::string dir = scratch("interrupt");
  manual_seed(1);
  TrainingTask task;
  task.model = std::make_shared<nn::Linear>(4, 3);
  task.steps_per_epoch = 5;
  task.batch = [](int64_t step) {
    Generator g(7, (uint64_t)step);
    return Batch{Tensor::randn({6, 4}, DType::f32, &g),
                 Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 0, 1, 2}, {6})};
  };
  int calls = 0;
  task.loss = [&](const Tensor& out, const Batch& b) {
    if (++calls == 4) std::raise(SIGINT);
    return cross_entropy_loss(out, b.y);
  };
  LoopConfig c;
  c.epochs = 3;
  c.out_dir = dir;
  c.progress = false;
  c.record = {{"what", "a test"}};
  const LoopResult r = run_training_loop(c, task);
  EXPECT_EQ(r.stop, StopReason::interrupted);
  EXPECT_EQ(r.steps, 4);
  const io::Checkpoint ck = io::read_checkpoint(dir + "/checkpoint.safetensors");
  EXPECT_EQ(ck.step, 4);
  EXPECT_EQ(ck.config.at("what"), "a test");
  EXPECT_EQ(ck.config.at("loop.epoch_count"), "24");  // four steps of six into the first epoch
  fs::remove_all(dir);
}
