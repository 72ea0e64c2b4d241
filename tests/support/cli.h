// Running the `patchwork` program from a test (the test programs named test_cli*, which CMake
// gives PW_CLI_PATH): its exit status and its output, scratch folders, small datasets on disk.
#pragma once
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/data_files.h"

namespace pw::testing {

struct CliResult {
  int status;       // the exit status; -1 when the program did not exit (a signal ended it)
  std::string out;  // stdout and stderr together
};

inline CliResult run_cli(const std::string& args) {
  std::string cmd = std::string(PW_CLI_PATH) + " " + args + " 2>&1";
  CliResult r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// A fresh (removed) path under the test temporary folder, unique to this process.
inline std::string scratch(const std::string& name) {
  const std::string d = ::testing::TempDir() + "pw_cli_" + name + "_" + std::to_string(::getpid());
  std::filesystem::remove_all(d);
  return d;
}

// 40 training and 16 test images in CIFAR-10's binary format (written once per process).
inline const std::string& cifar_dir() {
  static const std::string dir = [] {
    const std::string d = scratch("cifar");
    write_cifar10(d, 8, 16, 2);
    return d;
  }();
  return dir;
}

// Flags that make a training run tiny.
inline const std::string kSmall = " --width 0.25 --batch-size 8 --threads 1 --device cpu --quiet";

inline int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// The program run with `args` fails with status 1 and one line of output containing `message`.
inline void expect_one_line_error(const std::string& args, const std::string& message) {
  const CliResult r = run_cli(args);
  EXPECT_EQ(r.status, 1) << args << "\n" << r.out;
  EXPECT_EQ(count_lines(r.out), 1) << args << "\n" << r.out;
  EXPECT_NE(r.out.find(message), std::string::npos) << args << "\n" << r.out;
}

}  // namespace pw::testing

namespace pw::testing {

// Starts the program with `args`, sends SIGINT after `ms` milliseconds and waits: 130 when it
// exited with 130 or was ended by the signal (what a shell reports as 130), else its exit status
// (or -1 for another signal). `log` receives its output.
inline int interrupt_cli(const std::vector<std::string>& args, int ms, const std::string& log) {
  const pid_t pid = fork();
  if (pid < 0) return -2;
  if (pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<std::string> all = {PW_CLI_PATH};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return WTERMSIG(status) == SIGINT ? 130 : -1;
  return WEXITSTATUS(status);
}

}  // namespace pw::testing

namespace pw::testing {

// Two runs trained once per test program, for the tests of the commands that read a checkpoint:
// a supervised classifier (vgg-small) on a folder of photos (classes apple and pear, 32 px) and a
// rotation pretext network (rotation-alexnet-small, width 0.25) on CIFAR-10 files.
struct TrainedRuns {
  std::string photos, classifier, rotation, work;
};

inline const TrainedRuns& trained_runs() {
  static const TrainedRuns r = [] {
    TrainedRuns x;
    x.work = scratch("trained_runs");
    x.photos = x.work + "/photos";
    write_image_folder(x.photos, {"apple", "pear"}, 6, 20, 3);
    const CliResult a = run_cli("train --model vgg-small --data folder:" + x.photos + " --image-size 32 --epochs 1" +
                                kSmall + " --out " + x.work + "/classifier");
    EXPECT_EQ(a.status, 0) << a.out;
    const CliResult b = run_cli("train --task rotation --data cifar10:" + cifar_dir() + " --epochs 1" + kSmall +
                                " --out " + x.work + "/rotation");
    EXPECT_EQ(b.status, 0) << b.out;
    x.classifier = x.work + "/classifier/checkpoint.safetensors";
    x.rotation = x.work + "/rotation/checkpoint.safetensors";
    return x;
  }();
  return r;
}

}  // namespace pw::testing
