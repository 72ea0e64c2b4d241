// Data-parallel training under Open MPI: `mpirun -np 2 patchwork train ...` against one process,
// bucketed against one-shot all-reduce, resume against an uninterrupted run, and a killed rank.
// CTest label `mpi`; every test skips, saying why, where mpirun is missing or patchwork was
// built without MPI. Two ranks of one thread each (oversubscribed: CI machines have 2 cores).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/dist/comm.h"
#include "engine/io/checkpoint.h"
#include "tests/support/cli.h"

namespace {

namespace fs = std::filesystem;
using pw::testing::cifar_dir;
using pw::testing::scratch;

std::string mpirun_path() {
  for (const char* p : {"/usr/bin/mpirun", "/usr/local/bin/mpirun"})
    if (fs::exists(p)) return p;
  return "";
}

#define SKIP_WITHOUT_MPI()                                                                        \
  do {                                                                                            \
    if (mpirun_path().empty()) GTEST_SKIP() << "mpirun not found (install openmpi-bin): not run"; \
    if (!pw::dist::built_with_mpi()) GTEST_SKIP() << "patchwork was built without MPI: not run";  \
  } while (0)

// The launcher's flags: as root Open MPI needs --allow-run-as-root; 2 ranks on 2 shared cores.
std::string mpirun(int ranks) {
  return "timeout 600 " + mpirun_path() + " --allow-run-as-root --oversubscribe -np " + std::to_string(ranks) + " ";
}

pw::testing::CliResult shell(const std::string& cmd) {
  pw::testing::CliResult r{-1, ""};
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// A few steps of a small network on 40 CIFAR-10-format images; global batch 8, 4 per rank.
std::string train_flags(const std::string& model, const std::string& device, const std::string& out) {
  std::string f = " train --data cifar10:" + cifar_dir() + " --batch-size 8 --epochs 1 --threads 1 --quiet --seed 3" +
                  " --device " + device + " --out " + out;
  if (model == "fmnist-cnn") return f + " --model fmnist-cnn --image-size 28";
  // No batch norm and no dropout: the one-process comparison is then exact up to rounding.
  return f + " --model alexnet-small --width 0.25 --dropout 0 --image-size 28";
}

std::map<std::string, pw::Tensor> weights(const std::string& out) {
  return pw::io::read_checkpoint(out + "/checkpoint.safetensors").model;
}

// Largest over the tensors of |a - b| / |b| (norms), and whether every value is bit-identical.
double relative_difference(const std::map<std::string, pw::Tensor>& a, const std::map<std::string, pw::Tensor>& b,
                           bool& identical) {
  identical = a.size() == b.size();
  double worst = a.size() == b.size() ? 0 : INFINITY;
  for (const auto& [name, ta] : a) {
    const auto it = b.find(name);
    if (it == b.end()) return INFINITY;
    const std::vector<float> x = ta.to_vector_f32(), y = it->second.to_vector_f32();
    if (x.size() != y.size()) return INFINITY;
    double diff = 0, norm = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      identical = identical && x[i] == y[i];
      diff += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
      norm += (double)y[i] * y[i];
    }
    worst = std::max(worst, std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30));
  }
  return worst;
}

void expect_two_ranks_match_one(const std::string& device) {
  const std::string one = scratch("dist_one_" + device), two = scratch("dist_two_" + device);
  const pw::testing::CliResult a =
      shell(std::string(PW_CLI_PATH) + train_flags("alexnet-small", device, one) + " --stop-after 3");
  ASSERT_EQ(a.status, 0) << a.out;
  const pw::testing::CliResult b = shell(mpirun(2) + PW_CLI_PATH + train_flags("alexnet-small", device, two) +
                                         " --stop-after 3 --grad-bucket-mb 0.01");
  ASSERT_EQ(b.status, 0) << b.out;
  EXPECT_NE(b.out.find("parameters and buffers identical on every rank"), std::string::npos) << b.out;
  bool identical = false;
  const double rel = relative_difference(weights(two), weights(one), identical);
  EXPECT_LE(rel, 1e-5) << "2 ranks against 1 process, largest relative difference of a tensor";
  std::printf("%s: 2 ranks vs 1 process after 3 steps: largest relative difference %.3g\n", device.c_str(), rel);
}

TEST(Dist, TwoRanksOnCpuMatchOneProcess) {
  SKIP_WITHOUT_MPI();
  expect_two_ranks_match_one("cpu");
}

