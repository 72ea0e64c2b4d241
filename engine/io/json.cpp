// The JSON reader and writer of json.h.
#include "engine/io/json.h"

#include <charconv>
#include <cmath>
#include <cstring>

#include "engine/util/error.h"

namespace pw::io {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if there is none.
size_t utf8_length(const std::string& s, size_t i) {
  const auto byte = [&](size_t k) { return k < s.size() ? (unsigned char)s[k] : 0u; };
  const unsigned c = byte(i);
  if (c < 0x80) return 1;
  size_t n;
  unsigned lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
  else
    return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return n;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += (char)cp;
  } else if (cp < 0x800) {
    out += (char)(0xC0 | cp >> 6), out += (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += (char)(0xE0 | cp >> 12), out += (char)(0x80 | (cp >> 6 & 0x3F)), out += (char)(0x80 | (cp & 0x3F));
  } else {
    out += (char)(0xF0 | cp >> 18), out += (char)(0x80 | (cp >> 12 & 0x3F));
    out += (char)(0x80 | (cp >> 6 & 0x3F)), out += (char)(0x80 | (cp & 0x3F));
  }
}

class JsonParser {
 public:
  JsonParser(const std::string& s, const std::string& what, size_t file_offset)
      : s_(s), what_(what), file_offset_(file_offset) {}

  JsonValue parse_document() {
    JsonValue v = parse_value(0);
    skip_space();
    if (p_ != s_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    PW_FAIL(what_, " is not valid JSON: ", msg, " at byte ", p_,
            file_offset_ ? detail::concat(" (byte ", p_ + file_offset_, " of the file)") : "");
  }
  char peek() const { return p_ < s_.size() ? s_[p_] : '\0'; }
  void skip_space() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r')) ++p_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++p_;
  }

  JsonValue parse_value(int depth) {
    if (depth > 32) fail("nesting deeper than 32 levels");
    skip_space();
    JsonValue v;
    const char c = peek();
    if (c == '{') {
      v.kind = JsonValue::object;
      ++p_;
      skip_space();
      if (peek() == '}') return ++p_, v;
      for (;;) {
        skip_space();
        if (peek() != '"') fail("expected a string key");
        std::string key = parse_string();
        expect(':');
        v.members.emplace_back(std::move(key), parse_value(depth + 1));
        skip_space();
        if (peek() == '}') return ++p_, v;
        if (peek() != ',') fail("expected ',' or '}'");
        ++p_;
      }
    }
    if (c == '[') {
      v.kind = JsonValue::array;
      ++p_;
      skip_space();
      if (peek() == ']') return ++p_, v;
      for (;;) {
        v.items.push_back(parse_value(depth + 1));
        skip_space();
        if (peek() == ']') return ++p_, v;
        if (peek() != ',') fail("expected ',' or ']'");
        ++p_;
      }
    }
    if (c == '"') return v.kind = JsonValue::string, v.text = parse_string(), v;
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(v);
    for (const char* lit : {"true", "false", "null"}) {
      if (s_.compare(p_, std::strlen(lit), lit) == 0) {
        v.kind = lit[0] == 'n' ? JsonValue::null : JsonValue::boolean;
        if (v.kind == JsonValue::boolean) v.text = lit;
        p_ += std::strlen(lit);
        return v;
      }
    }
    fail(p_ == s_.size() ? "unexpected end" : "unexpected character");
  }

  JsonValue& parse_number(JsonValue& v) {
    v.kind = JsonValue::number;
    const size_t start = p_;
    const auto digits = [&] {
      const size_t from = p_;
      while (peek() >= '0' && peek() <= '9') ++p_;
      if (p_ == from) fail("expected a digit");
    };
    if (peek() == '-') ++p_;
    if (peek() == '0')
      ++p_;
    else
      digits();
    bool integer = true;
    if (peek() == '.') integer = false, ++p_, digits();
    if (peek() == 'e' || peek() == 'E') {
      integer = false, ++p_;
      if (peek() == '+' || peek() == '-') ++p_;
      digits();
    }
    v.text = s_.substr(start, p_ - start);
    if (integer) {
      const bool negative = v.text[0] == '-';
      int64_t x = 0;
      v.integer = true;
      for (size_t k = negative; k < v.text.size() && v.integer; ++k)
        v.integer = !__builtin_mul_overflow(x, 10, &x) &&
                    !__builtin_add_overflow(x, negative ? -(v.text[k] - '0') : v.text[k] - '0', &x);
      v.value = x;
    }
    return v;
  }

  std::string parse_string() {
    ++p_;  // the opening quote
    std::string out;
    for (;;) {
      if (p_ >= s_.size()) fail("unterminated string");
      const unsigned char c = s_[p_];
      if (c == '"') return ++p_, out;
      if (c < 0x20) fail("control character in a string");
      if (c != '\\') {
        const size_t n = utf8_length(s_, p_);
        if (n == 0) fail("invalid UTF-8");
        out.append(s_, p_, n);
        p_ += n;
        continue;
      }
      const char e = ++p_ < s_.size() ? s_[p_++] : '\0';
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail("unpaired low surrogate");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (s_.compare(p_, 2, "\\u") != 0) fail("unpaired high surrogate");
            p_ += 2;
            const uint32_t low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail("unpaired high surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          append_utf8(out, cp);
          break;
        }
        default: --p_, fail("invalid escape");
      }
    }
  }

