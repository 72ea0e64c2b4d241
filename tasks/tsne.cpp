// t-SNE, exact and Barnes-Hut, and the measures of a map: see tsne.h.
#include "tasks/tsne.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <memory>
#include <numeric>
#include <tuple>

#include "engine/ops.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"

namespace pw::tasks {

namespace {

Tensor as_points(const Tensor& x, const char* what) {
  PW_CHECK(x.dim() == 2, what, ": points must be [N, D], got ", shape_str(x.shape()));
  PW_CHECK(x.size(0) >= 2, what, ": at least 2 points are needed, got ", x.size(0));
  return x.to(Device::cpu()).to(DType::f32).contiguous();
}

// Squared distances of rows [r0, r1) to every row, (r1 - r0) x N, as |a|^2 + |b|^2 - 2 a.b with the
// products from the GEMM (clamped at 0: rounding can make a tiny distance negative).
std::vector<double> distance_block(const Tensor& x, const std::vector<double>& norms, int64_t r0, int64_t r1) {
  const int64_t N = x.size(0);
  const std::vector<float> g = matmul(x.slice(0, r0, r1), x.t()).to_vector_f32();
  std::vector<double> d((r1 - r0) * N);
  for (int64_t i = r0; i < r1; ++i)
    for (int64_t j = 0; j < N; ++j)
      d[(i - r0) * N + j] = i == j ? 0.0 : std::max(0.0, norms[i] + norms[j] - 2.0 * g[(i - r0) * N + j]);
  return d;
}

std::vector<double> row_norms(const Tensor& x) {
  const int64_t N = x.size(0), D = x.size(1);
  const float* p = x.data<float>();
  std::vector<double> n(N, 0.0);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t d = 0; d < D; ++d) n[i] += (double)p[i * D + d] * p[i * D + d];
  return n;
}

constexpr int64_t kBlockRows = 256;

// The joint P from conditional rows: entry (i, cols[i * per_row + m]) = rows[i * per_row + m];
// P_ij = (P_{j|i} + P_{i|j}) / 2N, as a CSR matrix with sorted columns.
Affinities symmetrize(int64_t n, int64_t per_row, const std::vector<int64_t>& cols, const std::vector<double>& rows) {
  std::vector<std::tuple<int64_t, int64_t, double>> t;
  t.reserve(2 * n * per_row);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t m = 0; m < per_row; ++m) {
      const int64_t j = cols[i * per_row + m];
      const double v = rows[i * per_row + m] / (2.0 * (double)n);
      t.emplace_back(i, j, v);
      t.emplace_back(j, i, v);
    }
  std::sort(t.begin(), t.end());
  Affinities p;
  p.n = n;
  p.row_start.assign(n + 1, 0);
  for (size_t e = 0; e < t.size(); ++e) {
    const auto [i, j, v] = t[e];
    if (!p.col.empty() && e > 0 && std::get<0>(t[e - 1]) == i && std::get<1>(t[e - 1]) == j) {
      p.val.back() += v;
      continue;
    }
    p.col.push_back(j);
    p.val.push_back(v);
    p.row_start[i + 1] = (int64_t)p.col.size();
  }
  for (int64_t i = 1; i <= n; ++i) p.row_start[i] = std::max(p.row_start[i], p.row_start[i - 1]);
  return p;
}

// A quadtree over the map for the Barnes-Hut repulsion: each node keeps its points' count and
// centre of mass; a leaf keeps its points (one, or several only at the depth limit, where
// coincident points end up).
struct QuadTree {
  struct Node {
    double cx = 0, cy = 0, hw = 0;  // the cell: [cx - hw, cx + hw] x [cy - hw, cy + hw]
    double mx = 0, my = 0;
    int64_t count = 0;
    int64_t child = -1;  // index of the first of 4 children; -1: a leaf
    std::vector<int64_t> points;
  };
  static Node cell(double cx, double cy, double hw) {
    Node n;
    n.cx = cx, n.cy = cy, n.hw = hw;
    return n;
  }
  static constexpr int kMaxDepth = 48;
  std::vector<Node> nodes;
  const std::vector<double>& y;

