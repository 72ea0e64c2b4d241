// The command line of the later methods: `viz gradcam | smoothgrad | integrated-gradients` and
// `tsne` write a PNG and a strict JSON sidecar; their bad flags are one-line errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/cli.h"
#include "tests/support/json_files.h"

namespace {

using pw::testing::count_lines;
using Result = pw::testing::CliResult;

Result run(const std::string& args) { return pw::testing::run_cli(args); }

// `s` for the shell, inside single quotes.
std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// A folder whose name holds a quote and a tab, so that a path written into JSON unescaped breaks it.
std::string awkward_dir(const std::string& name) { return pw::testing::scratch(name) + " \"q\"\t"; }

const pw::io::JsonValue& results_of(const pw::io::JsonValue& js) { return pw::testing::json_member(js, "results"); }

pw::io::JsonValue read_json(const std::string& path) { return pw::io::parse_json(pw::testing::read_text(path), path); }

}  // namespace

TEST(CliMethods, AttributionSubcommandsWriteStrictJson) {
  const std::string out = awkward_dir("pw_cli_attribution");
  std::filesystem::remove_all(out);
  const std::string net =
      " --random --model alexnet-small --width 0.25 --threads 1 --device cpu --images 0,1 --out " + quoted(out);
  for (const std::string& args : {std::string("viz gradcam"), std::string("viz smoothgrad --samples 3"),
                                  std::string("viz integrated-gradients --steps 8")}) {
    const Result r = run(args + net);
    ASSERT_EQ(r.status, 0) << args << "\n" << r.out;
  }
  EXPECT_EQ(pw::testing::parse_every_json_file(out).size(), 3u);
  for (const char* m : {"gradcam", "smoothgrad", "integrated-gradients"})
    EXPECT_TRUE(std::filesystem::exists(out + "/" + m + ".png")) << m;
  const pw::io::JsonValue cam = read_json(out + "/gradcam.json");
  EXPECT_EQ(pw::testing::json_member(cam, "method").text, "gradcam");
  EXPECT_EQ(pw::testing::json_member(results_of(cam), "layer").text, "features.relu5");
  EXPECT_EQ(pw::testing::json_member(results_of(cam), "cams").items.size(), 2u);
  const pw::io::JsonValue ig = read_json(out + "/integrated-gradients.json");
  EXPECT_EQ(pw::testing::json_member(results_of(ig), "completeness_error").items.size(), 2u);
  EXPECT_EQ(pw::testing::json_member(pw::testing::json_member(ig, "flags"), "steps").text, "8");
  const pw::io::JsonValue sg = read_json(out + "/smoothgrad.json");
  EXPECT_EQ(pw::testing::json_member(pw::testing::json_member(results_of(sg), "effective"), "samples").value, 3);
  std::filesystem::remove_all(out);
}

TEST(CliMethods, AttributionErrorsAreOneLine) {
  const std::string net = " --random --model alexnet-small --width 0.25 --threads 1 --device cpu --out " +
                          quoted(::testing::TempDir() + "pw_cli_attribution_errors");
  for (const std::string& args :
       {std::string("viz integrated-gradients --rule simpson"), std::string("viz integrated-gradients --baseline gray"),
        std::string("viz smoothgrad --samples 0"), std::string("viz smoothgrad --reduce median"),
        std::string("viz gradcam --layer fc6"), std::string("viz gradcam --classes 12"),
        std::string("viz gradcam --images 99999")}) {
    const Result r = run(args + net);
    EXPECT_NE(r.status, 0) << args;
    EXPECT_EQ(count_lines(r.out), 1) << args << "\n" << r.out;
    EXPECT_NE(r.out.find("error"), std::string::npos) << args << "\n" << r.out;
  }
  const Result help = run("viz --help");
  for (const char* m : {"gradcam", "smoothgrad", "integrated-gradients"})
    EXPECT_NE(help.out.find(m), std::string::npos) << m;
}

