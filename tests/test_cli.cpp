// The `patchwork` command line: help, version, errors as one line with a non-zero exit, and every
// JSON file the commands write read back with the strict reader.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/io/checkpoint.h"
#include "tests/support/cli.h"
#include "tests/support/data_files.h"
#include "tests/support/json_files.h"

namespace {

using Result = pw::testing::CliResult;
Result run(const std::string& args) { return pw::testing::run_cli(args); }

// `s` for the shell, inside single quotes.
std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The file names under `dir` (relative), of the files parse_every_json_file checked.
std::vector<std::string> strict_json_files(const std::string& dir) {
  std::vector<std::string> names;
  for (const std::string& f : pw::testing::parse_every_json_file(dir))  // throws at the first bad one
    names.push_back(std::filesystem::relative(f, dir).string());
  std::sort(names.begin(), names.end());
  return names;
}

using pw::testing::count_lines;

}  // namespace

TEST(Cli, HelpListsCommands) {
  Result r = run("--help");
  EXPECT_EQ(r.status, 0);
  for (const char* cmd : {"train", "devices", "version", "models"})
    EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd << " missing from:\n" << r.out;
}

// Every command builds its flags when asked for help, so a flag declared twice (an error in
// tools/args.cpp) fails here.
TEST(Cli, EveryCommandDeclaresItsFlagsOnce) {
  for (const char* cmd :
       {"devices",         "models",       "summary",    "forward",    "train",       "train --task jigsaw",
        "probe",           "eval",         "neighbors",  "study",      "viz filters", "viz class",
        "viz unit",        "viz saliency", "viz guided", "viz deconv", "viz invert",  "viz dream",
        "viz top-patches", "viz sheet"}) {
    const Result r = run(std::string(cmd) + " --help");
    EXPECT_EQ(r.status, 0) << cmd << "\n" << r.out;
    EXPECT_NE(r.out.find("usage: patchwork"), std::string::npos) << cmd << "\n" << r.out;
  }
}

TEST(Cli, TrainHelpExplainsEveryFlag) {
  Result r = run("train --help");
  EXPECT_EQ(r.status, 0);
  for (const char* flag :
       {"--epochs", "--batch-size", "--lr", "--seed", "--threads", "--out", "--data", "--resume", "--force",
        "--crop-padding", "--flip", "--label-smoothing", "--clip-grad-norm", "--task", "--permutations"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
}

TEST(Cli, VersionAndDevices) {
  EXPECT_EQ(run("version").out.rfind("patchwork ", 0), 0u);
  Result d = run("devices");
  EXPECT_EQ(d.status, 0);
  EXPECT_NE(d.out.find("cpu"), std::string::npos);
}

// Exit status as the README documents it: 0 done, 1 an error, 2 an unknown command (130 for
// Ctrl-C: CtrlCSavesACheckpointAndExits130 and test_cli_checkpoints).
TEST(Cli, ErrorsAreOneLineAndNonZero) {
  EXPECT_EQ(run("version").status, 0);
  EXPECT_EQ(run("eval --help").status, 0);
  Result unknown = run("train --no-such-flag 3");
  EXPECT_EQ(unknown.status, 1);
  EXPECT_EQ(count_lines(unknown.out), 1) << unknown.out;
  EXPECT_NE(unknown.out.find("--no-such-flag"), std::string::npos);

  Result bad_number = run("train --epochs three");
  EXPECT_EQ(bad_number.status, 1);
  EXPECT_NE(bad_number.out.find("--epochs expects an integer"), std::string::npos) << bad_number.out;

  Result missing = run("train --data /nonexistent/dir --quiet --force --out /tmp/pw_cli_test_run");
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.out.find("error: "), std::string::npos) << missing.out;
  EXPECT_NE(missing.out.find("/nonexistent/dir"), std::string::npos) << missing.out;

  Result bad_cmd = run("frobnicate");
  EXPECT_EQ(bad_cmd.status, 2);
  EXPECT_NE(bad_cmd.out.find("unknown command 'frobnicate'"), std::string::npos) << bad_cmd.out;
}

TEST(Cli, SummaryOfPretextNetworks) {
  Result r = run("summary --model jigsaw-net");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("head.fc8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[9, 96, 27, 27]"), std::string::npos) << r.out;
  Result bad = run("summary --model jigsaw-net --input 3,64,64");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("T,C,H,W"), std::string::npos) << bad.out;
}

