// The commands that read a checkpoint (eval, classify, probe, neighbors, forward) need no
// repeated flags: they read the run's data, size, normalization and classes from its record; a
// flag that contradicts the record and a checkpoint of the wrong kind are one-line errors that
// say what to do; limits that make no sense are errors; Ctrl-C ends them with status 130.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "engine/io/json.h"
#include "engine/io/safetensors.h"
#include "engine/tensor.h"
#include "tests/support/cli.h"
#include "tests/support/data_files.h"
#include "tests/support/json_files.h"

namespace {

using pw::testing::count_lines;
using pw::testing::run_cli;
using pw::testing::scratch;

using Runs = pw::testing::TrainedRuns;
const Runs& runs() { return pw::testing::trained_runs(); }

const std::string kQuick = " --threads 1 --device cpu";

pw::io::JsonValue read_json(const std::string& path) { return pw::io::parse_json(pw::testing::read_text(path), path); }

// 2000 training and 2000 test images: enough work for a large network to be interrupted in.
const std::string& large_cifar() {
  static const std::string dir = [] {
    const std::string d = scratch("large_cifar");
    pw::testing::write_cifar10(d, 400, 2000, 5);
    return d;
  }();
  return dir;
}

using pw::testing::expect_one_line_error;

}  // namespace

TEST(CliCheckpoints, EvalReadsTheRunsDataAndClasses) {
  const Runs& r = runs();
  const std::string out = r.work + "/eval";
  const pw::testing::CliResult e = run_cli("eval --checkpoint " + r.classifier + kQuick + " --out " + out);
  ASSERT_EQ(e.status, 0) << e.out;
  EXPECT_NE(e.out.find("test images of folder:" + r.photos), std::string::npos) << e.out;
  const pw::io::JsonValue js = read_json(out + "/confusion.json");
  EXPECT_EQ(pw::testing::json_member(js, "data").text, "folder:" + r.photos);
  const pw::io::JsonValue& classes = pw::testing::json_member(js, "classes");
  ASSERT_EQ(classes.items.size(), 2u);
  EXPECT_EQ(classes.items[0].text, "apple");
  EXPECT_EQ(classes.items[1].text, "pear");
}

TEST(CliCheckpoints, FlagsThatContradictTheRecordNameBothValues) {
  const Runs& r = runs();
  const std::string eval = "eval --checkpoint " + r.classifier + kQuick + " --out " + r.work + "/eval_bad";
  expect_one_line_error(eval + " --data cifar10:/elsewhere", "--data cifar10:/elsewhere contradicts the checkpoint '" +
                                                                 r.classifier +
                                                                 "', which records data folder:" + r.photos);
  expect_one_line_error(eval + " --image-size 64", "--image-size 64 contradicts the checkpoint");
  expect_one_line_error(eval + " --image-size 64", "which records image-size 32");
  expect_one_line_error(eval + " --width 0.5", "--width 0.5 contradicts the checkpoint");
  expect_one_line_error(eval + " --model alexnet-small", "which records model vgg-small");
  expect_one_line_error("probe --checkpoint " + r.rotation + kQuick + " --image-size 28",
                        "which records image-size 32");
  expect_one_line_error("neighbors --checkpoint " + r.rotation + kQuick + " --width 2", "which records width 0.25");
}

TEST(CliCheckpoints, ACheckpointOfTheWrongKindSaysWhatItIsAndWhatToDo) {
  const Runs& r = runs();
  for (const std::string& command : {"eval --out " + r.work + "/wrong", std::string("classify")}) {
    const std::string args = command + " --checkpoint " + r.rotation + kQuick +
                             (command == "classify" ? " " + r.photos + "/apple/0.png" : "");
    expect_one_line_error(args, "is a rotation pretext network (rotation-alexnet-small");
    expect_one_line_error(args, "Fine-tune it into a classifier with `patchwork train --init-from " + r.rotation);
  }
}

TEST(CliCheckpoints, LimitsThatMakeNoSenseAreErrors) {
  const Runs& r = runs();
  expect_one_line_error("eval --checkpoint " + r.classifier + kQuick + " --limit-test 0",
                        "eval: --limit-test must be positive, got 0");
  expect_one_line_error("probe --checkpoint " + r.classifier + kQuick + " --limit-train -1",
                        "probe: --limit-train must be positive, got -1");
  expect_one_line_error("neighbors --checkpoint " + r.classifier + kQuick + " --image-size 0",
                        "neighbors: --image-size must be positive, got 0");
  expect_one_line_error("classify --checkpoint " + r.classifier + kQuick + " --top 0 " + r.photos + "/apple/0.png",
                        "classify: --top must be positive, got 0");
}

