// t-SNE: the gradient against central differences of the KL divergence, Barnes-Hut against the
// exact gradient and the exact map on 500 points, the perplexity calibration, the nearest rows,
// and trustworthiness and neighbour agreement against hand computations.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "tasks/plots.h"
#include "tasks/tsne.h"
#include "tasks/tsne_pictures.h"

using namespace pw;
using namespace pw::tasks;

namespace {

Tensor random_points(int64_t n, int64_t d, uint64_t seed) {
  Generator gen(seed);
  std::vector<float> v(n * d);
  gen.fill_normal(v.data(), n * d, 0.f, 1.f);
  return Tensor::from_vector(v, {n, d});
}

// `clusters` Gaussian clusters of `per` points in d dimensions (centres 6 apart on average).
Tensor clustered_points(int64_t clusters, int64_t per, int64_t d, uint64_t seed) {
  Generator gen(seed);
  std::vector<float> centres(clusters * d), v(clusters * per * d);
  gen.fill_normal(centres.data(), clusters * d, 0.f, 3.f);
  gen.fill_normal(v.data(), clusters * per * d, 0.f, 1.f);
  for (int64_t i = 0; i < clusters * per; ++i)
    for (int64_t c = 0; c < d; ++c) v[i * d + c] += centres[(i / per) * d + c];
  return Tensor::from_vector(v, {clusters * per, d});
}

std::vector<double> random_map(int64_t n, uint64_t seed, double scale) {
  Generator gen(seed);
  std::vector<double> y(2 * n);
  gen.fill_normal(y.data(), 2 * n, 0.0, scale);
  return y;
}

double entropy(const double* row, int64_t n) {
  double h = 0;
  for (int64_t m = 0; m < n; ++m)
    if (row[m] > 0) h -= row[m] * std::log(row[m]);
  return h;
}

}  // namespace

TEST(Tsne, GradientMatchesCentralDifferences) {
  const Affinities p = exact_affinities(random_points(12, 5, 1), 4);
  const std::vector<double> y = random_map(12, 2, 1.0);
  const std::vector<double> g = tsne_gradient(p, y, 0);
  const double eps = 1e-6;
  for (size_t c = 0; c < y.size(); ++c) {
    std::vector<double> plus = y, minus = y;
    plus[c] += eps, minus[c] -= eps;
    const double fd = (kl_divergence(p, plus) - kl_divergence(p, minus)) / (2 * eps);
    EXPECT_NEAR(g[c], fd, 1e-6 * std::max(1.0, std::fabs(fd))) << "coordinate " << c;
  }
}

TEST(Tsne, BarnesHutGradientApproachesTheExactOne) {
  const Affinities p = sparse_affinities(random_points(300, 6, 3), 30);
  const std::vector<double> y = random_map(300, 4, 5.0);
  const std::vector<double> exact = tsne_gradient(p, y, 0);
  // Theta near 0 opens every cell down to its points: the same sums in another order.
  const std::vector<double> opened = tsne_gradient(p, y, 1e-9);
  for (size_t c = 0; c < y.size(); ++c) EXPECT_NEAR(opened[c], exact[c], 1e-12 + 1e-9 * std::fabs(exact[c])) << c;
  // The repulsion alone (P = 0: in the whole gradient attraction and repulsion cancel, and inside a
  // random blob so do the repulsions from all sides): its relative L2 error falls with theta. Measured
  // on this map: 0.0014 at theta 0.1, 0.0089 at 0.2, 0.093 at 0.5 (bhtsne's criterion, half-width /
  // distance < theta, is twice as loose as a full-width one).
  Affinities none = p;
  std::fill(none.val.begin(), none.val.end(), 0.0);
  const std::vector<double> rep = tsne_gradient(none, y, 0);
  auto error = [&](double theta) {
    const std::vector<double> bh = tsne_gradient(none, y, theta);
    double diff = 0, norm = 0;
    for (size_t c = 0; c < y.size(); ++c) diff += (bh[c] - rep[c]) * (bh[c] - rep[c]), norm += rep[c] * rep[c];
    return std::sqrt(diff / norm);
  };
  const double e1 = error(0.1), e2 = error(0.2), e5 = error(0.5);
  EXPECT_LT(e1, 0.002);
  EXPECT_LT(e1, e2);
  EXPECT_LT(e2, e5);
  EXPECT_LT(e5, 0.12);
  // Coincident points end in one leaf at the depth limit instead of splitting forever.
  std::vector<double> same(600, 0.25);
  same[0] = 3;
  const std::vector<double> g = tsne_gradient(p, same, 0.5);
  for (double v : g) EXPECT_TRUE(std::isfinite(v));
}

