// `patchwork train` under faults from outside, run as a child process: a learning rate that
// diverges (with and without --detect-anomaly), a file-size limit smaller than a checkpoint, and
// an address-space limit too small for the network. Each ends with one clear error line and a
// non-zero exit, and leaves the last good checkpoint as it was. (Kills at random moments:
// test_cli_kills.)
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/io/checkpoint.h"
#include "tests/support/cli.h"
#include "tests/support/json_files.h"
#include "tests/support/processes.h"

namespace {

namespace fs = std::filesystem;
using pw::testing::cifar_dir;
using pw::testing::count_lines;
using pw::testing::Finished;
using pw::testing::scratch;

std::vector<std::string> train_args(const std::string& flags) {
  std::vector<std::string> argv = {PW_CLI_PATH, "train", "--data", "cifar10:" + cifar_dir()};
  for (const std::string& w : pw::testing::words(flags + " --threads 1 --device cpu --quiet")) argv.push_back(w);
  return argv;
}

const std::string kTiny = "--model vgg-small --width 0.25 --batch-size 8 ";

void expect_has(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "missing: " << part << "\nin: " << text;
}

// --lr 1e5 diverges within a few steps: the run stops at the first step whose loss, gradient or
// buffer is not finite, with one error line naming the step, the loss and the parameter (or the
// buffer); the checkpoint of the step before is kept, its weights and buffers finite; exit status
// 1. With flips (CIFAR's default) this run's first bad step has a finite loss and finite
// gradients but an infinite batch norm running_var; the run is checked with and without them.
void expect_a_diverging_run_stopped(const std::string& flip) {
  SCOPED_TRACE(flip);
  const std::string out = scratch("diverge"), log = out + ".log";
  const Finished r = pw::testing::run_to_end(
      train_args(kTiny + "--epochs 4 --lr 1e5 " + flip + " --checkpoint-every 1 --log-every 1 --out " + out), log);
  ASSERT_TRUE(r.exited) << r.out;
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  const std::regex said("patchwork: error: train: stopped at step ([0-9]+) of 20: the loss is ([^;]+); ");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, said)) << r.out;
  const int64_t bad_step = std::stoll(m[1]);
  expect_has(r.out, "The run stops before this step's update; ");
  expect_has(r.out, "--detect-anomaly names the first op");
  if (m[2] != "nan" && m[2] != "inf" && m[2] != "-inf") {
    const bool named = r.out.find("the first parameter whose gradient is not finite is '") != std::string::npos ||
                       r.out.find("every gradient is finite, but the buffer '") != std::string::npos;
    EXPECT_TRUE(named) << r.out;
  }
  ASSERT_GT(bad_step, 1) << r.out;  // the first step at 1e5 is still finite; its checkpoint exists
  expect_has(r.out, "the last checkpoint (step " + std::to_string(bad_step - 1) + ", " + out +
                        "/checkpoint.safetensors) is kept as it was");
  const pw::io::Checkpoint ck = pw::io::read_checkpoint(out + "/checkpoint.safetensors");
  EXPECT_EQ(ck.step, bad_step - 1);
  for (const auto& [name, t] : ck.model) EXPECT_EQ(pw::first_non_finite(t), -1) << name;
  for (const auto& [name, t] : ck.optimizer) EXPECT_EQ(pw::first_non_finite(t), -1) << name;
  // Every metrics line parses, the last one is the step before.
  pw::testing::parse_every_json_file(out);
  const std::string metrics = pw::testing::read_text(out + "/metrics.jsonl");
  int step_records = 0;  // the epoch records (at steps 5, 10, ...) have "train_loss"
  for (size_t b = 0, e; (e = metrics.find('\n', b)) != std::string::npos; b = e + 1)
    step_records += metrics.substr(b, e - b).find("\"train_loss\"") == std::string::npos;
  EXPECT_EQ(step_records, bad_step - 1) << metrics;
  fs::remove_all(out);
  fs::remove(log);
}

TEST(CliFaults, ADivergingLearningRateStopsAtTheFirstNonFiniteStep) {
  expect_a_diverging_run_stopped("--no-flip");
  expect_a_diverging_run_stopped("--flip");
}

