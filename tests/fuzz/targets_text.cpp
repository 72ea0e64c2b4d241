// Fuzz targets of the text inputs: JSON, the jigsaw permutation file, the --data spec and the
// flag parser (see targets.h for what each checks).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/io/json.h"
#include "engine/util/error.h"
#include "tasks/datasets.h"
#include "tasks/pretext/jigsaw.h"
#include "tests/fuzz/properties.h"
#include "tests/fuzz/seeds.h"
#include "tests/fuzz/targets.h"
#include "tools/args.h"

namespace pw::fuzz {
namespace {

// ---- json

// The value to write for a parsed one: nullopt when the writer cannot express it (an object with
// a repeated key, which Json::set refuses).
std::optional<io::Json> to_writer(const io::JsonValue& v) {
  switch (v.kind) {
    case io::JsonValue::null: return io::Json();
    case io::JsonValue::boolean: return io::Json(v.text == "true");
    case io::JsonValue::string: return io::Json(v.text);
    case io::JsonValue::number: {
      if (v.integer) return io::Json(v.value);
      return io::Json(std::strtod(v.text.c_str(), nullptr));  // +-inf (1e999) is written as null
    }
    case io::JsonValue::array: {
      io::Json a = io::Json::array();
      for (const io::JsonValue& item : v.items) {
        std::optional<io::Json> x = to_writer(item);
        if (!x) return std::nullopt;
        a.push(std::move(*x));
      }
      return a;
    }
    case io::JsonValue::object: {
      io::Json o = io::Json::object();
      std::set<std::string> keys;
      for (const auto& [key, item] : v.members) {
        std::optional<io::Json> x = to_writer(item);
        if (!x || !keys.insert(key).second) return std::nullopt;
        o.set(key, std::move(*x));
      }
      return o;
    }
  }
  return std::nullopt;
}

double number_of(const io::JsonValue& v) { return v.integer ? double(v.value) : std::strtod(v.text.c_str(), nullptr); }

// Whether `back` (written and parsed again) is what `v` should come back as.
bool same_json(const io::JsonValue& v, const io::JsonValue& back) {
  if (v.kind == io::JsonValue::number) {
    if (!v.integer && !std::isfinite(number_of(v))) return back.kind == io::JsonValue::null;
    if (back.kind != io::JsonValue::number) return false;
    if (v.integer && back.integer) return v.value == back.value;
    return number_of(v) == number_of(back);
  }
  if (v.kind != back.kind || v.text != back.text || v.items.size() != back.items.size() ||
      v.members.size() != back.members.size())
    return false;
  for (size_t i = 0; i < v.items.size(); ++i)
    if (!same_json(v.items[i], back.items[i])) return false;
  for (size_t i = 0; i < v.members.size(); ++i)
    if (v.members[i].first != back.members[i].first || !same_json(v.members[i].second, back.members[i].second))
      return false;
  return true;
}

void expect_valid_utf8(const io::JsonValue& v) {
  if (v.kind == io::JsonValue::string && !io::is_valid_utf8(v.text))
    property_failed("json: a parsed string is not valid UTF-8");
  for (const io::JsonValue& item : v.items) expect_valid_utf8(item);
  for (const auto& [key, item] : v.members) {
    if (!io::is_valid_utf8(key)) property_failed("json: a parsed key is not valid UTF-8");
    expect_valid_utf8(item);
  }
}

// ---- the data spec

// The sandbox the data spec target loads from: small datasets of every kind (seeds.h).
const std::string& data_sandbox() {
  static const std::string dir = [] {
    const std::string d = scratch_dir() + "/data";
    write_data_sandbox(d);
    return d;
  }();
  return dir;
}

// Runs f with the working folder set to `dir`, and sets it back.
template <class F>
void in_folder(const std::string& dir, F&& f) {
  namespace fs = std::filesystem;
  const fs::path before = fs::current_path();
  fs::current_path(dir);
  try {
    f();
  } catch (...) {
    fs::current_path(before);
    throw;
  }
  fs::current_path(before);
}

// Whether a spec may be loaded: its path stays inside the sandbox.
bool stays_in_sandbox(const std::string& spec) {
  if (spec == "fashion-mnist" || spec.find('\0') != std::string::npos) return false;
  const size_t colon = spec.find(':');
  const std::string path = colon == std::string::npos ? spec : spec.substr(colon + 1);
  return !(path.starts_with("/") || path.starts_with("~") || path.find("..") != std::string::npos);
}

tasks::DataOptions parse_options(const std::string& line) {
  tasks::DataOptions o;
  std::istringstream in(line);
  int64_t size = 0, channels = 0, limit_train = -1, limit_test = -1, skip_bad = 0;
  double test_fraction = 0.2;
  in >> size >> channels >> limit_train >> limit_test >> skip_bad >> test_fraction;
  // Sizes the flags' own checks bound (and that keep one run short); the spec is what is fuzzed.
  o.image_size = std::clamp<int64_t>(size, 0, 48);
  o.channels = int(std::clamp<int64_t>(channels, 0, 4));
  o.limit_train = std::clamp<int64_t>(limit_train, -1, 8);
  o.limit_test = std::clamp<int64_t>(limit_test, -1, 8);
  o.skip_bad = skip_bad != 0;
  o.test_fraction = std::isfinite(test_fraction) ? std::clamp(test_fraction, 0.0, 1.0) : 0.2;
  return o;
}

// ---- args

cli::Args declared_flags() {
  cli::Args a("fuzz", "the fuzz target's flags");
  a.flag("name", "x", "a string")
      .flag("count", "3", "an integer")
      .flag("rate", "0.5", "a number")
      .flag("maybe", "", "absent unless given")
      .section("more")
      .flag("shape", "3,32,32", "a shape")
      .flag("units", "0-3", "indices")
      .boolean("verbose", "a switch");
  return a;
}

template <class F>
void refused_or_ok(F&& f) {
  try {
    f();
  } catch (const Error&) {
  }
}

}  // namespace

bool json(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  io::JsonValue v;
  try {
    v = io::parse_json(text, "fuzz");
  } catch (const Error&) {
    return false;
  }
  expect_valid_utf8(v);
  const std::optional<io::Json> w = to_writer(v);
  if (!w) return true;
  for (io::JsonStyle style : {io::JsonStyle::line, io::JsonStyle::compact, io::JsonStyle::indented}) {
    const std::string written = w->dump(style);
    io::JsonValue back;
    try {
      back = io::parse_json(written, "fuzz (written back)");
    } catch (const Error& e) {
      property_failed(std::string("json: the writer's output does not parse: ") + e.what());
    }
    if (!same_json(v, back)) property_failed("json: written and parsed again, the value changed: " + written);
  }
  return true;
}

bool permutations(const uint8_t* data, size_t size) {
  const std::string path = write_scratch("permutations.txt", data, size);
  std::vector<tasks::Permutation> set;
  try {
    set = tasks::load_permutations(path);
  } catch (const Error&) {
    return false;
  }
  const std::string again = scratch_dir() + "/permutations-saved.txt";
  tasks::save_permutations(again, set);
  if (tasks::load_permutations(again) != set) property_failed("permutations: saved and loaded again, the set changed");
  return true;
}

bool data_spec(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string spec = input.substr(0, newline);
  const tasks::DataOptions options = parse_options(newline == std::string::npos ? "" : input.substr(newline + 1));
  if (!stays_in_sandbox(spec)) return false;
  bool accepted = false;
  in_folder(data_sandbox(), [&] {
    try {
      tasks::data_kind(spec);
      const tasks::Dataset d = tasks::load_dataset(spec, options);
      if (!d.train_images.defined() || d.train_images.dim() != 4 || d.mean.size() != size_t(d.train_images.size(1)))
        property_failed("data_spec: '" + spec + "' loaded without a proper training set");
      accepted = true;
    } catch (const Error&) {
    }
  });
  return accepted;
}

bool args(const uint8_t* data, size_t size) {
  std::vector<std::string> words = {"patchwork", "fuzz"};
  std::string word;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      words.push_back(word);
      word.clear();
    } else {
      word += char(data[i]);
    }
  }
  if (!word.empty()) words.push_back(word);
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);

  cli::Args a = declared_flags();
  try {
    // --help prints the help and returns false: still a parse.
    a.parse(int(words.size()), argv.data(), 2);
  } catch (const Error&) {
    return false;
  }
  refused_or_ok([&] { a.i64("count"); });
  refused_or_ok([&] { a.f64("rate"); });
  refused_or_ok([&] { a.maybe_i64("maybe"); });
  refused_or_ok([&] { a.maybe_f64("maybe"); });
  a.on("verbose");
  for (const char* name : {"name", "count", "rate", "maybe", "shape", "units", "verbose"}) {
    const std::string value = a.str(name);
    a.given(name);
    refused_or_ok([&] { cli::parse_shape(value, name); });
    refused_or_ok([&] { cli::parse_indices(value, 10, name); });
    refused_or_ok([&] { cli::parse_indices(value, 0, name); });
  }
  try {
    io::parse_json(a.json().dump(), "fuzz: the flags as JSON");
  } catch (const Error& e) {
    property_failed(std::string("args: json() does not parse: ") + e.what());
  }
  return true;
}

}  // namespace pw::fuzz
