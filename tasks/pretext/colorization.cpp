// The arithmetic of colorization: see colorization.h.
#include "tasks/pretext/colorization.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "engine/util/error.h"

namespace pw::tasks {

namespace {

// sRGB primaries and D65 white (IEC 61966-2-1), the constants skimage's rgb2lab uses.
constexpr double kWhiteX = 0.95047, kWhiteY = 1.0, kWhiteZ = 1.08883;
constexpr double kDelta = 6.0 / 29.0;  // CIE: the cube root's linear segment starts at delta^3

double linear_of(double c) { return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4); }
double gamma_of(double c) { return c <= 0.0031308 ? 12.92 * c : 1.055 * std::pow(c, 1 / 2.4) - 0.055; }
double lab_f(double t) { return t > kDelta * kDelta * kDelta ? std::cbrt(t) : t / (3 * kDelta * kDelta) + 4.0 / 29; }
double lab_f_inverse(double f) { return f > kDelta ? f * f * f : 3 * kDelta * kDelta * (f - 4.0 / 29); }

}  // namespace

Lab srgb_to_lab(const Rgb3& c) {
  const double r = linear_of(c.r), g = linear_of(c.g), b = linear_of(c.b);
  const double x = 0.4124564 * r + 0.3575761 * g + 0.1804375 * b;
  const double y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b;
  const double z = 0.0193339 * r + 0.1191920 * g + 0.9503041 * b;
  const double fx = lab_f(x / kWhiteX), fy = lab_f(y / kWhiteY), fz = lab_f(z / kWhiteZ);
  return {116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)};
}

Rgb3 lab_to_srgb(const Lab& lab) {
  const double fy = (lab.L + 16) / 116, fx = fy + lab.a / 500, fz = fy - lab.b / 200;
  const double x = kWhiteX * lab_f_inverse(fx), y = kWhiteY * lab_f_inverse(fy), z = kWhiteZ * lab_f_inverse(fz);
  const double r = 3.2404542 * x - 1.5371385 * y - 0.4985314 * z;
  const double g = -0.9692660 * x + 1.8760108 * y + 0.0415560 * z;
  const double b = 0.0556434 * x - 0.2040259 * y + 1.0572252 * z;
  // Negative linear values (out of gamut) keep their sign through the gamma.
  auto gamma = [](double v) { return v < 0 ? -gamma_of(-v) : gamma_of(v); };
  return {gamma(r), gamma(g), gamma(b)};
}

void rgb_to_lab_planes(const float* rgb, int64_t n, float* L, float* ab) {
  for (int64_t i = 0; i < n; ++i) {
    const Lab lab = srgb_to_lab({rgb[i], rgb[n + i], rgb[2 * n + i]});
    L[i] = (float)lab.L;
    ab[i] = (float)lab.a;
    ab[n + i] = (float)lab.b;
  }
}

void lab_planes_to_rgb(const float* L, const float* ab, int64_t n, float* rgb) {
  for (int64_t i = 0; i < n; ++i) {
    const Rgb3 c = lab_to_srgb({L[i], ab[i], ab[n + i]});
    rgb[i] = (float)std::clamp(c.r, 0.0, 1.0);
    rgb[n + i] = (float)std::clamp(c.g, 0.0, 1.0);
    rgb[2 * n + i] = (float)std::clamp(c.b, 0.0, 1.0);
  }
}

AbBins compute_ab_bins(double step, int64_t samples_per_edge) {
  PW_CHECK(step > 0 && samples_per_edge >= 2, "colorization: the ab grid needs a positive step and at least 2 ",
           "samples per edge of the RGB cube, got step ", step, " and ", samples_per_edge);
  // sRGB's ab stays within +-128, so cells -span..span on each axis hold it.
  const int64_t span = (int64_t)std::ceil(130 / step), side = 2 * span + 1;
  std::vector<char> seen(side * side, 0);  // [a index][b index]
  const double last = (double)(samples_per_edge - 1);
  // Every face of the cube: one channel fixed at 0 or 1, the other two over the grid.
  for (int fixed = 0; fixed < 3; ++fixed)
    for (int face = 0; face < 2; ++face)
      for (int64_t i = 0; i < samples_per_edge; ++i)
        for (int64_t j = 0; j < samples_per_edge; ++j) {
          double v[3];
          v[fixed] = face;
          v[(fixed + 1) % 3] = (double)i / last;
          v[(fixed + 2) % 3] = (double)j / last;
          const Lab lab = srgb_to_lab({v[0], v[1], v[2]});
          seen[(std::lround(lab.a / step) + span) * side + std::lround(lab.b / step) + span] = 1;
        }
  AbBins bins;
  for (int64_t ia = 0; ia < side; ++ia)
    for (int64_t ib = 0; ib < side; ++ib)
      if (seen[ia * side + ib]) {
        bins.a.push_back((double)(ia - span) * step);
        bins.b.push_back((double)(ib - span) * step);
      }
  return bins;
}

