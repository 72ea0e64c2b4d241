// Tests for the f32 fast paths of the CPU kernels that share training time with the GEMMs,
// each against the reference (the f64 instantiation, or a naive loop) on awkward sizes:
//   - max_pool2d_forward: the branch-free paths for whole-inside 2x2 / 3x3 windows (and the
//     8-wide one for 2x2 stride 2) give exactly the reference's values and indices, with ties,
//     NaNs and infinities, at borders (padding, ceil mode) and in configurations the fast paths
//     do not take;
//   - batch_norm_stats / batch_norm_backward: float lanes per plane merged in double, accurate
//     also for a mean far from zero, on both sides of the plane size where the fast path starts,
//     and identical for every thread count;
//   - conv2d_backward_bias, im2col and col2im against naive loops (inside and outside a
//     parallel region, with and without im2col's shifted-plane copy), NaN-poisoned outputs.
#include <omp.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/conv.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/pool.h"
#include "tests/support/gradcheck.h"
#include "tests/support/reference_vectors.h"

using namespace pw;
namespace cpu = pw::kernels::cpu;
using pw::testing::widen;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> uniform(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// |a - b| / max(|b|, floor) over elements, the worst one.
double worst_rel(const std::vector<float>& a, const std::vector<double>& b, double floor = 1.0) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(double(a[i]) - b[i]) / std::max(std::abs(b[i]), floor));
  return worst;
}

// Runs fn with `threads` OpenMP threads, restoring the previous count.
template <typename Fn>
void with_threads(int threads, Fn fn) {
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  fn();
  omp_set_num_threads(before);
}

struct PoolCase {
  const char* name;
  int64_t planes, H, W, kh, kw, sh, sw, ph, pw, dh, dw;
  bool ceil;
};

}  // namespace

// ---------------------------------------------------------------- max pooling

