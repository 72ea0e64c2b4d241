// engine/io/json: the writer escapes every control character, keeps UTF-8 and replaces bytes that
// are not, writes numbers that read back exactly (NaN and infinities as null), nests, lays out in
// three styles, and everything it writes parses with the strict reader into the same values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <type_traits>

#include "engine/io/json.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "tests/support/json_files.h"

using namespace pw;
using io::Json;
using io::JsonStyle;
using io::JsonValue;
using pw::testing::json_member;

namespace {

JsonValue reparse(const Json& j, JsonStyle style = JsonStyle::line) { return io::parse_json(j.dump(style), "dump"); }

}  // namespace

// Pointers convert to bool in C++; a Json made from one would quietly be `true`.
static_assert(!std::is_constructible_v<Json, const int*>);
static_assert(!std::is_constructible_v<Json, std::string*>);

TEST(JsonWriter, EscapesEveryControlCharacter) {
  const char* short_escapes[32] = {};
  short_escapes['\b'] = "\\b", short_escapes['\f'] = "\\f", short_escapes['\n'] = "\\n";
  short_escapes['\r'] = "\\r", short_escapes['\t'] = "\\t";
  for (int c = 0; c < 0x20; ++c) {
    const std::string s = std::string("a") + (char)c + "b";
    const std::string text = Json(s).dump();
    char expected[16];
    std::snprintf(expected, sizeof expected, "\\u%04x", c);
    EXPECT_EQ(text, "\"a" + std::string(short_escapes[c] ? short_escapes[c] : expected) + "b\"") << c;
    const JsonValue v = io::parse_json(text, "escape");
    EXPECT_EQ(v.kind, JsonValue::string);
    EXPECT_EQ(v.text, s) << c;
  }
  EXPECT_EQ(Json("say \"hi\" \\ there").dump(), "\"say \\\"hi\\\" \\\\ there\"");
  EXPECT_EQ(Json("a/b\x7f").dump(), "\"a/b\x7f\"");  // nothing else needs escaping
}

