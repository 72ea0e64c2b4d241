// Text, plots and labeled heat maps: the bitmap font, tick values, line plots, bar charts.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "engine/util/error.h"
#include "tasks/pictures.h"
#include "tasks/plots.h"
#include "tasks/text.h"

using namespace pw;
using tasks::Rgb;

namespace {

bool has_color(const io::Image& img, Rgb c, int64_t at_least = 1) {
  int64_t n = 0;
  for (int64_t y = 0; y < img.height; ++y)
    for (int64_t x = 0; x < img.width; ++x)
      n += std::abs(img.at(0, y, x) - c[0]) < 1e-4f && std::abs(img.at(1, y, x) - c[1]) < 1e-4f &&
           std::abs(img.at(2, y, x) - c[2]) < 1e-4f;
  return n >= at_least;
}

int64_t changed(const io::Image& a, const io::Image& b) {
  int64_t n = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) n += a.pixels[i] != b.pixels[i];
  return n;
}

}  // namespace

TEST(Text, EveryPrintableGlyphIsDistinctAndOnlySpaceIsEmpty) {
  std::set<std::array<uint8_t, tasks::kGlyphHeight>> seen;
  for (int c = 32; c <= 126; ++c) {
    const auto rows = tasks::glyph_rows((char)c);
    int64_t on = 0;
    for (uint8_t r : rows) {
      EXPECT_EQ(r >> tasks::kGlyphWidth, 0) << "glyph '" << (char)c << "' is wider than 5 pixels";
      on += __builtin_popcount(r);
    }
    EXPECT_EQ(on == 0, c == ' ') << "glyph '" << (char)c << "' has " << on << " pixels";
    EXPECT_TRUE(seen.insert(rows).second) << "glyph '" << (char)c << "' looks like an earlier one";
  }
  EXPECT_EQ(tasks::glyph_rows('\x01'), tasks::glyph_rows('?'));
  EXPECT_EQ(tasks::glyph_rows('\xe9'), tasks::glyph_rows('?'));
}

TEST(Text, WidthArithmetic) {
  EXPECT_EQ(tasks::text_width(""), 0);
  EXPECT_EQ(tasks::text_width("A"), 5);
  EXPECT_EQ(tasks::text_width("conv1"), 29);
  EXPECT_EQ(tasks::text_width("conv1", 3), 87);
  EXPECT_EQ(tasks::text_height(2), 18);
}

TEST(Text, LandsInsideItsBoxOnRgbAndGray) {
  for (int64_t channels : {1, 3}) {
    for (int64_t scale : {1, 2}) {
      const io::Image blank = io::Image::filled(channels, 40, 80, 1.f);
      io::Image img = blank;
      const std::string s = "Ag|,";
      const int64_t x = 7, y = 5, w = tasks::text_width(s, scale), h = tasks::text_height(scale);
      tasks::draw_text(img, x, y, s, {1, 0, 0}, scale);
      int64_t inside = 0;
      float lo = 1.f;
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t yy = 0; yy < img.height; ++yy)
          for (int64_t xx = 0; xx < img.width; ++xx)
            if (img.at(c, yy, xx) != 1.f) {
              ASSERT_TRUE(xx >= x && xx < x + w && yy >= y && yy < y + h) << "pixel (" << xx << ", " << yy << ")";
              ++inside;
              lo = std::min(lo, img.at(c, yy, xx));
            }
      EXPECT_GT(inside, 20 * scale * scale);
      // The box's edges are all used: 'A' starts at the left, ',' and 'g' reach the bottom, '|' the top.
      if (channels == 3) {
        EXPECT_FLOAT_EQ(img.at(1, y + h - 1, x + 18 * scale + 1 * scale), 0.f);  // ',' tail, 4th glyph
        EXPECT_FLOAT_EQ(img.at(0, y + 3 * scale, x), 1.f);                       // red stays 1
        EXPECT_FLOAT_EQ(img.at(1, y + 3 * scale, x), 0.f);
      } else {
        EXPECT_NEAR(lo, 0.299f, 1e-6);  // gray images get the luminance of red
      }
    }
  }
  // Clipped at the edges, never an error.
  io::Image img = io::Image::filled(3, 10, 10, 1.f);
  tasks::draw_text(img, -3, -4, "WW", {0, 0, 0});
  tasks::draw_text(img, 8, 8, "WW", {0, 0, 0});
  EXPECT_GT(changed(img, io::Image::filled(3, 10, 10, 1.f)), 0);
  EXPECT_THROW(tasks::draw_text(img, 0, 0, "x", {0, 0, 0}, 0), Error);
}

