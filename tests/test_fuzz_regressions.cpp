// The fuzz targets (tests/fuzz/targets.h) in the normal build: every seed input is accepted, and
// every file under tests/fuzz_regressions/<target>/ -- an input that once crashed a parser or broke
// one of the targets' properties -- is now refused or accepted cleanly. tools/fuzz.sh finds them.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/fuzz/seeds.h"
#include "tests/fuzz/targets.h"

namespace fs = std::filesystem;
using namespace pw;

namespace {

fs::path regressions_dir() {
  const char* root = std::getenv("PW_SOURCE_DIR");
  return fs::path(root != nullptr ? root : PW_SOURCE_DIR_BUILT) / "tests" / "fuzz_regressions";
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool run(fuzz::Entry entry, const std::string& bytes) {
  return entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

TEST(FuzzTargets, AcceptEverySeed) {
  for (const fuzz::Target& target : fuzz::kTargets) {
    const auto files = fuzz::seeds(target.name);
    EXPECT_FALSE(files.empty()) << target.name;
    for (const auto& [name, bytes] : files) EXPECT_TRUE(run(target.entry, bytes)) << target.name << "/" << name;
  }
}

TEST(FuzzTargets, RefuseGarbage) {
  const std::string garbage = "\x01\xff garbage \x00\x13";
  for (const char* name : {"safetensors", "checkpoint", "idx", "cifar", "image", "json", "permutations"})
    EXPECT_FALSE(run(fuzz::find_target(name), garbage)) << name;
}

TEST(FuzzRegressions, EveryFileReplaysCleanly) {
  const fs::path dir = regressions_dir();
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int files = 0;
  for (const auto& folder : fs::directory_iterator(dir)) {
    if (!folder.is_directory()) continue;
    const std::string name = folder.path().filename().string();
    const fuzz::Entry entry = fuzz::find_target(name);
    ASSERT_NE(entry, nullptr) << dir << " has a folder '" << name << "' that names no fuzz target";
    for (const auto& file : fs::directory_iterator(folder.path())) {
      if (!file.is_regular_file() || file.path().filename() == "README.md") continue;
      ++files;
      // A refusal (pw::Error, caught inside) and an acceptance are both fine; a sanitizer report,
      // another exception or a broken property is not.
      EXPECT_NO_THROW(run(entry, read_bytes(file.path()))) << file.path();
    }
  }
  EXPECT_GT(files, 0) << "no regression files under " << dir;
}
