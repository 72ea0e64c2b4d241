// What the Google Benchmark programs of bench/ share.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace pw::bench {

// n floats uniform in [lo, hi), from a Mersenne Twister seeded with `seed` (the same on every run).
inline std::vector<float> random_vec(int64_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace pw::bench