TEST(CliFaults, DetectAnomalyNamesTheFirstOpThatMadeANonFiniteValue) {
  const std::string out = scratch("anomaly"), log = out + ".log";
  const Finished r =
      pw::testing::run_to_end(train_args(kTiny + "--epochs 4 --lr 1e5 --detect-anomaly --out " + out), log);
  ASSERT_TRUE(r.exited) << r.out;
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  const std::regex said(
      "patchwork: error: detect-anomaly: the (forward|backward) of op '[a-z_0-9]+' produced a "
      "non-finite (value|gradient)");
  EXPECT_TRUE(std::regex_search(r.out, said)) << r.out;
  expect_has(r.out, "inputs: [");  // the shapes
  fs::remove_all(out);
  fs::remove(log);
}

// RLIMIT_FSIZE below the size of a checkpoint: the next checkpoint cannot be written. The error
// names the file and the limit, the previous checkpoint is byte for byte what it was, no
// temporary file is left, and the exit status is 1 (not SIGXFSZ).
TEST(CliFaults, AFileSizeLimitSmallerThanACheckpointKeepsThePreviousOne) {
  const std::string out = scratch("fsize"), log = out + ".log";
  const Finished first = pw::testing::run_to_end(train_args(kTiny + "--epochs 1 --stop-after 2 --out " + out), log);
  ASSERT_TRUE(first.exited && first.code == 0) << first.out;
  const std::string checkpoint = out + "/checkpoint.safetensors";
  const std::string before = pw::testing::read_text(checkpoint);
  const rlimit limit{before.size() / 2, before.size() / 2};
  const Finished r =
      pw::testing::run_to_end({PW_CLI_PATH, "train", "--resume", "--out", out, "--stop-after", "4", "--quiet"}, log,
                              [&] { setrlimit(RLIMIT_FSIZE, &limit); });
  ASSERT_TRUE(r.exited) << "ended by signal " << r.code << "\n" << r.out;
  EXPECT_EQ(r.code, 1) << r.out;
  expect_has(r.out, "patchwork: error: ");
  expect_has(r.out, "cannot write '" + checkpoint +
                        "': File too large (the file-size limit, "
                        "ulimit -f, is " +
                        std::to_string(limit.rlim_cur) + " bytes)");
  expect_has(r.out, "the previous '" + checkpoint + "' is untouched");
  EXPECT_EQ(pw::testing::read_text(checkpoint), before);
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  // The run goes on from the kept checkpoint once the limit is gone.
  const Finished again =
      pw::testing::run_to_end({PW_CLI_PATH, "train", "--resume", "--out", out, "--stop-after", "4", "--quiet"}, log);
  EXPECT_TRUE(again.exited && again.code == 0) << again.out;
  expect_has(again.out, "stopped at step 4");
  fs::remove_all(out);
  fs::remove(log);
}

// An address-space limit (ulimit -v, RLIMIT_AS) of 293 MiB for AlexNet (57M parameters at 10
// classes, 229 MB of weights alone): the run says it is out of memory, with what tensors hold and
// the limit, and exits 1 instead of being killed or aborting.
TEST(CliFaults, AnAddressSpaceLimitTooSmallForTheNetworkIsAClearError) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: no ulimit -v can apply";
#endif
  const std::string out = scratch("rlimit_as"), log = out + ".log";
  const rlimit limit{300000 * 1024, 300000 * 1024};  // `ulimit -v 300000`
  const Finished r = pw::testing::run_to_end(
      train_args("--model alexnet --image-size 224 --batch-size 8 --epochs 1 --stop-after 1 --out " + out), log,
      [&] { setrlimit(RLIMIT_AS, &limit); });
  ASSERT_TRUE(r.exited) << "ended by signal " << r.code << "\n" << r.out;
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << r.out;
  expect_has(r.out, "patchwork: error: ");
  expect_has(r.out, "out of memory");
  expect_has(r.out, "on the cpu (peak ");
  expect_has(r.out, "the address-space limit (ulimit -v) is 293.0 MiB (307200000 bytes)");
  fs::remove_all(out);
  fs::remove(log);
}

}  // namespace
