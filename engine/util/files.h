// Writing files so that a failure never leaves a half-written file in place.
#pragma once
#include <string>

namespace pw {

// Writes `content` to a temporary file next to `path`, then renames it over `path`.
// Throws pw::Error naming the path if anything fails; the old file (if any) is then untouched.
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace pw