// The reference CNN has batch norm: with --sync-batch-norm (and no dropout) 2 ranks equal one
// process too.
TEST(Dist, SyncBatchNormMatchesOneProcess) {
  SKIP_WITHOUT_MPI();
  const std::string one = scratch("dist_bn_one"), two = scratch("dist_bn_two");
  const std::string flags = " --dropout 0 --stop-after 3";
  const pw::testing::CliResult a = shell(std::string(PW_CLI_PATH) + train_flags("fmnist-cnn", "cpu", one) + flags);
  ASSERT_EQ(a.status, 0) << a.out;
  const pw::testing::CliResult b =
      shell(mpirun(2) + PW_CLI_PATH + train_flags("fmnist-cnn", "cpu", two) + flags + " --sync-batch-norm");
  ASSERT_EQ(b.status, 0) << b.out;
  bool identical = false;
  const double rel = relative_difference(weights(two), weights(one), identical);
  EXPECT_LE(rel, 1e-5) << "fmnist-cnn, 2 ranks with --sync-batch-norm against 1 process";
  std::printf("fmnist-cnn --sync-batch-norm: 2 ranks vs 1 process after 3 steps: largest relative difference %.3g\n",
              rel);
}

TEST(Dist, TwoRanksOnSimtMatchOneProcess) {
  SKIP_WITHOUT_MPI();
  expect_two_ranks_match_one("simt");
}

