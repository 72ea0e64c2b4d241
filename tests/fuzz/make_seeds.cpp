// fuzz_make_seeds DIR [TARGET...]: writes the seed corpus of each target (all by default) into
// DIR/<target>/ (tests/fuzz/seeds.h). tools/fuzz.sh runs it before fuzzing.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/util/error.h"
#include "engine/util/files.h"
#include "tests/fuzz/seeds.h"
#include "tests/fuzz/targets.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds DIR [TARGET...]\n");
    return 2;
  }
  std::vector<std::string> names(argv + 2, argv + argc);
  if (names.empty())
    for (const auto& t : pw::fuzz::kTargets) names.push_back(t.name);
  try {
    for (const std::string& name : names) {
      const auto files = pw::fuzz::seeds(name);
      PW_CHECK(!files.empty(), "fuzz_make_seeds: no target named '", name, "'");
      const std::string dir = std::string(argv[1]) + "/" + name;
      std::filesystem::create_directories(dir);
      for (const auto& [file, bytes] : files) pw::write_file_atomic(dir + "/" + file, bytes);
      std::printf("%s: %zu seeds\n", name.c_str(), files.size());
    }
  } catch (const pw::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
