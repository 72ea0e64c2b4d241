// Atomic file writes (temporary file, fsync, rename, fsync of the folder) and whole-line
// appends: see files.h.
#include "engine/util/files.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "engine/util/error.h"

namespace pw {

namespace fs = std::filesystem;

namespace {

// errno in words, with the limit when it is the file-size limit (EFBIG comes from RLIMIT_FSIZE
// once SIGXFSZ is ignored, as the command line does).
std::string reason(int err) {
  std::string why = std::strerror(err);
  if (err == EFBIG) {
    rlimit lim{};
    if (getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
      why += " (the file-size limit, ulimit -f, is " + std::to_string((unsigned long long)lim.rlim_cur) + " bytes)";
  }
  return why;
}

std::string temporary_name(const std::string& path) {
  static std::atomic<uint64_t> serial{0};
  return path + ".tmp." + std::to_string(getpid()) + "." + std::to_string(serial++);
}

std::string untouched_note(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec) ? "; the previous '" + path + "' is untouched" : "";
}

void write_all(int fd, const std::vector<std::string_view>& pieces, const std::string& tmp, const std::string& path) {
  size_t total = 0, done = 0;
  for (std::string_view p : pieces) total += p.size();
  for (std::string_view piece : pieces) {
    for (size_t at = 0; at < piece.size();) {
      const ssize_t n = ::write(fd, piece.data() + at, piece.size() - at);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = n < 0 ? errno : EIO;
        PW_FAIL("cannot write '", path, "': ", reason(err), " (after ", done, " of ", total,
                " bytes of the temporary file '", tmp, "')", untouched_note(path));
      }
      at += (size_t)n;
      done += (size_t)n;
    }
  }
}

// Flushes a written file to the disk, naming `path` (the target) when it fails.
void sync_file(const std::string& file, const std::string& path) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  PW_CHECK(fd >= 0, "cannot write '", path, "': cannot reopen '", file, "' to sync it: ", reason(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  PW_CHECK(rc == 0, "cannot write '", path, "': fsync of '", file, "' failed: ", reason(err), untouched_note(path));
}

// The rename is durable only once the folder's entry is on disk. Some file systems cannot
// fsync a folder (EINVAL): nothing more can be done there, so that is not an error.
void sync_folder(const fs::path& target) {
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  PW_CHECK(fd >= 0, "wrote '", target.string(), "' but cannot open its folder to sync it: ", reason(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  PW_CHECK(rc == 0 || err == EINVAL, "wrote '", target.string(), "' but fsync of its folder '", dir,
           "' failed: ", reason(err));
}

void make_parent(const fs::path& target) {
  if (!target.has_parent_path()) return;
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  PW_CHECK(!ec, "cannot write '", target.string(), "': cannot create the folder '", target.parent_path().string(),
           "': ", ec.message());
}

}  // namespace

void write_file_atomic_with(const std::string& path, const std::function<void(const std::string& tmp)>& write) {
  const fs::path target(path);
  const std::string tmp = temporary_name(path);
  try {
    write(tmp);
    sync_file(tmp, path);
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      PW_FAIL("cannot write '", path, "': renaming '", tmp, "' over it failed: ", reason(errno), untouched_note(path));
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
  sync_folder(target);
}

void write_file_atomic(const std::string& path, const std::string& content) {
  write_file_atomic(path, std::vector<std::string_view>{content});
}

void write_file_atomic(const std::string& path, const std::vector<std::string_view>& pieces) {
  make_parent(fs::path(path));
  write_file_atomic_with(path, [&](const std::string& tmp) {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    PW_CHECK(fd >= 0, "cannot write '", path, "': cannot create the temporary file '", tmp, "': ", reason(errno),
             untouched_note(path));
    try {
      write_all(fd, pieces, tmp, path);
    } catch (...) {
      ::close(fd);
      throw;
    }
    PW_CHECK(::close(fd) == 0, "cannot write '", path, "': closing '", tmp, "' failed: ", reason(errno),
             untouched_note(path));
  });
}

int remove_stale_temporaries(const std::string& dir, const std::string& name) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  const std::string prefix = name + ".tmp.";
  int removed = 0;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string file = e.path().filename().string();
    if (file.rfind(prefix, 0) != 0) continue;
    const std::string rest = file.substr(prefix.size());  // <pid>.<n>
    const size_t dot = rest.find('.');
    if (dot == std::string::npos || dot == 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(rest.c_str(), &end, 10);
    if (end != rest.c_str() + dot || pid <= 0) continue;
    if (pid == (long)getpid() || ::kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;  // its writer may be alive
    std::error_code ignored;
    removed += fs::remove(e.path(), ignored) ? 1 : 0;
  }
  return removed;
}

// ---- AppendFile ----

AppendFile::AppendFile(const std::string& path, bool truncate) : path_(path) {
  make_parent(fs::path(path));
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
  PW_CHECK(fd_ >= 0, "cannot open '", path, "' for appending: ", reason(errno));
}

AppendFile::~AppendFile() {
  if (fd_ >= 0) ::close(fd_);
}

AppendFile::AppendFile(AppendFile&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }

AppendFile& AppendFile::operator=(AppendFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

void AppendFile::line(const std::string& text) {
  PW_CHECK(fd_ >= 0, "AppendFile: '", path_, "' is not open");
  const std::string whole = text + "\n";
  struct stat before {};
  const bool sized = ::fstat(fd_, &before) == 0;
  size_t done = 0;
  while (done < whole.size()) {
    const ssize_t n = ::write(fd_, whole.data() + done, whole.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      // Cut a part line back off; if even that fails, a reader drops a last line without newline.
      if (done > 0 && sized) (void)!::ftruncate(fd_, before.st_size);
      PW_FAIL("cannot append to '", path_, "': ", reason(err), " (a line of ", whole.size(), " bytes)");
    }
    done += (size_t)n;
  }
}

}  // namespace pw
