// The `patchwork` command line: help, version, and errors as one line with a non-zero exit.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <sys/wait.h>

namespace {

struct Result {
  int status;
  std::string out;  // stdout and stderr together
};

Result run(const std::string& args) {
  std::string cmd = std::string(PW_CLI_PATH) + " " + args + " 2>&1";
  Result r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST(Cli, HelpListsCommands) {
  Result r = run("--help");
  EXPECT_EQ(r.status, 0);
  for (const char* cmd : {"train", "devices", "version", "models"})
    EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd << " missing from:\n" << r.out;
}

TEST(Cli, TrainHelpExplainsEveryFlag) {
  Result r = run("train --help");
  EXPECT_EQ(r.status, 0);
  for (const char* flag : {"--epochs", "--batch-size", "--lr", "--seed", "--threads", "--out", "--data"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
}

TEST(Cli, VersionAndDevices) {
  EXPECT_EQ(run("version").out.rfind("patchwork ", 0), 0u);
  Result d = run("devices");
  EXPECT_EQ(d.status, 0);
  EXPECT_NE(d.out.find("cpu"), std::string::npos);
}

TEST(Cli, ErrorsAreOneLineAndNonZero) {
  Result unknown = run("train --no-such-flag 3");
  EXPECT_NE(unknown.status, 0);
  EXPECT_EQ(count_lines(unknown.out), 1) << unknown.out;
  EXPECT_NE(unknown.out.find("--no-such-flag"), std::string::npos);

  Result bad_number = run("train --epochs three");
  EXPECT_NE(bad_number.status, 0);
  EXPECT_NE(bad_number.out.find("--epochs expects an integer"), std::string::npos) << bad_number.out;

  Result missing = run("train --data /nonexistent/dir --quiet --out /tmp/pw_cli_test_run");
  EXPECT_NE(missing.status, 0);
  EXPECT_NE(missing.out.find("error: "), std::string::npos) << missing.out;
  EXPECT_NE(missing.out.find("/nonexistent/dir"), std::string::npos) << missing.out;

  Result bad_cmd = run("frobnicate");
  EXPECT_NE(bad_cmd.status, 0);
}