// `patchwork forward` on the committed PyTorch fixture: it writes logits, loss and gradients;
// bad invocations are one clear line.
TEST(Cli, ForwardWritesLogitsLossAndGradients) {
  const std::string fx = std::string(PW_SOURCE_DIR_FOR_CLI) + "/tests/fixtures/vgg-small";
  const std::string out = ::testing::TempDir() + "pw_cli_forward.safetensors";
  const std::string common = "forward --model vgg-small --width 0.125 --dropout 0 --weights " + fx +
                             ".weights.safetensors --input " + fx + ".input.safetensors ";
  Result r = run(common + "--labels " + fx + ".input.safetensors --output " + out);
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("wrote 25 tensors"), std::string::npos) << r.out;  // logits, loss, input.grad, 22 params
  EXPECT_NE(r.out.find("loss 2.29"), std::string::npos) << r.out;

  Result missing = run("forward --model vgg-small --output " + out);
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.out.find("--weights is required"), std::string::npos) << missing.out;
  Result wrong_model = run("forward --model alexnet-small --width 0.125 --weights " + fx +
                           ".weights.safetensors --input " + fx + ".input.safetensors --output " + out);
  EXPECT_NE(wrong_model.status, 0);
  EXPECT_EQ(count_lines(wrong_model.out), 1) << wrong_model.out;
  EXPECT_NE(wrong_model.out.find("missing"), std::string::npos) << wrong_model.out;
  Result bad_mode = run(common + "--mode sideways --output " + out);
  EXPECT_NE(bad_mode.out.find("--mode must be eval or train"), std::string::npos) << bad_mode.out;
}

TEST(Cli, PretextTrainingAndProbeFlagsAndErrors) {
  Result help = run("train --task jigsaw --help");
  EXPECT_EQ(help.status, 0);
  for (const char* flag : {"--permutations", "--grid", "--tile", "--patch", "--gap", "--jitter", "--resume",
                           "--checkpoint-every", "--color-defense", "--data", "--image-size"})
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  EXPECT_NE(run("train --help").out.find("--task"), std::string::npos);
  const std::string out = " --force --out " + ::testing::TempDir() + "pw_cli_pretext_errors";
  Result bad_task = run("train --task colorize --data /nonexistent/photos --quiet" + out);
  EXPECT_NE(bad_task.status, 0);
  EXPECT_EQ(count_lines(bad_task.out), 1) << bad_task.out;
  EXPECT_NE(bad_task.out.find("unknown task 'colorize'"), std::string::npos) << bad_task.out;
  Result no_data = run("train --task rotation --data /nonexistent/photos --quiet" + out);
  EXPECT_NE(no_data.status, 0);
  EXPECT_NE(no_data.out.find("/nonexistent/photos"), std::string::npos) << no_data.out;
  Result probe = run("probe --random --model fmnist-cnn --data /nonexistent/data");
  EXPECT_NE(probe.status, 0);
  EXPECT_NE(probe.out.find("/nonexistent/data"), std::string::npos) << probe.out;
  Result probe_help = run("probe --help");
  EXPECT_NE(probe_help.out.find("--layer"), std::string::npos);
  EXPECT_NE(probe_help.out.find("--random"), std::string::npos);
}

