// Pictures from tensors: see pictures.h.
#include "tasks/pictures.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "engine/util/error.h"

namespace pw::tasks {

io::Image to_image(const Tensor& t, const std::vector<float>& mean, const std::vector<float>& std) {
  PW_CHECK(t.dim() == 3, "pictures: an image must be [C, H, W], got ", shape_str(t.shape()));
  std::vector<float> v = t.to_vector_f32();
  io::Image img{t.size(0), t.size(1), t.size(2), std::move(v)};
  const int64_t hw = img.height * img.width;
  for (int64_t c = 0; c < img.channels; ++c) {
    const float m = c < (int64_t)mean.size() ? mean[c] : 0.f, s = c < (int64_t)std.size() ? std[c] : 1.f;
    for (int64_t i = 0; i < hw; ++i) img.pixels[c * hw + i] = std::clamp(img.pixels[c * hw + i] * s + m, 0.f, 1.f);
  }
  return img;
}

io::Image to_image_minmax(const Tensor& t) {
  PW_CHECK(t.dim() == 3, "pictures: an image must be [C, H, W], got ", shape_str(t.shape()));
  std::vector<float> v = t.to_vector_f32();
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  const float a = *lo, range = std::max(*hi - *lo, 1e-12f);
  for (float& x : v) x = (x - a) / range;
  return {t.size(0), t.size(1), t.size(2), std::move(v)};
}

io::Image upscale(const io::Image& img, int64_t f) {
  PW_CHECK(f >= 1, "pictures: upscale factor must be >= 1, got ", f);
  io::Image out{img.channels, img.height * f, img.width * f, {}};
  out.pixels.resize(out.channels * out.height * out.width);
  for (int64_t c = 0; c < out.channels; ++c)
    for (int64_t y = 0; y < out.height; ++y)
      for (int64_t x = 0; x < out.width; ++x)
        out.pixels[(c * out.height + y) * out.width + x] = img.pixels[(c * img.height + y / f) * img.width + x / f];
  return out;
}

io::Image grid(const std::vector<io::Image>& cells, int64_t cols, int64_t pad, float background,
               const std::vector<Rgb>& frames) {
  PW_CHECK(!cells.empty() && cols >= 1, "pictures: a grid needs cells and at least one column");
  int64_t ch = 1, ch_h = 0, ch_w = 0;
  for (const io::Image& c : cells) {
    ch = std::max(ch, c.channels);
    ch_h = std::max(ch_h, c.height);
    ch_w = std::max(ch_w, c.width);
  }
  bool framed = false;
  for (const Rgb& f : frames) framed |= f[0] >= 0;
  if (framed) ch = 3;
  const int64_t rows = ((int64_t)cells.size() + cols - 1) / cols;
  const int64_t slot_h = ch_h + 2 * pad, slot_w = ch_w + 2 * pad;
  io::Image out{ch, rows * slot_h, cols * slot_w, {}};
  out.pixels.assign(ch * out.height * out.width, background);
  auto put = [&](int64_t c, int64_t y, int64_t x, float v) { out.pixels[(c * out.height + y) * out.width + x] = v; };
  for (size_t i = 0; i < cells.size(); ++i) {
    const io::Image& cell = cells[i];
    const int64_t top = (int64_t)(i / cols) * slot_h + pad, left = (int64_t)(i % cols) * slot_w + pad;
    for (int64_t c = 0; c < ch; ++c)
      for (int64_t y = 0; y < cell.height; ++y)
        for (int64_t x = 0; x < cell.width; ++x)
          put(c, top + y, left + x, cell.pixels[(std::min(c, cell.channels - 1) * cell.height + y) * cell.width + x]);
    if (i < frames.size() && frames[i][0] >= 0) {
      const int64_t b = std::min<int64_t>(2, pad);
      for (int64_t y = top - b; y < top + cell.height + b; ++y)
        for (int64_t x = left - b; x < left + cell.width + b; ++x) {
          const bool inside = y >= top && y < top + cell.height && x >= left && x < left + cell.width;
          if (!inside)
            for (int64_t c = 0; c < 3; ++c) put(c, y, x, frames[i][c]);
        }
    }
  }
  return out;
}

io::Image with_caption(const io::Image& image, const std::vector<std::string>& lines) {
  if (lines.empty()) return image;
  int64_t width = image.width;
  for (const std::string& line : lines) width = std::max(width, text_width(line));
  const int64_t line_h = text_height() + 3;
  io::Image out = io::Image::filled(image.channels, image.height + 2 + line_h * (int64_t)lines.size(), width, 1.f);
  const int64_t left = (width - image.width) / 2;
  for (int64_t c = 0; c < image.channels; ++c)
    for (int64_t y = 0; y < image.height; ++y)
      for (int64_t x = 0; x < image.width; ++x) out.at(c, y, left + x) = image.at(c, y, x);
  for (size_t i = 0; i < lines.size(); ++i)
    draw_text(out, (width - text_width(lines[i])) / 2, image.height + 3 + (int64_t)i * line_h, lines[i],
              {0.1f, 0.1f, 0.1f});
  return out;
}

io::Image heatmap(const std::vector<double>& values, int64_t rows, int64_t cols, int64_t cell) {
  PW_CHECK((int64_t)values.size() == rows * cols, "pictures: heatmap of ", rows, "x", cols, " needs ", rows * cols,
           " values, got ", values.size());
  const double hi = std::max(1e-12, *std::max_element(values.begin(), values.end()));
  io::Image out{3, rows * cell, cols * cell, {}};
  out.pixels.resize(3 * out.height * out.width);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      // A short blue -> teal -> yellow ramp (perceptually ordered, readable in gray).
      const float t = (float)std::sqrt(std::max(0.0, values[r * cols + c]) / hi);
      const Rgb rgb = {std::clamp(1.6f * t - 0.5f, 0.f, 1.f) * 0.95f + 0.05f * t, 0.15f + 0.75f * t,
                       0.35f + 0.3f * (1 - t) * t * 4 - 0.25f * t};
      for (int64_t y = 0; y < cell; ++y)
        for (int64_t x = 0; x < cell; ++x)
          for (int k = 0; k < 3; ++k)
            out.pixels[(k * out.height + r * cell + y) * out.width + c * cell + x] =
                (y == 0 || x == 0) ? 1.f : std::clamp(rgb[k], 0.f, 1.f);
    }
  return out;
}

