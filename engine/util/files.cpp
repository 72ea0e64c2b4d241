// Atomic file writes: temp file in the same directory (so rename is atomic), flush, rename.
#include "engine/util/files.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "engine/util/error.h"

namespace pw {

void write_file_atomic(const std::string& path, const std::string& content) {
  namespace fs = std::filesystem;
  fs::path target(path);
  if (target.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    PW_CHECK(!ec, "write: cannot create directory '", target.parent_path().string(), "': ", ec.message());
  }
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  FILE* f = std::fopen(tmp.c_str(), "wb");
  PW_CHECK(f != nullptr, "write: cannot create '", tmp, "': ", std::strerror(errno));
  bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size();
  ok = std::fflush(f) == 0 && ok;
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    PW_FAIL("write: cannot write '", path, "': ", why);
  }
}

}  // namespace pw
