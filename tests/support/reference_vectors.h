// Test support: plain vectors for checking an f32 kernel against an f64 reference kernel (random
// normal inputs, f32 to f64, and the error on the scale of the reference), shared by the kernel
// tests that call kernels/cpu directly.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace pw::testing {

inline std::vector<float> normal(int64_t n, float stddev, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.f, stddev);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

inline std::vector<double> widen(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// max |a - ref| / max |ref|: the error on the scale of the output. NaN anywhere (an element the
// kernel did not write) gives infinity.
inline double scaled_error(const std::vector<float>& a, const std::vector<double>& ref) {
  double diff = 0, scale = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(double(a[i]) - ref[i]);
    if (std::isnan(d)) return INFINITY;
    diff = std::max(diff, d);
    scale = std::max(scale, std::abs(ref[i]));
  }
  return diff / std::max(scale, 1e-30);
}

}  // namespace pw::testing
