// The contact sheet (tasks/viz/sheet.h) on a hand-built network: a unit that can never fire is
// reported dead and drawn without patches, live units are not, the filters of the first layer are
// shown, and the written page links every PNG it wrote; bad layers and counts are errors.
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/io/image.h"
#include "engine/io/json.h"
#include "engine/nn.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "tasks/viz/sheet.h"
#include "tests/support/json_files.h"

using namespace pw;
using namespace pw::tasks::viz;
using pw::testing::json_member;
using pw::testing::read_text;

namespace {

// conv1 has 4 units: 0 always fires (zero weights, bias +1), 1 never fires (zero weights, bias
// -100, so its ReLU output is 0 on every image), 2 and 3 keep random weights.
std::shared_ptr<nn::Sequential> net_with_dead_unit() {
  manual_seed(5);
  auto s = std::make_shared<nn::Sequential>();
  auto conv1 = std::make_shared<nn::Conv2d>(1, 4, 3, 1, 1);
  std::vector<float> w = conv1->weight.to_vector_f32(), b = conv1->bias.to_vector_f32();
  std::fill(w.begin(), w.begin() + 2 * 9, 0.f);
  b[0] = 1.f;
  b[1] = -100.f;
  conv1->weight = Tensor::from_vector(w, conv1->weight.shape());
  conv1->bias = Tensor::from_vector(b, conv1->bias.shape());
  s->push_back("conv1", conv1);
  s->push_back("relu1", std::make_shared<nn::ReLU>());
  s->push_back("pool1", std::make_shared<nn::MaxPool2d>(2));
  s->push_back("conv2", std::make_shared<nn::Conv2d>(4, 5, 3, 1, 1));
  s->push_back("relu2", std::make_shared<nn::ReLU>());
  s->push_back("flatten", std::make_shared<nn::Flatten>());
  s->push_back("fc", std::make_shared<nn::Linear>(5 * 6 * 6, 3));
  return s;
}

InputSpace space12() {
  InputSpace s;
  s.channels = 1;
  s.height = s.width = 12;
  s.mean = {0.5f};
  s.std = {0.25f};
  return s;
}

Tensor random_images(int64_t n) {
  Generator g(9, 0);
  Tensor x = Tensor::zeros({n, 1, 12, 12});
  g.fill_normal(x.data<float>(), x.numel(), 0.f, 1.f);
  return x;
}

SheetOptions quick() {
  SheetOptions o;
  o.k = 3;
  o.units_per_layer = 4;
  o.cell = 24;
  o.columns = 1;  // one unit per row: the tests find rows by height
  o.ascent = sheet_ascent(12);
  o.ascent.iterations = 4;
  return o;
}

}  // namespace

TEST(VizSheet, DeadUnitIsReportedAndLiveOnesAreNot) {
  auto net = net_with_dead_unit();
  const Tensor images = random_images(20);
  Sheet sheet = make_sheet(*net, images, space12(), quick());
  ASSERT_EQ(sheet.layers.size(), 2u);  // every convolution, in order
  EXPECT_EQ(sheet.images, 20);
  const SheetLayer& L = sheet.layers[0];
  EXPECT_EQ(L.conv, "conv1");
  EXPECT_EQ(L.read, "relu1");
  EXPECT_EQ(L.channels, 4);
  EXPECT_EQ(L.map_height, 12);
  EXPECT_EQ(L.field.size[0], 3);
  EXPECT_EQ(L.dead_units, std::vector<int64_t>{1});
  ASSERT_EQ(L.units.size(), 4u);
  EXPECT_TRUE(L.units[1].dead);
  EXPECT_LE(L.units[1].max_activation, 0.f);
  EXPECT_TRUE(L.units[1].patches.empty());  // ties at zero say nothing
  EXPECT_FALSE(L.units[0].dead);
  EXPECT_FLOAT_EQ(L.units[0].max_activation, 1.f);
  EXPECT_EQ(L.units[0].patches.size(), 3u);
  for (int u : {2, 3}) {
    EXPECT_FALSE(L.units[u].dead) << u;
    ASSERT_EQ(L.units[u].patches.size(), 3u);
    EXPECT_GE(L.units[u].patches[0].activation, L.units[u].patches[2].activation);
  }
  // The optimized images excite the random units more than the mean image does.
  for (int u : {2, 3}) EXPECT_GT(L.units[u].objective_end, L.units[u].objective_start + 0.1) << u;
  EXPECT_EQ(L.neuron_y, 6);
  EXPECT_TRUE(L.has_filters);
  EXPECT_FALSE(sheet.layers[1].has_filters);  // conv2 sees 4 channels: no picture of its filters
  EXPECT_GT(L.picture.height, 4 * 24);
  EXPECT_EQ(L.picture.channels, 3);
  // The dead row is tinted: some pixel of it is reddish, none of the live first row is.
  auto reddish_rows = [&](int64_t y0, int64_t y1) {
    int n = 0;
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t x = 0; x < L.picture.width; ++x)
        n += L.picture.at(0, y, x) > 0.9f && L.picture.at(1, y, x) < 0.95f && L.picture.at(2, y, x) < 0.95f;
    return n;
  };
  const int64_t row = (L.picture.height - 16) / 4;
  EXPECT_EQ(reddish_rows(16 + 2, 16 + row - 2), 0);
  EXPECT_GT(reddish_rows(16 + row + 2, 16 + 2 * row - 2), 100);
}

