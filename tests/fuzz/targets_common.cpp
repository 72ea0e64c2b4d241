// What the fuzz targets share: the table lookup, scratch files and the property checks.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/util/error.h"
#include "tests/fuzz/properties.h"
#include "tests/fuzz/targets.h"

namespace pw::fuzz {

Entry find_target(const std::string& name) {
  for (const Target& t : kTargets)
    if (name == t.name) return t.entry;
  return nullptr;
}

namespace {

// The scratch folder, removed when the process exits.
struct ScratchFolder {
  std::string path;
  ~ScratchFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

const std::string& scratch_dir() {
  static const ScratchFolder dir{[] {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path base;
    if (const char* env = std::getenv("PW_FUZZ_SCRATCH"); env != nullptr && *env != '\0')
      base = env;
    else if (fs::is_directory("/dev/shm", ec))
      base = "/dev/shm";  // memory: millions of small writes should not reach a disk
    else
      base = fs::temp_directory_path();
    const fs::path dir = base / ("pw-fuzz-" + std::to_string(getpid()));
    fs::create_directories(dir, ec);
    PW_CHECK(!ec, "fuzz: cannot create the scratch folder '", dir.string(), "': ", ec.message());
    return dir.string();
  }()};
  return dir.path;
}

std::string write_scratch(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  out.close();
  if (!out) property_failed("fuzz: cannot write the scratch file '" + path + "'");
  return path;
}

void property_failed(const std::string& what) {
  std::fprintf(stderr, "fuzz property failed: %s\n", what.c_str());
  throw PropertyFailure(what);
}

void expect_same_tensors(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b,
                         const std::string& what) {
  if (a.size() != b.size())
    property_failed(what + ": " + std::to_string(a.size()) + " tensors against " + std::to_string(b.size()));
  for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
    const Tensor &x = ia->second, &y = ib->second;
    if (ia->first != ib->first || x.dtype() != y.dtype() || x.shape() != y.shape())
      property_failed(what + ": tensor '" + ia->first + "' " + shape_str(x.shape()) + " against '" + ib->first + "' " +
                      shape_str(y.shape()));
    if (x.numel() == 0) continue;
    const Tensor cx = x.contiguous().to(Device::cpu()), cy = y.contiguous().to(Device::cpu());
    if (std::memcmp(cx.raw_data(), cy.raw_data(), size_t(x.numel()) * dtype_size(x.dtype())) != 0)
      property_failed(what + ": tensor '" + ia->first + "' has different values");
  }
}

std::map<std::string, Tensor> clone_all(const std::map<std::string, Tensor>& tensors) {
  std::map<std::string, Tensor> out;
  for (const auto& [name, t] : tensors) out[name] = t.detach().clone();
  return out;
}

}  // namespace pw::fuzz
