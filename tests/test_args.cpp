// The command line's flag parser (tools/args.h): values reach the flag that is read, a flag
// declared twice is an error, and unknown or malformed flags name themselves.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/util/error.h"
#include "tools/args.h"

using namespace pw;

namespace {

// Parses `words` (after the program and command names) and returns whether parsing went on.
bool parse(cli::Args& a, std::vector<std::string> words) {
  std::vector<char*> argv{const_cast<char*>("patchwork"), const_cast<char*>("test")};
  for (std::string& w : words) argv.push_back(w.data());
  return a.parse((int)argv.size(), argv.data(), 2);
}

std::string message(auto&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST(Args, ValuesReachTheFlagThatIsRead) {
  cli::Args a("test", "a test");
  a.flag("lr", "0.1", "learning rate").flag("model", "alexnet", "network").boolean("quiet", "less output");
  ASSERT_TRUE(parse(a, {"--lr", "0.5", "--model=vgg16", "--quiet"}));
  EXPECT_EQ(a.f64("lr"), 0.5);
  EXPECT_EQ(a.str("model"), "vgg16");
  EXPECT_TRUE(a.on("quiet"));
  EXPECT_TRUE(a.given("lr"));
  // The last of two values on the command line wins.
  cli::Args b("test", "a test");
  b.flag("lr", "0.1", "learning rate");
  ASSERT_TRUE(parse(b, {"--lr", "0.5", "--lr=0.25"}));
  EXPECT_EQ(b.f64("lr"), 0.25);
}

TEST(Args, DeclaringAFlagTwiceIsAnError) {
  // Before, the second declaration took the parsed value and the first was read: --lr 0.5 was
  // silently ignored.
  cli::Args a("test", "a test");
  a.flag("lr", "0.1", "learning rate");
  std::string e = message([&] { a.flag("lr", "0.2", "learning rate again"); });
  EXPECT_NE(e.find("--lr is declared twice"), std::string::npos) << e;
  e = message([&] { a.boolean("lr", "a switch"); });
  EXPECT_NE(e.find("--lr is declared twice"), std::string::npos) << e;
  e = message([&] { a.boolean("help", "built in"); });
  EXPECT_NE(e.find("--help"), std::string::npos) << e;
  ASSERT_TRUE(parse(a, {"--lr", "0.5"}));
  EXPECT_EQ(a.f64("lr"), 0.5);
}

TEST(Args, UnknownAndMalformedFlagsNameThemselves) {
  cli::Args a("test", "a test");
  a.flag("epochs", "3", "epochs");
  std::string e = message([&] { parse(a, {"--epoch", "4"}); });
  EXPECT_NE(e.find("unknown option --epoch"), std::string::npos) << e;
  e = message([&] { parse(a, {"--epochs"}); });
  EXPECT_NE(e.find("--epochs needs a value"), std::string::npos) << e;
  ASSERT_TRUE(parse(a, {"--epochs", "four"}));
  e = message([&] { a.i64("epochs"); });
  EXPECT_NE(e.find("--epochs expects an integer"), std::string::npos) << e;
  e = message([&] { a.str("undeclared"); });
  EXPECT_NE(e.find("undeclared flag --undeclared"), std::string::npos) << e;
}

TEST(Args, PositionalArgumentsOnlyWhereDeclared) {
  cli::Args plain("test", "a test");
  plain.flag("k", "5", "k");
  std::string e = message([&] { parse(plain, {"picture.png"}); });
  EXPECT_NE(e.find("unexpected argument 'picture.png'"), std::string::npos) << e;

  cli::Args a("classify", "a test");
  a.positional("IMAGE", "image files").flag("k", "5", "k");
  ASSERT_TRUE(parse(a, {"a.png", "--k", "3", "b.jpg"}));
  EXPECT_EQ(a.positionals(), (std::vector<std::string>{"a.png", "b.jpg"}));
  EXPECT_EQ(a.i64("k"), 3);
  EXPECT_NE(a.help().find("usage: patchwork classify [options] IMAGE..."), std::string::npos) << a.help();
}

TEST(Args, IndexRangesAndShapesNearTheLimitsOfInt64AreErrors) {
  EXPECT_EQ(cli::parse_indices("0-2,7", 10, "units"), (std::vector<int64_t>{0, 1, 2, 7}));
  EXPECT_EQ(cli::parse_indices("9223372036854775806-9223372036854775807", 0, "units"),
            (std::vector<int64_t>{9223372036854775806, 9223372036854775807}));
  // These overflowed int64, undefined behaviour (the inputs: tests/fuzz_regressions/args/).
  std::string e = message([] { cli::parse_indices("-9223372036854775807-9223372036854775807", 0, "units"); });
  EXPECT_NE(e.find("--units: bad range"), std::string::npos) << e;
  e = message([] { cli::parse_shape("3,99999999999999999999", "input"); });
  EXPECT_NE(e.find("--input expects positive integers"), std::string::npos) << e;
}