TEST(MaxPoolFastPath, IdenticalToReferenceWithTiesNaNsAndBorders) {
  // clang-format off
  const std::vector<PoolCase> cases = {
      // name, planes, H, W, kh, kw, sh, sw, ph, pw, dh, dw, ceil
      // 2x2 stride 2 rows of at least 8 outputs go 8 at a time (the last group overlapping).
      {"2x2 s2 (the model's)", 5, 28, 28, 2, 2, 2, 2, 0, 0, 1, 1, false},
      {"2x2 s2, rows of exactly 8", 3, 6, 16, 2, 2, 2, 2, 0, 0, 1, 1, false},
      {"2x2 s2, rows of 16 and 17", 2, 9, 34, 2, 2, 2, 2, 0, 0, 1, 1, false},
      {"2x2 s2, 18 inside between padded borders, ceil", 3, 21, 37, 2, 2, 2, 2, 1, 1, 1, 1, true},
      {"2x2 s2, odd input width", 2, 5, 35, 2, 2, 2, 2, 0, 0, 1, 1, false},
      {"2x2 s2 odd sizes", 7, 13, 11, 2, 2, 2, 2, 0, 0, 1, 1, false},
      {"2x2 s2 ceil (partial last windows)", 3, 13, 11, 2, 2, 2, 2, 0, 0, 1, 1, true},
      {"2x2 s2 pad 1", 3, 9, 10, 2, 2, 2, 2, 1, 1, 1, 1, false},
      {"2x2 s1", 4, 7, 9, 2, 2, 1, 1, 0, 0, 1, 1, false},
      {"2x2 s3", 2, 14, 17, 2, 2, 3, 3, 0, 0, 1, 1, true},
      {"3x3 s2 (AlexNet's)", 3, 27, 27, 3, 3, 2, 2, 0, 0, 1, 1, false},
      // 3x3 stride 2 rows of at least 8 outputs go 8 at a time too; the last window of the last
      // plane ends at the buffer's end (the sanitizers see a read past it).
      {"3x3 s2 (AlexNet's first, 55x55)", 2, 55, 55, 3, 3, 2, 2, 0, 0, 1, 1, false},
      {"3x3 s2, rows of exactly 8", 3, 7, 17, 3, 3, 2, 2, 0, 0, 1, 1, false},
      {"3x3 s2, rows of 16 and 17 (even and odd widths)", 2, 9, 35, 3, 3, 2, 2, 0, 0, 1, 1, false},
      {"3x3 s2, 16 inside between padded borders, ceil", 3, 11, 36, 3, 3, 2, 2, 1, 1, 1, 1, true},
      {"3x3 row stride 1, column stride 2, rows of 12", 2, 6, 25, 3, 3, 1, 2, 0, 0, 1, 1, false},
      {"3x3 s2 pad 1 ceil", 4, 12, 15, 3, 3, 2, 2, 1, 1, 1, 1, true},
      {"3x3 s1 pad 1", 2, 6, 5, 3, 3, 1, 1, 1, 1, 1, 1, false},
      {"3x3 s3", 3, 10, 19, 3, 3, 3, 3, 0, 0, 1, 1, true},
      {"3x3 row stride 1, column stride 2", 2, 8, 13, 3, 3, 1, 2, 0, 1, 1, 1, false},
      {"3x3 on a 3x3 input", 6, 3, 3, 3, 3, 2, 2, 0, 0, 1, 1, false},
      // Rows shorter than 8 with every window inside go 8 outputs at a time across rows.
      {"3x3 s2 13x13 (AlexNet's last)", 3, 13, 13, 3, 3, 2, 2, 0, 0, 1, 1, false},
      {"3x3 s1, rows of 7", 2, 5, 9, 3, 3, 1, 1, 0, 0, 1, 1, false},
      {"2x2 s1, 8 outputs", 3, 3, 5, 2, 2, 1, 1, 0, 0, 1, 1, false},
      {"3x3 s3 on 8x20, rows of 6", 2, 8, 20, 3, 3, 3, 3, 0, 0, 1, 1, false},
      {"2x2 on a 2x1 input with padding", 2, 2, 1, 2, 2, 2, 2, 1, 1, 1, 1, false},
      // Not specialized: the reference handles these whole.
      {"2x3 window", 3, 9, 11, 2, 3, 2, 2, 0, 1, 1, 1, false},
      {"2x2 dilated", 2, 11, 10, 2, 2, 2, 2, 0, 0, 2, 2, false},
      {"4x4 s4", 2, 17, 16, 4, 4, 4, 4, 0, 0, 1, 1, true},
      {"2x2 s4", 2, 12, 13, 2, 2, 4, 4, 1, 0, 1, 1, false},
  };
  // clang-format on
  std::mt19937 rng(5);
  for (const PoolCase& c : cases) {
    SCOPED_TRACE(c.name);
    const int64_t Ho = pool_output_size(c.H, c.kh, c.sh, c.ph, c.dh, c.ceil);
    const int64_t Wo = pool_output_size(c.W, c.kw, c.sw, c.pw, c.dw, c.ceil);
    ASSERT_GT(Ho, 0);
    ASSERT_GT(Wo, 0);
    const cpu::Pool2dShape s{c.planes, c.H, c.W, Ho, Wo, c.kh, c.kw, c.sh, c.sw, c.ph, c.pw, c.dh, c.dw};
    const int64_t nx = c.planes * c.H * c.W, ny = c.planes * Ho * Wo;
    // Small integers make ties common (the first index must win); some NaNs (the first NaN must
    // win and stay) and infinities.
    std::uniform_int_distribution<int> small(-3, 3), pick(0, 99);
    std::vector<float> x(nx);
    for (float& v : x) {
      const int k = pick(rng);
      v = k < 4 ? kNaN : k < 6 ? -kInf : k < 7 ? kInf : float(small(rng));
    }
    std::vector<double> xd = widen(x);
    std::vector<float> y(ny, 12345.f);
    std::vector<double> yd(ny, 12345.0);
    std::vector<int32_t> idx(ny, -7), idxd(ny, -7);
    cpu::max_pool2d_forward<float>(s, x.data(), y.data(), idx.data());
    cpu::max_pool2d_forward<double>(s, xd.data(), yd.data(), idxd.data());
    for (int64_t i = 0; i < ny; ++i) {
      ASSERT_EQ(idx[i], idxd[i]) << "output " << i;
      if (std::isnan(yd[i]))
        ASSERT_TRUE(std::isnan(y[i])) << "output " << i;
      else
        ASSERT_EQ(double(y[i]), yd[i]) << "output " << i;
    }
    // The backward pass routes through the same indices: dx matches too.
    std::vector<float> dy = uniform(ny, 9), dx(nx, kNaN);
    std::vector<double> dyd = widen(dy), dxd(nx, 0.0);
    cpu::max_pool2d_backward<float>(s, dy.data(), idx.data(), dx.data());
    cpu::max_pool2d_backward<double>(s, dyd.data(), idxd.data(), dxd.data());
    EXPECT_LT(worst_rel(dx, dxd), 1e-6);
  }
}

