// Reading back what the program writes: see json_files.h.
#include "tests/support/json_files.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/util/error.h"

namespace pw::testing {

namespace fs = std::filesystem;

const io::JsonValue& json_member(const io::JsonValue& v, const std::string& key) {
  for (const auto& [k, m] : v.members)
    if (k == key) return m;
  PW_FAIL("JSON: no member '", key, "' in ", io::json_kind_name(v.kind));
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  PW_CHECK(f, "cannot read '", path, "'");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

namespace {

// The JSON header of a safetensors file: 8 bytes of little-endian length, then the header.
std::string safetensors_header(const std::string& path) {
  const std::string bytes = read_text(path);
  PW_CHECK(bytes.size() >= 8, path, ": shorter than the 8-byte header length");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  PW_CHECK(n <= bytes.size() - 8, path, ": the header length ", n, " passes the end of the file");
  return bytes.substr(8, n);
}

}  // namespace

std::vector<std::string> parse_every_json_file(const std::string& dir) {
  std::vector<std::string> checked;
  for (const fs::directory_entry& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string path = e.path().string(), ext = e.path().extension().string();
    if (ext == ".json") {
      io::parse_json(read_text(path), path);
    } else if (ext == ".jsonl") {
      std::istringstream lines(read_text(path));
      std::string line;
      for (int k = 1; std::getline(lines, line); ++k) io::parse_json(line, path + " line " + std::to_string(k));
    } else if (ext == ".safetensors") {
      io::parse_json(safetensors_header(path), path + " (header)");
    } else {
      continue;
    }
    checked.push_back(path);
  }
  return checked;
}

}  // namespace pw::testing
