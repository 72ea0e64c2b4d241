// `patchwork viz` on checkpoints: every method runs with no repeated flag on the run's own data,
// size and normalization; a flag that contradicts the record and a pretext checkpoint given to a
// method that explains classes are one-line errors; class pictures carry the class names and
// saliency pictures the true and predicted class (checked on the pixels of the PNG).
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "engine/io/json.h"
#include "tasks/pictures.h"
#include "tasks/run_record.h"
#include "tasks/text.h"
#include "tasks/viz/runs.h"
#include "tests/support/cli.h"
#include "tests/support/data_files.h"
#include "tests/support/json_files.h"

namespace {

using pw::testing::count_lines;
using pw::testing::json_member;
using pw::testing::run_cli;
using pw::testing::scratch;

using Runs = pw::testing::TrainedRuns;
const Runs& runs() { return pw::testing::trained_runs(); }

const std::string kQuick = " --threads 1 --device cpu";

pw::io::JsonValue results_of(const std::string& path) {
  return json_member(pw::io::parse_json(pw::testing::read_text(path), path), "results");
}

std::vector<std::string> texts(const pw::io::JsonValue& array) {
  std::vector<std::string> out;
  for (const pw::io::JsonValue& v : array.items) out.push_back(v.text);
  return out;
}

// Whether `text`, drawn by tasks::draw_text, appears in the picture: somewhere every pixel of the
// glyphs is dark and every other pixel of the text's box light.
bool shows_text(const pw::io::Image& picture, const std::string& text) {
  pw::io::Image ink = pw::io::Image::filled(1, pw::tasks::text_height(), pw::tasks::text_width(text), 1.f);
  pw::tasks::draw_text(ink, 0, 0, text, {0.f, 0.f, 0.f});
  for (int64_t y0 = 0; y0 + ink.height <= picture.height; ++y0)
    for (int64_t x0 = 0; x0 + ink.width <= picture.width; ++x0) {
      bool match = true;
      for (int64_t y = 0; y < ink.height && match; ++y)
        for (int64_t x = 0; x < ink.width && match; ++x) {
          const float v = picture.at(0, y0 + y, x0 + x);
          match = ink.at(0, y, x) < 0.5f ? v < 0.35f : v > 0.65f;
        }
      if (match) return true;
    }
  return false;
}

using pw::testing::expect_one_line_error;

}  // namespace

TEST(CliViz, ClassModelsAreCaptionedWithTheRecordsClassNames) {
  const Runs& r = runs();
  const std::string out = r.work + "/class";
  const pw::testing::CliResult c =
      run_cli("viz class --checkpoint " + r.classifier + kQuick + " --iterations 3 --out " + out);
  ASSERT_EQ(c.status, 0) << c.out;
  EXPECT_NE(c.out.find("class 1 (pear): objective"), std::string::npos) << c.out;
  const pw::io::JsonValue js = results_of(out + "/class.json");
  EXPECT_EQ(texts(json_member(js, "labels")), (std::vector<std::string>{"apple", "pear"}));
  EXPECT_EQ(json_member(js, "image_size").text, "32");  // the record's input size
  const pw::io::Image png = pw::io::read_image(out + "/class.png", 3);
  EXPECT_TRUE(shows_text(png, "apple"));
  EXPECT_TRUE(shows_text(png, "pear"));
  EXPECT_FALSE(shows_text(png, "plum"));
}