// The reference CNN (batch norm, dropout): every rank ends with the same parameters and buffers
// (the run checks it and says so), and bucketed all-reduce during backward equals one all-reduce
// after it, bit for bit.
TEST(Dist, BucketedAllReduceEqualsOneShot) {
  SKIP_WITHOUT_MPI();
  const std::string once = scratch("dist_once"), buckets = scratch("dist_buckets");
  const pw::testing::CliResult a =
      shell(mpirun(2) + PW_CLI_PATH + train_flags("fmnist-cnn", "cpu", once) + " --stop-after 3 --grad-bucket-mb 0");
  ASSERT_EQ(a.status, 0) << a.out;
  EXPECT_NE(a.out.find("gradients all-reduced once after backward (1 all-reduces"), std::string::npos) << a.out;
  const pw::testing::CliResult b = shell(mpirun(2) + PW_CLI_PATH + train_flags("fmnist-cnn", "cpu", buckets) +
                                         " --stop-after 3 --grad-bucket-mb 0.05");
  ASSERT_EQ(b.status, 0) << b.out;
  EXPECT_NE(b.out.find("in buckets of 0.05 MiB started during backward"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("parameters and buffers identical on every rank"), std::string::npos) << b.out;
  bool identical = false;
  relative_difference(weights(buckets), weights(once), identical);
  EXPECT_TRUE(identical) << "bucketed and one-shot all-reduce gave different weights";
}

TEST(Dist, ResumeUnderTwoRanksEqualsUninterrupted) {
  SKIP_WITHOUT_MPI();
  const std::string whole = scratch("dist_whole"), parts = scratch("dist_parts");
  const std::string flags = train_flags("fmnist-cnn", "cpu", whole);
  ASSERT_EQ(shell(mpirun(2) + PW_CLI_PATH + flags).status, 0);
  const pw::testing::CliResult first =
      shell(mpirun(2) + PW_CLI_PATH + train_flags("fmnist-cnn", "cpu", parts) + " --stop-after 2");
  ASSERT_EQ(first.status, 0) << first.out;
  const pw::testing::CliResult rest =
      shell(mpirun(2) + PW_CLI_PATH + " train --resume --out " + parts + " --threads 1 --quiet --device cpu");
  ASSERT_EQ(rest.status, 0) << rest.out;
  bool identical = false;
  relative_difference(weights(parts), weights(whole), identical);
  EXPECT_TRUE(identical) << "stopped at step 2 and resumed under 2 ranks: weights differ from the uninterrupted run";
  // Another rank count is refused, naming both.
  const pw::testing::CliResult other =
      shell(std::string(PW_CLI_PATH) + " train --resume --out " + parts + " --threads 1 --quiet --device cpu");
  EXPECT_NE(other.status, 0);
  EXPECT_NE(other.out.find("written by a run of 2 rank(s); this run has 1"), std::string::npos) << other.out;
}

// A rank that fails stops the job with one clear line naming the rank (here every rank fails
// the same check: a global batch that does not divide among the ranks).
TEST(Dist, FailingRankStopsTheJobWithItsMessage) {
  SKIP_WITHOUT_MPI();
  const std::string out = scratch("dist_odd");
  const pw::testing::CliResult r =
      shell(mpirun(2) + PW_CLI_PATH + train_flags("fmnist-cnn", "cpu", out) + " --batch-size 7 --stop-after 1");
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("train: --batch-size 7 does not divide among 2 ranks"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("error: rank "), std::string::npos) << r.out;
  // 33 images in batches of 8 end every epoch with 1 image: refused before the first step.
  const pw::testing::CliResult last = shell(mpirun(2) + PW_CLI_PATH + train_flags("fmnist-cnn", "cpu", out) +
                                            " --limit-train 33 --force --stop-after 1");
  EXPECT_NE(last.status, 0) << last.out;
  EXPECT_NE(last.out.find("the last batch of every epoch has 1 image(s), fewer than the 2 ranks"), std::string::npos)
      << last.out;
}

// Every pretext task trains under 2 ranks too (the rows of its batch are split the same way).
TEST(Dist, EveryPretextTaskRunsOnTwoRanks) {
  SKIP_WITHOUT_MPI();
  for (const std::string task : {"rotation", "jigsaw", "context"}) {
    const std::string out = scratch("dist_" + task);
    const pw::testing::CliResult r =
        shell(mpirun(2) + PW_CLI_PATH + " train --task " + task + " --data cifar10:" + cifar_dir() +
              " --width 0.25 --batch-size 8 --epochs 1 --threads 1 --quiet --device cpu --stop-after 2 --out " + out);
    EXPECT_EQ(r.status, 0) << task << "\n" << r.out;
    EXPECT_NE(r.out.find("parameters and buffers identical on every rank"), std::string::npos) << task << "\n" << r.out;
  }
}

// Three ranks on a pretext task equal one process, each rank building only its rows: a whole
// epoch of 40 images in global batches of 6 (24 rows, 8 per rank) and a last batch of 4 images,
// whose 16 rows split 5, 5, 6 (inside an image's four rotations). rotation-alexnet-small has no
// batch norm; no dropout here.
TEST(Dist, ThreeRanksOfAPretextTaskMatchOneProcess) {
  SKIP_WITHOUT_MPI();
  const std::string one = scratch("dist_rot_one"), three = scratch("dist_rot_three");
  const std::string flags = " train --task rotation --data cifar10:" + cifar_dir() +
                            " --width 0.25 --dropout 0 --batch-size 6 --epochs 1 --threads 1 --quiet --device cpu"
                            " --seed 3 --out ";
  const pw::testing::CliResult a = shell(std::string(PW_CLI_PATH) + flags + one);
  ASSERT_EQ(a.status, 0) << a.out;
  const pw::testing::CliResult b = shell(mpirun(3) + PW_CLI_PATH + flags + three);
  ASSERT_EQ(b.status, 0) << b.out;
  EXPECT_NE(b.out.find("parameters and buffers identical on every rank"), std::string::npos) << b.out;
  bool identical = false;
  const double rel = relative_difference(weights(three), weights(one), identical);
  EXPECT_LE(rel, 1e-5) << "rotation, 3 ranks against 1 process, largest relative difference of a tensor";
  std::printf("rotation: 3 ranks vs 1 process after 7 steps: largest relative difference %.3g\n", rel);
}

// The README's hostfile form, on one machine: a hostfile naming this machine with 2 slots.
TEST(Dist, TheHostfileFormRuns) {
  SKIP_WITHOUT_MPI();
  const std::string out = scratch("dist_hostfile"), hosts = out + ".hosts";
  std::ofstream(hosts) << "localhost slots=2\n";
  const pw::testing::CliResult r =
      shell("timeout 600 " + mpirun_path() + " --allow-run-as-root -np 2 --hostfile " + hosts + " " + PW_CLI_PATH +
            train_flags("fmnist-cnn", "cpu", out) + " --stop-after 2");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("parameters and buffers identical on every rank"), std::string::npos) << r.out;
}