// `patchwork viz top-patches` and `viz sheet`: bad layers and units are one clear line naming the
// value; a tiny sheet of a random network writes its page.
TEST(Cli, VizTopPatchesAndSheet) {
  const std::string net = "--random --model alexnet-small --limit 16 --threads 1 ";
  const std::string out = ::testing::TempDir() + "pw_cli_sheet";
  Result layer = run("viz top-patches " + net + "--layer conv9 --out " + out);
  EXPECT_NE(layer.status, 0);
  EXPECT_EQ(count_lines(layer.out), 1) << layer.out;
  EXPECT_NE(layer.out.find("'conv9'"), std::string::npos) << layer.out;
  Result unit = run("viz top-patches " + net + "--layer conv3 --units 3,96 --out " + out);
  EXPECT_NE(unit.status, 0);
  EXPECT_EQ(count_lines(unit.out), 1) << unit.out;
  EXPECT_NE(unit.out.find("unit 96 is out of range"), std::string::npos) << unit.out;
  EXPECT_NE(unit.out.find("96 channels"), std::string::npos) << unit.out;
  Result sheet_layer = run("viz sheet " + net + "--layers conv1,fc6 --out " + out);
  EXPECT_NE(sheet_layer.status, 0);
  EXPECT_EQ(count_lines(sheet_layer.out), 1) << sheet_layer.out;
  EXPECT_NE(sheet_layer.out.find("no convolution named 'fc6'"), std::string::npos) << sheet_layer.out;
  Result cap = run("viz sheet " + net + "--units-per-layer 0 --out " + out);
  EXPECT_NE(cap.status, 0);
  EXPECT_NE(cap.out.find("--units-per-layer must be positive, got 0"), std::string::npos) << cap.out;
  Result help = run("viz sheet --help");
  for (const char* flag : {"--layers", "--units-per-layer", "--k", "--limit", "--iterations", "--data"})
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  Result ok = run("viz sheet " + net + "--layers conv1,conv2 --units-per-layer 2 --k 2 --iterations 2 --out " + out);
  EXPECT_EQ(ok.status, 0) << ok.out;
  EXPECT_NE(ok.out.find("sheet.html"), std::string::npos) << ok.out;
  FILE* f = std::fopen((out + "/sheet-features_conv2.png").c_str(), "rb");
  EXPECT_NE(f, nullptr);
  if (f) std::fclose(f);
}

// `patchwork viz` errors: unknown layer, unit or class out of range, unreadable image, unknown
// method; each one line naming the value. And a small class-model run writes its PNG and sidecar.
TEST(Cli, VizErrorsAndAClassModelRun) {
  const std::string net = "--random --model alexnet-small --width 0.25 --threads 1 ";
  const std::string out = ::testing::TempDir() + "pw_cli_viz";
  struct Case {
    std::string args, expect;
  };
  for (const Case& c : std::vector<Case>{
           {"viz unit " + net + "--layer conv9 --out " + out, "'conv9'"},
           {"viz unit " + net + "--layer conv3 --units 0,500 --out " + out, "unit 500 is out of range"},
           {"viz class " + net + "--classes 10 --out " + out, "class 10 is out of range"},
           {"viz dream " + net + "--image /nonexistent/photo.jpg --out " + out, "/nonexistent/photo.jpg"},
           {"viz filters " + net + "--layer conv2 --out " + out, "cannot be shown as images"},
           {"viz saliency " + net + "--images 0,20000 --out " + out, "image 20000 is out of range"},
           {"viz nonsense", "unknown method 'nonsense'"},
       }) {
    Result r = run(c.args);
    EXPECT_NE(r.status, 0) << c.args;
    EXPECT_NE(r.out.find(c.expect), std::string::npos) << c.args << "\n" << r.out;
  }
  Result ok = run("viz class " + net + "--classes 0,3 --iterations 5 --out " + out);
  ASSERT_EQ(ok.status, 0) << ok.out;
  EXPECT_NE(ok.out.find("class 3: objective"), std::string::npos) << ok.out;
  for (const char* f : {"/class.png", "/class.json"}) {
    FILE* fp = std::fopen((out + f).c_str(), "rb");
    EXPECT_NE(fp, nullptr) << f;
    if (fp) std::fclose(fp);
  }
}

// Output folders whose names hold a quote and a tab, so that a path written into JSON unescaped
// breaks the file.
std::string awkward_dir(const std::string& name) { return ::testing::TempDir() + name + " \"q\"\t"; }

