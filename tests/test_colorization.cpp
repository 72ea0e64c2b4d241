// Colorization (Zhang, Isola, Efros 2016): Lab against published values and round trips, the
// in-gamut bin set, soft encoding, rebalancing weights and annealed-mean decoding against cases
// computed by hand, the loss's gradient in f64, the crops and targets, and the network.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "models/registry.h"
#include "tasks/colorization_task.h"
#include "tasks/features.h"
#include "tasks/pretext/colorization.h"
#include "tests/support/gradcheck.h"

using namespace pw;
using namespace pw::tasks;

namespace {

int64_t bin_at(const AbBins& bins, double a, double b) {
  for (int64_t q = 0; q < bins.size(); ++q)
    if (bins.a[q] == a && bins.b[q] == b) return q;
  return -1;
}

}  // namespace

TEST(Lab, KnownColoursAndRoundTrip) {
  // Reference values of sRGB (D65) colours in CIE Lab, as skimage.color.rgb2lab gives them.
  const struct {
    Rgb3 rgb;
    Lab lab;
  } known[] = {{{1, 1, 1}, {100, 0, 0}},
               {{0, 0, 0}, {0, 0, 0}},
               {{1, 0, 0}, {53.241, 80.092, 67.203}},
               {{0, 1, 0}, {87.735, -86.183, 83.179}},
               {{0, 0, 1}, {32.297, 79.188, -107.860}},
               {{0.5, 0.5, 0.5}, {53.389, 0, 0}}};
  for (const auto& k : known) {
    const Lab lab = srgb_to_lab(k.rgb);
    EXPECT_NEAR(lab.L, k.lab.L, 0.01) << k.rgb.r << " " << k.rgb.g << " " << k.rgb.b;
    EXPECT_NEAR(lab.a, k.lab.a, 0.01);
    EXPECT_NEAR(lab.b, k.lab.b, 0.01);
  }
  Generator gen(3);
  for (int i = 0; i < 1000; ++i) {
    const Rgb3 c{gen.uniform(), gen.uniform(), gen.uniform()};
    const Rgb3 back = lab_to_srgb(srgb_to_lab(c));
    EXPECT_NEAR(back.r, c.r, 2e-6);  // the two matrices are each rounded to 7 digits
    EXPECT_NEAR(back.g, c.g, 2e-6);
    EXPECT_NEAR(back.b, c.b, 2e-6);
  }
}

TEST(AbBins, TheInGamutBinsOfGridTen) {
  const AbBins& bins = ab_bins();
  // Zhang et al. report 313 (pts_in_hull); the sRGB gamut reaches 262 squares of the grid, over
  // the same extremes (colorization.h says why they differ).
  EXPECT_EQ(bins.size(), 262);
  for (int64_t q = 0; q < bins.size(); ++q) {
    EXPECT_EQ(std::fmod(bins.a[q], 10.0), 0.0);
    EXPECT_EQ(std::fmod(bins.b[q], 10.0), 0.0);
    if (q == 0) continue;
    EXPECT_TRUE(bins.a[q - 1] < bins.a[q] || (bins.a[q - 1] == bins.a[q] && bins.b[q - 1] < bins.b[q]));
  }
  // The extremes of the sRGB gamut fall in the outermost bins: green a = -86.2, magenta
  // (1, 0, 1) a = 98.2, blue b = -107.9, yellow (1, 1, 0) b = 94.5.
  double amin = 1e9, amax = -1e9, bmin = 1e9, bmax = -1e9;
  for (int64_t q = 0; q < bins.size(); ++q) {
    amin = std::min(amin, bins.a[q]), amax = std::max(amax, bins.a[q]);
    bmin = std::min(bmin, bins.b[q]), bmax = std::max(bmax, bins.b[q]);
  }
  EXPECT_EQ(amin, -90);
  EXPECT_EQ(amax, 100);
  EXPECT_EQ(bmin, -110);
  EXPECT_EQ(bmax, 90);
  EXPECT_GE(bin_at(bins, 0, 0), 0);
  EXPECT_EQ(bin_at(bins, 100, 90), -1);  // a saturated magenta-yellow no sRGB colour reaches
  // Sampling the cube's faces twice as finely finds no other bin.
  const AbBins finer = compute_ab_bins(10, 1024);
  EXPECT_EQ(finer.a, bins.a);
  EXPECT_EQ(finer.b, bins.b);
}