TEST(MaxPoolFastPath, AllNaNAndAllEqualWindows) {
  const cpu::Pool2dShape s{1, 4, 6, 2, 3, 2, 2, 2, 2, 0, 0, 1, 1};
  std::vector<float> x(24, 2.f);
  x[7] = kNaN;  // window (0, 0) of rows 0-1: the NaN at (1, 1) wins
  x[2] = kNaN;  // window (0, 1): the first NaN in row-major order, (0, 2), wins over (1, 3)
  x[9] = kNaN;
  std::vector<float> y(6);
  std::vector<int32_t> idx(6);
  cpu::max_pool2d_forward<float>(s, x.data(), y.data(), idx.data());
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_EQ(idx[0], 7);
  EXPECT_TRUE(std::isnan(y[1]));
  EXPECT_EQ(idx[1], 2);
  EXPECT_EQ(y[2], 2.f);
  EXPECT_EQ(idx[2], 4);  // all equal: the first one
  EXPECT_EQ(idx[3], 12);
  EXPECT_EQ(idx[4], 14);
  EXPECT_EQ(idx[5], 16);
}

// ---------------------------------------------------------------- batch norm

namespace {

struct BnCase {
  const char* name;
  int64_t N, C, S;
  float offset, spread;  // x = offset + spread * uniform(-1, 1)
};

// clang-format off
const std::vector<BnCase> kBnCases = {
    {"S = 1 (reference)", 9, 3, 1, 0.5f, 2.f},
    {"S = 15 (reference)", 4, 5, 15, -1.f, 1.f},
    {"S = 16 (fast, no tail)", 3, 2, 16, 0.f, 1.f},
    {"S = 17 (fast, tail)", 5, 3, 17, 2.f, 3.f},
    {"S = 143", 7, 5, 143, 0.f, 1.f},
    {"one image, one channel", 1, 1, 301, 1.f, 0.5f},
    {"the model's first block", 64, 32, 784, 0.2f, 1.f},
    {"mean far from zero", 6, 4, 211, 1000.f, 0.01f},
    {"tiny values", 5, 3, 50, 1e-3f, 1e-4f},
};
// clang-format on

}  // namespace

TEST(BatchNormFastPath, StatisticsMatchTheDoubleReference) {
  for (const BnCase& c : kBnCases) {
    SCOPED_TRACE(c.name);
    const int64_t n = c.N * c.C * c.S;
    std::vector<float> x = uniform(n, 21, -1.f, 1.f);
    for (float& v : x) v = c.offset + c.spread * v;
    std::vector<double> xd = widen(x);
    std::vector<float> mean(c.C, kNaN), var(c.C, kNaN);
    std::vector<double> meand(c.C), vard(c.C);
    cpu::batch_norm_stats<float>(x.data(), mean.data(), var.data(), c.N, c.C, c.S);
    cpu::batch_norm_stats<double>(xd.data(), meand.data(), vard.data(), c.N, c.C, c.S);
    for (int64_t ch = 0; ch < c.C; ++ch) {
      // The mean to float rounding of itself; the variance to a few float roundings of itself,
      // even where the mean is 10^5 standard deviations from zero.
      EXPECT_NEAR(mean[ch], meand[ch], 1e-6 * std::abs(meand[ch]) + 1e-7 * std::sqrt(vard[ch])) << "channel " << ch;
      EXPECT_NEAR(var[ch], vard[ch], 2e-6 * vard[ch]) << "channel " << ch;
    }
  }
}