// Training, probing, evaluation and neighbours on a few images: metrics lines, summaries,
// sidecars and checkpoint headers are strict JSON.
TEST(Cli, TrainingOutputsAreStrictJson) {
  const std::string out = awkward_dir("pw_cli_json_train");
  std::filesystem::remove_all(out);
  const std::string few = " --limit-train 64 --limit-test 32 --threads 1 --device cpu";
  const std::string ckpt = quoted(out + "/train/checkpoint.safetensors");
  for (const std::string& args : std::vector<std::string>{
           "train --model alexnet-small --width 0.25 --epochs 1 --batch-size 32 --quiet --out " +
               quoted(out + "/train"),
           "train --task rotation --width 0.25 --batch-size 16 --quiet --out " + quoted(out + "/rotation"),
           "probe --checkpoint " + ckpt + " --layer conv1 --epochs 1 --out " + quoted(out + "/probe.jsonl"),
           "eval --checkpoint " + ckpt + " --out " + quoted(out + "/eval"),
           "neighbors --checkpoint " + ckpt + " --layer conv1 --queries 2 --k 3 --out " + quoted(out + "/neighbors")}) {
    const Result r = run(args + few);
    ASSERT_EQ(r.status, 0) << args << "\n" << r.out;
  }
  EXPECT_EQ(
      strict_json_files(out),
      (std::vector<std::string>{"eval/confusion.json", "neighbors/neighbors.json", "probe.jsonl",
                                "rotation/checkpoint.safetensors", "rotation/metrics.jsonl", "rotation/summary.json",
                                "train/checkpoint.safetensors", "train/metrics.jsonl", "train/summary.json"}));
  const pw::io::JsonValue eval = pw::io::parse_json(pw::testing::read_text(out + "/eval/confusion.json"), "eval");
  EXPECT_EQ(pw::testing::json_member(eval, "checkpoint").text, out + "/train/checkpoint.safetensors");
  std::filesystem::remove_all(out);
}

// Every viz method's sidecar (with every flag, the awkward --out among them) is strict JSON.
TEST(Cli, VizSidecarsAreStrictJson) {
  const std::string out = awkward_dir("pw_cli_json_viz");
  std::filesystem::remove_all(out);
  const std::string net = " --random --model alexnet-small --width 0.25 --threads 1 --device cpu --out " + quoted(out);
  for (const std::string& args : std::vector<std::string>{
           "viz filters", "viz class --classes 0,1 --iterations 2", "viz unit --layer conv2 --units 0,1 --iterations 2",
           "viz saliency --images 0,1 --box", "viz guided --images 0", "viz deconv --images 0",
           "viz invert --images 0 --layer conv2 --iterations 2",
           "viz dream --image " + quoted(out + "/class.png") + " --size 40 --octaves 2 --iterations 2 --layer conv2",
           "viz top-patches --limit 16 --layer conv2 --units 0,1 --k 2",
           "viz sheet --limit 16 --layers conv1 --units-per-layer 2 --k 2 --iterations 2"}) {
    const Result r = run(args + net);
    ASSERT_EQ(r.status, 0) << args << "\n" << r.out;
  }
  EXPECT_EQ(strict_json_files(out),
            (std::vector<std::string>{"class.json", "deconv.json", "dream.json", "filters.json", "guided.json",
                                      "invert.json", "saliency.json", "sheet.json", "top-patches.json", "unit.json"}));
  for (const char* method : {"class", "sheet"}) {
    const pw::io::JsonValue js = pw::io::parse_json(pw::testing::read_text(out + "/" + method + ".json"), method);
    EXPECT_EQ(pw::testing::json_member(pw::testing::json_member(js, "flags"), "out").text, out) << method;
  }
  std::filesystem::remove_all(out);
}

// ---- train: any --data, runs that remember their settings, Ctrl-C ------------------------

using pw::testing::cifar_dir;
using pw::testing::kSmall;
using pw::testing::scratch;

TEST(Cli, TrainsSupervisedOnCifarAndOnAFolderWithTheirClasses) {
  const std::string out = scratch("train_cifar");
  Result cifar = run("train --model vgg-small --data cifar10:" + cifar_dir() + " --epochs 1 --crop-padding 4 --flip" +
                     kSmall + " --out " + out);
  ASSERT_EQ(cifar.status, 0) << cifar.out;
  EXPECT_NE(cifar.out.find("classes (10): airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck"),
            std::string::npos)
      << cifar.out;
  EXPECT_NE(cifar.out.find("supervised vgg-small: 5 of 5 steps"), std::string::npos) << cifar.out;
  const pw::io::JsonValue summary = pw::io::parse_json(pw::testing::read_text(out + "/summary.json"), "summary.json");
  EXPECT_EQ(pw::testing::json_member(summary, "classes").items.size(), 10u);
  EXPECT_EQ(pw::testing::json_member(summary, "data_kind").text, "cifar10");

  const std::string photos = scratch("folder_data"), out2 = scratch("train_folder");
  pw::testing::write_image_folder(photos, {"apple", "pear"}, 6, 20, 3);
  Result folder = run("train --model vgg-small --data folder:" + photos + " --image-size 32 --epochs 1" + kSmall +
                      " --out " + out2);
  ASSERT_EQ(folder.status, 0) << folder.out;
  EXPECT_NE(folder.out.find("classes (2): apple, pear"), std::string::npos) << folder.out;
  std::filesystem::remove_all(out);
  std::filesystem::remove_all(out2);
  std::filesystem::remove_all(photos);
}

