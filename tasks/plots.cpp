// Line plots and bar charts: see plots.h.
#include "tasks/plots.h"

#include <algorithm>
#include <cstdio>

#include "engine/util/error.h"

namespace pw::tasks {

namespace {

const Rgb kWhite{1, 1, 1}, kInk{0.15f, 0.15f, 0.15f}, kAxisGray{0.45f, 0.45f, 0.45f}, kGridGray{0.9f, 0.9f, 0.9f};
constexpr int64_t kTitleScale = 2, kTickLength = 4, kGap = 6;

struct Axis {
  double lo = 0, hi = 1;
  std::vector<double> ticks;
  std::vector<std::string> labels;
  int64_t widest() const {
    int64_t w = 0;
    for (const std::string& s : labels) w = std::max(w, text_width(s));
    return w;
  }
};

// Ticks within [lo, hi] when the range is fixed; otherwise the range grows to the outer ticks.
Axis numeric_axis(double lo, double hi, bool fixed, int64_t max_ticks) {
  Axis a;
  const std::vector<double> ticks = nice_ticks(lo, hi, max_ticks);
  const double step = ticks[1] - ticks[0];
  if (fixed) {
    a.lo = lo, a.hi = hi;
    for (double t : ticks)
      if (t >= lo - 1e-9 * step && t <= hi + 1e-9 * step) a.ticks.push_back(t);
  } else {
    a.lo = ticks.front(), a.hi = ticks.back(), a.ticks = ticks;
  }
  for (double t : a.ticks) a.labels.push_back(tick_label(t, step));
  return a;
}

Axis category_axis(const std::vector<std::string>& names) {
  Axis a;
  a.lo = -0.5, a.hi = (double)names.size() - 0.5;
  for (size_t i = 0; i < names.size(); ++i) a.ticks.push_back((double)i), a.labels.push_back(names[i]);
  return a;
}

// Where the plot area lies in the image and how data values map onto it. The area is
// [left, right) x [top, bottom); `pad` keeps markers at the ends of a numeric axis off the frame.
struct Frame {
  int64_t left = 0, top = 0, right = 0, bottom = 0, pad = 0;
  Axis x, y;
  bool categorical = false, x_turned = false;
  double px(double v) const { return left + pad + (v - x.lo) / (x.hi - x.lo) * (right - left - 1 - 2 * pad); }
  double py(double v) const { return bottom - 1 - pad - (v - y.lo) / (y.hi - y.lo) * (bottom - top - 1 - 2 * pad); }
  bool inside(int64_t xx, int64_t yy) const { return xx > left && xx < right - 1 && yy > top && yy < bottom - 1; }
};

// Sizes the margins from the labels they hold. x_lo / x_hi matter only without categories.
Frame layout(const PlotOptions& o, double y_lo, double y_hi, double x_lo, double x_hi,
             const std::vector<std::string>& categories, int64_t pad) {
  PW_CHECK(o.width >= 160 && o.height >= 120, "plot: the image must be at least 160x120, got ", o.width, "x", o.height);
  const bool fixed = std::isfinite(o.y_min) && std::isfinite(o.y_max);
  PW_CHECK(!fixed || o.y_min < o.y_max, "plot: the fixed y range [", o.y_min, ", ", o.y_max, "] is empty");
  Frame f;
  f.pad = pad;
  f.top = o.title.empty() ? 12 : 10 + text_height(kTitleScale) + 10;
  const int64_t estimated_height = o.height - f.top - 50;
  f.y = fixed ? numeric_axis(o.y_min, o.y_max, true, std::max<int64_t>(2, estimated_height / 32 + 1))
              : numeric_axis(y_lo, y_hi, false, std::max<int64_t>(2, estimated_height / 32 + 1));
  f.left = 10 + (o.y_label.empty() ? 0 : text_height() + kGap) + f.y.widest() + kTickLength + 4;
  f.right = o.width - 12;
  const int64_t area_width = f.right - f.left;
  f.categorical = !categories.empty();
  if (f.categorical) {
    f.x = category_axis(categories);
    f.x_turned = f.x.widest() + 4 > area_width / (int64_t)categories.size();
  } else {
    // Fewer ticks until their labels stand apart.
    for (int64_t max_ticks = std::max<int64_t>(2, area_width / 50 + 1);; --max_ticks) {
      f.x = numeric_axis(x_lo, x_hi, false, max_ticks);
      const int64_t n = (int64_t)f.x.ticks.size();
      if (max_ticks == 2 || (f.x.widest() + 12) * (n - 1) <= area_width - 2 * pad) break;
    }
    // The last label is centred on the right end of the axis: leave room for its right half.
    f.right = std::min(f.right, o.width - 4 - text_width(f.x.labels.back()) / 2 + pad);
  }
  const int64_t x_labels_height = f.x_turned ? f.x.widest() : text_height();
  f.bottom = o.height - (kTickLength + 4 + x_labels_height + (o.x_label.empty() ? 0 : kGap + text_height()) + 8);
  PW_CHECK(f.bottom - f.top >= 40 && f.right - f.left >= 60, "plot: ", o.width, "x", o.height,
           " is too small for its labels");
  return f;
}

// On a white image: grid, frame, ticks and their values, title and axis titles.
void draw_frame(io::Image& img, const Frame& f, const PlotOptions& o, bool x_grid) {
  for (double t : f.y.ticks) fill_rect(img, f.left, std::lround(f.py(t)), f.right - f.left, 1, kGridGray);
  if (x_grid)
    for (double t : f.x.ticks) fill_rect(img, std::lround(f.px(t)), f.top, 1, f.bottom - f.top, kGridGray);
  fill_rect(img, f.left, f.top, f.right - f.left, 1, kAxisGray);
  fill_rect(img, f.left, f.bottom - 1, f.right - f.left, 1, kAxisGray);
  fill_rect(img, f.left, f.top, 1, f.bottom - f.top, kAxisGray);
  fill_rect(img, f.right - 1, f.top, 1, f.bottom - f.top, kAxisGray);
  for (size_t i = 0; i < f.y.ticks.size(); ++i) {
    const int64_t y = std::lround(f.py(f.y.ticks[i]));
    fill_rect(img, f.left - kTickLength, y, kTickLength, 1, kAxisGray);
    const std::string& s = f.y.labels[i];
    draw_text(img, f.left - kTickLength - 3 - text_width(s), y - kCapHeight / 2, s, kInk);
  }
  for (size_t i = 0; i < f.x.ticks.size(); ++i) {
    const int64_t x = std::lround(f.px(f.x.ticks[i]));
    fill_rect(img, x, f.bottom, 1, kTickLength, kAxisGray);
    const std::string& s = f.x.labels[i];
    if (f.x_turned)  // the end of the name at the tick, as in matplotlib's rotated labels
      draw_text_up(img, x - text_height() / 2, f.bottom + kTickLength + 3, s, kInk);
    else
      draw_text(img, x - text_width(s) / 2, f.bottom + kTickLength + 3, s, kInk);
  }
  if (!o.title.empty())
    draw_text(img, (img.width - text_width(o.title, kTitleScale)) / 2, 10, o.title, kInk, kTitleScale);
  if (!o.x_label.empty())
    draw_text(img, (f.left + f.right - text_width(o.x_label)) / 2, img.height - 8 - text_height(), o.x_label, kInk);
  if (!o.y_label.empty()) draw_text_up(img, 10, (f.top + f.bottom - text_width(o.y_label)) / 2, o.y_label, kInk);
}

Rgb series_color(Rgb given, size_t i) { return given[0] < 0 ? palette_color(i) : given; }

// Whether a marker of the given shape (by series) and radius covers the offset (dx, dy).
bool marker_covers(size_t shape, double dx, double dy, double r) {
  switch (shape % 4) {
    case 0: return dx * dx + dy * dy <= r * r + 0.5;
    case 1: return std::abs(dx) <= r - 0.5 && std::abs(dy) <= r - 0.5;
    case 2: return dy >= -r && dy <= r * 0.7 && std::abs(dx) <= (dy + r) * 0.62;
    default: return std::abs(dx) + std::abs(dy) <= r + 0.5;
  }
}

void draw_marker(io::Image& img, const Frame& f, double cx, double cy, size_t shape, Rgb color) {
  const double r = 3.5;
  const int64_t x0 = std::lround(cx), y0 = std::lround(cy);
  for (int64_t y = y0 - 4; y <= y0 + 4; ++y)
    for (int64_t x = x0 - 4; x <= x0 + 4; ++x)
      if (f.inside(x, y) && marker_covers(shape, double(x - x0), double(y - y0), r)) blend_pixel(img, x, y, color);
}

// Coverage of one series' line over the plot area, the largest over its segments, so that the
// joints of a thick anti-aliased line are not blended twice.
struct Coverage {
  const Frame& f;
  std::vector<float> alpha;
  explicit Coverage(const Frame& frame)
      : f(frame), alpha(size_t((frame.right - frame.left) * (frame.bottom - frame.top)), 0.f) {}

