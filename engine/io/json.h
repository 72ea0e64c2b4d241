// A small, strict JSON reader and the string quoting for writing, enough for safetensors headers:
// objects, arrays, strings (all escapes, \uXXXX with surrogate pairs, UTF-8 checked), numbers,
// true / false / null. No external JSON library.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pw::io {

struct JsonValue {
  enum Kind { null, boolean, number, string, array, object } kind = null;
  std::string text;              // a string's decoded value, or a number's literal text
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

// `s` as a JSON string literal, quotes included (the bytes of s are kept; control characters
// are escaped).
std::string json_quote(const std::string& s);

bool is_valid_utf8(const std::string& s);

}  // namespace pw::io