namespace {

std::string cell_value(double v) {
  char buf[32];
  if (std::isfinite(v) && v == std::round(v) && std::abs(v) < 1e9)
    std::snprintf(buf, sizeof buf, "%lld", (long long)v);
  else
    std::snprintf(buf, sizeof buf, "%.2g", v);
  return buf;
}

std::vector<std::string> names_or_numbers(const std::vector<std::string>& names, int64_t n, const char* what) {
  if (names.empty()) {
    std::vector<std::string> numbers;
    for (int64_t i = 0; i < n; ++i) numbers.push_back(std::to_string(i));
    return numbers;
  }
  PW_CHECK((int64_t)names.size() == n, "pictures: labeled_heatmap has ", n, " ", what, " but ", names.size(),
           " names for them");
  return names;
}

}  // namespace

io::Image labeled_heatmap(const std::vector<double>& values, int64_t rows, int64_t cols,
                          const std::vector<std::string>& row_names, const std::vector<std::string>& col_names,
                          const std::string& row_title, const std::string& col_title, int64_t cell) {
  PW_CHECK(rows >= 1 && cols >= 1, "pictures: labeled_heatmap needs at least 1x1 cells, got ", rows, "x", cols);
  PW_CHECK(cell >= 0, "pictures: labeled_heatmap cell size must be >= 0, got ", cell);
  const std::vector<std::string> row_text = names_or_numbers(row_names, rows, "rows");
  const std::vector<std::string> col_text = names_or_numbers(col_names, cols, "columns");
  std::vector<std::string> texts;
  int64_t widest_value = 0, widest_row = 0, widest_col = 0;
  for (double v : values) {
    texts.push_back(cell_value(v));
    widest_value = std::max(widest_value, text_width(texts.back()));
  }
  for (const std::string& s : row_text) widest_row = std::max(widest_row, text_width(s));
  for (const std::string& s : col_text) widest_col = std::max(widest_col, text_width(s));
  if (cell == 0) cell = std::max<int64_t>(24, widest_value + 10);
  const io::Image map = heatmap(values, rows, cols, cell);
  // Column names turn upwards, their ends at the matrix, when they would run into each other.
  const bool turned = widest_col + 4 > cell;
  const int64_t margin = 10, gap = 6, line = text_height();
  const int64_t left = margin + (row_title.empty() ? 0 : line + gap) + widest_row + gap;
  const int64_t top = margin, names_height = turned ? widest_col : line;
  io::Image out =
      io::Image::filled(3, top + map.height + gap + names_height + (col_title.empty() ? 0 : gap + line) + margin,
                        left + map.width + margin, 1.f);
  for (int64_t k = 0; k < 3; ++k)
    for (int64_t y = 0; y < map.height; ++y) std::copy_n(&map.at(k, y, 0), map.width, &out.at(k, top + y, left));
  const Rgb black{0, 0, 0}, white{1, 1, 1};
  const int64_t scale = widest_value * 2 + 8 <= cell && text_height(2) + 8 <= cell ? 2 : 1;  // big cells, big text
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      // The heat map's cells start with a 1-px white line, hence the + 1 in the centres.
      const int64_t cx = left + c * cell + (cell + 1) / 2, cy = top + r * cell + (cell + 1) / 2;
      const float luminance = 0.299f * out.at(0, cy, cx) + 0.587f * out.at(1, cy, cx) + 0.114f * out.at(2, cy, cx);
      const std::string& s = texts[r * cols + c];
      draw_text(out, cx - text_width(s, scale) / 2, cy - kCapHeight * scale / 2, s, luminance < 0.5f ? white : black,
                scale);
    }
  const Rgb ink{0.15f, 0.15f, 0.15f};
  for (int64_t r = 0; r < rows; ++r)
    draw_text(out, left - gap - text_width(row_text[r]), top + r * cell + (cell + 1) / 2 - kCapHeight / 2, row_text[r],
              ink);
  for (int64_t c = 0; c < cols; ++c) {
    const int64_t cx = left + c * cell + (cell + 1) / 2, y = top + map.height + gap;
    if (turned)
      draw_text_up(out, cx - line / 2, y, col_text[c], ink);
    else
      draw_text(out, cx - text_width(col_text[c]) / 2, y, col_text[c], ink);
  }
  if (!row_title.empty()) draw_text_up(out, margin, top + (map.height - text_width(row_title)) / 2, row_title, ink);
  if (!col_title.empty())
    draw_text(out, left + (map.width - text_width(col_title)) / 2, out.height - margin - line, col_title, ink);
  return out;
}

}  // namespace pw::tasks
