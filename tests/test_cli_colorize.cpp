// `patchwork train --task colorization` and `patchwork viz colorize` as a user runs them: a few
// steps on a small folder of colour images, the held-out ab errors in the output and in
// summary.json, exact resume, the picture and its sidecar, and the errors a user can meet.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/cli.h"
#include "tests/support/json_files.h"

using namespace pw;
using namespace pw::testing;

namespace {

double number(const io::JsonValue& v, const std::string& key) { return std::stod(json_member(v, key).text); }

// Ten 40-px images in two classes of colour (folder:DIR holds out every fifth of each class).
const std::string& photos() {
  static const std::string dir = [] {
    const std::string d = scratch("color_photos");
    write_image_folder(d, {"reddish", "bluish"}, 5, 40, 7);
    return d;
  }();
  return dir;
}

std::string train_flags() {
  return "train --task colorization --data folder:" + photos() + " --image-size 40 --samples-per-epoch 32 --epochs 2" +
         kSmall;
}

}  // namespace

TEST(CliColorize, TrainsThenColorizesHeldOutCrops) {
  const std::string run_dir = scratch("color_run"), viz = scratch("color_viz");
  const CliResult t = run_cli(train_flags() + " --out " + run_dir);
  ASSERT_EQ(t.status, 0) << t.out;
  EXPECT_NE(t.out.find("held-out colorization: mean ab error"), std::string::npos) << t.out;
  const io::JsonValue summary = io::parse_json(read_text(run_dir + "/summary.json"), "summary.json");
  EXPECT_EQ(json_member(summary, "task").text, "colorization");
  EXPECT_EQ(json_member(summary, "model").text, "colorization-small");
  const io::JsonValue& color = json_member(summary, "colorization");
  EXPECT_EQ(json_member(color, "bins").value, 262);
  EXPECT_EQ(json_member(color, "held_out_crops").value, 1000);
  EXPECT_GT(number(color, "gray_ab_error"), 0);
  EXPECT_GT(number(color, "ab_error"), 0);

  const CliResult v = run_cli("viz colorize --checkpoint " + run_dir +
                              "/checkpoint.safetensors --images 3 --threads 1 --device cpu --out " + viz);
  ASSERT_EQ(v.status, 0) << v.out;
  EXPECT_NE(v.out.find("crop 2: ab error"), std::string::npos) << v.out;
  EXPECT_TRUE(std::filesystem::exists(viz + "/colorize.png"));
  const io::JsonValue side = io::parse_json(read_text(viz + "/colorize.json"), "colorize.json");
  EXPECT_EQ(json_member(side, "method").text, "colorize");
  const io::JsonValue& results = json_member(side, "results");
  EXPECT_EQ(json_member(results, "crops").items.size(), 3u);
  EXPECT_GT(number(results, "gray_ab_error"), 0);
  // The trunk reads gray images as they are: probes on Fashion-MNIST, every conv but the bins' head.
  const CliResult p = run_cli("probe --checkpoint " + run_dir +
                              "/checkpoint.safetensors --data fashion-mnist --limit-train 200 --limit-test 100 "
                              "--epochs 1 --threads 1 --device cpu");
  ASSERT_EQ(p.status, 0) << p.out;
  EXPECT_NE(p.out.find("features.conv5"), std::string::npos) << p.out;
  EXPECT_EQ(p.out.find("head.conv8"), std::string::npos) << p.out;
  std::filesystem::remove_all(run_dir);
  std::filesystem::remove_all(viz);
}

TEST(CliColorize, ResumeContinuesExactly) {
  const std::string whole = scratch("color_whole"), parts = scratch("color_parts");
  ASSERT_EQ(run_cli(train_flags() + " --out " + whole).status, 0);
  ASSERT_EQ(run_cli(train_flags() + " --stop-after 3 --out " + parts).status, 0);
  const CliResult resumed = run_cli("train --resume --quiet --threads 1 --out " + parts);
  ASSERT_EQ(resumed.status, 0) << resumed.out;
  const io::JsonValue a = io::parse_json(read_text(whole + "/summary.json"), "whole");
  const io::JsonValue b = io::parse_json(read_text(parts + "/summary.json"), "resumed");
  EXPECT_EQ(json_member(json_member(a, "colorization"), "ab_error").text,
            json_member(json_member(b, "colorization"), "ab_error").text);
  EXPECT_EQ(json_member(a, "test_loss").text, json_member(b, "test_loss").text);
  std::filesystem::remove_all(whole);
  std::filesystem::remove_all(parts);
}

TEST(CliColorize, ErrorsNameWhatIsWrong) {
  const std::string out = " --force --out " + scratch("color_errors");
  expect_one_line_error("train --task rotation --crop 16 --data folder:" + photos() + kSmall + out, "--crop");
  expect_one_line_error(
      "train --task colorization --data fashion-mnist --limit-train 20 --limit-test 20" + kSmall + out,
      "colour photos");
  expect_one_line_error(train_flags() + " --crop 64" + out, "--crop 64");
  expect_one_line_error(train_flags() + " --model alexnet-small" + out, "colorization network");
  expect_one_line_error("viz colorize --random --model colorization-small --out " + scratch("color_viz_err"),
                        "--task colorization");
}