  void segment(double ax, double ay, double bx, double by, double half_width) {
    const double dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    const int64_t x0 = std::max<int64_t>(f.left + 1, (int64_t)std::floor(std::min(ax, bx) - half_width - 1));
    const int64_t x1 = std::min<int64_t>(f.right - 2, (int64_t)std::ceil(std::max(ax, bx) + half_width + 1));
    const int64_t y0 = std::max<int64_t>(f.top + 1, (int64_t)std::floor(std::min(ay, by) - half_width - 1));
    const int64_t y1 = std::min<int64_t>(f.bottom - 2, (int64_t)std::ceil(std::max(ay, by) + half_width + 1));
    for (int64_t y = y0; y <= y1; ++y)
      for (int64_t x = x0; x <= x1; ++x) {
        const double t = len2 > 0 ? std::clamp(((x - ax) * dx + (y - ay) * dy) / len2, 0.0, 1.0) : 0.0;
        const double ex = x - ax - t * dx, ey = y - ay - t * dy;
        const float a = (float)std::clamp(half_width + 0.5 - std::sqrt(ex * ex + ey * ey), 0.0, 1.0);
        float& slot = alpha[size_t((y - f.top) * (f.right - f.left) + (x - f.left))];
        slot = std::max(slot, a);
      }
  }