TEST(AbBins, SoftEncodingSumsToOneAndPeaksAtTheNearestBin) {
  const AbBins& bins = ab_bins();
  std::vector<float> z(bins.size());
  // At a bin's centre with four neighbours at distance 10: weights 1 and e^-2 (sigma 5), normalized.
  const int64_t centre = soft_encode(bins, 0, 0, z.data());
  EXPECT_EQ(centre, bin_at(bins, 0, 0));
  const double norm = 1 + 4 * std::exp(-2.0);
  EXPECT_NEAR(z[centre], 1 / norm, 1e-6);
  for (auto [a, b] : {std::pair{10, 0}, {-10, 0}, {0, 10}, {0, -10}})
    EXPECT_NEAR(z[bin_at(bins, a, b)], std::exp(-2.0) / norm, 1e-6);
  Generator gen(5);
  for (int i = 0; i < 200; ++i) {
    const Lab lab = srgb_to_lab({gen.uniform(), gen.uniform(), gen.uniform()});
    const int64_t mode = soft_encode(bins, lab.a, lab.b, z.data());
    double total = 0;
    int64_t nonzero = 0, peak = 0;
    for (int64_t q = 0; q < bins.size(); ++q) {
      total += z[q];
      nonzero += z[q] > 0;
      if (z[q] > z[peak]) peak = q;
    }
    EXPECT_NEAR(total, 1.0, 1e-6);
    EXPECT_EQ(nonzero, kSoftNeighbours);
    EXPECT_EQ(mode, nearest_bin(bins, lab.a, lab.b));
    EXPECT_EQ(z[peak], z[mode]);
  }
}

TEST(AbBins, SmoothingAndRebalancingWeightsByHand) {
  const AbBins& bins = ab_bins();
  // All mass in bin (0, 0), spread by a Gaussian of sigma 5 over bins 10 apart: e^-2 at distance
  // 10, e^-4 at sqrt(200), relative to the bin itself; the total stays 1.
  std::vector<double> counts(bins.size(), 0.0);
  counts[bin_at(bins, 0, 0)] = 7;
  const std::vector<double> p = smooth_distribution(bins, counts);
  double total = 0;
  for (double v : p) total += v;
  EXPECT_NEAR(total, 1.0, 1e-12);
  EXPECT_NEAR(p[bin_at(bins, 10, 0)] / p[bin_at(bins, 0, 0)], std::exp(-2.0), 1e-12);
  EXPECT_NEAR(p[bin_at(bins, 10, 10)] / p[bin_at(bins, 0, 0)], std::exp(-4.0), 1e-12);
  // w ~ 1 / (0.5 p + 0.5 / Q): p = (1/2, 1/2, 0, 0) gives 1/(3/8), 1/(3/8), 8, 8; scaled so that
  // E_p[w] = 1: (1, 1, 3, 3).
  // Built element by element: written as an initializer list ({0.5, 0.5, 0.0, 0.0}, named or inline),
  // this test built by GCC 12 at -O3 -march=native passed four halves (measured twice; a small
  // program with the same call and flags did not; not understood).
  std::vector<double> half_half(4, 0.0);
  half_half[0] = half_half[1] = 0.5;
  const std::vector<double> w = rebalancing_weights(half_half, 0.5);
  ASSERT_EQ(w.size(), 4u);
  EXPECT_NEAR(w[0], 1, 1e-12);
  EXPECT_NEAR(w[1], 1, 1e-12);
  EXPECT_NEAR(w[2], 3, 1e-12);
  EXPECT_NEAR(w[3], 3, 1e-12);
  for (double v : rebalancing_weights(std::vector<double>(262, 1.0 / 262))) EXPECT_NEAR(v, 1, 1e-12);
  // Any distribution: E_p[w] = 1, and rarer bins weigh more.
  const std::vector<double> wp = rebalancing_weights(p);
  double expectation = 0;
  for (size_t q = 0; q < p.size(); ++q) expectation += p[q] * wp[q];
  EXPECT_NEAR(expectation, 1, 1e-12);
  EXPECT_GT(wp[bin_at(bins, 10, 0)], wp[bin_at(bins, 0, 0)]);
}