  explicit QuadTree(const std::vector<double>& map) : y(map) {
    const int64_t n = (int64_t)y.size() / 2;
    double x0 = DBL_MAX, x1 = -DBL_MAX, y0 = DBL_MAX, y1 = -DBL_MAX;
    for (int64_t i = 0; i < n; ++i)
      x0 = std::min(x0, y[2 * i]), x1 = std::max(x1, y[2 * i]), y0 = std::min(y0, y[2 * i + 1]),
      y1 = std::max(y1, y[2 * i + 1]);
    nodes.push_back(cell((x0 + x1) / 2, (y0 + y1) / 2, std::max(x1 - x0, y1 - y0) / 2 + 1e-5));
    nodes.reserve(4 * n);
    for (int64_t i = 0; i < n; ++i) insert(0, i, 0);
  }

  int64_t quadrant(const Node& c, int64_t i) const {
    return (y[2 * i + 1] >= c.cy ? 2 : 0) + (y[2 * i] >= c.cx ? 1 : 0);
  }

  void insert(int64_t at, int64_t i, int depth) {
    for (;;) {
      Node& c = nodes[at];
      c.mx = (c.mx * (double)c.count + y[2 * i]) / (double)(c.count + 1);
      c.my = (c.my * (double)c.count + y[2 * i + 1]) / (double)(c.count + 1);
      ++c.count;
      if (c.child < 0) {
        if (c.points.empty() || depth >= kMaxDepth) {
          c.points.push_back(i);
          return;
        }
        split(at);
      }
      at = nodes[at].child + quadrant(nodes[at], i);
      ++depth;
    }
  }

  // Makes a leaf with points an inner node and moves its points into the children.
  void split(int64_t at) {
    const Node c = nodes[at];
    nodes[at].child = (int64_t)nodes.size();
    nodes[at].points.clear();
    const double h = c.hw / 2;
    for (int q = 0; q < 4; ++q) nodes.push_back(cell(c.cx + (q & 1 ? h : -h), c.cy + (q & 2 ? h : -h), h));
    for (int64_t p : c.points) {
      Node& child = nodes[nodes[at].child + quadrant(nodes[at], p)];
      child.mx = y[2 * p], child.my = y[2 * p + 1], child.count = 1;
      child.points.push_back(p);
    }
  }

  // Adds point i's repulsion from the points under `at`: sum_q += sum_j q_ij, r += sum_j q_ij^2 (y_i - y_j)
  // with q_ij = 1 / (1 + |y_i - y_j|^2); a cell not holding i is taken whole when hw / distance < theta.
  void repel(int64_t at, int64_t i, double theta, double& sum_q, double& rx, double& ry) const {
    const Node& c = nodes[at];
    if (c.count == 0) return;
    const double xi = y[2 * i], yi = y[2 * i + 1];
    if (c.child < 0) {
      for (int64_t j : c.points) {
        if (j == i) continue;
        const double dx = xi - y[2 * j], dy = yi - y[2 * j + 1], q = 1.0 / (1.0 + dx * dx + dy * dy);
        sum_q += q, rx += q * q * dx, ry += q * q * dy;
      }
      return;
    }
    const double dx = xi - c.mx, dy = yi - c.my, d2 = dx * dx + dy * dy;
    const bool inside = std::fabs(xi - c.cx) <= c.hw && std::fabs(yi - c.cy) <= c.hw;
    if (!inside && d2 > 0 && c.hw < theta * std::sqrt(d2)) {
      const double q = 1.0 / (1.0 + d2), m = (double)c.count * q;
      sum_q += m, rx += m * q * dx, ry += m * q * dy;
      return;
    }
    for (int q = 0; q < 4; ++q) repel(c.child + q, i, theta, sum_q, rx, ry);
  }
};

int sign(double v) { return (v > 0) - (v < 0); }

}  // namespace

std::vector<double> squared_distances(const Tensor& x_in) {
  const Tensor x = as_points(x_in, "distances");
  const int64_t N = x.size(0);
  const std::vector<double> norms = row_norms(x);
  std::vector<double> d;
  d.reserve(N * N);
  for (int64_t r0 = 0; r0 < N; r0 += kBlockRows) {
    const std::vector<double> b = distance_block(x, norms, r0, std::min(N, r0 + kBlockRows));
    d.insert(d.end(), b.begin(), b.end());
  }
  return d;
}