TEST(CliViz, SaliencyImagesShowTheirTrueAndPredictedClass) {
  const Runs& r = runs();
  for (const std::string method : {"saliency", "guided", "deconv"}) {
    const std::string out = r.work + "/" + method;
    // --images absent: the first 8, here the whole test split of 2.
    const std::string chosen = method == "saliency" ? " --images 0,1" : "";
    const pw::testing::CliResult s =
        run_cli("viz " + method + " --checkpoint " + r.classifier + kQuick + chosen + " --out " + out);
    ASSERT_EQ(s.status, 0) << s.out;
    const pw::io::JsonValue js = results_of(out + "/" + method + ".json");
    EXPECT_EQ(json_member(js, "data").text, "folder:" + r.photos) << method;
    const pw::io::Image png = pw::io::read_image(out + "/" + method + ".png", 3);
    const pw::io::JsonValue& images = json_member(js, "images");
    ASSERT_EQ(images.items.size(), 2u);
    for (const pw::io::JsonValue& image : images.items) {
      const std::string label = json_member(image, "label_name").text;
      const std::string predicted = json_member(image, "predicted_name").text;
      EXPECT_TRUE(label == "apple" || label == "pear") << label;
      EXPECT_TRUE(predicted == "apple" || predicted == "pear") << predicted;
      EXPECT_EQ(json_member(image, "class_name").text, predicted);  // no --classes: the predicted one
      EXPECT_TRUE(shows_text(png, "true " + label)) << method << " " << label;
      EXPECT_TRUE(shows_text(png, "pred " + predicted)) << method << " " << predicted;
    }
  }
  // A map of another class than the predicted one says which.
  for (const std::string cls : {"0", "1"}) {
    const std::string out = r.work + "/saliency_class" + cls;
    const pw::testing::CliResult s = run_cli("viz saliency --checkpoint " + r.classifier + kQuick +
                                             " --images 0 --classes " + cls + " --out " + out);
    ASSERT_EQ(s.status, 0) << s.out;
    const pw::io::JsonValue results = results_of(out + "/saliency.json");  // kept: `image` points into it
    const pw::io::JsonValue& image = json_member(results, "images").items.at(0);
    const std::string explained = json_member(image, "class_name").text;
    EXPECT_EQ(explained, cls == "0" ? "apple" : "pear");
    const bool other = explained != json_member(image, "predicted_name").text;
    EXPECT_EQ(shows_text(pw::io::read_image(out + "/saliency.png", 3), "map " + explained), other) << explained;
  }
}

TEST(CliViz, EveryMethodRunsOnTheRunsOwnDataWithNoRepeatedFlag) {
  const Runs& r = runs();
  const std::string out = r.work + "/all";
  const std::string rotation = " --checkpoint " + r.rotation + kQuick + " --out " + out;
  const std::string classifier = " --checkpoint " + r.classifier + kQuick + " --out " + out;
  for (const std::string& args : std::vector<std::string>{
           "viz filters" + classifier, "viz unit --layer features.4 --units 0,1 --iterations 2" + classifier,
           "viz dream --image " + r.photos + "/apple/0.png --size 32 --octaves 2 --iterations 2 --layer features.4" +
               classifier,
           "viz invert --images 0 --layer conv2 --iterations 2" + rotation,
           "viz top-patches --layer conv2 --units 0,1 --k 2" + rotation,
           "viz sheet --layers conv1 --units-per-layer 2 --k 2 --iterations 2" + rotation}) {
    const pw::testing::CliResult c = run_cli(args);
    ASSERT_EQ(c.status, 0) << args << "\n" << c.out;
  }
  const std::string cifar = "cifar10:" + pw::testing::cifar_dir();
  EXPECT_EQ(json_member(results_of(out + "/invert.json"), "data").text, cifar);
  EXPECT_EQ(json_member(results_of(out + "/top-patches.json"), "data").text, cifar);
  EXPECT_EQ(json_member(results_of(out + "/top-patches.json"), "images").text, "16");  // every test image
  EXPECT_NE(pw::testing::read_text(out + "/sheet.json").find(cifar), std::string::npos);
  // The optimization methods take the record's normalization.
  const pw::io::JsonValue unit = results_of(out + "/unit.json");
  const pw::io::JsonValue dream = results_of(out + "/dream.json");
  EXPECT_EQ(json_member(unit, "image_size").text, "32");
  EXPECT_EQ(texts(json_member(unit, "mean")), texts(json_member(dream, "mean")));
  EXPECT_NE(json_member(unit, "mean").items.at(0).text.substr(0, 5), "0.485");  // not ImageNet's default
  EXPECT_EQ(pw::testing::parse_every_json_file(out).size(), 6u);
}

