// The study's report from a made-up result, without training: summary.json parses with the strict
// reader and holds the numbers the result has, names with quotes and control characters come
// back as they were, and a number that is not finite (a trunk without a probe at some layer, a
// missing accuracy) is null, not a word that no JSON reader takes. And the study's list of stages,
// without running it: ten named stages in the report's order.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "engine/ops.h"
#include "models/registry.h"
#include "tasks/report.h"
#include "tasks/study_stages.h"
#include "tests/support/json_files.h"

using namespace pw;
using pw::testing::json_member;

namespace {

tasks::TrunkResult trunk(const std::string& name, double conv1, double conv5) {
  tasks::TrunkResult t;
  t.name = name;
  t.model = "alexnet-small";
  t.task = name;
  t.pretext_accuracy = name == "rotation" ? 0.8 : -1;
  t.chance = 0.25;
  t.seconds = 1.5;
  t.losses = {1.4, 1.2, 1.1};
  for (const auto& [layer, acc] : {std::pair{"features.conv1", conv1}, std::pair{"features.conv5", conv5}}) {
    tasks::ProbeResult p;
    p.layer = layer;
    p.test_accuracy = acc;
    t.probes.push_back(p);
  }
  t.neighbor_agreement = NAN;  // not measured
  return t;
}

}  // namespace

TEST(Report, SummaryJsonParsesAndHoldsTheNumbers) {
  const std::string dir = ::testing::TempDir() + "pw_report_summary";
  std::filesystem::remove_all(dir);
  tasks::StudyResult r;
  r.config = tasks::study_config("quick");
  r.config.out_dir = dir;
  r.config.photos_dir = "/photos/with \"quotes\"\tand a tab";
  r.trunks = {trunk("supervised", 0.7, 0.85), trunk("random", 0.6, 0.5), trunk("rotation", 0.65, 0.7)};
  r.trunks[0].conv1_init_cosine = 0.5;
  r.trunks[2].conv1_init_cosine = 0.95;  // not moved: the claim does not hold
  r.supervised_test_accuracy = 0.875;
  r.layers = {"conv1", "conv5"};
  r.filter_similarity = {{"rotation", 0.5}, {"random", INFINITY}};
  r.class_start = {0.1, 0.2};
  r.class_end = {5.5, NAN};
  r.stages = {{"supervised \"a\"", 1.25}};
  r.seconds = 12;
  r.device = "cpu";
  tasks::write_report(r, "patchwork study --budget quick --out '" + dir + "'\n");

  const io::JsonValue js = io::parse_json(pw::testing::read_text(dir + "/summary.json"), "summary.json");
  EXPECT_EQ(json_member(js, "budget").text, "quick");
  EXPECT_EQ(json_member(js, "supervised_test_accuracy").text, "0.875");
  EXPECT_EQ(json_member(json_member(js, "config"), "photos").text, r.config.photos_dir);
  EXPECT_EQ(json_member(js, "command").text, "patchwork study --budget quick --out '" + dir + "'\n");
  const io::JsonValue& trunks = json_member(js, "trunks");
  ASSERT_EQ(trunks.items.size(), 3u);
  EXPECT_EQ(json_member(trunks.items[2], "name").text, "rotation");
  EXPECT_EQ(json_member(trunks.items[2], "task_accuracy").text, "0.8");
  EXPECT_EQ(json_member(trunks.items[0], "neighbor_agreement").kind, io::JsonValue::null);
  EXPECT_EQ(json_member(json_member(trunks.items[0], "probes"), "conv5").text, "0.85");
  EXPECT_EQ(json_member(json_member(js, "filter_similarity"), "random").kind, io::JsonValue::null);
  EXPECT_EQ(json_member(js, "class_model_end").items[1].kind, io::JsonValue::null);
  EXPECT_EQ(json_member(json_member(js, "stages").items[0], "stage").text, "supervised \"a\"");
  for (const io::JsonValue& claim : json_member(js, "claims").items)
    EXPECT_EQ(json_member(claim, "holds").kind, io::JsonValue::boolean);
  EXPECT_EQ(json_member(trunks.items[0], "conv1_init_cosine").text, "0.5");
  const io::JsonValue& moved = json_member(js, "claims").items.at(3);
  EXPECT_NE(json_member(moved, "claim").text.find("conv1 moves from its initialization"), std::string::npos);
  EXPECT_EQ(json_member(moved, "holds").text, "false");
  EXPECT_NE(json_member(moved, "evidence").text.find("rotation 0.950 (not moved)"), std::string::npos);
  EXPECT_EQ(pw::testing::parse_every_json_file(dir).size(), 1u);
  std::filesystem::remove_all(dir);
}

TEST(Study, StagesAreTheListInOrder) {
  tasks::StudyConfig c = tasks::study_config("quick");
  c.tile_size = 40;
  std::vector<std::string> named;
  for (const tasks::study::StudyStage& s : tasks::study::study_stages(c)) {
    EXPECT_TRUE(s.run) << s.name;
    if (!s.name.empty()) named.push_back(s.name);
  }
  ASSERT_EQ(named.size(), 11u);
  EXPECT_EQ(named[0], "supervised training of alexnet-small (the upper bound)");
  EXPECT_EQ(named[2], "jigsaw pretext training on Fashion-MNIST at 40 px");
  EXPECT_EQ(named[3], "context pretext training on Fashion-MNIST at 40 px");
  EXPECT_EQ(named[4], "colorization pretext training on the nature photos (Zhang et al.)");
  EXPECT_EQ(named[5], "linear probes at every layer of the six trunks");
  EXPECT_EQ(named[7], "t-SNE maps of conv5 of the six trunks; Grad-CAM of the supervised network");
  EXPECT_EQ(named[10], "jigsaw and context on the nature photos; patch neighbours; a deep dream");
}

// conv1's movement from its initialization: 1 for the initialization itself, -1 for its negation
// (every filter's cosine), -1 as "not measured" without initial values.
TEST(Study, Conv1MovementIsTheMeanFilterCosineToItsOwnInitialization) {
  models::ModelConfig mc{10, 1};
  mc.width = 0.25;
  auto model = models::create("alexnet-small", mc);
  std::map<std::string, Tensor> initial;
  for (const auto& [name, p] : model->named_parameters()) initial[name] = p.detach().clone();
  EXPECT_NEAR(tasks::study::conv1_init_cosine(*model, initial), 1.0, 1e-12);
  for (auto& [name, t] : initial)
    if (name.find("conv1.weight") != std::string::npos || name == "features.0.weight") t = neg(t);
  EXPECT_NEAR(tasks::study::conv1_init_cosine(*model, initial), -1.0, 1e-12);
  EXPECT_EQ(tasks::study::conv1_init_cosine(*model, {}), -1);
}