  uint32_t hex4() {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k, ++p_) {
      const char h = peek();
      const int d = h >= '0' && h <= '9'   ? h - '0'
                    : h >= 'a' && h <= 'f' ? h - 'a' + 10
                    : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                           : -1;
      if (d < 0) fail("expected four hex digits after \\u");
      v = v * 16 + d;
    }
    return v;
  }

  const std::string& s_;
  const std::string& what_;
  const size_t file_offset_;
  size_t p_ = 0;
};

}  // namespace

JsonValue::JsonValue() = default;

const char* json_kind_name(JsonValue::Kind k) {
  static const char* names[] = {"null", "a boolean", "a number", "a string", "an array", "an object"};
  return names[k];
}

bool is_valid_utf8(const std::string& s) {
  for (size_t i = 0, n; i < s.size(); i += n)
    if ((n = utf8_length(s, i)) == 0) return false;
  return true;
}

JsonValue parse_json(const std::string& text, const std::string& what, size_t file_offset) {
  return JsonParser(text, what, file_offset).parse_document();
}

// ---- writing ----

namespace {

constexpr size_t kLineWidth = 100;  // JsonStyle::indented keeps a container on one line up to this column

void append_quoted(std::string& out, const std::string& s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (size_t i = 0, n; i < s.size(); i += n) {
    const unsigned char c = s[i];
    n = utf8_length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD for a byte that starts no valid sequence
      n = 1;
    } else if (c == '"' || c == '\\') {
      out += '\\', out += (char)c;
    } else if (c < 0x20) {
      const char* shortcut = c == '\n'   ? "\\n"
                             : c == '\t' ? "\\t"
                             : c == '\r' ? "\\r"
                             : c == '\b' ? "\\b"
                             : c == '\f' ? "\\f"
                                         : nullptr;
      if (shortcut)
        out += shortcut;
      else
        out += "\\u00", out += hex[c >> 4], out += hex[c & 15];
    } else {
      out.append(s, i, n);
    }
  }
  out += '"';
}

// The shortest text that reads back as v (std::to_chars' guarantee), "1e-05" style exponents.
template <class F>
std::string shortest(F v) {
  char buf[64];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

// The column `out` has reached on its last line.
size_t column(const std::string& out) { return out.size() - (out.rfind('\n') + 1); }

}  // namespace

// NaN and infinities stay null.
Json::Json(double v) {
  if (std::isfinite(v)) kind_ = Kind::number, text_ = shortest(v);
}
Json::Json(float v) {
  if (std::isfinite(v)) kind_ = Kind::number, text_ = shortest(v);
}
Json::Json(const char* s) : kind_(Kind::string), text_(s) {}
Json::Json(std::string s) : kind_(Kind::string), text_(std::move(s)) {}

Json Json::array(std::initializer_list<Json> items) {
  Json j;
  j.kind_ = Kind::array;
  j.items_.assign(items.begin(), items.end());
  return j;
}

Json Json::object(std::initializer_list<std::pair<std::string, Json>> members) {
  Json j;
  j.kind_ = Kind::object;
  for (const auto& [key, value] : members) j.set(key, value);
  return j;
}

Json Json::fixed(double v, int decimals) {
  PW_CHECK(decimals >= 0 && decimals <= 17, "Json::fixed: ", decimals, " decimals; expected 0 to 17");
  if (!std::isfinite(v)) return Json();
  char buf[400];  // the largest double has 309 digits before the point
  Json j;
  j.kind_ = Kind::number;
  j.text_.assign(buf, std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals).ptr);
  return j;
}

Json& Json::push(Json item) {
  PW_CHECK(kind_ == Kind::array, "Json::push: the value is not an array");
  items_.push_back(std::move(item));
  return *this;
}

Json& Json::set(std::string key, Json value) {
  PW_CHECK(kind_ == Kind::object, "Json::set: the value is not an object (key '", key, "')");
  for (const auto& m : members_) PW_CHECK(m.first != key, "Json::set: key '", key, "' is set twice");
  members_.emplace_back(std::move(key), std::move(value));
  return *this;
}

std::string Json::dump(JsonStyle style) const {
  std::string out;
  write(out, style, 0);
  return out;
}

void Json::write(std::string& out, JsonStyle style, int depth) const {
  switch (kind_) {
    case Kind::null: out += "null"; return;
    case Kind::boolean:
    case Kind::number: out += text_; return;
    case Kind::string: append_quoted(out, text_); return;
    case Kind::array:
    case Kind::object: break;
  }
  if (style == JsonStyle::indented) {
    // On one line when it fits; only then are its items laid out one per line.
    const std::string line = dump(JsonStyle::line);
    if (column(out) + line.size() <= kLineWidth) {
      out += line;
      return;
    }
  }
  write_items(out, style, depth);
}

void Json::write_items(std::string& out, JsonStyle style, int depth) const {
  const bool is_object = kind_ == Kind::object;
  const size_t n = is_object ? members_.size() : items_.size();
  const bool indented = style == JsonStyle::indented && n > 0;
  out += is_object ? '{' : '[';
  for (size_t i = 0; i < n; ++i) {
    if (i) out += style == JsonStyle::line ? ", " : ",";
    if (indented) out.append(1, '\n').append(2 * (depth + 1), ' ');
    if (is_object) {
      append_quoted(out, members_[i].first);
      out += style == JsonStyle::compact ? ":" : ": ";
    }
    (is_object ? members_[i].second : items_[i]).write(out, style, depth + 1);
  }
  if (indented) out.append(1, '\n').append(2 * depth, ' ');
  out += is_object ? '}' : ']';
}

}  // namespace pw::io
