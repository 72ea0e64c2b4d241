// `patchwork train` killed with SIGKILL at random moments, 60 times (every other one while a
// file is being written: once its temporary appears, after a random 0..3 ms), and resumed after
// every kill: each resume starts from a complete checkpoint (it reads and checks), metrics.jsonl holds
// only whole lines that parse, and the run, finished at last, has the weights and optimizer state
// of a run that was never killed, bit for bit (same device, one thread; the loop's resume is
// exact: tasks/train_loop.h). A checkpoint is written after every step, so many kills land while
// one is being written; the test counts those (a temporary file left beside the checkpoint).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/io/checkpoint.h"
#include "tests/support/cli.h"
#include "tests/support/data_files.h"
#include "tests/support/json_files.h"
#include "tests/support/processes.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using pw::testing::scratch;

std::vector<std::string> new_run(const std::string& data, const std::string& out) {
  std::vector<std::string> argv = {PW_CLI_PATH, "train", "--data", "cifar10:" + data, "--out", out};
  for (const std::string& w : pw::testing::words(
           "--model vgg-small --width 0.25 --batch-size 8 --epochs 3 --seed 5 --checkpoint-every 1 --log-every 1 "
           "--threads 1 --device cpu --quiet --force"))
    argv.push_back(w);
  return argv;
}

std::vector<std::string> resume(const std::string& out) {
  return {PW_CLI_PATH, "train", "--resume", "--out", out, "--threads", "1", "--device", "cpu", "--quiet"};
}

// Every tensor of the model and the optimizer, as bytes.
std::map<std::string, std::vector<float>> state_of(const std::string& checkpoint) {
  const pw::io::Checkpoint ck = pw::io::read_checkpoint(checkpoint);
  std::map<std::string, std::vector<float>> s;
  for (const auto& [name, t] : ck.model) s["model." + name] = t.to_vector_f32();
  for (const auto& [name, t] : ck.optimizer) s["optim." + name] = t.to_vector_f32();
  return s;
}

bool same_bits(const std::map<std::string, std::vector<float>>& a, const std::map<std::string, std::vector<float>>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [name, v] : a) {
    const auto it = b.find(name);
    if (it == b.end() || it->second.size() != v.size() ||
        std::memcmp(v.data(), it->second.data(), v.size() * sizeof(float)) != 0)
      return false;
  }
  return true;
}

// After a kill: the checkpoint, if there is one, is complete; metrics.jsonl ends with a newline
// and every line parses. Returns whether a temporary was left (the kill hit a write).
bool check_after_kill(const std::string& out, int kill) {
  SCOPED_TRACE("after kill " + std::to_string(kill));
  if (!fs::exists(out)) return false;  // killed before it made its folder
  const std::string checkpoint = out + "/checkpoint.safetensors";
  if (fs::exists(checkpoint)) {
    EXPECT_NO_THROW(pw::io::read_checkpoint(checkpoint));
  }
  const std::string metrics = out + "/metrics.jsonl";
  if (fs::exists(metrics)) {
    const std::string text = pw::testing::read_text(metrics);
    EXPECT_TRUE(text.empty() || text.back() == '\n') << "a line cut short:\n" << text;
    EXPECT_NO_THROW(pw::testing::parse_every_json_file(out));
  }
  // Counted and removed here, so that each kill is counted once (the resume removes them too).
  bool temporary = false;
  for (const auto& e : fs::directory_iterator(out))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) temporary = true, fs::remove(e.path());
  return temporary;
}

bool has_temporary(const std::string& out) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(out, ec))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) return true;
  return false;
}

// Waits until the child starts writing a file (its temporary appears), then a random 0..3 ms
// more; false if the child ended first (then it is reaped into `status`).
bool wait_for_a_write(pid_t pid, const std::string& out, std::mt19937& rng, int& status) {
  while (!has_temporary(out)) {
    if (waitpid(pid, &status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(rng)));
  return true;
}

TEST(CliKills, SixtyKillsAtRandomMomentsThenResumesEndWithTheWeightsOfARunNeverKilled) {
  const std::string data = scratch("kills_cifar"), reference = scratch("kills_reference"), out = scratch("kills_run");
  const std::string log = out + ".log";
  pw::testing::write_cifar10(data, 8, 16, 2);  // 40 training images: 5 steps of 8 per epoch, 15 in all

  const Clock::time_point t0 = Clock::now();
  const pw::testing::Finished ref = pw::testing::run_to_end(new_run(data, reference), log);
  const double run_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  ASSERT_TRUE(ref.exited && ref.code == 0) << ref.out;
  const auto want = state_of(reference + "/checkpoint.safetensors");

  std::mt19937 rng(17);
  std::uniform_real_distribution<double> moment(0.0, run_ms);  // anywhere in a whole run's life
  int kills = 0, in_write = 0, finished = 0, starts = 0, compared = 0, kills_this_run = 0;
  constexpr int kKills = 60;
  while (kills < kKills || compared == 0) {
    const bool has_checkpoint = fs::exists(out + "/checkpoint.safetensors");
    const pid_t pid = pw::testing::spawn(has_checkpoint ? resume(out) : new_run(data, out), log);
    ++starts;
    int status = 0;
    pid_t ended = 0;                            // the child's pid once reaped
    std::optional<pw::testing::Finished> late;  // ended by itself between the last check and the kill
    if (kills < kKills) {
      // Every other kill waits for a file being written; the others land anywhere.
      if (kills % 2 == 0) {
        if (!wait_for_a_write(pid, out, rng, status)) ended = pid;
      } else {
        std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(moment(rng)));
      }
      if (ended == 0) ended = waitpid(pid, &status, WNOHANG);
      if (ended == 0) {
        kill(pid, SIGKILL);
        const pw::testing::Finished f = pw::testing::wait_for(pid, log);
        if (!f.exited) {
          ++kills, ++kills_this_run;
          in_write += check_after_kill(out, kills);
          continue;
        }
        late = f;  // it finished after waitpid looked and before the signal: a run that ended by itself
      }
    }
    // The run ended by itself: it must have succeeded, with the reference's weights.
    const pw::testing::Finished f = late           ? *late
                                    : ended == pid ? pw::testing::finished_from(status, log)
                                                   : pw::testing::wait_for(pid, log);
    ASSERT_TRUE(f.exited && f.code == 0) << "start " << starts << " (" << (has_checkpoint ? "resume" : "new run")
                                         << ") failed:\n"
                                         << f.out;
    ++finished;
    // (summary.json may be missing: a kill after the last checkpoint, then a resume with nothing left.)
    if (pw::io::read_checkpoint(out + "/checkpoint.safetensors").step < 15) continue;
    EXPECT_TRUE(same_bits(state_of(out + "/checkpoint.safetensors"), want)) << "after " << kills_this_run << " kills";
    compared += kills_this_run > 0;
    kills_this_run = 0;
    fs::remove_all(out);  // start over: a new run, killed again
  }
  std::printf(
      "[ kills ] %d kills (%d while a file was being written: a temporary left), %d starts, %d runs "
      "finished (%d of them killed at least once, each equal to the reference bit for bit); a run "
      "without kills takes %.0f ms\n",
      kills, in_write, starts, finished, compared, run_ms);
  EXPECT_GE(kills, kKills);
  fs::remove_all(data);
  fs::remove_all(reference);
  fs::remove_all(out);
  fs::remove(log);
}

}  // namespace
