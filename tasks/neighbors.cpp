// Cosine nearest neighbours: see neighbors.h.
#include "tasks/neighbors.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/ops.h"

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

}  // namespace pw::tasks