NearestRows nearest_rows(const Tensor& x_in, int64_t k) {
  const Tensor x = as_points(x_in, "nearest rows");
  const int64_t N = x.size(0), D = x.size(1);
  PW_CHECK(k > 0 && k < N, "nearest rows: k must be in [1, ", N - 1, "], got ", k);
  const std::vector<double> norms = row_norms(x);
  const float* px = x.data<float>();
  NearestRows r;
  r.k = k;
  r.index.resize(N * k);
  r.distance2.resize(N * k);
  for (int64_t r0 = 0; r0 < N; r0 += kBlockRows) {
    const int64_t r1 = std::min(N, r0 + kBlockRows);
    const std::vector<double> b = distance_block(x, norms, r0, r1);
#pragma omp parallel for schedule(dynamic, 8)
    for (int64_t i = r0; i < r1; ++i) {
      std::vector<int64_t> order(N);
      std::iota(order.begin(), order.end(), 0);
      const double* row = b.data() + (i - r0) * N;
      auto closer = [&](int64_t a, int64_t c) { return std::tie(row[a], a) < std::tie(row[c], c); };
      order.erase(order.begin() + i);  // not itself
      std::partial_sort(order.begin(), order.begin() + k, order.end(), closer);
      for (int64_t m = 0; m < k; ++m) {
        const int64_t j = order[m];
        double d2 = 0;  // exactly, in double, for the ones kept
        for (int64_t c = 0; c < D; ++c) {
          const double t = (double)px[i * D + c] - px[j * D + c];
          d2 += t * t;
        }
        r.index[i * k + m] = j;
        r.distance2[i * k + m] = d2;
      }
    }
  }
  return r;
}

std::vector<double> conditional_affinities(const std::vector<double>& distance2, int64_t n, int64_t per_row,
                                           double perplexity) {
  PW_CHECK((int64_t)distance2.size() == n * per_row, "t-SNE: ", distance2.size(), " distances for ", n, " rows of ",
           per_row);
  PW_CHECK(perplexity > 0 && perplexity < (double)per_row + 1, "t-SNE: the perplexity must be in (0, ", per_row + 1,
           ") for ", per_row, " neighbours per point, got ", perplexity);
  const double target = std::log(perplexity);
  std::vector<double> p(n * per_row);
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t i = 0; i < n; ++i) {
    const double* d = distance2.data() + i * per_row;
    double* row = p.data() + i * per_row;
    // Entropy is unchanged by a shift of the distances; shifting by the smallest keeps exp() from
    // underflowing to an all-zero row when distances are large.
    const double d_min = *std::min_element(d, d + per_row);
    double mean = 0;
    for (int64_t m = 0; m < per_row; ++m) mean += d[m] - d_min;
    mean /= (double)per_row;
    double beta = mean > 0 ? 1.0 / mean : 1.0, lo = -DBL_MAX, hi = DBL_MAX, sum = 0;
    for (int step = 0; step < 200; ++step) {
      sum = 0;
      double weighted = 0;
      for (int64_t m = 0; m < per_row; ++m) {
        row[m] = std::exp(-beta * (d[m] - d_min));
        sum += row[m];
        weighted += (d[m] - d_min) * row[m];
      }
      const double h = std::log(sum) + beta * weighted / sum;  // sum >= 1: the nearest has weight 1
      if (std::fabs(h - target) < 1e-5) break;
      if (h > target) {
        lo = beta;
        beta = hi == DBL_MAX ? beta * 2 : (beta + hi) / 2;
      } else {
        hi = beta;
        beta = lo == -DBL_MAX ? beta / 2 : (beta + lo) / 2;
      }
    }
    for (int64_t m = 0; m < per_row; ++m) row[m] /= sum;
  }
  return p;
}

Affinities exact_affinities(const Tensor& x, double perplexity) {
  const std::vector<double> all = squared_distances(x);
  const int64_t N = x.size(0), per_row = N - 1;
  std::vector<double> d(N * per_row);
  std::vector<int64_t> cols(N * per_row);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0, m = 0; j < N; ++j)
      if (j != i) d[i * per_row + m] = all[i * N + j], cols[i * per_row + m] = j, ++m;
  return symmetrize(N, per_row, cols, conditional_affinities(d, N, per_row, perplexity));
}

Affinities sparse_affinities(const Tensor& x, double perplexity) {
  const int64_t N = x.size(0);
  const int64_t k = std::min<int64_t>(N - 1, (int64_t)(3 * perplexity));
  const NearestRows nn = nearest_rows(x, k);
  return symmetrize(N, k, nn.index, conditional_affinities(nn.distance2, N, k, perplexity));
}