TEST(BatchNormFastPath, BackwardMatchesTheDoubleReference) {
  for (const BnCase& c : kBnCases) {
    SCOPED_TRACE(c.name);
    const int64_t n = c.N * c.C * c.S;
    std::vector<float> x = uniform(n, 22, -1.f, 1.f), dy = uniform(n, 23, -1.f, 1.f), w = uniform(c.C, 24, 0.5f, 1.5f);
    for (float& v : x) v = c.offset + c.spread * v;
    std::vector<double> xd = widen(x), dyd = widen(dy), wd = widen(w);
    std::vector<float> mean(c.C), var(c.C);
    cpu::batch_norm_stats<float>(x.data(), mean.data(), var.data(), c.N, c.C, c.S);
    std::vector<double> meand = widen(mean), vard = widen(var);  // the same statistics
    for (bool batch_stats : {true, false})
      for (bool affine : {true, false}) {
        SCOPED_TRACE(std::string(batch_stats ? "training" : "eval") + (affine ? ", affine" : ""));
        std::vector<float> dx(n, kNaN), dw(c.C, kNaN), db(c.C, kNaN);
        std::vector<double> dxd(n), dwd(c.C), dbd(c.C);
        cpu::batch_norm_backward<float>(x.data(), dy.data(), mean.data(), var.data(), affine ? w.data() : nullptr,
                                        dx.data(), dw.data(), db.data(), c.N, c.C, c.S, 1e-5, batch_stats);
        cpu::batch_norm_backward<double>(xd.data(), dyd.data(), meand.data(), vard.data(), affine ? wd.data() : nullptr,
                                         dxd.data(), dwd.data(), dbd.data(), c.N, c.C, c.S, 1e-5, batch_stats);
        // dx is k * (dy - ...), with k = w / std up to 10^4 here: compare relative to k.
        double scale = 0;
        for (int64_t ch = 0; ch < c.C; ++ch)
          scale = std::max(scale, (affine ? wd[ch] : 1.0) / std::sqrt(vard[ch] + 1e-5));
        EXPECT_LT(worst_rel(dx, dxd, scale), 2e-6) << "dx";
        // Sums of N*S terms of size ~1: the float lanes' error relative to sqrt(N*S).
        const double sums_floor = std::sqrt(double(c.N * c.S));
        EXPECT_LT(worst_rel(db, dbd, sums_floor), 1e-6) << "dbias";
        EXPECT_LT(worst_rel(dw, dwd, sums_floor), 1e-5) << "dweight";
        // Without dx, dweight and dbias are still written.
        std::vector<float> dw2(c.C, kNaN), db2(c.C, kNaN);
        cpu::batch_norm_backward<float>(x.data(), dy.data(), mean.data(), var.data(), nullptr, nullptr, dw2.data(),
                                        db2.data(), c.N, c.C, c.S, 1e-5, batch_stats);
        EXPECT_EQ(dw2, dw);
        EXPECT_EQ(db2, db);
      }
  }
}

