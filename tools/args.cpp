// Flag parsing with errors that name the flag and list what exists.
#include "tools/args.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "engine/io/json.h"
#include "engine/util/error.h"

namespace pw::cli {

Args::Args(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}

size_t Args::index_of(const std::string& name) const {
  for (size_t i = 0; i < flags_.size(); ++i)
    if (!flags_[i].is_section && flags_[i].name == name) return i;
  return kNone;
}

Args& Args::declare(Flag f) {
  PW_CHECK(index_of(f.name) == kNone, command_, ": internal: flag --", f.name, " is declared twice");
  PW_CHECK(f.name != "help", command_, ": internal: --help is built in and cannot be declared");
  flags_.push_back(std::move(f));
  return *this;
}

Args& Args::flag(const std::string& name, const std::string& def, const std::string& help) {
  return declare({name, def, help, false});
}

Args& Args::boolean(const std::string& name, const std::string& help) { return declare({name, "false", help, true}); }

Args& Args::section(const std::string& title) {
  Flag heading{"", "", title};
  heading.is_section = true;
  flags_.push_back(heading);
  return *this;
}

std::string Args::help() const {
  std::string s = "usage: patchwork " + command_ + " [options]" +
                  (positional_name_.empty() ? "" : " " + positional_name_ + "...") + "\n\n" + summary_ + "\n\n";
  if (!positional_name_.empty()) s += "  " + positional_name_ + "  " + positional_help_ + "\n\n";
  s += "options:\n";
  for (const Flag& f : flags_) {
    if (f.is_section) {
      s += "\n" + f.help + ":\n";
      continue;
    }
    std::string left = "  --" + f.name + (f.is_bool ? "" : " V");
    if (left.size() < 24)
      left += std::string(24 - left.size(), ' ');
    else
      left += "\n" + std::string(24, ' ');
    // Continuation lines of the help text line up under its first line.
    std::string help = f.help;
    for (size_t at = help.find('\n'); at != std::string::npos; at = help.find('\n', at + 1))
      help.insert(at + 1, std::string(24, ' '));
    s += left + help;
    if (!f.is_bool && !f.value.empty()) s += " (default: " + f.value + ")";
    s += "\n";
  }
  return s + "  --help                show this help\n";
}

Args& Args::positional(const std::string& name, const std::string& help) {
  positional_name_ = name;
  positional_help_ = help;
  return *this;
}

bool Args::parse(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf("%s", help().c_str());
      return false;
    }
    if (a.rfind("--", 0) != 0 && !positional_name_.empty()) {
      positionals_.push_back(a);
      continue;
    }
    PW_CHECK(a.rfind("--", 0) == 0, command_, ": unexpected argument '", a, "' (see patchwork ", command_, " --help)");
    std::string name = a.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    const size_t index = index_of(name);
    PW_CHECK(index != kNone, command_, ": unknown option --", name, " (see patchwork ", command_, " --help)");
    Flag* f = &flags_[index];
    f->given = true;
    if (f->is_bool) {
      f->value = has_value ? value : "true";
    } else {
      if (!has_value) {
        PW_CHECK(i + 1 < argc, command_, ": option --", name, " needs a value");
        value = argv[++i];
      }
      f->value = value;
    }
  }
  return true;
}

const Args::Flag& Args::get(const std::string& name) const {
  const size_t index = index_of(name);
  PW_CHECK(index != kNone, command_, ": internal: undeclared flag --", name);
  return flags_[index];
}

std::string Args::str(const std::string& name) const { return get(name).value; }

int64_t Args::i64(const std::string& name) const {
  const std::string& v = get(name).value;
  char* end = nullptr;
  errno = 0;
  long long r = std::strtoll(v.c_str(), &end, 10);
  PW_CHECK(!v.empty() && *end == '\0', command_, ": --", name, " expects an integer, got '", v, "'");
  PW_CHECK(errno != ERANGE, command_, ": --", name, " is out of range: '", v, "'");
  return r;
}

double Args::f64(const std::string& name) const {
  const std::string& v = get(name).value;
  char* end = nullptr;
  errno = 0;
  double r = std::strtod(v.c_str(), &end);
  PW_CHECK(!v.empty() && *end == '\0', command_, ": --", name, " expects a number, got '", v, "'");
  PW_CHECK(errno != ERANGE && std::isfinite(r), command_, ": --", name, " is out of range: '", v, "'");
  return r;
}

std::optional<int64_t> Args::maybe_i64(const std::string& name) const {
  if (get(name).value.empty()) return std::nullopt;
  return i64(name);
}

std::optional<double> Args::maybe_f64(const std::string& name) const {
  if (get(name).value.empty()) return std::nullopt;
  return f64(name);
}

io::Json Args::json() const {
  io::Json o = io::Json::object();
  for (const Flag& f : flags_) {
    if (f.is_section) continue;
    if (f.is_bool)
      o.set(f.name, on(f.name));
    else
      o.set(f.name, f.value);
  }
  return o;
}

bool Args::given(const std::string& name) const { return get(name).given; }

bool Args::on(const std::string& name) const {
  const std::string& v = get(name).value;
  return v == "true" || v == "1" || v == "yes";
}

std::vector<int64_t> parse_indices(const std::string& text, int64_t all, const std::string& flag) {
  std::vector<int64_t> out;
  if (text == "all") {
    PW_CHECK(all > 0, "--", flag, " all: the number of choices is not known here; list them");
    for (int64_t i = 0; i < all; ++i) out.push_back(i);
    return out;
  }
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    try {
      size_t dash = part.find('-', 1);
      if (dash == std::string::npos) {
        out.push_back(std::stoll(part));
      } else {
        int64_t a = std::stoll(part.substr(0, dash)), b = std::stoll(part.substr(dash + 1)), span = 0;
        // Checked: "-9223372036854775807-9" and ranges ending at INT64_MAX must not overflow.
        PW_CHECK(a <= b && !__builtin_sub_overflow(b, a, &span) && span < 100000, "--", flag, ": bad range '", part,
                 "'");
        for (int64_t k = 0; k <= span; ++k) out.push_back(a + k);
      }
    } catch (const std::logic_error&) {
      PW_FAIL("--", flag, ": expected numbers like 3, 0,2,5, 0-15 or all; got '", text, "'");
    }
  }
  PW_CHECK(!out.empty(), "--", flag, " is empty");
  return out;
}

Shape parse_shape(const std::string& text, const std::string& flag) {
  Shape shape;
  size_t pos = 0;
  while (true) {
    size_t comma = text.find(',', pos);
    std::string part = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(part.c_str(), &end, 10);
    PW_CHECK(!part.empty() && *end == '\0' && v > 0 && errno != ERANGE, "--", flag,
             " expects positive integers separated by commas (like 3,224,224), got '", text, "'");
    shape.push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return shape;
}

}  // namespace pw::cli