double kl_divergence(const Affinities& p, const std::vector<double>& y) {
  const int64_t N = p.n;
  PW_CHECK((int64_t)y.size() == 2 * N, "t-SNE: a map of ", y.size() / 2, " points for ", N, " affinities");
  double z = 0;
#pragma omp parallel for reduction(+ : z) schedule(static)
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < N; ++j) {
      if (j == i) continue;
      const double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
      z += 1.0 / (1.0 + dx * dx + dy * dy);
    }
  double kl = 0;
  for (int64_t i = 0; i < N; ++i)
    for (int64_t e = p.row_start[i]; e < p.row_start[i + 1]; ++e) {
      const int64_t j = p.col[e];
      const double v = p.val[e];
      if (v <= 0) continue;
      const double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
      const double q = 1.0 / (1.0 + dx * dx + dy * dy) / z;
      kl += v * std::log(v / q);
    }
  return kl;
}

std::vector<double> tsne_gradient(const Affinities& p, const std::vector<double>& y, double theta,
                                  double exaggeration) {
  const int64_t N = p.n;
  PW_CHECK((int64_t)y.size() == 2 * N, "t-SNE: a map of ", y.size() / 2, " points for ", N, " affinities");
  PW_CHECK(theta >= 0, "t-SNE: theta must be >= 0, got ", theta);
  std::vector<double> attract(2 * N, 0.0), repel(2 * N, 0.0), sum_q(N, 0.0);
  const QuadTree* tree = nullptr;
  std::unique_ptr<QuadTree> owned;
  if (theta > 0) owned = std::make_unique<QuadTree>(y), tree = owned.get();
#pragma omp parallel for schedule(dynamic, 32)
  for (int64_t i = 0; i < N; ++i) {
    for (int64_t e = p.row_start[i]; e < p.row_start[i + 1]; ++e) {
      const int64_t j = p.col[e];
      const double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
      const double m = exaggeration * p.val[e] / (1.0 + dx * dx + dy * dy);
      attract[2 * i] += m * dx, attract[2 * i + 1] += m * dy;
    }
    if (tree) {
      tree->repel(0, i, theta, sum_q[i], repel[2 * i], repel[2 * i + 1]);
      continue;
    }
    for (int64_t j = 0; j < N; ++j) {
      if (j == i) continue;
      const double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1], q = 1.0 / (1.0 + dx * dx + dy * dy);
      sum_q[i] += q, repel[2 * i] += q * q * dx, repel[2 * i + 1] += q * q * dy;
    }
  }
  const double z = std::accumulate(sum_q.begin(), sum_q.end(), 0.0);
  std::vector<double> g(2 * N);
  for (int64_t c = 0; c < 2 * N; ++c) g[c] = 4.0 * (attract[c] - repel[c] / z);
  return g;
}

TsneResult tsne_optimize(const Affinities& p, bool exact, double theta, const TsneOptions& o) {
  const int64_t N = p.n;
  PW_CHECK(o.iterations >= 0, "t-SNE: iterations must be >= 0, got ", o.iterations);
  PW_CHECK(o.exaggeration > 0, "t-SNE: the exaggeration must be positive, got ", o.exaggeration);
  TsneResult r;
  r.exact = exact;
  r.learning_rate = o.learning_rate > 0 ? o.learning_rate : std::max((double)N / o.exaggeration / 4.0, 50.0);
  r.y.resize(2 * N);
  Generator gen(o.seed);
  gen.fill_normal(r.y.data(), 2 * N, 0.0, 1e-4);
  std::vector<double> u(2 * N, 0.0), gains(2 * N, 1.0);
  for (int64_t it = 0; it < o.iterations; ++it) {
    const double ex = it < o.exaggeration_iterations ? o.exaggeration : 1.0;
    const double momentum = it < o.momentum_switch ? o.momentum : o.final_momentum;
    const std::vector<double> g = tsne_gradient(p, r.y, exact ? 0.0 : theta, ex);
    for (int64_t c = 0; c < 2 * N; ++c) {
      gains[c] = sign(g[c]) != sign(u[c]) ? gains[c] + 0.2 : gains[c] * 0.8;
      gains[c] = std::max(gains[c], 0.01);
      u[c] = momentum * u[c] - r.learning_rate * gains[c] * g[c];
      r.y[c] += u[c];
    }
    double mx = 0, my = 0;
    for (int64_t i = 0; i < N; ++i) mx += r.y[2 * i], my += r.y[2 * i + 1];
    for (int64_t i = 0; i < N; ++i) r.y[2 * i] -= mx / (double)N, r.y[2 * i + 1] -= my / (double)N;
    if (o.kl_every > 0 && (it + 1) % o.kl_every == 0) r.kl_curve.emplace_back(it + 1, kl_divergence(p, r.y));
  }
  r.kl =
      !r.kl_curve.empty() && r.kl_curve.back().first == o.iterations ? r.kl_curve.back().second : kl_divergence(p, r.y);
  return r;
}