// --precision (any command): the GPU GEMMs' precision, recorded in summary.json and the
// checkpoint; fp32 on the cpu whatever it says; a bad value is one line naming it.
TEST(Cli, PrecisionFlagSetsTheGpuMatmulPrecisionAndIsRecorded) {
  const std::string out = scratch("train_precision");
  const std::string train = "train --model vgg-small --data cifar10:" + cifar_dir() + " --epochs 1 --stop-after 2" +
                            kSmall + " --force --out " + out;
  for (const auto& [flags, want] :
       std::vector<std::pair<std::string, std::string>>{{" --device simt --precision bf16", "bf16"},
                                                        {" --device simt --precision=tf32", "tf32"},
                                                        {" --device simt", "fp32"},
                                                        {" --device cpu --precision bf16", "fp32"}}) {
    const Result r = run(train + flags);
    ASSERT_EQ(r.status, 0) << flags << "\n" << r.out;
    const pw::io::JsonValue summary = pw::io::parse_json(pw::testing::read_text(out + "/summary.json"), "summary");
    EXPECT_EQ(pw::testing::json_member(summary, "precision").text, want) << flags;
    EXPECT_EQ(pw::io::read_checkpoint(out + "/checkpoint.safetensors").config.at("precision"), want) << flags;
  }
  const Result bad = run(train + " --precision fp16");
  EXPECT_EQ(bad.status, 1);
  EXPECT_EQ(count_lines(bad.out), 1) << bad.out;
  EXPECT_NE(bad.out.find("matmul precision 'fp16' is not one of fp32, tf32, bf16"), std::string::npos) << bad.out;
  std::filesystem::remove_all(out);
}

TEST(Cli, TrainRunsRememberTheirSettings) {
  const std::string out = scratch("remember");
  const std::string run_flags = "train --task rotation --data cifar10:" + cifar_dir() + " --epochs 1" + kSmall;
  Result first = run(run_flags + " --stop-after 2 --out " + out);
  ASSERT_EQ(first.status, 0) << first.out;
  EXPECT_NE(first.out.find("stopped at step 2"), std::string::npos) << first.out;
  // A new run into the folder is refused; a flag that contradicts the checkpoint too, naming both values.
  Result again = run(run_flags + " --out " + out);
  EXPECT_NE(again.status, 0);
  EXPECT_EQ(count_lines(again.out), 1) << again.out;
  EXPECT_NE(again.out.find("is not empty"), std::string::npos) << again.out;
  Result contradiction = run("train --resume --out " + out + " --batch-size 4 --quiet");
  EXPECT_NE(contradiction.status, 0);
  EXPECT_NE(contradiction.out.find("--batch-size gives batch_size '4' but the run in '" + out + "' has '8'"),
            std::string::npos)
      << contradiction.out;
  // --resume with nothing else continues the run.
  Result resumed = run("train --resume --out " + out + " --quiet --threads 1");
  ASSERT_EQ(resumed.status, 0) << resumed.out;
  EXPECT_NE(resumed.out.find("rotation rotation-alexnet-small: 5 of 5 steps"), std::string::npos) << resumed.out;
  // --force starts over.
  Result forced = run(run_flags + " --stop-after 1 --force --out " + out);
  ASSERT_EQ(forced.status, 0) << forced.out;
  EXPECT_NE(forced.out.find("stopped at step 1"), std::string::npos) << forced.out;
  std::filesystem::remove_all(out);
}

