// pw::Error and the argument-checking macro used everywhere in library code.
// Library code throws; it never exits. The command line turns an Error into one line on stderr.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace pw {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace pw

// PW_CHECK(cond, "conv2d: input has ", c, " channels, weight expects ", w);
#define PW_CHECK(cond, ...)                                            \
  do {                                                                 \
    if (!(cond)) throw ::pw::Error(::pw::detail::concat(__VA_ARGS__)); \
  } while (0)

#define PW_FAIL(...) throw ::pw::Error(::pw::detail::concat(__VA_ARGS__))