TsneResult tsne(const Tensor& x_in, const TsneOptions& o) {
  const Tensor x = as_points(x_in, "t-SNE");
  const int64_t N = x.size(0);
  PW_CHECK(o.method == "auto" || o.method == "exact" || o.method == "barnes-hut",
           "t-SNE: the method must be auto, exact or barnes-hut, not '", o.method, "'");
  PW_CHECK(o.perplexity > 0 && o.perplexity < (double)N, "t-SNE: the perplexity must be in (0, ", N, ") for ", N,
           " points, got ", o.perplexity);
  const bool exact = o.method == "exact" || (o.method == "auto" && N <= o.exact_up_to);
  PW_CHECK(exact || o.theta > 0, "t-SNE: Barnes-Hut needs theta > 0, got ", o.theta);
  const Affinities p = exact ? exact_affinities(x, o.perplexity) : sparse_affinities(x, o.perplexity);
  return tsne_optimize(p, exact, o.theta, o);
}

double trustworthiness(const Tensor& x_in, const std::vector<double>& y, int64_t k) {
  const Tensor x = as_points(x_in, "trustworthiness");
  const int64_t n = x.size(0);
  PW_CHECK((int64_t)y.size() == 2 * n, "trustworthiness: a map of ", y.size() / 2, " points for ", n, " points");
  PW_CHECK(k >= 1 && 2 * k < n, "trustworthiness: k must be in [1, n / 2) = [1, ", (n + 1) / 2, "), got ", k);
  const std::vector<double> norms = row_norms(x);
  double penalty = 0;
  for (int64_t r0 = 0; r0 < n; r0 += kBlockRows) {
    const int64_t r1 = std::min(n, r0 + kBlockRows);
    const std::vector<double> b = distance_block(x, norms, r0, r1);
#pragma omp parallel for reduction(+ : penalty) schedule(dynamic, 8)
    for (int64_t i = r0; i < r1; ++i) {
      const double* row = b.data() + (i - r0) * n;
      std::vector<int64_t> order(n);
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(),
                [&](int64_t a, int64_t c) { return std::tie(row[a], a) < std::tie(row[c], c); });
      std::vector<int64_t> rank(n, 0);  // order[0] is i itself (distance 0) unless it has a duplicate before it
      int64_t r = 0;
      for (int64_t j : order)
        if (j != i) rank[j] = ++r;
      std::vector<double> dm(n);
      for (int64_t j = 0; j < n; ++j) {
        const double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
        dm[j] = dx * dx + dy * dy;
      }
      std::vector<int64_t> map_order;
      for (int64_t j = 0; j < n; ++j)
        if (j != i) map_order.push_back(j);
      std::partial_sort(map_order.begin(), map_order.begin() + k, map_order.end(),
                        [&](int64_t a, int64_t c) { return std::tie(dm[a], a) < std::tie(dm[c], c); });
      for (int64_t m = 0; m < k; ++m)
        if (rank[map_order[m]] > k) penalty += (double)(rank[map_order[m]] - k);
    }
  }
  return 1.0 - 2.0 / ((double)n * (double)k * (2.0 * (double)n - 3.0 * (double)k - 1.0)) * penalty;
}

double neighbor_agreement(const std::vector<double>& y, const std::vector<int32_t>& labels, int64_t k) {
  const int64_t n = (int64_t)labels.size();
  PW_CHECK((int64_t)y.size() == 2 * n, "neighbour agreement: a map of ", y.size() / 2, " points for ", n, " labels");
  PW_CHECK(k >= 1 && k < n, "neighbour agreement: k must be in [1, ", n - 1, "], got ", k);
  double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(dynamic, 16)
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::pair<double, int64_t>> d;
    d.reserve(n - 1);
    for (int64_t j = 0; j < n; ++j) {
      if (j == i) continue;
      const double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
      d.emplace_back(dx * dx + dy * dy, j);
    }
    std::partial_sort(d.begin(), d.begin() + k, d.end());
    int64_t same = 0;
    for (int64_t m = 0; m < k; ++m) same += labels[d[m].second] == labels[i];
    total += (double)same / (double)k;
  }
  return total / (double)n;
}

}  // namespace pw::tasks