// The pid of the process of `rank` among the descendants of `root` (read from /proc).
pid_t find_rank(pid_t root, int rank) {
  const std::string want = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream env(e.path() / "environ", std::ios::binary);
    std::string all((std::istreambuf_iterator<char>(env)), std::istreambuf_iterator<char>());
    std::ifstream cmd(e.path() / "cmdline", std::ios::binary);
    std::string line((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
    if (line.find("patchwork") == std::string::npos) continue;
    std::stringstream ss(all);
    std::string kv;
    bool mine = false, right = false;
    while (std::getline(ss, kv, '\0')) {
      right = right || kv == want;
      mine = mine || kv == "PW_DIST_TEST_PARENT=" + std::to_string(root);
    }
    if (mine && right) return (pid_t)std::stol(name);
  }
  return -1;
}

// A long 2-rank run started in the background (mpirun's pid; output to `log`), and one of its
// ranks once it runs. Long on any machine: 100000 epochs of 5 steps (50 epochs ended within the
// 3 s wait on an idle CI machine, and the kill then found no process).
struct Background {
  pid_t mpirun = -1, rank1 = -1;
  std::string log;
};

Background start_long_run(const std::string& out) {
  Background b;
  b.log = out + ".log";
  b.mpirun = fork();
  if (b.mpirun == 0) {
    setenv("PW_DIST_TEST_PARENT", std::to_string(getpid()).c_str(), 1);
    const std::string cmd = mpirun_path() + " --allow-run-as-root --oversubscribe -np 2 -x PW_DIST_TEST_PARENT " +
                            PW_CLI_PATH + train_flags("fmnist-cnn", "cpu", out) + " --epochs 100000 > " + b.log +
                            " 2>&1";
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), (char*)nullptr);
    _exit(127);
  }
  for (int i = 0; i < 600 && b.mpirun > 0 && b.rank1 < 0; ++i) {  // up to 60 s for the ranks to start
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    b.rank1 = find_rank(b.mpirun, 1);
  }
  if (b.rank1 > 0) std::this_thread::sleep_for(std::chrono::seconds(3));  // mid-run
  return b;
}

// Waits up to `bound` seconds for mpirun to end (then kills it); its wait status, whether it
// ended in time, the seconds it took, and the log.
struct Ending {
  int status = 0;
  bool in_time = false;
  double seconds = 0;
  std::string text;
};

Ending wait_for(const Background& b, int bound) {
  Ending e;
  const auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(bound) && !e.in_time)
    if (waitpid(b.mpirun, &e.status, WNOHANG) == b.mpirun)
      e.in_time = true;
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (!e.in_time) {
    kill(b.mpirun, SIGKILL);
    waitpid(b.mpirun, &e.status, 0);
  }
  e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::ifstream in(b.log);
  e.text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return e;
}

// Killing rank 1 mid-run ends the job: mpirun reports the rank and exits non-zero. Bound: 60 s
// from the kill (a hang would run into it; the kill is seen within a second or two here).
TEST(Dist, KilledRankStopsTheOther) {
  SKIP_WITHOUT_MPI();
  const Background b = start_long_run(scratch("dist_killed"));
  ASSERT_GT(b.mpirun, 0);
  ASSERT_GT(b.rank1, 0) << "rank 1 did not start";
  ASSERT_EQ(kill(b.rank1, SIGKILL), 0) << "rank 1 ended before the kill:\n" << wait_for(b, 10).text;
  const Ending e = wait_for(b, 60);
  ASSERT_TRUE(e.in_time) << "mpirun still running 60 s after rank 1 was killed:\n" << e.text;
  EXPECT_FALSE(WIFEXITED(e.status) && WEXITSTATUS(e.status) == 0) << e.text;
  EXPECT_NE(e.text.find("process rank 1"), std::string::npos) << "the message does not name the failed rank:\n"
                                                              << e.text;
  std::printf("rank 1 killed: the job ended %.1f s later\n", e.seconds);
}

// Ctrl-C delivered to one rank: every rank stops after the same step (the flag travels with the
// step's statistics), rank 0 writes the checkpoint and every rank exits with 130.
TEST(Dist, InterruptedRankStopsEveryRankAtTheSameStep) {
  SKIP_WITHOUT_MPI();
  const std::string out = scratch("dist_interrupted");
  const Background b = start_long_run(out);
  ASSERT_GT(b.mpirun, 0);
  ASSERT_GT(b.rank1, 0) << "rank 1 did not start";
  ASSERT_EQ(kill(b.rank1, SIGINT), 0) << "rank 1 ended before the interrupt:\n" << wait_for(b, 10).text;
  const Ending e = wait_for(b, 60);
  ASSERT_TRUE(e.in_time) << "mpirun still running 60 s after rank 1 was interrupted:\n" << e.text;
  EXPECT_TRUE(WIFEXITED(e.status) && WEXITSTATUS(e.status) == 130) << e.text;
  const size_t at = e.text.find("interrupted at step ");
  ASSERT_NE(at, std::string::npos) << e.text;
  const int64_t step = std::stoll(e.text.substr(at + 20));
  EXPECT_EQ(pw::io::read_checkpoint(out + "/checkpoint.safetensors").step, step) << e.text;
  EXPECT_NE(e.text.find("parameters and buffers identical on every rank"), std::string::npos) << e.text;
}

}  // namespace