TEST(BatchNormFastPath, SameBitsForEveryThreadCount) {
  const int64_t N = 13, C = 6, S = 443;  // large enough to split over threads
  std::vector<float> x = uniform(N * C * S, 31, -2.f, 3.f), dy = uniform(N * C * S, 32), w = uniform(C, 33);
  auto run = [&](int threads) {
    std::vector<float> out(2 * C + N * C * S + 2 * C);
    with_threads(threads, [&] {
      float* mean = out.data();
      float* var = mean + C;
      float* dx = var + C;
      float* dw = dx + N * C * S;
      cpu::batch_norm_stats<float>(x.data(), mean, var, N, C, S);
      cpu::batch_norm_backward<float>(x.data(), dy.data(), mean, var, w.data(), dx, dw, dw + C, N, C, S, 1e-5, true);
    });
    return out;
  };
  const std::vector<float> one = run(1);
  for (int threads : {2, 3, 5}) EXPECT_EQ(run(threads), one) << threads << " threads";
}

// ---------------------------------------------------------------- conv helpers

TEST(ConvFastPath, BiasGradientMatchesAndIsThreadCountIndependent) {
  // Planes of 1, 15, 17 and 143 values: no lanes, tail only, lanes and tail, many lanes.
  for (int64_t P : {1, 15, 17, 143}) {
    SCOPED_TRACE("plane of " + std::to_string(P));
    const int64_t N = 41, O = 7;
    const kernels::ConvGeometry s{N, 3, 1, 1, O, 1, 1, 1, P, 1, 1, 0, 0, 1, 1, 1};
    std::vector<float> dy = uniform(N * O * P, 41);
    std::vector<double> want(O, 0.0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t o = 0; o < O; ++o)
        for (int64_t q = 0; q < P; ++q) want[o] += dy[(n * O + o) * P + q];
    std::vector<float> db(O, kNaN);
    cpu::conv2d_backward_bias<float>(s, dy.data(), db.data());
    EXPECT_LT(worst_rel(db, want), 1e-6);
    for (int threads : {1, 3}) {
      std::vector<float> again(O, kNaN);
      with_threads(threads, [&] { cpu::conv2d_backward_bias<float>(s, dy.data(), again.data()); });
      EXPECT_EQ(again, db) << threads << " threads";
    }
  }
}

namespace {

struct UnfoldCase {
  const char* name;
  int64_t C, H, W, kh, kw, sh, sw, ph, pw, dh, dw;
};

// The definition: col[(c*kh + i)*kw + j, oh*Wo + ow] = x[c, oh*sh - ph + i*dh, ow*sw - pw + j*dw].
std::vector<float> im2col_naive(const std::vector<float>& x, const UnfoldCase& u, int64_t Ho, int64_t Wo) {
  std::vector<float> col(u.C * u.kh * u.kw * Ho * Wo);
  for (int64_t c = 0; c < u.C; ++c)
    for (int64_t i = 0; i < u.kh; ++i)
      for (int64_t j = 0; j < u.kw; ++j)
        for (int64_t oh = 0; oh < Ho; ++oh)
          for (int64_t ow = 0; ow < Wo; ++ow) {
            const int64_t ih = oh * u.sh - u.ph + i * u.dh, iw = ow * u.sw - u.pw + j * u.dw;
            const bool inside = ih >= 0 && ih < u.H && iw >= 0 && iw < u.W;
            col[(((c * u.kh + i) * u.kw + j) * Ho + oh) * Wo + ow] = inside ? x[(c * u.H + ih) * u.W + iw] : 0.f;
          }
  return col;
}

}  // namespace