TEST(AbBins, AnnealedMeanIsTheMeanAtOneAndTheModeNearZero) {
  const AbBins& bins = ab_bins();
  std::vector<float> logits(bins.size());
  Generator gen(9);
  for (float& v : logits) v = 2 * gen.normal();
  const int64_t mode = std::max_element(logits.begin(), logits.end()) - logits.begin();
  double total = 0, ma = 0, mb = 0;
  for (int64_t q = 0; q < bins.size(); ++q) {
    const double e = std::exp((double)logits[q]);
    total += e, ma += e * bins.a[q], mb += e * bins.b[q];
  }
  double a = 0, b = 0;
  annealed_mean(bins, logits.data(), 1, 1.0, a, b);
  EXPECT_NEAR(a, ma / total, 1e-9);
  EXPECT_NEAR(b, mb / total, 1e-9);
  annealed_mean(bins, logits.data(), 1, 1e-3, a, b);
  EXPECT_NEAR(a, bins.a[mode], 1e-6);
  EXPECT_NEAR(b, bins.b[mode], 1e-6);
  // Strided: the same logits as the second of two interleaved locations.
  std::vector<float> two(2 * bins.size(), 0.0f);
  for (int64_t q = 0; q < bins.size(); ++q) two[2 * q + 1] = logits[q];
  double a2 = 0, b2 = 0;
  annealed_mean(bins, two.data() + 1, 2, 1e-3, a2, b2);
  EXPECT_EQ(a2, a);
  EXPECT_EQ(b2, b);
  EXPECT_THROW(annealed_mean(bins, logits.data(), 1, 0.0, a, b), Error);
}

TEST(ColorizationLoss, ValueByHandAndGradientInF64) {
  // Uniform logits over 4 bins, one cell whose target has weight 2 on one bin: 2 log 4.
  Tensor logits = Tensor::zeros({1, 4, 1, 1});
  Tensor target = Tensor::from_vector(std::vector<float>{0, 2, 0, 0}, {1, 4, 1, 1});
  EXPECT_NEAR(colorization_loss(logits, target).item(), 2 * std::log(4.0), 1e-6);
  Tensor x = pw::testing::random_input({2, 5, 2, 3}, 21, -2, 2);
  Tensor t = pw::testing::random_input({2, 5, 2, 3}, 22, 0, 1.5, false);
  EXPECT_TRUE(pw::testing::gradcheck([&](const std::vector<Tensor>& v) { return colorization_loss(v[0], t); }, {x}));
  EXPECT_THROW(colorization_loss(x, Tensor::zeros({2, 5, 3, 2}, DType::f64)), Error);
}

