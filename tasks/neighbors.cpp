// Cosine nearest neighbours: see neighbors.h.
#include "tasks/neighbors.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/ops.h"
#include "engine/util/error.h"
#include "tasks/pictures.h"

namespace pw::tasks {

namespace {
Tensor l2_normalized(const Tensor& f) {
  Tensor out = f.contiguous().clone();
  const int64_t n = out.size(0), d = out.size(1);
  float* p = out.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t j = 0; j < d; ++j) s += (double)p[i * d + j] * p[i * d + j];
    const float inv = (float)(1.0 / std::max(std::sqrt(s), 1e-12));
    for (int64_t j = 0; j < d; ++j) p[i * d + j] *= inv;
  }
  return out;
}
}  // namespace

Neighbors nearest_neighbors(const Tensor& queries, const Tensor& base, int64_t k, const std::vector<int64_t>& exclude) {
  PW_CHECK(queries.dim() == 2 && base.dim() == 2 && queries.size(1) == base.size(1), "neighbors: features must be ",
           "[Q, D] and [N, D] with the same D, got ", shape_str(queries.shape()), " and ", shape_str(base.shape()));
  PW_CHECK(k >= 1 && k <= base.size(0), "neighbors: k = ", k, " must be in 1..", base.size(0));
  NoGradGuard ng;
  Tensor sim = matmul(l2_normalized(queries), l2_normalized(base).t()).contiguous();
  const int64_t q = sim.size(0), n = sim.size(1);
  const float* s = sim.data<float>();
  Neighbors r;
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < q; ++i) {
    std::iota(order.begin(), order.end(), 0);
    const int64_t skip = i < (int64_t)exclude.size() ? exclude[i] : -1;
    if (skip >= 0 && skip < n) order.erase(order.begin() + skip);
    const int64_t kk = std::min<int64_t>(k, (int64_t)order.size());
    std::partial_sort(order.begin(), order.begin() + kk, order.end(), [&](int64_t a, int64_t b) {
      return s[i * n + a] > s[i * n + b] || (s[i * n + a] == s[i * n + b] && a < b);
    });
    r.index.emplace_back(order.begin(), order.begin() + kk);
    std::vector<double> sims;
    for (int64_t j = 0; j < kk; ++j) sims.push_back(s[i * n + order[j]]);
    r.similarity.push_back(sims);
    order.resize(n);
  }
  return r;
}

Tensor random_patches(const Tensor& images, int64_t per, int64_t size, Generator& gen) {
  PW_CHECK(images.dim() == 4 && per >= 1, "patches: images [N, C, H, W] and a positive count are needed");
  const int64_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  PW_CHECK(size >= 1 && size <= h && size <= w, "patches: size ", size, " does not fit the ", h, "x", w, " images");
  Tensor out = Tensor::empty({n * per, c, size, size});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < per; ++j) {
      const int64_t top = gen.randint(0, h - size + 1), left = gen.randint(0, w - size + 1);
      out.select(0, i * per + j).copy_(images.select(0, i).slice(1, top, top + size).slice(2, left, left + size));
    }
  return out;
}

io::Image neighbor_grid(const Tensor& queries, const Tensor& base, const std::vector<std::vector<int64_t>>& index,
                        const std::vector<float>& mean, const std::vector<float>& std, int64_t scale,
                        const std::vector<int32_t>& query_labels, const std::vector<int32_t>& base_labels) {
  PW_CHECK((int64_t)index.size() <= queries.size(0), "neighbours: ", index.size(), " rows for ", queries.size(0),
           " queries");
  const Rgb none{-1, 0, 0}, blue{0.2f, 0.4f, 1.f}, green{0.2f, 0.8f, 0.2f}, red{0.9f, 0.2f, 0.2f};
  const bool labeled = !query_labels.empty() && !base_labels.empty();
  std::vector<io::Image> cells;
  std::vector<Rgb> frames;
  size_t cols = 1;
  for (size_t q = 0; q < index.size(); ++q) {
    cells.push_back(upscale(to_image(queries.select(0, (int64_t)q), mean, std), scale));
    frames.push_back(blue);
    for (int64_t j : index[q]) {
      cells.push_back(upscale(to_image(base.select(0, j), mean, std), scale));
      frames.push_back(!labeled ? none : base_labels[j] == query_labels[q] ? green : red);
    }
    cols = std::max(cols, index[q].size() + 1);
  }
  PW_CHECK(!cells.empty(), "neighbours: nothing to draw");
  return grid(cells, (int64_t)cols, 3, 1.f, frames);
}

}  // namespace pw::tasks