TEST(Text, TurnedTextFillsTheTurnedBox) {
  io::Image img = io::Image::filled(3, 60, 30, 1.f);
  const std::string s = "loss";
  tasks::draw_text_up(img, 4, 6, s, {0, 0, 0});
  const int64_t w = tasks::text_height(), h = tasks::text_width(s);
  for (int64_t y = 0; y < img.height; ++y)
    for (int64_t x = 0; x < img.width; ++x)
      if (img.at(0, y, x) != 1.f) {
        ASSERT_TRUE(x >= 4 && x < 4 + w && y >= 6 && y < 6 + h) << x << ", " << y;
      }
  // 'l' comes first, at the bottom: the top row of its glyph (".##..") is at the box's left.
  EXPECT_EQ(img.at(0, 6 + h - 2, 4), 0.f);
  EXPECT_EQ(img.at(0, 6 + h - 1, 4), 1.f);
}

TEST(Plots, NiceTicks) {
  auto near = [](const std::vector<double>& a, const std::vector<double>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (std::abs(a[i] - b[i]) > 1e-12) return false;
    return true;
  };
  EXPECT_TRUE(near(tasks::nice_ticks(0, 0.93, 7), {0, 0.2, 0.4, 0.6, 0.8, 1.0}));
  EXPECT_TRUE(near(tasks::nice_ticks(0, 1, 11), {0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}));
  EXPECT_TRUE(near(tasks::nice_ticks(3, 1023, 7), {0, 200, 400, 600, 800, 1000, 1200}));
  EXPECT_TRUE(near(tasks::nice_ticks(-2.3, 7.1, 6), {-4, -2, 0, 2, 4, 6, 8}) ||
              near(tasks::nice_ticks(-2.3, 7.1, 6), {-5, 0, 5, 10}));
  EXPECT_TRUE(near(tasks::nice_ticks(2.31, 2.49, 5), {2.3, 2.35, 2.4, 2.45, 2.5}));
  const std::vector<double> flat = tasks::nice_ticks(5, 5);
  EXPECT_LT(flat.front(), 5);
  EXPECT_GT(flat.back(), 5);
  EXPECT_EQ(tasks::nice_ticks(0, 0).size() >= 2, true);
  EXPECT_EQ(tasks::tick_label(0.6000000000000001, 0.2), "0.6");
  EXPECT_EQ(tasks::tick_label(-1e-18, 0.05), "0.00");
  EXPECT_EQ(tasks::tick_label(1200, 200), "1200");
  EXPECT_THROW(tasks::nice_ticks(1, 0), Error);
  EXPECT_THROW(tasks::nice_ticks(0, NAN), Error);
}

TEST(Plots, LinePlotSizeColoursAndEdgeCases) {
  tasks::PlotOptions o;
  o.title = "loss";
  o.x_label = "step";
  o.y_label = "cross-entropy";
  o.width = 320, o.height = 200;
  std::vector<tasks::Series> s = {{"train", {0, 1, 2, 3, 4}, {2.3, 1.2, 0.8, 0.6, 0.55}},
                                  {"test", {}, {2.2, 1.4, NAN, 0.9, 0.85}}};
  io::Image img = tasks::line_plot(s, o);
  EXPECT_EQ(img.channels, 3);
  EXPECT_EQ(img.height, 200);
  EXPECT_EQ(img.width, 320);
  EXPECT_TRUE(has_color(img, tasks::palette_color(0), 30));
  EXPECT_TRUE(has_color(img, tasks::palette_color(1), 30));
  // A single point, constant y, a fixed range and a given colour all draw.
  o.y_min = 0, o.y_max = 1;
  img = tasks::line_plot({{"one", {3}, {0.5}, {0.9f, 0.f, 0.9f}}, {"flat", {1, 2, 5}, {0.7, 0.7, 0.7}}}, o);
  EXPECT_TRUE(has_color(img, {0.9f, 0.f, 0.9f}, 10));
  EXPECT_TRUE(has_color(img, tasks::palette_color(1), 10));
  o.y_min = NAN;
  EXPECT_NO_THROW(tasks::line_plot({{"flat", {}, {3, 3, 3}}}, o));
  EXPECT_THROW(tasks::line_plot({}, o), Error);
  EXPECT_THROW(tasks::line_plot({{"empty", {}, {}}}, o), Error);
  EXPECT_THROW(tasks::line_plot({{"nan", {}, {NAN, NAN}}}, o), Error);
  EXPECT_THROW(tasks::line_plot({{"ragged", {1, 2}, {1, 2, 3}}}, o), Error);
  o.y_min = 1, o.y_max = 0;
  EXPECT_THROW(tasks::line_plot(s, o), Error);
  o.y_min = NAN, o.width = 100;
  EXPECT_THROW(tasks::line_plot(s, o), Error);
}