TEST(Tsne, AffinitiesHaveThePerplexityAndSumToOne) {
  const Tensor x = clustered_points(3, 40, 8, 5);
  const NearestRows nn = nearest_rows(x, 90);
  const std::vector<double> rows = conditional_affinities(nn.distance2, 120, 90, 30);
  for (int64_t i = 0; i < 120; ++i) EXPECT_NEAR(entropy(rows.data() + i * 90, 90), std::log(30.0), 1e-5) << i;
  for (const Affinities& p : {exact_affinities(x, 30), sparse_affinities(x, 30)}) {
    double total = 0;
    for (int64_t i = 0; i < p.n; ++i)
      for (int64_t e = p.row_start[i]; e < p.row_start[i + 1]; ++e) {
        total += p.val[e];
        const int64_t j = p.col[e];
        ASSERT_NE(j, i);
        // symmetric: (j, i) holds the same value
        const auto first = p.col.begin() + p.row_start[j], last = p.col.begin() + p.row_start[j + 1];
        const auto at = std::lower_bound(first, last, i);
        ASSERT_TRUE(at != last && *at == i) << i << " " << j;
        EXPECT_DOUBLE_EQ(p.val[at - p.col.begin()], p.val[e]);
      }
    EXPECT_NEAR(total, 1.0, 1e-12);
  }
  EXPECT_THROW(conditional_affinities(nn.distance2, 120, 90, 95), Error);
}

TEST(Tsne, NearestRowsAreTheNearest) {
  const Tensor x = random_points(70, 9, 6);
  const std::vector<double> all = squared_distances(x);
  const NearestRows nn = nearest_rows(x, 5);
  for (int64_t i = 0; i < 70; ++i) {
    std::vector<int64_t> order;
    for (int64_t j = 0; j < 70; ++j)
      if (j != i) order.push_back(j);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return all[i * 70 + a] < all[i * 70 + b]; });
    for (int64_t m = 0; m < 5; ++m) {
      EXPECT_EQ(nn.index[i * 5 + m], order[m]) << i;
      EXPECT_NEAR(nn.distance2[i * 5 + m], all[i * 70 + order[m]], 1e-4 * all[i * 70 + order[m]]);
    }
  }
}

// The stated bound: on 500 points in 5 clusters, the Barnes-Hut map (theta 0.5, sparse P) reaches
// a KL divergence, measured with the exact P, within 0.05 of the exact map's.
TEST(Tsne, BarnesHutIsWithinAStatedKlOfExactOn500Points) {
  const Tensor x = clustered_points(5, 100, 20, 7);
  TsneOptions o;
  o.kl_every = 0;
  o.method = "exact";
  const TsneResult exact = tsne(x, o);
  o.method = "barnes-hut";
  const TsneResult bh = tsne(x, o);
  EXPECT_TRUE(exact.exact);
  EXPECT_FALSE(bh.exact);
  const Affinities p = exact_affinities(x, 30);
  const double kl_exact = kl_divergence(p, exact.y), kl_bh = kl_divergence(p, bh.y);
  EXPECT_NEAR(kl_exact, exact.kl, 1e-9);
  EXPECT_LT(kl_bh, kl_exact + 0.05) << "exact " << kl_exact << ", Barnes-Hut " << kl_bh;
  std::printf("KL with the exact P: exact map %.4f, Barnes-Hut map %.4f\n", kl_exact, kl_bh);
  // Both maps keep the clusters apart.
  std::vector<int32_t> labels(500);
  for (int64_t i = 0; i < 500; ++i) labels[i] = (int32_t)(i / 100);
  EXPECT_GT(neighbor_agreement(exact.y, labels, 10), 0.95);
  EXPECT_GT(neighbor_agreement(bh.y, labels, 10), 0.95);
}