TEST(CliMethods, TsneWritesPicturesAndStrictJson) {
  const std::string out = awkward_dir("pw_cli_tsne");
  std::filesystem::remove_all(out);
  const std::string net =
      " --random --model alexnet-small --width 0.25 --threads 1 --device cpu --points 120"
      " --perplexity 10 --iterations 60 --k 5 --out " +
      quoted(out);
  for (const std::string& method : {std::string("exact"), std::string("barnes-hut")}) {
    const Result r = run("tsne --method " + method + net);
    ASSERT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("trustworthiness (k = 5)"), std::string::npos) << r.out;
    EXPECT_EQ(pw::testing::parse_every_json_file(out).size(), 1u);
    const pw::io::JsonValue js = read_json(out + "/tsne.json");
    EXPECT_EQ(pw::testing::json_member(pw::testing::json_member(js, "settings"), "method").text, method);
    EXPECT_EQ(pw::testing::json_member(js, "map").items.size(), 120u);
    EXPECT_EQ(pw::testing::json_member(js, "labels").items.size(), 120u);
    EXPECT_EQ(pw::testing::json_member(js, "layer").text, "features.conv5");
    const double t = std::stod(pw::testing::json_member(js, "trustworthiness").text);
    EXPECT_GT(t, 0.5);
    EXPECT_LE(t, 1.0);
    EXPECT_EQ(pw::testing::json_member(js, "kl_curve").items.size(), 1u);  // every 50 of 60 iterations
    for (const char* key : {"neighbor_class_agreement", "feature_neighbor_class_agreement"}) {
      const double v = std::stod(pw::testing::json_member(js, key).text);
      EXPECT_GE(v, 0.0) << key;
      EXPECT_LE(v, 1.0) << key;
    }
    EXPECT_EQ(pw::testing::json_member(pw::testing::json_member(js, "settings"), "normalize").text, "l2");
    for (const char* png : {"/tsne.png", "/tsne-thumbnails.png"}) EXPECT_TRUE(std::filesystem::exists(out + png));
  }
  std::filesystem::remove_all(out);
}

TEST(CliMethods, TsneErrorsAreOneLine) {
  const std::string net =
      " --random --model alexnet-small --width 0.25 --threads 1 --device cpu --points 40"
      " --perplexity 5 --iterations 5 --out " +
      quoted(::testing::TempDir() + "pw_cli_tsne_errors");
  // The last value of a flag given twice wins: the bad one comes after the defaults above.
  for (const std::string& args :
       {std::string("--method fast"), std::string("--layer conv9"), std::string("--perplexity 60"),
        std::string("--k 30"), std::string("--points 1"), std::string("--method barnes-hut --theta 0")}) {
    const Result r = run("tsne" + net + " " + args);
    EXPECT_NE(r.status, 0) << args;
    EXPECT_EQ(count_lines(r.out), 1) << args << "\n" << r.out;
  }
  EXPECT_NE(run("--help").out.find("tsne"), std::string::npos);
}

// Each command builds its flags when asked for help, so a flag declared twice fails here.
TEST(CliMethods, HelpOfEachCommand) {
  for (const char* cmd : {"tsne", "viz gradcam", "viz smoothgrad", "viz integrated-gradients"}) {
    const Result r = run(std::string(cmd) + " --help");
    EXPECT_EQ(r.status, 0) << cmd << "\n" << r.out;
    EXPECT_NE(r.out.find("usage: patchwork"), std::string::npos) << cmd << "\n" << r.out;
  }
}

// The attribution methods explain classes: a pretext network's checkpoint is refused, naming what
// it is; t-SNE reads any network's features.
TEST(CliMethods, AttributionNeedsAClassifierTsneDoesNot) {
  const std::string work = pw::testing::scratch("methods_rotation");
  const Result trained = run("train --task rotation --data cifar10:" + pw::testing::cifar_dir() + " --epochs 1" +
                             pw::testing::kSmall + " --out " + work + "/rotation");
  ASSERT_EQ(trained.status, 0) << trained.out;
  const std::string ckpt = " --checkpoint " + work + "/rotation/checkpoint.safetensors --threads 1 --out " + work;
  for (const char* m : {"gradcam", "smoothgrad", "integrated-gradients"}) {
    const Result r = run(std::string("viz ") + m + ckpt);
    EXPECT_NE(r.status, 0) << m;
    EXPECT_EQ(count_lines(r.out), 1) << m << "\n" << r.out;
    EXPECT_NE(r.out.find("is a rotation pretext network"), std::string::npos) << m << "\n" << r.out;
  }
  // The checkpoint's own data (16 CIFAR-10 test images), normalized as it was trained.
  const Result r = run("tsne" + ckpt + " --points 16 --perplexity 4 --k 3 --iterations 20 --layer conv2");
  ASSERT_EQ(r.status, 0) << r.out;
  const pw::io::JsonValue js = read_json(work + "/tsne.json");
  EXPECT_EQ(pw::testing::json_member(js, "points").value, 16);
  EXPECT_EQ(pw::testing::json_member(js, "data").text, "cifar10:" + pw::testing::cifar_dir());
  std::filesystem::remove_all(work);
}
