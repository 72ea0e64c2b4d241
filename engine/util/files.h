// Writing files so that no failure and no kill ever leaves a half-written file in place.
//
// Every file patchwork writes (checkpoints, weights, pictures, JSON sidecars, reports, IDX
// files) goes through write_file_atomic: the bytes go to a temporary file in the same folder
// (so the rename cannot cross file systems), which is flushed and fsync'ed, renamed over the
// target, and then the folder itself is fsync'ed so that the rename survives a power cut. A
// process killed at any moment leaves either the old file or the new one, never a mixture; a
// full disk (ENOSPC) or a file-size limit (EFBIG, RLIMIT_FSIZE) is a pw::Error naming the file
// and the reason, and the previous file is untouched. A kill can leave a temporary file
// (`<name>.tmp.<pid>.<n>`) beside the target; remove_stale_temporaries cleans those up.
//
// Logs that grow (metrics.jsonl) use AppendFile: each line is one write(2) of the whole line
// with its newline, so a killed run leaves every finished line whole.
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pw {

// Writes `content` to `path` atomically (see above). Creates the parent folder if needed.
// Throws pw::Error naming the path if anything fails; the old file (if any) is then untouched.
void write_file_atomic(const std::string& path, const std::string& content);
// The same for content in pieces, written in order and never joined in memory (a checkpoint as
// large as the memory left can still be written).
void write_file_atomic(const std::string& path, const std::vector<std::string_view>& pieces);

// The same for a writer that needs a file name (zlib's gzopen): `write(tmp)` creates and fills
// `tmp` completely, throwing on failure; then it is fsync'ed and renamed over `path`. On any
// failure the temporary file is removed and the error rethrown. The folder must exist.
void write_file_atomic_with(const std::string& path, const std::function<void(const std::string& tmp)>& write);

// Removes the temporaries that writers killed before their rename left in `dir` for the file
// `name` (`name.tmp.<pid>.<n>` of processes no longer alive). Returns how many.
int remove_stale_temporaries(const std::string& dir, const std::string& name);

// A file written one whole line at a time (JSON-lines logs).
class AppendFile {
 public:
  AppendFile() = default;
  // Opens `path` for appending (truncate: empty it first); creates it if needed.
  AppendFile(const std::string& path, bool truncate);
  ~AppendFile();
  AppendFile(AppendFile&& o) noexcept;
  AppendFile& operator=(AppendFile&& o) noexcept;
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;

  bool is_open() const { return fd_ >= 0; }
  // Appends `text` and a newline in one write(2); throws pw::Error naming the file on failure
  // (a short write is cut back, so the file never ends in part of a line).
  void line(const std::string& text);

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace pw