TEST(JsonWriter, KeepsUtf8AndReplacesBytesThatAreNot) {
  const std::string utf8 = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";  // café € 😀
  EXPECT_EQ(Json(utf8).dump(), "\"" + utf8 + "\"");
  EXPECT_EQ(reparse(Json(utf8)).text, utf8);
  // A lone continuation byte, a truncated sequence, an overlong form and a surrogate: each bad
  // byte becomes U+FFFD and the text still parses.
  const std::string bad = "a\x80 b\xC3 c\xC0\xAF d\xED\xA0\x80";
  const JsonValue v = reparse(Json(bad));
  EXPECT_TRUE(io::is_valid_utf8(v.text));
  EXPECT_EQ(v.text, "a\xEF\xBF\xBD b\xEF\xBF\xBD c\xEF\xBF\xBD\xEF\xBF\xBD d\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  // Keys are strings like any other.
  const JsonValue o = reparse(Json::object({{"tab\there \"q\"", 1}, {bad, 2}}));
  EXPECT_EQ(o.members[0].first, "tab\there \"q\"");
  EXPECT_TRUE(io::is_valid_utf8(o.members[1].first));
}

TEST(JsonWriter, Integers) {
  EXPECT_EQ(Json(0).dump(), "0");
  EXPECT_EQ(Json(-7).dump(), "-7");
  EXPECT_EQ(Json(std::numeric_limits<int64_t>::min()).dump(), "-9223372036854775808");
  EXPECT_EQ(Json(std::numeric_limits<uint64_t>::max()).dump(), "18446744073709551615");
  EXPECT_EQ(Json((size_t)12).dump(), "12");
  const JsonValue v = reparse(Json(std::numeric_limits<int64_t>::max()));
  EXPECT_TRUE(v.integer);
  EXPECT_EQ(v.value, std::numeric_limits<int64_t>::max());
}

TEST(JsonWriter, DoublesReadBackExactly) {
  EXPECT_EQ(Json(0.1).dump(), "0.1");
  EXPECT_EQ(Json(2.0).dump(), "2");
  EXPECT_EQ(Json(-1.5e-7).dump(), "-1.5e-07");
  EXPECT_EQ(Json(0.1f).dump(), "0.1");  // a float's own shortest text, not its double's
  EXPECT_EQ(Json(1.0 / 3).dump(), "0.3333333333333333");
  Generator gen(11);
  std::vector<double> values = {std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::min(),
                                std::numeric_limits<double>::denorm_min(),
                                -0.0,
                                1e300,
                                123456789.125};
  for (int i = 0; i < 200; ++i)
    values.push_back(std::ldexp(gen.uniform_double() - 0.5, (int)(gen.uniform() * 200) - 100));
  for (double x : values) {
    const JsonValue v = reparse(Json(x));
    ASSERT_EQ(v.kind, JsonValue::number) << x;
    EXPECT_EQ(std::strtod(v.text.c_str(), nullptr), x) << v.text;
  }
  for (float x : {0.1f, 3.4028235e38f, 1e-45f, -2.5f}) {
    const JsonValue v = reparse(Json(x));
    EXPECT_EQ(std::strtof(v.text.c_str(), nullptr), x) << v.text;
  }
}

TEST(JsonWriter, NonFiniteNumbersAreNull) {
  for (double x : {NAN, INFINITY, -INFINITY}) {
    EXPECT_EQ(Json(x).dump(), "null");
    EXPECT_EQ(Json((float)x).dump(), "null");
    EXPECT_EQ(Json::fixed(x, 2).dump(), "null");
  }
  EXPECT_EQ(Json(std::vector<double>{1, NAN, 2}).dump(), "[1, null, 2]");
}

TEST(JsonWriter, FixedDecimals) {
  EXPECT_EQ(Json::fixed(3.14159, 2).dump(), "3.14");
  EXPECT_EQ(Json::fixed(2, 3).dump(), "2.000");
  EXPECT_EQ(Json::fixed(-0.5, 0).dump(), "-0");  // round half to even, as printf
  EXPECT_EQ(Json::fixed(1e20, 1).dump(), "100000000000000000000.0");
  EXPECT_EQ(reparse(Json::fixed(-std::numeric_limits<double>::max(), 17)).kind, JsonValue::number);
  EXPECT_THROW(Json::fixed(1, -1), Error);
  EXPECT_THROW(Json::fixed(1, 18), Error);
}

TEST(JsonWriter, ScalarsAndVectors) {
  EXPECT_EQ(Json().dump(), "null");
  EXPECT_EQ(Json(nullptr).dump(), "null");
  EXPECT_EQ(Json(true).dump(), "true");
  EXPECT_EQ(Json(false).dump(), "false");
  EXPECT_EQ(Json(std::string("s")).dump(), "\"s\"");
  EXPECT_EQ(Json(std::vector<std::string>{"a", "b"}).dump(), "[\"a\", \"b\"]");
  EXPECT_EQ(Json(std::vector<std::vector<int64_t>>{{1, 2}, {}, {3}}).dump(), "[[1, 2], [], [3]]");
  EXPECT_EQ(Json(std::vector<bool>{true, false}).dump(), "[true, false]");
  EXPECT_EQ(Json::array().dump(), "[]");
  EXPECT_EQ(Json::object().dump(), "{}");
}

TEST(JsonWriter, NestsAndKeepsMemberOrder) {
  Json runs = Json::array();
  runs.push(Json::object({{"name", "b"}, {"ok", true}})).push(Json::object({{"name", "a"}, {"ok", false}}));
  Json doc = Json::object({{"z", 1}, {"a", Json::array({1.5, "two", nullptr, Json::array()})}});
  doc.set("runs", runs).set("empty", Json::object());
  EXPECT_EQ(doc.dump(),
            "{\"z\": 1, \"a\": [1.5, \"two\", null, []], \"runs\": [{\"name\": \"b\", \"ok\": true}, "
            "{\"name\": \"a\", \"ok\": false}], \"empty\": {}}");
  EXPECT_EQ(doc.dump(JsonStyle::compact),
            "{\"z\":1,\"a\":[1.5,\"two\",null,[]],\"runs\":[{\"name\":\"b\",\"ok\":true},"
            "{\"name\":\"a\",\"ok\":false}],\"empty\":{}}");
  const JsonValue v = reparse(doc);
  ASSERT_EQ(v.members.size(), 4u);
  EXPECT_EQ(v.members[0].first, "z");
  EXPECT_EQ(v.members[1].first, "a");
  EXPECT_EQ(json_member(v, "a").items[1].text, "two");
  EXPECT_EQ(json_member(v, "a").items[2].kind, JsonValue::null);
  EXPECT_EQ(json_member(json_member(v, "runs").items[1], "name").text, "a");
  EXPECT_EQ(json_member(json_member(v, "runs").items[0], "ok").text, "true");
  EXPECT_EQ(json_member(json_member(v, "runs").items[1], "ok").text, "false");
}

TEST(JsonWriter, IndentedBreaksOnlyWhatDoesNotFit) {
  Json doc = Json::object({{"short", Json::array({1, 2, 3})}, {"name", "x"}});
  EXPECT_EQ(doc.dump(JsonStyle::indented), doc.dump());  // fits in 100 columns
  Json units = Json::array();
  for (int u = 0; u < 3; ++u) units.push(Json::object({{"unit", u}, {"patches", std::vector<int64_t>(12, 1000 + u)}}));
  doc.set("units", units);
  const std::string text = doc.dump(JsonStyle::indented);
  EXPECT_EQ(
      text,
      "{\n"
      "  \"short\": [1, 2, 3],\n"
      "  \"name\": \"x\",\n"
      "  \"units\": [\n"
      "    {\"unit\": 0, \"patches\": [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000]},\n"
      "    {\"unit\": 1, \"patches\": [1001, 1001, 1001, 1001, 1001, 1001, 1001, 1001, 1001, 1001, 1001, 1001]},\n"
      "    {\"unit\": 2, \"patches\": [1002, 1002, 1002, 1002, 1002, 1002, 1002, 1002, 1002, 1002, 1002, 1002]}\n"
      "  ]\n"
      "}");
  // A line that does not fit is broken further down.
  Json deep = Json::object({{"key", Json::object({{"values", std::vector<int64_t>(40, 7)}})}});
  const std::string d = deep.dump(JsonStyle::indented);
  EXPECT_NE(d.find("\n  \"key\": {\n    \"values\": [\n      7,\n      7,"), std::string::npos) << d;
  EXPECT_EQ(io::parse_json(d, "indented").members[0].second.members[0].second.items.size(), 40u);
}

TEST(JsonWriter, MisuseIsAnError) {
  Json a = Json::array(), o = Json::object(), n;
  EXPECT_THROW(a.set("k", 1), Error);
  EXPECT_THROW(o.push(1), Error);
  EXPECT_THROW(n.push(1), Error);
  o.set("k", 1);
  EXPECT_THROW(o.set("k", 2), Error);
  EXPECT_THROW(Json::object({{"k", 1}, {"k", 2}}), Error);
}

// Random documents of every kind, in every style, parse back into the values they were made of.
TEST(JsonWriter, RandomDocumentsRoundTrip) {
  Generator gen(5);
  struct Expect {
    std::vector<std::string> strings;
    std::vector<double> numbers;
  };
  for (int trial = 0; trial < 20; ++trial) {
    Json doc = Json::object();
    Expect e;
    for (int i = 0; i < 30; ++i) {
      std::string s;
      for (int k = (int)(gen.uniform() * 8); k > 0; --k) s += (char)(gen.uniform() * 256);
      const double x = std::ldexp(gen.uniform_double() - 0.5, (int)(gen.uniform() * 60) - 30);
      doc.set(std::to_string(i), Json::array({s, x, Json::object({{"b", i % 2 == 0}})}));
      e.strings.push_back(s);
      e.numbers.push_back(x);
    }
    for (JsonStyle style : {JsonStyle::line, JsonStyle::compact, JsonStyle::indented}) {
      const JsonValue v = reparse(doc, style);
      ASSERT_EQ(v.members.size(), 30u);
      for (int i = 0; i < 30; ++i) {
        const JsonValue& item = v.members[i].second;
        if (io::is_valid_utf8(e.strings[i])) {
          EXPECT_EQ(item.items[0].text, e.strings[i]);
        } else {
          EXPECT_TRUE(io::is_valid_utf8(item.items[0].text));  // bad bytes replaced
        }
        EXPECT_EQ(std::strtod(item.items[1].text.c_str(), nullptr), e.numbers[i]);
        EXPECT_EQ(json_member(item.items[2], "b").text, i % 2 == 0 ? "true" : "false");
      }
    }
  }
}

TEST(JsonReader, IsStrict) {
  for (const char* bad : {"{\"a\": 1,}", "[1 2]", "\"tab\there\"", "nan", "01", "1.", "{'a': 1}", "[1] x", "\"\\x\"",
                          "\"\xff\"", "\"\\ud800\""})
    EXPECT_THROW(io::parse_json(bad, "bad"), Error) << bad;
  EXPECT_EQ(io::parse_json(" [true, false] ", "ok").items[1].text, "false");
}