TEST(VizSheet, ChosenLayersAndUnitCap) {
  auto net = net_with_dead_unit();
  SheetOptions o = quick();
  o.layers = {"conv2"};
  o.units_per_layer = 2;
  o.ascent.iterations = 0;  // patches only
  Sheet sheet = make_sheet(*net, random_images(8), space12(), o);
  ASSERT_EQ(sheet.layers.size(), 1u);
  EXPECT_EQ(sheet.layers[0].conv, "conv2");
  EXPECT_EQ(sheet.layers[0].channels, 5);
  EXPECT_EQ(sheet.layers[0].units.size(), 2u);
  EXPECT_EQ(sheet.layers[0].field.size[0], 3 + 1 + 2 * 2);  // 3x3, pool 2, 3x3
  // Two units side by side: one row, twice as wide; not when the page is too narrow for two.
  o.columns = 2;
  const io::Image one = sheet.layers[0].picture,
                  two = make_sheet(*net, random_images(8), space12(), o).layers[0].picture;
  EXPECT_GT(two.width, 2 * one.width);
  EXPECT_LT(two.height, one.height);
  o.max_width = one.width + 10;
  EXPECT_EQ(make_sheet(*net, random_images(8), space12(), o).layers[0].picture.width, one.width);
}

TEST(VizSheet, WrittenPageLinksEveryPng) {
  auto net = net_with_dead_unit();
  Sheet sheet = make_sheet(*net, random_images(10), space12(), quick());
  const std::string dir = ::testing::TempDir() + "pw_viz_sheet";
  std::filesystem::remove_all(dir);
  SheetHeader h;
  h.model = "tiny<net> \"v2\"\t\x01";  // quotes and control characters: escaped in the JSON
  h.checkpoint = "/some/where.safetensors";
  h.data = "random";
  h.seed = 7;
  h.flags = io::Json::object({{"k", "3"}});
  const std::vector<std::string> files = write_sheet(dir, sheet, h);
  const std::string html = read_text(dir + "/sheet.html");
  int pngs = 0;
  for (const std::string& f : files) {
    EXPECT_TRUE(std::filesystem::exists(f)) << f;
    if (f.size() < 4 || f.substr(f.size() - 4) != ".png") continue;
    ++pngs;
    const std::string name = std::filesystem::path(f).filename().string();
    EXPECT_NE(html.find("src=\"" + name + "\""), std::string::npos) << name;  // relative, next to the page
    EXPECT_EQ(io::read_image(f).height, sheet.layers[pngs - 1].picture.height);
  }
  EXPECT_EQ(pngs, 2);
  EXPECT_NE(html.find("tiny&lt;net&gt;"), std::string::npos);  // escaped
  EXPECT_NE(html.find("/some/where.safetensors"), std::string::npos);
  EXPECT_NE(html.find("seed 7"), std::string::npos);
  EXPECT_NE(html.find("1 dead</span> of 4"), std::string::npos) << html;
  const io::JsonValue js = io::parse_json(read_text(dir + "/sheet.json"), "sheet.json");
  EXPECT_EQ(json_member(js, "model").text, h.model);
  const io::JsonValue& layers = json_member(js, "layers");
  ASSERT_EQ(layers.items.size(), 2u);
  EXPECT_EQ(json_member(layers.items[0], "png").text, "sheet-conv1.png");
  const io::JsonValue& units = json_member(layers.items[0], "units");
  ASSERT_EQ(units.items.size(), 4u);
  EXPECT_EQ(json_member(units.items[1], "dead").kind, io::JsonValue::boolean);
  EXPECT_EQ(json_member(units.items[1], "unit").value, 1);
  EXPECT_EQ(json_member(units.items[1], "dead").text, "true");
  EXPECT_EQ(json_member(units.items[0], "dead").text, "false");
  EXPECT_EQ(json_member(json_member(js, "flags"), "k").text, "3");
}

TEST(VizSheet, Errors) {
  auto net = net_with_dead_unit();
  const Tensor images = random_images(4);
  SheetOptions o = quick();
  o.layers = {"conv9"};
  try {
    make_sheet(*net, images, space12(), o);
    FAIL() << "no error for an unknown layer";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("conv9"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("conv2"), std::string::npos) << e.what();  // what exists
  }
  o = quick();
  o.layers = {"fc"};
  EXPECT_THROW(make_sheet(*net, images, space12(), o), Error);
  o = quick();
  o.units_per_layer = 0;
  EXPECT_THROW(make_sheet(*net, images, space12(), o), Error);
  InputSpace wrong = space12();
  wrong.height = wrong.width = 28;
  EXPECT_THROW(make_sheet(*net, images, wrong, quick()), Error);
  EXPECT_THROW(write_sheet(::testing::TempDir() + "pw_viz_sheet_empty", Sheet{}, SheetHeader{}), Error);
}