  void blend_into(io::Image& img, Rgb color) const {
    for (int64_t y = f.top; y < f.bottom; ++y)
      for (int64_t x = f.left; x < f.right; ++x) {
        const float a = alpha[size_t((y - f.top) * (f.right - f.left) + (x - f.left))];
        if (a > 0) blend_pixel(img, x, y, color, a);
      }
  }
};

struct LegendEntry {
  std::string name;
  Rgb color;
  size_t marker;  // line_plot: the marker shape, or SIZE_MAX for a line alone
  bool bar;
};

// Pixels in the box that carry data (darker than the grid), to keep the legend off the curves.
int64_t ink_in(const io::Image& img, int64_t x0, int64_t y0, int64_t w, int64_t h) {
  int64_t n = 0;
  for (int64_t y = std::max<int64_t>(0, y0); y < std::min(img.height, y0 + h); ++y)
    for (int64_t x = std::max<int64_t>(0, x0); x < std::min(img.width, x0 + w); ++x)
      n += std::min({img.at(0, y, x), img.at(1, y, x), img.at(2, y, x)}) < 0.85f;
  return n;
}

// A boxed legend in the plot corner that covers the least data (top right when there is a tie).
void draw_legend(io::Image& img, const Frame& f, const std::vector<LegendEntry>& entries) {
  bool named = false;
  for (const LegendEntry& e : entries) named |= !e.name.empty();
  if (!named) return;
  const int64_t swatch = 22, row = text_height() + 4, inset = 8;
  int64_t names_width = 0;
  for (const LegendEntry& e : entries) names_width = std::max(names_width, text_width(e.name));
  const int64_t w = 6 + swatch + 5 + names_width + 6, h = 5 + row * (int64_t)entries.size() + 1;
  const int64_t xs[2] = {f.right - inset - w, f.left + inset}, ys[2] = {f.top + inset, f.bottom - inset - h};
  int64_t best_x = xs[0], best_y = ys[0], best_ink = -1;
  for (int64_t yi = 0; yi < 2; ++yi)
    for (int64_t xi = 0; xi < 2; ++xi) {
      const int64_t ink = ink_in(img, xs[xi], ys[yi], w, h);
      if (best_ink < 0 || ink < best_ink) best_ink = ink, best_x = xs[xi], best_y = ys[yi];
    }
  fill_rect(img, best_x, best_y, w, h, kAxisGray);
  fill_rect(img, best_x + 1, best_y + 1, w - 2, h - 2, kWhite);
  for (size_t i = 0; i < entries.size(); ++i) {
    const LegendEntry& e = entries[i];
    const int64_t y = best_y + 5 + (int64_t)i * row, mid = y + kCapHeight / 2, x = best_x + 6;
    if (e.bar) {
      fill_rect(img, x + swatch / 2 - 5, mid - 4, 10, 9, e.color);
    } else {
      fill_rect(img, x, mid - 1, swatch, 2, e.color);
      if (e.marker != SIZE_MAX)
        for (int64_t dy = -4; dy <= 4; ++dy)
          for (int64_t dx = -4; dx <= 4; ++dx)
            if (marker_covers(e.marker, (double)dx, (double)dy, 3.5))
              blend_pixel(img, x + swatch / 2 + dx, mid + dy, e.color);
    }
    draw_text(img, x + swatch + 5, y, e.name, kInk);
  }
}

bool finite_point(const Series& s, size_t i, double* x, double* y) {
  *x = s.x.empty() ? (double)i : s.x[i];
  *y = s.y[i];
  return std::isfinite(*x) && std::isfinite(*y);
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int64_t max_ticks) {
  PW_CHECK(std::isfinite(lo) && std::isfinite(hi) && lo <= hi, "nice_ticks: need finite lo <= hi, got [", lo, ", ", hi,
           "]");
  max_ticks = std::max<int64_t>(2, max_ticks);
  if (hi - lo <= 1e-12 * std::max(std::abs(lo), std::abs(hi))) {
    const double d = lo == 0 ? 1 : 0.1 * std::abs(lo);
    lo -= d, hi += d;
  }
  // The step is m * 10^e; the smallest candidate (10^floor(log10(raw))) can be too small but never
  // skips a fitting step, since any step below `raw` needs more than max_ticks values.
  const double raw = (hi - lo) / double(max_ticks - 1);
  int e = (int)std::floor(std::log10(raw));
  for (;; ++e)
    for (const int m : {1, 2, 5}) {
      const double step = e >= 0 ? m * std::pow(10.0, e) : m / std::pow(10.0, -e);
      const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
      if (last - first + 1 > (double)max_ticks) continue;
      // k * m / 10^-e rather than k * step, so 0.6 is 0.6 and not 0.6000000000000001.
      std::vector<double> ticks;
      for (double k = first; k <= last; ++k)
        ticks.push_back(e >= 0 ? k * m * std::pow(10.0, e) : k * m / std::pow(10.0, -e));
      return ticks;
    }
}

std::string tick_label(double value, double step) {
  if (std::abs(value) < 1e-9 * std::abs(step)) value = 0;  // no "-0.0"
  const int decimals = std::max(0, (int)std::ceil(-std::log10(std::abs(step)) - 1e-9));
  char buf[64];
  if (std::abs(value) >= 1e6 || decimals > 5)
    std::snprintf(buf, sizeof buf, "%g", value);
  else
    std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

Rgb palette_color(size_t i) {
  static const Rgb kTableau[10] = {{0.122f, 0.467f, 0.706f}, {1.000f, 0.498f, 0.055f}, {0.173f, 0.627f, 0.173f},
                                   {0.839f, 0.153f, 0.157f}, {0.580f, 0.404f, 0.741f}, {0.549f, 0.337f, 0.294f},
                                   {0.890f, 0.467f, 0.761f}, {0.498f, 0.498f, 0.498f}, {0.737f, 0.741f, 0.133f},
                                   {0.090f, 0.745f, 0.812f}};
  return kTableau[i % 10];
}

io::Image line_plot(const std::vector<Series>& series, const PlotOptions& o) {
  PW_CHECK(!series.empty(), "line_plot: no series to plot");
  double x_lo = INFINITY, x_hi = -INFINITY, y_lo = INFINITY, y_hi = -INFINITY;
  for (const Series& s : series) {
    PW_CHECK(!s.y.empty(), "line_plot: series '", s.name, "' has no points");
    PW_CHECK(s.x.empty() || s.x.size() == s.y.size(), "line_plot: series '", s.name, "' has ", s.x.size(),
             " x values but ", s.y.size(), " y values");
    for (size_t i = 0; i < s.y.size(); ++i) {
      double x, y;
      if (!finite_point(s, i, &x, &y)) continue;
      x_lo = std::min(x_lo, x), x_hi = std::max(x_hi, x), y_lo = std::min(y_lo, y), y_hi = std::max(y_hi, y);
    }
  }
  PW_CHECK(x_lo <= x_hi, "line_plot: no series has a finite point (all NaN or infinite)");
  const Frame f = layout(o, y_lo, y_hi, x_lo, x_hi, o.x_categories, 6);
  io::Image img = io::Image::filled(3, o.height, o.width, 1.f);
  draw_frame(img, f, o, true);
  // All lines first, then all markers, so that no line hides another series' points.
  std::vector<LegendEntry> legend;
  std::vector<std::vector<std::pair<double, double>>> marked(series.size());  // in pixels
  for (size_t si = 0; si < series.size(); ++si) {
    const Series& s = series[si];
    const Rgb color = series_color(s.color, si);
    Coverage line(f);
    std::vector<std::pair<double, double>> points;
    bool have_previous = false;
    double px_prev = 0, py_prev = 0;
    for (size_t i = 0; i < s.y.size(); ++i) {
      double x, y;
      if (!finite_point(s, i, &x, &y)) {
        have_previous = false;
        continue;
      }
      const double px = f.px(x), py = f.py(y);
      if (have_previous) line.segment(px_prev, py_prev, px, py, 1.0);
      px_prev = px, py_prev = py, have_previous = true;
      points.push_back({px, py});
    }
    line.blend_into(img, color);
    // A lone point draws no line, so it gets a marker whatever the count.
    const bool markers = (int64_t)points.size() <= o.markers_up_to || points.size() == 1;
    if (markers) marked[si] = std::move(points);
    legend.push_back({s.name, color, markers ? si : SIZE_MAX, false});
  }
  for (size_t si = 0; si < series.size(); ++si)
    for (const auto& [px, py] : marked[si]) draw_marker(img, f, px, py, si, legend[si].color);
  draw_legend(img, f, legend);
  return img;
}

io::Image bar_chart(const std::vector<std::string>& categories, const std::vector<BarSeries>& series,
                    const PlotOptions& o) {
  PW_CHECK(!categories.empty(), "bar_chart: no categories");
  PW_CHECK(!series.empty(), "bar_chart: no series to plot");
  double y_lo = 0, y_hi = 0;  // bars rise from 0, so 0 is always on the axis
  bool any = false;
  for (const BarSeries& s : series) {
    PW_CHECK(s.values.size() == categories.size(), "bar_chart: series '", s.name, "' has ", s.values.size(),
             " values for ", categories.size(), " categories");
    for (double v : s.values)
      if (std::isfinite(v)) y_lo = std::min(y_lo, v), y_hi = std::max(y_hi, v), any = true;
  }
  if (!any || y_lo == y_hi) y_hi = y_lo + 1;
  const Frame f = layout(o, y_lo, y_hi, 0, 0, categories, 0);
  io::Image img = io::Image::filled(3, o.height, o.width, 1.f);
  draw_frame(img, f, o, false);
  const double slot = double(f.right - f.left) / (double)categories.size();
  const double group = 0.8 * slot, bar = group / (double)series.size();
  const int64_t gap = bar >= 6 ? 1 : 0;
  const double base = f.py(std::clamp(0.0, f.y.lo, f.y.hi));
  std::vector<LegendEntry> legend;
  for (size_t si = 0; si < series.size(); ++si) {
    const Rgb color = series_color(series[si].color, si);
    for (size_t c = 0; c < categories.size(); ++c) {
      const double v = series[si].values[c];
      if (!std::isfinite(v)) continue;
      const int64_t x0 = std::lround(f.px((double)c) - group / 2 + (double)si * bar);
      const int64_t x1 = std::lround(f.px((double)c) - group / 2 + double(si + 1) * bar) - gap;
      const double top = f.py(std::clamp(v, f.y.lo, f.y.hi));
      int64_t y0 = std::lround(std::min(base, top)), y1 = std::lround(std::max(base, top));
      y0 = std::max(y0, f.top + 1), y1 = std::min(y1, f.bottom - 2);
      fill_rect(img, x0, y0, std::max<int64_t>(1, x1 - x0), y1 - y0 + 1, color);
    }
    legend.push_back({series[si].name, color, SIZE_MAX, true});
  }
  if (f.y.lo < 0) fill_rect(img, f.left, std::lround(base), f.right - f.left, 1, kAxisGray);
  draw_legend(img, f, legend);
  return img;
}

}  // namespace pw::tasks
