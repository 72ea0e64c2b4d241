// `patchwork profile [--out FILE] [--resources TSV] COMMAND [ARGS...]`: runs any command that
// computes under simt-profile (kernels/simt/README.md, "Profile"): the program
// `patchwork-profile` beside this one (the same command line linked with the checked simt
// kernels, built where PW_SIMT_CHECKED is on) runs `COMMAND ARGS... --device simt` with
// PW_SIMT_PROFILE=FILE, which writes FILE (JSON) and FILE.md (the table) at its exit; the table
// is then printed.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "engine/util/error.h"
#include "tools/commands.h"

extern char** environ;

namespace pw::cli {

namespace {

const char* kProfileHelp =
    "usage: patchwork profile [--out FILE] [--resources TSV] COMMAND [ARGS...]\n"
    "\n"
    "Runs `patchwork COMMAND ARGS... --device simt` with every CUDA kernel instrumented (simt-profile),\n"
    "then prints, per kernel launch and per source line, global sectors per request against the ideal,\n"
    "shared-memory wavefronts per request, the unique-sector footprint (a floor on DRAM traffic), the\n"
    "launcher's FLOPs, and an estimated time on H100 SXM and H200 (max of DRAM, shared, FLOP bounds;\n"
    "an estimate from public specifications, not a measurement), sorted by that time.\n"
    "\n"
    "  --out FILE        the JSON report (default profile.json; the table goes to FILE.md)\n"
    "  --resources TSV   registers and static shared memory per kernel, from\n"
    "                    `bash tools/kernel_resources.sh --tsv` (needs nvcc), for occupancy\n"
    "\n"
    "Example: patchwork profile train --model fmnist-cnn --stop-after 1 --limit-train 64 --limit-test 64\n"
    "Needs the program patchwork-profile beside patchwork (built when PW_SIMT_CHECKED is on: GCC).\n";

std::string self_directory() {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

int run_and_wait(const std::string& program, const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv.data(), environ);
  PW_CHECK(err == 0, "profile: cannot run ", program, ": ", std::strerror(err));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) PW_CHECK(errno == EINTR, "profile: waiting for ", program, " failed");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

int cmd_profile(int argc, char** argv) {
  std::string out = "profile.json", resources;
  int at = 2;
  for (; at < argc && std::string(argv[at]).rfind("--", 0) == 0; at += 2) {
    const std::string flag = argv[at];
    if (flag == "--help" || flag == "-h") return std::printf("%s", kProfileHelp), 0;
    PW_CHECK(at + 1 < argc, "profile: ", flag, " needs a value");
    PW_CHECK(flag == "--out" || flag == "--resources", "profile: unknown flag ", flag,
             " (see patchwork profile --help)");
    (flag == "--out" ? out : resources) = argv[at + 1];
  }
  PW_CHECK(at < argc, "profile: name the command to profile (see patchwork profile --help)");
  const std::string program = self_directory() + "/patchwork-profile";
  PW_CHECK(access(program.c_str(), X_OK) == 0, "profile: ", program,
           " is missing: build the target patchwork_profile_cli (it needs PW_SIMT_CHECKED, i.e. GCC)");
  std::vector<std::string> args = {program};
  bool has_device = false;
  for (int i = at; i < argc; ++i) {
    args.emplace_back(argv[i]);
    has_device = has_device || std::string(argv[i]).rfind("--device", 0) == 0;
  }
  if (!has_device) args.insert(args.end(), {"--device", "simt"});
  setenv("PW_SIMT_PROFILE", out.c_str(), 1);
  if (!resources.empty()) setenv("PW_SIMT_PROFILE_RESOURCES", resources.c_str(), 1);
  std::remove(out.c_str());  // a failed run must not leave the previous run's table to print
  std::remove((out + ".md").c_str());
  const int status = run_and_wait(program, args);
  std::ifstream table(out + ".md");
  if (table) std::cout << table.rdbuf();
  return status;
}

// `patchwork COMMAND ... --device simt --simt-check LIST`: the same command run by patchwork-profile
// (the checked kernels) with PW_SIMT_CHECK=LIST, in place of this process. LIST is any of
// memcheck, racecheck, initcheck, synccheck, comma-separated, or all; the kernels' reports go to
// standard error and a run that finds something stops with its report.
int run_simt_checked(int argc, char** argv) {
  std::vector<std::string> args;
  std::string checks;
  bool simt = false;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--simt-check") {
      PW_CHECK(i + 1 < argc, "--simt-check needs a list of checks (memcheck, racecheck, initcheck, synccheck or all)");
      checks = argv[++i];
      continue;
    }
    if (a.rfind("--simt-check=", 0) == 0) {
      checks = a.substr(13);
      continue;
    }
    simt = simt || a == "--device=simt" || (a == "--device" && i + 1 < argc && std::string(argv[i + 1]) == "simt");
    args.push_back(a);
  }
  PW_CHECK(!checks.empty(), "--simt-check needs a list of checks (memcheck, racecheck, initcheck, synccheck or all)");
  PW_CHECK(simt, "--simt-check checks the CUDA kernels as simt runs them: add --device simt");
  const std::string program = self_directory() + "/patchwork-profile";
  PW_CHECK(access(program.c_str(), X_OK) == 0, "--simt-check: ", program,
           " is missing: build the target patchwork_profile_cli (it needs PW_SIMT_CHECKED, i.e. GCC)");
  args[0] = program;
  std::vector<char*> argv2;
  for (std::string& a : args) argv2.push_back(a.data());
  argv2.push_back(nullptr);
  setenv("PW_SIMT_CHECK", checks.c_str(), 1);
  execv(program.c_str(), argv2.data());
  PW_FAIL("--simt-check: cannot run ", program, ": ", std::strerror(errno));
}

}  // namespace pw::cli