TEST(ConvFastPath, Im2colAndCol2imMatchTheDefinition) {
  // clang-format off
  const std::vector<UnfoldCase> cases = {
      // name, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw
      // Unit strides with Wo == W take the shifted-plane copy in im2col.
      {"3x3 pad 1 (the model's)", 4, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1},
      {"5x5 pad 2, odd plane", 3, 9, 13, 5, 5, 1, 1, 2, 2, 1, 1},
      {"3x3 dilation 2 pad 2", 2, 7, 8, 3, 3, 1, 1, 2, 2, 2, 2},
      {"one column, same padding", 2, 5, 1, 3, 3, 1, 1, 1, 1, 1, 1},
      {"one row, same padding", 2, 1, 6, 3, 3, 1, 1, 1, 1, 1, 1},
      {"large enough to split over threads", 37, 23, 19, 3, 3, 1, 1, 1, 1, 1, 1},
      {"stride 2, pad 2, k5", 3, 11, 9, 5, 5, 2, 2, 2, 2, 1, 1},
      {"unequal strides and pads", 2, 9, 7, 3, 2, 2, 3, 1, 0, 1, 1},
      {"dilated", 2, 10, 9, 3, 3, 1, 2, 2, 1, 2, 3},
      {"padding wider than the input's reach", 2, 2, 3, 5, 5, 1, 1, 3, 3, 1, 1},
      {"no padding", 3, 8, 6, 3, 3, 1, 1, 0, 0, 1, 1},
      {"stride 4 k11 pad 2", 2, 31, 29, 11, 11, 4, 4, 2, 2, 1, 1},
      // Column strides above 1 take the phased copy (im2col.cpp), up to rows of 4096.
      {"stride 5 > kernel 3, pad 1", 2, 12, 17, 3, 3, 5, 5, 1, 1, 1, 1},
      {"stride 2, dilation 2, pad 3", 2, 9, 14, 3, 3, 2, 2, 3, 3, 2, 2},
      {"stride 3, padding past the input", 2, 4, 5, 5, 7, 3, 3, 4, 5, 1, 1},
      {"row wider than the phased copy takes", 1, 2, 4100, 1, 3, 1, 2, 0, 1, 1, 1},
  };
  // clang-format on
  for (const UnfoldCase& u : cases) {
    SCOPED_TRACE(u.name);
    const int64_t Ho = (u.H + 2 * u.ph - u.dh * (u.kh - 1) - 1) / u.sh + 1;
    const int64_t Wo = (u.W + 2 * u.pw - u.dw * (u.kw - 1) - 1) / u.sw + 1;
    ASSERT_GT(Ho, 0);
    ASSERT_GT(Wo, 0);
    const std::vector<float> x = uniform(u.C * u.H * u.W, 51);
    const std::vector<float> want = im2col_naive(x, u, Ho, Wo);
    // Outside a parallel region (im2col may split channels over threads) and inside one (as the
    // conv drivers call it: no nested team).
    for (bool nested : {false, true}) {
      SCOPED_TRACE(nested ? "inside a parallel region" : "outside");
      std::vector<float> col(want.size(), kNaN);
      auto unfold = [&] {
        cpu::im2col<float>(x.data(), u.C, u.H, u.W, u.kh, u.kw, u.sh, u.sw, u.ph, u.pw, u.dh, u.dw, Ho, Wo, col.data());
      };
      if (nested) {
#pragma omp parallel num_threads(2)
        {
#pragma omp single
          unfold();
        }
      } else {
        unfold();
      }
      EXPECT_EQ(col, want);
      // col2im is the adjoint: <im2col(x), g> == <x, col2im(g)> for any g; and it accumulates.
      const std::vector<float> g = uniform(want.size(), 52);
      std::vector<float> xg(x.size(), 0.f);
      cpu::col2im<float>(g.data(), u.C, u.H, u.W, u.kh, u.kw, u.sh, u.sw, u.ph, u.pw, u.dh, u.dw, Ho, Wo, xg.data());
      double lhs = 0, rhs = 0;
      for (size_t i = 0; i < want.size(); ++i) lhs += double(want[i]) * g[i];
      for (size_t i = 0; i < x.size(); ++i) rhs += double(x[i]) * xg[i];
      EXPECT_NEAR(lhs, rhs, 1e-4 * std::max(1.0, std::abs(lhs)));
      std::vector<float> twice(x.size(), 0.f);
      for (int k = 0; k < 2; ++k)
        cpu::col2im<float>(g.data(), u.C, u.H, u.W, u.kh, u.kw, u.sh, u.sw, u.ph, u.pw, u.dh, u.dw, Ho, Wo,
                           twice.data());
      for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(twice[i], 2 * xg[i], 1e-5) << i;
    }
  }
}