const AbBins& ab_bins() {
  // 512 samples per edge (0.3 s): measured, the set has 261 bins at 256 samples per edge and the
  // same 262 at every count from 511 to 4096.
  static const AbBins bins = compute_ab_bins(kAbGridStep, 512);
  return bins;
}

int64_t nearest_bin(const AbBins& bins, double a, double b) {
  int64_t best = 0;
  double best_d = std::numeric_limits<double>::infinity();
  for (int64_t q = 0; q < bins.size(); ++q) {
    const double d = (bins.a[q] - a) * (bins.a[q] - a) + (bins.b[q] - b) * (bins.b[q] - b);
    if (d < best_d) best_d = d, best = q;
  }
  return best;
}

int64_t soft_encode(const AbBins& bins, double a, double b, float* out, int64_t neighbours, double sigma) {
  const int64_t q_count = bins.size(), k = std::min(neighbours, q_count);
  PW_CHECK(k > 0 && sigma > 0, "colorization: soft encoding needs neighbours and sigma > 0, got ", neighbours, " and ",
           sigma);
  std::vector<std::pair<double, int64_t>> d(q_count);
  for (int64_t q = 0; q < q_count; ++q)
    d[q] = {(bins.a[q] - a) * (bins.a[q] - a) + (bins.b[q] - b) * (bins.b[q] - b), q};
  std::partial_sort(d.begin(), d.begin() + k, d.end());
  std::fill(out, out + q_count, 0.0f);
  double total = 0;
  std::vector<double> w(k);
  // Relative to the nearest distance, so that a colour far from every bin does not underflow to 0/0.
  for (int64_t i = 0; i < k; ++i) total += w[i] = std::exp(-(d[i].first - d[0].first) / (2 * sigma * sigma));
  for (int64_t i = 0; i < k; ++i) out[d[i].second] = (float)(w[i] / total);
  return d[0].second;
}

void count_bins(const AbBins& bins, const float* ab, int64_t n, std::vector<double>& counts) {
  PW_CHECK((int64_t)counts.size() == bins.size(), "colorization: ", counts.size(), " counts for ", bins.size(),
           " bins");
  for (int64_t i = 0; i < n; ++i) counts[nearest_bin(bins, ab[i], ab[n + i])] += 1;
}

std::vector<double> smooth_distribution(const AbBins& bins, const std::vector<double>& counts, double sigma) {
  const int64_t q_count = bins.size();
  PW_CHECK((int64_t)counts.size() == q_count, "colorization: ", counts.size(), " counts for ", q_count, " bins");
  double total = 0;
  for (double c : counts) total += c;
  PW_CHECK(total > 0, "colorization: the colour distribution is empty (no pixels counted)");
  std::vector<double> out(q_count, 0.0), kernel(q_count);
  for (int64_t r = 0; r < q_count; ++r) {
    if (counts[r] == 0) continue;
    double z = 0;
    for (int64_t q = 0; q < q_count; ++q) {
      const double d2 =
          (bins.a[q] - bins.a[r]) * (bins.a[q] - bins.a[r]) + (bins.b[q] - bins.b[r]) * (bins.b[q] - bins.b[r]);
      z += kernel[q] = std::exp(-d2 / (2 * sigma * sigma));
    }
    for (int64_t q = 0; q < q_count; ++q) out[q] += counts[r] / total * kernel[q] / z;
  }
  return out;
}

std::vector<double> rebalancing_weights(const std::vector<double>& p, double lambda) {
  PW_CHECK(!p.empty() && lambda > 0 && lambda <= 1, "colorization: rebalancing needs a distribution and lambda in ",
           "(0, 1], got ", p.size(), " bins and lambda ", lambda);
  const double uniform = 1.0 / (double)p.size();
  std::vector<double> w(p.size());
  double expectation = 0;
  for (size_t q = 0; q < p.size(); ++q) {
    w[q] = 1 / ((1 - lambda) * p[q] + lambda * uniform);
    expectation += p[q] * w[q];
  }
  for (double& v : w) v /= expectation;
  return w;
}

void annealed_mean(const AbBins& bins, const float* logits, int64_t stride, double temperature, double& a, double& b) {
  PW_CHECK(temperature > 0, "colorization: the annealed-mean temperature must be positive, got ", temperature);
  double top = -std::numeric_limits<double>::infinity();
  for (int64_t q = 0; q < bins.size(); ++q) top = std::max(top, (double)logits[q * stride]);
  double total = 0, sa = 0, sb = 0;
  for (int64_t q = 0; q < bins.size(); ++q) {
    // softmax(log z / T) = softmax(logits / T): the log-normalizer of z cancels.
    const double e = std::exp(((double)logits[q * stride] - top) / temperature);
    total += e;
    sa += e * bins.a[q];
    sb += e * bins.b[q];
  }
  a = sa / total;
  b = sb / total;
}

}  // namespace pw::tasks
