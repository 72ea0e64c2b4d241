// The quick study end to end (about a minute on 2 cores): every stage runs, the report and its
// pictures exist, and its numbers are sane.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/io/json.h"
#include "tasks/features.h"
#include "tasks/report.h"
#include "tasks/study.h"
#include "tests/support/json_files.h"

using namespace pw;

TEST(Study, QuickStudyWritesASaneReport) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("pw_study_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  tasks::StudyConfig c = tasks::study_config("quick");
  c.out_dir = dir.string();
  c.progress = false;
  tasks::StudyResult r = tasks::run_study(c);
  const std::string text = tasks::write_report(r, "patchwork study --quick");

  ASSERT_EQ(r.trunks.size(), 6u);
  ASSERT_EQ(r.photo_trunks.size(), 2u);
  EXPECT_EQ(r.stages.size(), 11u);
  for (const tasks::TrunkResult& t : r.trunks) {
    // conv1..conv5, and fc6 but in colorization-small (no fully connected layers)
    ASSERT_GE(t.probes.size(), t.name == "colorization" ? 5u : 6u) << t.name;
    for (const tasks::ProbeResult& p : t.probes) {
      EXPECT_TRUE(p.test_accuracy >= 0 && p.test_accuracy <= 1) << t.name << " " << p.layer;
      EXPECT_GT(p.test_accuracy, 0.15) << t.name << " " << p.layer << ": no better than chance (0.1)";
    }
    EXPECT_TRUE(t.neighbor_agreement >= 0 && t.neighbor_agreement <= 1) << t.name;
    if (t.name != "random") {
      EXPECT_TRUE(t.pretext_accuracy >= 0 && t.pretext_accuracy <= 1) << t.name;
      EXPECT_FALSE(t.losses.empty()) << t.name;
      for (double l : t.losses) EXPECT_TRUE(std::isfinite(l)) << t.name;
    }
    for (const std::string& png : {t.neighbors_png, t.filters_png, t.units_png, t.tsne_png})
      EXPECT_TRUE(fs::exists(dir / png)) << png;
    EXPECT_TRUE(t.tsne_agreement >= 0 && t.tsne_agreement <= 1) << t.name;
    if (t.name == "random")
      EXPECT_EQ(t.conv1_init_cosine, -1);
    else
      EXPECT_TRUE(t.conv1_init_cosine > -1 && t.conv1_init_cosine < 1) << t.name << " " << t.conv1_init_cosine;
  }
  EXPECT_TRUE(fs::exists(dir / r.gradcam_png)) << r.gradcam_png;
  // The supervised network is the upper bound at its deepest shared layer.
  auto at = [](const tasks::TrunkResult& t, const std::string& layer) {
    for (const tasks::ProbeResult& p : t.probes)
      if (tasks::short_name(p.layer) == layer) return p.test_accuracy;
    return -1.0;
  };
  ASSERT_EQ(r.trunks[5].name, "random");
  EXPECT_GT(at(r.trunks[0], "fc7"), at(r.trunks[5], "fc7") + 0.05);
  EXPECT_GT(r.supervised_test_accuracy, 0.7);
  // Rotation and context learn their tasks far above chance even at this budget.
  EXPECT_GT(r.trunks[1].pretext_accuracy, 2 * r.trunks[1].chance);
  EXPECT_GT(r.trunks[3].pretext_accuracy, 2 * r.trunks[3].chance);
  // Colorization: its held-out ab error is measured (the default study states it against gray's).
  ASSERT_EQ(r.trunks[4].name, "colorization");
  EXPECT_GT(r.trunks[4].ab_error, 0);
  EXPECT_GT(r.trunks[4].gray_ab_error, 0);
  // Class models raise every class score; the dream raises its objective in every octave.
  ASSERT_EQ(r.class_end.size(), 10u);
  for (size_t k = 0; k < 10; ++k) EXPECT_GT(r.class_end[k], r.class_start[k] + 1) << "class " << k;
  ASSERT_FALSE(r.dream_octave_end.empty());
  for (size_t i = 0; i < r.dream_octave_end.size(); ++i) EXPECT_GT(r.dream_octave_end[i], r.dream_octave_start[i]);

  // The report: the page, every picture it links, the summary with its numbers.
  std::ifstream html(dir / "report.html");
  std::stringstream ss;
  ss << html.rdbuf();
  const std::string page = ss.str();
  EXPECT_NE(page.find("Claims tested"), std::string::npos);
  size_t pos = 0;
  int images = 0;
  while ((pos = page.find("<img src=\"", pos)) != std::string::npos) {
    pos += 10;
    const std::string src = page.substr(pos, page.find('"', pos) - pos);
    EXPECT_TRUE(fs::exists(dir / src)) << src;
    ++images;
  }
  EXPECT_GE(images, 20);
  std::ifstream js(dir / "summary.json");
  std::stringstream jss;
  jss << js.rdbuf();
  io::JsonValue summary = io::parse_json(jss.str(), "summary.json");  // valid JSON, or this throws
  ASSERT_EQ(summary.kind, io::JsonValue::object);
  int claims = 0, probes = 0;
  for (const auto& [key, v] : summary.members) {
    if (key == "claims") claims = (int)v.items.size();
    if (key != "trunks") continue;
    for (const io::JsonValue& t : v.items)
      for (const auto& [k, pv] : t.members)
        if (k == "probes")
          for (const auto& [layer, acc] : pv.members) {
            const double a = std::stod(acc.text);
            EXPECT_TRUE(a >= 0 && a <= 1) << layer;
            ++probes;
          }
  }
  EXPECT_EQ(claims, 5);
  int stages = -1;
  for (const auto& [key, v] : summary.members)
    if (key == "stages") stages = (int)v.items.size();
  EXPECT_EQ(stages, 11);
  EXPECT_GE(probes, 30);
  // Every JSON file of the run (the summary, metrics lines, checkpoint headers) parses strictly.
  EXPECT_GE(pw::testing::parse_every_json_file(dir.string()).size(), 5u);
  EXPECT_NE(text.find("claims:"), std::string::npos);
  fs::remove_all(dir);
}
