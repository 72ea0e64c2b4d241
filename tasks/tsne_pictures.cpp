// Pictures of a t-SNE map: see tsne_pictures.h.
#include "tasks/tsne_pictures.h"

#include <algorithm>
#include <cfloat>

#include "engine/util/error.h"
#include "tasks/pictures.h"
#include "tasks/plots.h"
#include "tasks/text.h"

namespace pw::tasks {

namespace {

void check_map(const std::vector<double>& y, const std::vector<int32_t>& labels, const char* what) {
  PW_CHECK(!y.empty() && y.size() % 2 == 0, what, ": a map needs N * 2 coordinates, got ", y.size());
  PW_CHECK(labels.empty() || labels.size() * 2 == y.size(), what, ": ", labels.size(), " labels for ", y.size() / 2,
           " points");
}

Rgb label_color(const std::vector<int32_t>& labels, size_t i) {
  return palette_color(labels.empty() ? 0 : (size_t)std::max(0, labels[i]));
}

}  // namespace

MapFrame fit_map(const std::vector<double>& y, int64_t side, int64_t margin) {
  PW_CHECK(side > 2 * margin, "t-SNE picture: a side of ", side, " px leaves no room inside margins of ", margin);
  double x0 = DBL_MAX, x1 = -DBL_MAX, y0 = DBL_MAX, y1 = -DBL_MAX;
  for (size_t i = 0; i + 1 < y.size(); i += 2)
    x0 = std::min(x0, y[i]), x1 = std::max(x1, y[i]), y0 = std::min(y0, y[i + 1]), y1 = std::max(y1, y[i + 1]);
  MapFrame f;
  f.x0 = x0, f.y0 = y0;
  const double span = std::max({x1 - x0, y1 - y0, 1e-12});
  const double inner = (double)(side - 2 * margin - 1);
  f.scale = inner / span;
  f.offset_x = (double)margin + (inner - (x1 - x0) * f.scale) / 2;
  f.offset_y = (double)margin + (inner - (y1 - y0) * f.scale) / 2;
  return f;
}

io::Image tsne_scatter(const std::vector<double>& y, const std::vector<int32_t>& labels,
                       const std::vector<std::string>& class_names, const std::string& title, int64_t side) {
  check_map(y, labels, "t-SNE scatter");
  const bool legend = !labels.empty() && !class_names.empty();
  int64_t legend_w = 0;
  for (const std::string& n : class_names) legend_w = std::max(legend_w, text_width(n) + 36);
  if (!legend) legend_w = 0;
  const int64_t top = text_height() + 16;
  io::Image img = io::Image::filled(3, side + top, side + legend_w, 1.f);
  draw_text(img, 12, 8, title, {0.1f, 0.1f, 0.1f});
  const MapFrame f = fit_map(y, side, 12);
  for (size_t i = 0; i < y.size() / 2; ++i) {
    const int64_t cx = (int64_t)f.px(y[2 * i]), cy = top + (int64_t)f.py(y[2 * i + 1]);
    for (int64_t dy = -2; dy <= 2; ++dy)
      for (int64_t dx = -2; dx <= 2; ++dx)
        if (dx * dx + dy * dy <= 5) blend_pixel(img, cx + dx, cy + dy, label_color(labels, i), 0.75f);
  }
  if (!legend) return img;
  for (size_t c = 0; c < class_names.size(); ++c) {
    const int64_t row = top + 12 + (int64_t)c * (text_height() + 10);
    fill_rect(img, side + 8, row, 12, text_height(), palette_color(c));
    draw_text(img, side + 26, row, class_names[c], {0.1f, 0.1f, 0.1f});
  }
  return img;
}

io::Image tsne_thumbnails(const std::vector<double>& y, const Tensor& images, const std::vector<float>& mean,
                          const std::vector<float>& std, const std::vector<int32_t>& labels, int64_t count,
                          int64_t side) {
  check_map(y, labels, "t-SNE thumbnails");
  PW_CHECK(images.dim() == 4 && images.size(0) * 2 == (int64_t)y.size(), "t-SNE thumbnails: images ",
           shape_str(images.shape()), " for ", y.size() / 2, " points");
  const int64_t n = std::min<int64_t>(count, images.size(0)), h = images.size(2), w = images.size(3);
  io::Image img = io::Image::filled(3, side, side, 1.f);
  const MapFrame f = fit_map(y, side, std::max(h, w) / 2 + 2);
  for (int64_t i = 0; i < n; ++i) {
    const io::Image t = to_image(images.select(0, i), mean, std);
    const int64_t x0 = (int64_t)f.px(y[2 * i]) - w / 2, y0 = (int64_t)f.py(y[2 * i + 1]) - h / 2;
    const Rgb frame = label_color(labels, (size_t)i);
    for (int64_t r = -1; r <= h; ++r)
      for (int64_t c = -1; c <= w; ++c) {
        const bool edge = r < 0 || c < 0 || r == h || c == w;
        Rgb v = frame;
        if (!edge)
          for (int64_t ch = 0; ch < 3; ++ch) v[ch] = t.at(std::min<int64_t>(ch, t.channels - 1), r, c);
        if (!edge || !labels.empty()) blend_pixel(img, x0 + c, y0 + r, v);
      }
  }
  return img;
}

}  // namespace pw::tasks