TEST(Plots, BarChartSizeColoursAndErrors) {
  const std::vector<std::string> layers = {"conv1", "conv2", "conv3", "conv4", "conv5"};
  tasks::PlotOptions o;
  o.width = 400, o.height = 250, o.y_min = 0, o.y_max = 1;
  io::Image img = tasks::bar_chart(layers, {{"a", {0.5, 0.6, 0.7, 0.6, 0.5}}, {"b", {0.4, NAN, 0.8, 0.7, 0.2}}}, o);
  EXPECT_EQ(img.height, 250);
  EXPECT_EQ(img.width, 400);
  EXPECT_TRUE(has_color(img, tasks::palette_color(0), 200));
  EXPECT_TRUE(has_color(img, tasks::palette_color(1), 200));
  EXPECT_NO_THROW(tasks::bar_chart({"x"}, {{"neg", {-2}}}));
  EXPECT_THROW(tasks::bar_chart({}, {{"a", {}}}), Error);
  EXPECT_THROW(tasks::bar_chart(layers, {}), Error);
  EXPECT_THROW(tasks::bar_chart(layers, {{"short", {1, 2}}}), Error);
}

TEST(LabeledHeatmap, WritesCountsAndNames) {
  const std::vector<double> m = {50, 2, 0, 3, 40, 7, 0, 9, 1000};
  const std::vector<std::string> names = {"cat", "dog", "bird"};
  io::Image img = tasks::labeled_heatmap(m, 3, 3, names, names);
  const int64_t cell = 33;  // "1000" is 23 pixels wide, and a cell leaves 5 on each side
  const io::Image plain = tasks::heatmap(m, 3, 3, cell);
  ASSERT_EQ(img.channels, 3);
  EXPECT_GT(img.width, plain.width + 3 * 6);
  EXPECT_GT(img.height, plain.height + 2 * 9);
  // Find the matrix: the first pixel with the colour inside cell (0, 0) is its top-left inner pixel.
  int64_t ox = -1, oy = -1;
  for (int64_t y = 0; y < img.height && ox < 0; ++y)
    for (int64_t x = 0; x < img.width && ox < 0; ++x)
      if (img.at(0, y, x) == plain.at(0, 1, 1) && img.at(1, y, x) == plain.at(1, 1, 1) &&
          img.at(2, y, x) == plain.at(2, 1, 1))
        ox = x - 1, oy = y - 1;
  ASSERT_GE(ox, 0);
  auto count_in_cell = [&](int64_t r, int64_t c, Rgb color) {
    int64_t n = 0;
    for (int64_t y = 1; y < cell; ++y)
      for (int64_t x = 1; x < cell; ++x) {
        const int64_t yy = oy + r * cell + y, xx = ox + c * cell + x;
        n += img.at(0, yy, xx) == color[0] && img.at(1, yy, xx) == color[1] && img.at(2, yy, xx) == color[2];
      }
    return n;
  };
  EXPECT_GT(count_in_cell(0, 2, {1, 1, 1}), 10);  // "0" in white on the darkest cell
  EXPECT_EQ(count_in_cell(0, 2, {0, 0, 0}), 0);
  EXPECT_GT(count_in_cell(2, 2, {0, 0, 0}), 30);  // "1000" in black on the brightest
  EXPECT_EQ(count_in_cell(2, 2, {1, 1, 1}), 0);
  // Names and titles lie outside the matrix: left of it and below it something is drawn.
  const io::Image untitled = tasks::labeled_heatmap(m, 3, 3, names, names, "", "");
  EXPECT_LT(untitled.width, img.width);
  EXPECT_LT(untitled.height, img.height);
  EXPECT_THROW(tasks::labeled_heatmap(m, 3, 3, {"a", "b"}, {}), Error);
  EXPECT_THROW(tasks::labeled_heatmap(m, 2, 2), Error);
}

