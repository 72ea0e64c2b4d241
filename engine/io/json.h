// JSON without an external library: a small strict reader (parse_json: objects, arrays, strings
// with all escapes, \uXXXX with surrogate pairs, UTF-8 checked, numbers, true / false / null) for
// safetensors headers and for tests that read back what the program writes; and the one writer
// (Json) that every JSON file, JSON-lines record and safetensors header is made with, so that
// escaping and number formatting are decided in one place.
#pragma once
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace pw::io {

// ---- reading ----

struct JsonValue {
  // Declared here, defined in json.cpp: clang before 15 with libstdc++ cannot instantiate the
  // implicit one of this recursive type (the fuzzing build, tools/fuzz.sh, uses clang 14).
  JsonValue();
  enum Kind { null, boolean, number, string, array, object } kind = null;
  std::string text;              // a string's decoded value, a number's literal text, "true" or "false"
  bool integer = false;          // a number written without fraction or exponent that fits in int64
  int64_t value = 0;             // that integer
  std::vector<JsonValue> items;  // an array's elements
  std::vector<std::pair<std::string, JsonValue>> members;  // an object's, in order, duplicates kept
};

// "a string", "an object", ... for messages.
const char* json_kind_name(JsonValue::Kind k);

// Parses one JSON value (surrounded by optional whitespace) that is the whole of `text`. On
// failure throws pw::Error: "<what> is not valid JSON: <reason> at byte <p>", followed by
// " (byte <p + file_offset> of the file)" when file_offset is not 0. Nesting is limited to 32.
JsonValue parse_json(const std::string& text, const std::string& what, size_t file_offset = 0);

bool is_valid_utf8(const std::string& s);

// ---- writing ----

enum class JsonStyle {
  line,      // one line, ", " and ": " between items: JSON-lines records
  compact,   // one line, no spaces: safetensors headers
  indented,  // two spaces per level; an array or object that fits in 100 columns stays on one line:
             // files people read
};

// A JSON value to write, built in code: null, a boolean, a number, a string, an array, or an
// object whose members keep the order they were added in.
//
//   io::Json::object({{"step", 10}, {"loss", 0.25}, {"classes", names}}).dump()
//     gives {"step": 10, "loss": 0.25, "classes": ["cat", "dog"]}
//
// Numbers are formatted when the value is made. Integers exactly; a double in the shortest text
// that reads back as the same double, a float as the same float (so 0.1f is 0.1, not the double
// nearest to it); Json::fixed for a chosen count of decimals. NaN and infinities become null:
// JSON has no literal for them, and a reader had better meet a missing number than a file it
// cannot parse.
// Strings are UTF-8. '"', '\' and every control character below 0x20 are escaped (\n, \t, \r,
// \b, \f, else \u00XX). A byte that is not part of valid UTF-8 is written as U+FFFD, so the
// output always parses with a strict reader; a caller that must keep a name exactly (a
// safetensors header) checks is_valid_utf8 first.
class Json {
 public:
  Json() = default;  // null
  Json(std::nullptr_t) {}
  // A template so that pointers, which convert to bool, are not taken for booleans.
  template <std::same_as<bool> B>
  Json(B b) : kind_(Kind::boolean), text_(b ? "true" : "false") {}
  template <std::integral T>
  requires(!std::same_as<T, bool>) Json(T v) : kind_(Kind::number), text_(std::to_string(v)) {}
  Json(double v);
  Json(float v);
  Json(const char* s);
  Json(std::string s);
  // An array of the items, each converted as above (a vector of vectors is an array of arrays).
  template <class T>
  Json(const std::vector<T>& items) : kind_(Kind::array) {
    items_.reserve(items.size());
    for (const T& x : items) items_.emplace_back(x);
  }

  static Json array(std::initializer_list<Json> items = {});
  static Json object(std::initializer_list<std::pair<std::string, Json>> members = {});
  // v with `decimals` (0 to 17) digits after the point, for numbers meant to be read by people.
  static Json fixed(double v, int decimals);

  // Appends to an array; adds a member to an object (a key added twice is an error). Other kinds
  // are errors.
  Json& push(Json item);
  Json& set(std::string key, Json value);

  bool is_null() const { return kind_ == Kind::null; }

  // The text, without a trailing newline.
  std::string dump(JsonStyle style = JsonStyle::line) const;

 private:
  enum class Kind { null, boolean, number, string, array, object };
  void write(std::string& out, JsonStyle style, int depth) const;
  void write_items(std::string& out, JsonStyle style, int depth) const;

  Kind kind_ = Kind::null;
  std::string text_;  // a string's bytes, or the literal of a number or boolean
  std::vector<Json> items_;
  std::vector<std::pair<std::string, Json>> members_;
};

}  // namespace pw::io