TEST(ColorizationTask, CropsKeepTheirColoursAndTargetsWeighTheMode) {
  // Two 6x6 images of random colours, normalized by a made-up mean and std.
  const std::vector<float> mean{0.4f, 0.5f, 0.3f}, std{0.2f, 0.25f, 0.3f};
  Generator gen(4);
  Tensor raw = Tensor::empty({2, 3, 6, 6});
  gen.fill_uniform(raw.data<float>(), raw.numel(), 0, 1);
  Tensor images = Tensor::empty({2, 3, 6, 6});
  for (int64_t i = 0; i < raw.numel(); ++i) {
    const int64_t c = (i / 36) % 3;
    images.data<float>()[i] = (raw.data<float>()[i] - mean[c]) / std[c];
  }
  Tensor x, ab;
  make_colorization_crops(images, mean, std, 4, {0, 2}, {1, 2}, x, ab);
  ASSERT_EQ(x.shape(), (Shape{2, 1, 4, 4}));
  ASSERT_EQ(ab.shape(), (Shape{2, 2, 4, 4}));
  // Pixel (1, 2) of crop 1 is pixel (3, 4) of image 1, in Lab.
  const float* r = raw.data<float>() + 108;
  const Lab want = srgb_to_lab({r[3 * 6 + 4], r[36 + 3 * 6 + 4], r[72 + 3 * 6 + 4]});
  EXPECT_NEAR(x.data<float>()[16 + 1 * 4 + 2] * kLabLScale + kLabLCenter, want.L, 1e-3);
  EXPECT_NEAR(ab.data<float>()[32 + 1 * 4 + 2], want.a, 1e-3);
  EXPECT_NEAR(ab.data<float>()[48 + 1 * 4 + 2], want.b, 1e-3);
  EXPECT_THROW(make_colorization_crops(images, mean, std, 4, {3, 0}, {0, 0}, x, ab), Error);
  // A crop of one colour: every cell's target is the soft encoding times the mode's weight.
  const AbBins& bins = ab_bins();
  std::vector<double> weights(bins.size());
  for (int64_t q = 0; q < bins.size(); ++q) weights[q] = 1 + 0.01 * (double)q;
  Tensor flat = Tensor::empty({1, 2, 4, 4});
  for (int64_t k = 0; k < 16; ++k) flat.data<float>()[k] = 23, flat.data<float>()[16 + k] = -31;
  std::vector<int32_t> modes;
  const Tensor t = colorization_targets(flat, 2, 2, weights, &modes);
  ASSERT_EQ(t.shape(), (Shape{1, bins.size(), 2, 2}));
  const int64_t mode = nearest_bin(bins, 23, -31);
  EXPECT_EQ(modes, std::vector<int32_t>(4, (int32_t)mode));
  double total = 0;
  for (int64_t q = 0; q < bins.size(); ++q) total += t.data<float>()[q * 4 + 3];
  EXPECT_NEAR(total, weights[mode], 1e-5);
}

TEST(ColorizationTask, DecodingGivesTheModeOfConfidentLogits) {
  const AbBins& bins = ab_bins();
  Tensor logits = Tensor::zeros({1, bins.size(), 1, 2});
  const int64_t q1 = bin_at(bins, 20, -40), q2 = bin_at(bins, -50, 10);
  logits.data<float>()[q1 * 2] = 60;
  logits.data<float>()[q2 * 2 + 1] = 60;
  const Tensor ab = decode_ab(logits, kAnnealedMeanT);
  EXPECT_NEAR(ab.data<float>()[0], 20, 1e-3);
  EXPECT_NEAR(ab.data<float>()[2], -40, 1e-3);
  EXPECT_NEAR(ab.data<float>()[1], -50, 1e-3);
  EXPECT_NEAR(ab.data<float>()[3], 10, 1e-3);
}

TEST(ColorizationModel, LChannelInBinsPerCellOutTrunkProbed) {
  models::ModelConfig cfg;
  cfg.in_channels = 1;
  cfg.width = 0.25;
  auto net = models::create("colorization-small", cfg);
  Generator gen(1);
  const Tensor out = (*net)(Tensor::randn({2, 1, 32, 32}, DType::f32, &gen));
  // The registry's default head is the count the task computes; a quarter of the input, as Zhang et al.
  EXPECT_EQ(out.shape(), (Shape{2, ab_bins().size(), 8, 8}));
  std::vector<std::string> names;
  for (const ProbePoint& p : probe_points(*net)) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"features.conv1", "features.conv2", "features.conv3", "features.conv4",
                                             "features.conv5"}));
  // Gray 28-px images (Fashion-MNIST) run through the trunk as they are.
  EXPECT_EQ(forward_to(*net, "features.relu5", Tensor::zeros({1, 1, 28, 28})).shape(), (Shape{1, 16, 7, 7}));
  cfg.in_channels = 3;
  pw::testing::expect_error([&] { models::create("colorization-small", cfg); }, "1 input channel");
}