TEST(CliViz, FlagsThatContradictTheRecordNameBothValues) {
  const Runs& r = runs();
  const std::string classifier = " --checkpoint " + r.classifier + kQuick + " --out " + r.work + "/bad";
  expect_one_line_error("viz class --iterations 1 --image-size 64" + classifier, "which records image-size 32");
  expect_one_line_error("viz unit --iterations 1 --channels 1" + classifier,
                        "--channels 1 contradicts the checkpoint '" + r.classifier + "', which records channels 3");
  expect_one_line_error("viz class --iterations 1 --mean 0.5" + classifier, "--mean 0.5 contradicts the checkpoint");
  expect_one_line_error("viz saliency --data cifar10:/elsewhere" + classifier,
                        "--data cifar10:/elsewhere contradicts the checkpoint '" + r.classifier +
                            "', which records data folder:" + r.photos);
  expect_one_line_error("viz invert --image-size 28" + classifier, "which records image-size 32");
  expect_one_line_error("viz filters --model alexnet-small" + classifier, "which records model vgg-small");
  expect_one_line_error("viz saliency --classes -1" + classifier,
                        "class -1 is out of range (leave --classes out for the predicted class)");
  expect_one_line_error("viz top-patches --limit 0" + classifier, "viz top-patches: --limit must be positive, got 0");
  expect_one_line_error("viz sheet --limit -3" + classifier, "viz sheet: --limit must be positive, got -3");
  expect_one_line_error("viz unit --neuron --y -1 --iterations 1" + classifier, "--y must be 0 or more, got -1");
  // The record's own values are no contradiction.
  const pw::tasks::RunRecord record = pw::tasks::read_run_record(r.classifier);
  std::ostringstream mean;
  for (size_t i = 0; i < record.mean.size(); ++i) mean << (i ? "," : "") << record.mean[i];
  const pw::testing::CliResult same =
      run_cli("viz class --iterations 1 --image-size 32 --channels 3 --mean " + mean.str() + classifier);
  EXPECT_EQ(same.status, 0) << same.out;
  // Without a record, sizes must still make sense.
  const std::string random = " --random --model alexnet-small --width 0.25" + kQuick + " --out " + r.work + "/bad";
  expect_one_line_error("viz class --iterations 1 --image-size 0" + random,
                        "viz class: --image-size must be positive, got 0");
  expect_one_line_error("viz unit --iterations 1 --channels 0" + random,
                        "viz unit: --channels must be positive, got 0");
  expect_one_line_error("viz dream --image x.png --mean 0.1,0.2" + random,
                        "viz dream: --mean needs 1 value (the network has 1 input channel), got 2");
}

TEST(CliViz, MethodsThatExplainClassesRefusePretextNetworks) {
  const Runs& r = runs();
  for (const std::string method : {"class", "saliency", "guided", "deconv"}) {
    const std::string args = "viz " + method + " --checkpoint " + r.rotation + kQuick + " --out " + r.work + "/wrong";
    expect_one_line_error(args, "viz " + method + ": '" + r.rotation + "' is a rotation pretext network");
    expect_one_line_error(args, "Fine-tune it into a classifier with `patchwork train --init-from");
  }
}

TEST(VizCaptions, SayTheTrueAndPredictedClassAndWhatTheMapExplains) {
  pw::tasks::viz::ExplainedImage e;
  e.label = 0;
  e.label_name = "apple";
  e.predicted = e.explained = 1;
  e.predicted_name = e.explained_name = "pear";
  e.probability = 0.876;
  EXPECT_EQ(pw::tasks::viz::caption(e), (std::vector<std::string>{"true apple", "pred pear 0.88"}));
  e.explained = 0;
  e.explained_name = "apple";
  e.label.reset();
  EXPECT_EQ(pw::tasks::viz::caption(e), (std::vector<std::string>{"pred pear 0.88", "map apple"}));
  EXPECT_EQ(pw::tasks::viz::class_name({"apple", "pear"}, 1), "pear");
  EXPECT_EQ(pw::tasks::viz::class_name({}, 3), "class 3");
}

TEST(VizCaptions, AreDrawnBelowThePictureWhichWidensForLongNames) {
  const pw::io::Image cell = pw::io::Image::filled(1, 10, 12, 0.f);
  const pw::io::Image shown = pw::tasks::with_caption(cell, {"a long name"});
  EXPECT_EQ(shown.width, pw::tasks::text_width("a long name"));
  EXPECT_GT(shown.height, cell.height + pw::tasks::text_height());
  EXPECT_TRUE(shows_text(shown, "a long name"));
  EXPECT_EQ(pw::tasks::with_caption(cell, {}).height, cell.height);
}