TEST(Cli, TrainSizesThatMakeNoSenseAreOneLineErrors) {
  const std::string out = " --quiet --force --out " + scratch("sizes");
  for (const auto& [flags, message] : std::vector<std::pair<std::string, std::string>>{
           {"--batch-size 0", "--batch-size must be positive, got 0"},
           {"--epochs -1", "--epochs must be positive, got -1"},
           {"--limit-train 0", "--limit-train must be positive, got 0"},
           {"--threads 0", "--threads must be positive, got 0"},
           {"--task jigsaw --permutations 0", "--permutations must be positive, got 0"},
           {"--task rotation --flip", "--flip applies to supervised training, not to the rotation task"}}) {
    Result r = run("train " + flags + out);
    EXPECT_NE(r.status, 0) << flags;
    EXPECT_EQ(count_lines(r.out), 1) << flags << "\n" << r.out;
    EXPECT_NE(r.out.find(message), std::string::npos) << flags << "\n" << r.out;
  }
}

// Ctrl-C during `train`: the step finishes, a checkpoint is saved and the exit status is 130 (as
// for a command the signal ends), so `train && eval` does not evaluate a half-trained model.
TEST(Cli, CtrlCSavesACheckpointAndExits130) {
  const std::string out = scratch("ctrl_c"), log = out + ".log";
  const std::string data = "cifar10:" + cifar_dir();
  const std::vector<std::string> argv_s = {PW_CLI_PATH, "train", "--task",   "rotation", "--data",       data,
                                           "--epochs",  "400",   "--width",  "0.25",     "--batch-size", "8",
                                           "--threads", "1",     "--device", "cpu",      "--log-every",  "1",
                                           "--quiet",   "--out", out};
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> argv;
    for (const std::string& a : argv_s) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  // Wait for the first step's record: training (and the Ctrl-C handler) has started.
  bool started = false;
  for (int i = 0; i < 1200 && !started; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    FILE* f = std::fopen((out + "/metrics.jsonl").c_str(), "r");
    if (f) {
      started = std::fgetc(f) != EOF;
      std::fclose(f);
    }
  }
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  const std::string text = pw::testing::read_text(log);
  ASSERT_TRUE(started) << text;
  ASSERT_TRUE(WIFEXITED(status)) << text;
  EXPECT_EQ(WEXITSTATUS(status), 130) << text;
  EXPECT_NE(text.find("interrupted at step"), std::string::npos) << text;
  const pw::io::JsonValue summary = pw::io::parse_json(pw::testing::read_text(out + "/summary.json"), "summary.json");
  EXPECT_EQ(pw::testing::json_member(summary, "status").text, "interrupted");
  const int64_t steps = pw::testing::json_member(summary, "steps").value;
  EXPECT_GT(steps, 0);
  EXPECT_LT(steps, 2000);
  // The checkpoint is the run's, at that step: it resumes.
  Result resumed = run("train --resume --out " + out + " --stop-after " + std::to_string(steps + 1) + " --quiet");
  ASSERT_EQ(resumed.status, 0) << resumed.out;
  EXPECT_NE(resumed.out.find("stopped at step " + std::to_string(steps + 1)), std::string::npos) << resumed.out;
  std::filesystem::remove_all(out);
  std::filesystem::remove(log);
}

TEST(Cli, TimePrintsEveryLayerAndTheStep) {
  Result r = run("time --model fmnist-cnn --batch 2 --iterations 1 --threads 1 --peak-gflops 100 --bandwidth 10");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* part :
       {"features.0 ", "sum of layers", "step: forward+loss", "images/s", "machine: FMA peak 100.0 GFLOP/s"})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << "\n" << r.out;
  Result bad = run("time --mode sideways");
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.out.find("--mode must be train or eval, got 'sideways'"), std::string::npos) << bad.out;
}