TEST(Tsne, TrustworthinessEqualsAHandComputation) {
  // Input: six points on a line at 0, 1, 3, 7, 10, 15. Map: the same, but points 1 and 2 at 3 and 1.
  const Tensor x = Tensor::from_vector(std::vector<float>{0, 1, 3, 7, 10, 15}, {6, 1});
  const std::vector<double> y{0, 0, 3, 0, 1, 0, 6, 0, 10, 0, 15, 0};
  // k = 1. Map neighbours: 0->2, 1->2, 2->0, 3->1, 4->3, 5->4. Input ranks of those: r(0,2) = 2,
  // r(1,2) = 2, r(2,0) = 2 (1 is nearer), r(3,1) = 3 (4 at 3 and 2 at 4 are nearer), r(4,3) = 1,
  // r(5,4) = 1. Penalty (2-1) + (2-1) + (2-1) + (3-1) = 5; T = 1 - 2 / (6 * 1 * (12 - 3 - 1)) * 5.
  EXPECT_NEAR(trustworthiness(x, y, 1), 1.0 - 10.0 / 48.0, 1e-12);
  // The identity map has no intrusions.
  const std::vector<double> same{0, 0, 1, 0, 3, 0, 7, 0, 10, 0, 15, 0};
  EXPECT_DOUBLE_EQ(trustworthiness(x, same, 2), 1.0);
  EXPECT_THROW(trustworthiness(x, y, 3), Error);  // k must be below n / 2
  EXPECT_THROW(trustworthiness(x, std::vector<double>(4), 1), Error);
}

TEST(Tsne, NeighborAgreementEqualsAHandComputation) {
  const std::vector<double> y{0, 0, 1, 0, 10, 0, 11, 0, 30, 0};
  const std::vector<int32_t> labels{0, 0, 1, 1, 0};
  // k = 1: 0->1 same, 1->0 same, 2->3 same, 3->2 same, 4->3 not: 4/5.
  EXPECT_DOUBLE_EQ(neighbor_agreement(y, labels, 1), 0.8);
  // k = 2: 0: {1, 2} 1/2; 1: {0, 2} 1/2; 2: {3, 1} 1/2; 3: {2, 1} 1/2; 4: {3, 2} 0.
  EXPECT_DOUBLE_EQ(neighbor_agreement(y, labels, 2), 0.4);
}

TEST(Tsne, OptionsAreChecked) {
  const Tensor x = random_points(20, 3, 8);
  TsneOptions o;
  o.iterations = 5;
  EXPECT_THROW(tsne(x, o), Error);  // perplexity 30 needs more than 30 points
  o.perplexity = 5;
  o.method = "fast";
  EXPECT_THROW(tsne(x, o), Error);
  o.method = "auto";
  const TsneResult r = tsne(x, o);
  EXPECT_TRUE(r.exact);
  EXPECT_EQ(r.y.size(), 40u);
  EXPECT_DOUBLE_EQ(r.learning_rate, 50);  // auto: max(20 / 12 / 4, 50)
  EXPECT_THROW(tsne(Tensor::zeros({1, 3}), o), Error);
}

TEST(Tsne, PicturesPlaceThePoints) {
  const std::vector<double> y{0, 0, 10, 5};
  const MapFrame f = fit_map(y, 100, 12);  // 75 px for a span of 10, the short axis centred
  EXPECT_DOUBLE_EQ(f.px(0), 12);
  EXPECT_DOUBLE_EQ(f.px(10), 87);
  EXPECT_DOUBLE_EQ(f.py(0), 12 + 37.5 / 2);
  EXPECT_DOUBLE_EQ(f.py(5), 12 + 37.5 / 2 + 37.5);
  const io::Image scatter = tsne_scatter(y, {0, 1}, {"zero", "one"}, "title", 100);
  EXPECT_EQ(scatter.height, 100 + text_height() + 16);
  EXPECT_GT(scatter.width, 100);  // the legend
  const int64_t top = text_height() + 16;
  const Rgb second = palette_color(1);
  for (int64_t c = 0; c < 3; ++c)  // the dot of point 1, in its class colour (alpha 0.75 over white)
    EXPECT_NEAR(scatter.at(c, top + (int64_t)f.py(5), (int64_t)f.px(10)), 0.25f + 0.75f * second[c], 1e-5);
  EXPECT_THROW(tsne_scatter(y, {0}, {"zero"}, "", 100), Error);
  // Thumbnails: image 0 white, image 1 black, drawn at their points.
  std::vector<float> pixels(2 * 16, 1.f);
  std::fill(pixels.begin() + 16, pixels.end(), 0.f);
  const Tensor images = Tensor::from_vector(pixels, {2, 1, 4, 4});
  const io::Image thumbs = tsne_thumbnails(y, images, {0.f}, {1.f}, {}, 2, 100);
  const MapFrame g = fit_map(y, 100, 4);
  EXPECT_FLOAT_EQ(thumbs.at(0, (int64_t)g.py(5), (int64_t)g.px(10)), 0.f);
  EXPECT_FLOAT_EQ(thumbs.at(0, 50, 50), 1.f);
  EXPECT_THROW(tsne_thumbnails(y, images.slice(0, 0, 1), {0.f}, {1.f}, {}, 2, 100), Error);
}