TEST(CliCheckpoints, ClassifyPrintsTheClassNamesOfImageFiles) {
  const Runs& r = runs();
  const std::string files = " " + r.photos + "/apple/0.png " + r.photos + "/pear/1.png";
  const pw::testing::CliResult text = run_cli("classify --checkpoint " + r.classifier + kQuick + files);
  ASSERT_EQ(text.status, 0) << text.out;
  EXPECT_EQ(count_lines(text.out), 2) << text.out;
  EXPECT_NE(text.out.find(r.photos + "/apple/0.png:"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("apple "), std::string::npos) << text.out;

  const pw::testing::CliResult json = run_cli("classify --json --checkpoint " + r.classifier + kQuick + files);
  ASSERT_EQ(json.status, 0) << json.out;
  const pw::io::JsonValue js = pw::io::parse_json(json.out, "classify --json");
  const pw::io::JsonValue& images = pw::testing::json_member(js, "images");
  ASSERT_EQ(images.items.size(), 2u);
  for (const pw::io::JsonValue& image : images.items) {
    const pw::io::JsonValue& top = pw::testing::json_member(image, "top");
    ASSERT_EQ(top.items.size(), 2u);  // --top 5, but the network has 2 classes
    double sum = 0;
    for (const pw::io::JsonValue& c : top.items) {
      const std::string name = pw::testing::json_member(c, "name").text;
      EXPECT_TRUE(name == "apple" || name == "pear") << name;
      sum += std::stod(pw::testing::json_member(c, "probability").text);
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  expect_one_line_error("classify --checkpoint " + r.classifier + kQuick + " " + r.work + "/missing.png",
                        "missing.png");
}

TEST(CliCheckpoints, ProbeAndNeighborsRunOnTheRunsOwnData) {
  const Runs& r = runs();
  const std::string lines = r.work + "/probe.jsonl";
  const pw::testing::CliResult p =
      run_cli("probe --checkpoint " + r.rotation + kQuick + " --layer conv2 --epochs 1 --out " + lines);
  ASSERT_EQ(p.status, 0) << p.out;
  EXPECT_NE(p.out.find("data: cifar10:" + pw::testing::cifar_dir()), std::string::npos) << p.out;
  EXPECT_EQ(pw::testing::json_member(pw::io::parse_json(pw::testing::read_text(lines), lines), "data").text,
            "cifar10:" + pw::testing::cifar_dir());
  // Other labeled data is what probes are for: it is resized to the network's input.
  const pw::testing::CliResult other =
      run_cli("probe --checkpoint " + r.classifier + kQuick +
              " --layer features.0 --epochs 1 --data cifar10:" + pw::testing::cifar_dir());
  EXPECT_EQ(other.status, 0) << other.out;

  const pw::testing::CliResult n = run_cli("neighbors --checkpoint " + r.rotation + kQuick +
                                           " --layer conv2 --queries 2 --k 3 --out " + r.work + "/neighbors");
  ASSERT_EQ(n.status, 0) << n.out;
  EXPECT_EQ(pw::testing::json_member(read_json(r.work + "/neighbors/neighbors.json"), "data").text,
            "cifar10:" + pw::testing::cifar_dir());
}

TEST(CliCheckpoints, ForwardBuildsTheNetworkTheCheckpointRecords) {
  const Runs& r = runs();
  const std::string input = r.work + "/input.safetensors", output = r.work + "/forward.safetensors";
  pw::io::write_safetensors(input, {{"input", pw::Tensor::zeros({2, 3, 32, 32})}});
  const pw::testing::CliResult f =
      run_cli("forward --weights " + r.classifier + " --input " + input + " --output " + output);
  ASSERT_EQ(f.status, 0) << f.out;
  EXPECT_EQ(pw::io::read_safetensors(output).tensors.at("logits").size(1), 2);
  expect_one_line_error(
      "forward --weights " + r.classifier + " --input " + input + " --output " + output + " --width 1",
      "--width 1 contradicts the checkpoint");
  expect_one_line_error("forward --weights " + r.classifier + " --input " + input + " --output " + output + " --fc6 64",
                        "--fc6 is read from the checkpoint");
}

// Ctrl-C: every command that computes ends with status 130 (train's own test also checks that it
// saves first). Each runs long enough to be interrupted in its work.
TEST(CliCheckpoints, CtrlCEndsEveryCommandWith130) {
  const Runs& r = runs();
  const std::string log = r.work + "/interrupted.log";
  const std::vector<std::vector<std::string>> commands = {
      {"probe", "--checkpoint", r.rotation, "--epochs", "100000", "--threads", "1"},
      {"viz", "class", "--checkpoint", r.classifier, "--iterations", "1000000", "--out", r.work + "/viz_class",
       "--threads", "1"},
      {"eval", "--random", "--model", "vgg16", "--data", "cifar10:" + large_cifar(), "--threads", "1", "--out",
       r.work + "/eval_random"},
      {"neighbors", "--random", "--model", "vgg16", "--layer", "features.28", "--data", "cifar10:" + large_cifar(),
       "--threads", "1", "--out", r.work + "/neighbors_random"}};
  for (const std::vector<std::string>& args : commands) {
    EXPECT_EQ(pw::testing::interrupt_cli(args, 1500, log), 130) << args[0] << "\n" << pw::testing::read_text(log);
  }
}

// The attribution methods and t-SNE read the run like every other command.
TEST(CliCheckpoints, AttributionAndTsneReadTheRun) {
  const Runs& r = runs();
  for (const char* method : {"gradcam", "smoothgrad", "integrated-gradients"}) {
    const std::string out = r.work + "/" + method;
    const pw::testing::CliResult v =
        run_cli(std::string("viz ") + method + " --checkpoint " + r.classifier + kQuick + " --out " + out);
    ASSERT_EQ(v.status, 0) << method << "\n" << v.out;
    const pw::io::JsonValue js = read_json(out + "/" + method + ".json");
    EXPECT_EQ(pw::testing::json_member(pw::testing::json_member(js, "results"), "images").items.size(), 2u)
        << method;  // --images absent: the first 8, here the whole 2-image test split
    expect_one_line_error(
        std::string("viz ") + method + " --checkpoint " + r.classifier + kQuick + " --out " + out + " --image-size 64",
        "which records image-size 32");
  }
  const std::string tsne = "tsne --checkpoint " + r.rotation + kQuick + " --points 16 --perplexity 4 --k 3 " +
                           "--iterations 20 --layer conv2 --out " + r.work + "/tsne";
  ASSERT_EQ(run_cli(tsne).status, 0);
  expect_one_line_error(tsne + " --width 2", "which records width 0.25");
}
