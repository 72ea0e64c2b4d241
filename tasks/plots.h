// Line plots and grouped bar charts drawn as RGB images (white background, axes with 1-2-5 tick
// values, title, axis titles, legend), for training curves and per-layer probe accuracies; written
// as PNG by io::write_png. The text comes from the bitmap font in tasks/text.h.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "tasks/text.h"

namespace pw::tasks {

// Colours with a red component below 0 mean "the next palette colour".
constexpr Rgb kAutoColor{-1.f, 0.f, 0.f};

struct PlotOptions {
  std::string title, x_label, y_label;
  int64_t width = 640, height = 400;
  // Both finite: the y axis spans exactly [y_min, y_max] (say 0 and 1 for accuracies) and what
  // lies outside is clipped; otherwise it is fitted to the data and widened to nice tick values.
  double y_min = NAN, y_max = NAN;
  // line_plot: names for x = 0, 1, 2, ... (layers, say), shown on the x axis instead of numbers.
  std::vector<std::string> x_categories;
  // line_plot: series with at most this many points mark each point (circle, square, triangle,
  // diamond, by series), so that short series can be read off and told apart without colour.
  int64_t markers_up_to = 40;
};

struct Series {
  std::string name;          // in the legend; no legend when every name is empty
  std::vector<double> x, y;  // x empty: 0, 1, 2, ...; a point with a non-finite x or y is skipped
  Rgb color = kAutoColor;
};

// Curves through each series' points; the line breaks where a point is skipped. Throws pw::Error
// when there is no series, a series has no points or x and y of different lengths, no point is
// finite, the fixed y range is empty, or the image is too small for its labels.
io::Image line_plot(const std::vector<Series>& series, const PlotOptions& options = {});

struct BarSeries {
  std::string name;
  std::vector<double> values;  // one per category; NaN: no bar
  Rgb color = kAutoColor;
};

// Grouped bars: one group per category along x (conv1 .. fc7, say), one bar per series in each
// group (one network each), bars rising from 0. Category names too wide for their slot are turned
// upwards. Throws pw::Error when categories or series are missing or a series has a value count
// other than the category count.
io::Image bar_chart(const std::vector<std::string>& categories, const std::vector<BarSeries>& series,
                    const PlotOptions& options = {});

// Tick values for an axis over [lo, hi]: multiples of a step of 1, 2 or 5 times a power of ten,
// the first <= lo and the last >= hi, the smallest such step that gives at most max_ticks values
// (at least 2). lo == hi is widened around the value. [0, 0.93] with 7 gives 0, 0.2, ..., 1.
std::vector<double> nice_ticks(double lo, double hi, int64_t max_ticks = 7);
// A tick value as text with as many decimals as the step between ticks needs (0.2 -> "0.4").
std::string tick_label(double value, double step);
// The i-th colour of the series palette (Tableau 10, repeating).
Rgb palette_color(size_t i);

}  // namespace pw::tasks
