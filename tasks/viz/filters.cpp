#include "tasks/viz/filters.h"

#include <algorithm>
#include <cmath>

#include "engine/util/error.h"
#include "tasks/features.h"
#include "tasks/pictures.h"

namespace pw::tasks::viz {

const nn::Conv2d& find_conv(const nn::Module& model, const std::string& layer, std::string* path) {
  std::string names;
  for (const auto& [p, m] : model_layers(model)) {
    auto* conv = dynamic_cast<const nn::Conv2d*>(m.get());
    if (!conv) continue;
    if (layer.empty() || p == layer || short_name(p) == layer) {
      if (path) *path = p;
      return *conv;
    }
    names += (names.empty() ? "" : ", ") + p;
  }
  PW_FAIL("no convolution named '", layer, "'; the network has: ", names);
}

io::Image filter_grid(const nn::Conv2d& conv, const FilterOptions& o) {
  const Tensor w = conv.weight.to(Device::cpu()).contiguous();
  const int64_t O = w.size(0), I = w.size(1), kh = w.size(2), kw = w.size(3);
  PW_CHECK(I == 1 || I == 3, "filters: a layer whose filters see ", I,
           " input channels cannot be shown as images (1 or 3 needed; conv1 usually qualifies)");
  std::vector<float> v = w.to_vector_f32();
  float global = 0;
  for (float x : v) global = std::max(global, std::fabs(x));
  const int64_t scale = o.scale > 0 ? o.scale : std::max<int64_t>(1, 40 / std::max(kh, kw));
  std::vector<io::Image> cells;
  for (int64_t f = 0; f < O; ++f) {
    const float* p = v.data() + f * I * kh * kw;
    float m = global;
    if (o.per_filter) {
      m = 0;
      for (int64_t i = 0; i < I * kh * kw; ++i) m = std::max(m, std::fabs(p[i]));
    }
    io::Image img = io::Image::filled(I, kh, kw, 0.5f);
    for (int64_t i = 0; i < I * kh * kw; ++i) img.pixels[i] = m > 0 ? 0.5f + p[i] / (2 * m) : 0.5f;
    cells.push_back(upscale(img, scale));
  }
  const int64_t cols = o.cols > 0 ? o.cols : (int64_t)std::ceil(std::sqrt((double)O));
  return grid(cells, cols, 2, 1.f);
}

}  // namespace pw::tasks::viz