TEST(Cli, TimeStepOnlyAndTheGemmKernel) {
  const std::string time =
      "time --model fmnist-cnn --batch 2 --iterations 1 --threads 1 --peak-gflops 100 --bandwidth 10";
  Result r = run(time + " --step-only");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("(--step-only: no layer timed)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("step: forward+loss"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("features.0 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GEMM kernel, OpenMP wait"), std::string::npos) << r.out;
  // PW_GEMM_KERNEL picks the micro-kernel; a name it does not know stops the run and says so.
  ::setenv("PW_GEMM_KERNEL", "portable", 1);
  Result portable = run(time + " --step-only");
  // Without OMP_WAIT_POLICY or GOMP_SPINCOUNT the command runs itself again waiting passively
  // after a short spin; a policy given is kept.
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spins = std::getenv("GOMP_SPINCOUNT");
  const std::string saved = policy ? policy : "", saved_spins = spins ? spins : "";
  ::unsetenv("OMP_WAIT_POLICY");
  ::unsetenv("GOMP_SPINCOUNT");
  Result unset = run(time + " --step-only");
  ::setenv("OMP_WAIT_POLICY", "active", 1);
  Result active = run(time + " --step-only");
  if (policy)
    ::setenv("OMP_WAIT_POLICY", saved.c_str(), 1);
  else
    ::unsetenv("OMP_WAIT_POLICY");
  if (spins) ::setenv("GOMP_SPINCOUNT", saved_spins.c_str(), 1);
  EXPECT_NE(unset.out.find("OpenMP wait passive, 10000 spins)"), std::string::npos) << unset.out;
  EXPECT_NE(active.out.find("OpenMP wait active)"), std::string::npos) << active.out;
  ::setenv("PW_GEMM_KERNEL", "bogus", 1);
  Result bad = run(time);
  ::unsetenv("PW_GEMM_KERNEL");
  ASSERT_EQ(portable.status, 0) << portable.out;
  EXPECT_NE(portable.out.find("portable GEMM kernel"), std::string::npos) << portable.out;
  EXPECT_EQ(bad.status, 1) << bad.out;
  EXPECT_NE(bad.out.find("PW_GEMM_KERNEL: unknown kernel 'bogus' (expected portable, avx2 or avx512)"),
            std::string::npos)
      << bad.out;
}

// --simt-check LIST runs a command's kernels under simt-check (patchwork-profile with
// PW_SIMT_CHECK); it needs --device simt, and an unknown check is an error naming it.
TEST(Cli, SimtCheckRunsACommandWithTheCheckedKernels) {
  const std::string beside = std::filesystem::path(PW_CLI_PATH).parent_path().string() + "/patchwork-profile";
  if (!std::filesystem::exists(beside)) GTEST_SKIP() << beside << " is not built (PW_SIMT_CHECKED off)";
  const std::string time =
      "time --model fmnist-cnn --batch 2 --iterations 1 --threads 1 --mode eval "
      "--peak-gflops 100 --bandwidth 10 --step-only";
  const Result ok = run(time + " --device simt --simt-check all");
  ASSERT_EQ(ok.status, 0) << ok.out;
  EXPECT_NE(ok.out.find("on simt"), std::string::npos) << ok.out;
  const Result no_simt = run(time + " --simt-check racecheck");
  EXPECT_EQ(no_simt.status, 1);
  EXPECT_NE(no_simt.out.find("--simt-check checks the CUDA kernels as simt runs them: add --device simt"),
            std::string::npos)
      << no_simt.out;
  const Result bad = run(time + " --device simt --simt-check=racecheck,typo");
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.out.find("unknown check \"typo\""), std::string::npos) << bad.out;
}

// `patchwork profile` runs a command on simt with the checked kernels (patchwork-profile, built
// where PW_SIMT_CHECKED is on) and prints simt-profile's table; its JSON is strict.
TEST(Cli, ProfileRunsACommandOnSimtAndPrintsItsTable) {
  const std::string beside = std::filesystem::path(PW_CLI_PATH).parent_path().string() + "/patchwork-profile";
  if (!std::filesystem::exists(beside)) GTEST_SKIP() << beside << " is not built (PW_SIMT_CHECKED off)";
  const std::string dir = ::testing::TempDir() + "/pw_cli_profile";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const Result r = run("profile --out " + quoted(dir + "/p.json") +
                       " time --model fmnist-cnn --batch 2 --iterations 1 --threads 1 --mode eval "
                       "--peak-gflops 100 --bandwidth 10");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* part :
       {"simt-profile:", "conv2d_implicit_kernel", "ForwardGather", "H100 SXM est. µs", "kernels/cuda/conv.cu:"})
    EXPECT_NE(r.out.find(part), std::string::npos) << part << "\n" << r.out;
  EXPECT_EQ(strict_json_files(dir), std::vector<std::string>{"p.json"});
  const Result none = run("profile");
  EXPECT_EQ(none.status, 1);
  EXPECT_NE(none.out.find("name the command to profile"), std::string::npos) << none.out;
  EXPECT_EQ(run("profile --help").status, 0);
  std::filesystem::remove_all(dir);
}