// Writes sample pictures for a person to look at: PW_PLOT_SAMPLES=DIR, else a temporary folder.
TEST(Plots, WritesSamplePictures) {
  const char* env = std::getenv("PW_PLOT_SAMPLES");
  const std::filesystem::path dir = env ? env : std::filesystem::temp_directory_path() / "pw_plot_samples";
  std::filesystem::create_directories(dir);
  std::string all;
  for (int c = 32; c <= 126; ++c) all += (char)c;
  io::Image font = io::Image::filled(3, 3 * 33 + 8, 32 * 18 + 8, 1.f);
  for (int line = 0; line < 3; ++line)
    tasks::draw_text(font, 4, 4 + 33 * line, all.substr(32 * line, 32), {0, 0, 0}, 3);
  io::write_png((dir / "font.png").string(), font);

  std::vector<tasks::Series> curves = {{"train loss", {}, {}}, {"test loss", {}, {}}};
  for (int i = 0; i <= 300; ++i) {
    curves[0].y.push_back(2.3 * std::exp(-i / 60.0) + 0.3 + 0.05 * std::sin(i * 0.7));
    if (i % 30 == 0) curves[1].x.push_back(i), curves[1].y.push_back(2.2 * std::exp(-i / 70.0) + 0.45);
  }
  curves[0].y[150] = NAN;  // a gap in the line
  tasks::PlotOptions o;
  o.title = "Fashion-MNIST, small AlexNet";
  o.x_label = "step";
  o.y_label = "cross-entropy loss";
  io::write_png((dir / "line.png").string(), tasks::line_plot(curves, o));

  const std::vector<std::string> layers = {"conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"};
  tasks::PlotOptions p;
  p.title = "Linear probe accuracy per layer";
  p.x_label = "layer";
  p.y_label = "accuracy";
  p.y_min = 0, p.y_max = 1;
  p.x_categories = layers;
  const std::vector<double> sup = {0.62, 0.71, 0.78, 0.80, 0.83, 0.86, 0.88},
                            ctx = {0.55, 0.66, 0.72, 0.70, 0.66, 0.58, 0.51},
                            jig = {0.58, 0.69, 0.74, 0.73, 0.69, 0.61, NAN},
                            rot = {0.57, 0.70, 0.76, 0.75, 0.70, 0.63, 0.55};
  io::write_png(
      (dir / "probe_lines.png").string(),
      tasks::line_plot({{"supervised", {}, sup}, {"context", {}, ctx}, {"jigsaw", {}, jig}, {"rotation", {}, rot}}, p));
  p.x_categories.clear();
  io::write_png(
      (dir / "probe_bars.png").string(),
      tasks::bar_chart(layers, {{"supervised", sup}, {"context", ctx}, {"jigsaw", jig}, {"rotation", rot}}, p));

  tasks::PlotOptions small;
  small.width = 320, small.height = 200;
  small.title = "one point, a flat line";
  io::write_png((dir / "edge_line.png").string(),
                tasks::line_plot({{"single", {5}, {0.25}}, {"flat", {0, 10}, {0.25, 0.25}}}, small));
  small.title = "";
  small.y_label = "change";
  io::write_png((dir / "edge_bars.png").string(), tasks::bar_chart({"T-shirt/top", "Trouser", "Pullover", "Ankle boot"},
                                                                   {{"", {-0.2, 0.5, 1.5, NAN}}}, small));

  const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  std::vector<double> confusion(100);
  for (int r = 0; r < 10; ++r)
    for (int c = 0; c < 10; ++c)
      confusion[r * 10 + c] = r == c ? 800 + 19 * r : (r * 7 + c * 3) % 11 == 0 ? 60 : (r + c) % 4;
  confusion[0] = 1000;
  io::write_png((dir / "confusion.png").string(), tasks::labeled_heatmap(confusion, 10, 10, names, names));
  EXPECT_TRUE(std::filesystem::exists(dir / "confusion.png"));
}
