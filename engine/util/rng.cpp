// pw::Generator: scalar draws, bulk fills and permutations over a Philox sequence; the word
// layout they follow is documented in rng.h and must stay in step with the CUDA kernels.
#include "engine/util/rng.h"

#include <omp.h>

#include <numeric>

#include "kernels/common/philox.h"

namespace pw {

using philox::Block;
using philox::philox_block;

Generator::Generator(uint64_t seed, uint64_t stream) : seed_(seed), stream_(stream) {}

uint32_t Generator::word(uint64_t index) {
  const uint64_t block = index / 4;
  if (!cache_valid_ || cache_block_ != block) {
    const Block b = philox_block(seed_, stream_, block);
    for (int k = 0; k < 4; ++k) cache_words_[k] = b.x[k];
    cache_block_ = block;
    cache_valid_ = true;
  }
  return cache_words_[index % 4];
}

uint32_t Generator::next_u32() { return word(offset_++); }

float Generator::uniform() { return philox::uint_to_uniform01(next_u32()); }

double Generator::uniform_double() {
  const uint32_t a = next_u32();
  const uint32_t b = next_u32();
  return philox::uint2_to_uniform01(a, b);
}

float Generator::normal() {
  const uint32_t r = next_u32();
  const uint32_t t = next_u32();
  return philox::box_muller(r, t).z0;
}

int64_t Generator::randint(int64_t lo, int64_t hi) {
  PW_CHECK(lo < hi, "randint: empty range [", lo, ", ", hi, ")");
  // Unsigned arithmetic gives the exact width even for [INT64_MIN, INT64_MAX).
  const uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  uint64_t draw;
  if (range <= (uint64_t{1} << 32)) {
    // Reject the lowest 2^32 mod range values so the accepted ones are a multiple of range
    // (arc4random_uniform's construction); at most half are rejected, usually almost none.
    const uint64_t reject_below = ((uint64_t{1} << 32) - range) % range;
    uint64_t u;
    do {
      u = next_u32();
    } while (u < reject_below);
    draw = u % range;
  } else {
    const uint64_t reject_below = (0 - range) % range;  // 2^64 mod range
    uint64_t u;
    do {
      const uint64_t high = next_u32();
      const uint64_t low = next_u32();
      u = (high << 32) | low;
    } while (u < reject_below);
    draw = u % range;
  }
  return static_cast<int64_t>(static_cast<uint64_t>(lo) + draw);
}

std::vector<int64_t> Generator::permutation(int64_t n) {
  PW_CHECK(n >= 0, "permutation: n must be >= 0, got ", n);
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), int64_t{0});
  shuffle(p);
  return p;
}

uint64_t Generator::fill_start() { return (offset_ + 3) / 4 * 4; }

void Generator::fill_end(uint64_t start, uint64_t words_used) { offset_ = (start + words_used + 3) / 4 * 4; }

// In every fill below, block b (counted from start) covers elements 4b .. 4b+3 for the
// one-word-per-element layouts (float uniform, float normal) and elements 2b, 2b+1 for the
// two-word ones (double uniform, double normal); see the layout table in rng.h.
//
// Blocks are independent (Philox is counter-based), so a large fill runs its blocks over the
// threads with the same result: one thread drew dropout's uniforms at ~5 ns an element, 0.8 ms of
// AlexNet's first dropout at batch 16, eight times the mask-and-multiply after it.
namespace {
constexpr int64_t kParallelBlocks = 1 << 13;
template <typename F>
void for_each_block(int64_t blocks, F f) {
  if (blocks > kParallelBlocks && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) f(b);
  } else {
    for (int64_t b = 0; b < blocks; ++b) f(b);
  }
}
}  // namespace

void Generator::fill_uniform(float* out, int64_t n, float lo, float hi) {
  PW_CHECK(n >= 0, "fill_uniform: n must be >= 0, got ", n);
  PW_CHECK(lo <= hi, "fill_uniform: lo (", lo, ") must not exceed hi (", hi, ")");
  if (n == 0) return;
  PW_CHECK(out != nullptr, "fill_uniform: null output for ", n, " elements");
  const uint64_t start = fill_start();
  const float width = hi - lo;
  for_each_block((n + 3) / 4, [&](int64_t q) {
    const int64_t i = 4 * q;
    const Block b = philox_block(seed_, stream_, start / 4 + static_cast<uint64_t>(q));
    for (int k = 0; k < 4 && i + k < n; ++k) out[i + k] = lo + width * philox::uint_to_uniform01(b.x[k]);
  });
  fill_end(start, static_cast<uint64_t>(n));
}

void Generator::fill_uniform(double* out, int64_t n, double lo, double hi) {
  PW_CHECK(n >= 0, "fill_uniform: n must be >= 0, got ", n);
  PW_CHECK(lo <= hi, "fill_uniform: lo (", lo, ") must not exceed hi (", hi, ")");
  if (n == 0) return;
  PW_CHECK(out != nullptr, "fill_uniform: null output for ", n, " elements");
  const uint64_t start = fill_start();
  const double width = hi - lo;
  for_each_block((n + 1) / 2, [&](int64_t q) {
    const int64_t i = 2 * q;
    const Block b = philox_block(seed_, stream_, start / 4 + static_cast<uint64_t>(q));
    out[i] = lo + width * philox::uint2_to_uniform01(b.x[0], b.x[1]);
    if (i + 1 < n) out[i + 1] = lo + width * philox::uint2_to_uniform01(b.x[2], b.x[3]);
  });
  fill_end(start, 2 * static_cast<uint64_t>(n));
}

void Generator::fill_normal(float* out, int64_t n, float mean, float std) {
  PW_CHECK(n >= 0, "fill_normal: n must be >= 0, got ", n);
  PW_CHECK(std >= 0.0f, "fill_normal: std must be >= 0, got ", std);
  if (n == 0) return;
  PW_CHECK(out != nullptr, "fill_normal: null output for ", n, " elements");
  const uint64_t start = fill_start();
  for_each_block((n + 3) / 4, [&](int64_t q) {
    const int64_t i = 4 * q;
    const Block b = philox_block(seed_, stream_, start / 4 + static_cast<uint64_t>(q));
    const philox::Normal2f first = philox::box_muller(b.x[0], b.x[1]);
    const philox::Normal2f second = philox::box_muller(b.x[2], b.x[3]);
    const float z[4] = {first.z0, first.z1, second.z0, second.z1};
    for (int k = 0; k < 4 && i + k < n; ++k) out[i + k] = mean + std * z[k];
  });
  fill_end(start, 2 * ((static_cast<uint64_t>(n) + 1) / 2));
}

void Generator::fill_normal(double* out, int64_t n, double mean, double std) {
  PW_CHECK(n >= 0, "fill_normal: n must be >= 0, got ", n);
  PW_CHECK(std >= 0.0, "fill_normal: std must be >= 0, got ", std);
  if (n == 0) return;
  PW_CHECK(out != nullptr, "fill_normal: null output for ", n, " elements");
  const uint64_t start = fill_start();
  for_each_block((n + 1) / 2, [&](int64_t q) {
    const int64_t i = 2 * q;
    const Block b = philox_block(seed_, stream_, start / 4 + static_cast<uint64_t>(q));
    const philox::Normal2d z = philox::box_muller_double(b.x[0], b.x[1], b.x[2], b.x[3]);
    out[i] = mean + std * z.z0;
    if (i + 1 < n) out[i + 1] = mean + std * z.z1;
  });
  fill_end(start, 4 * ((static_cast<uint64_t>(n) + 1) / 2));
}

Generator& default_generator() {
  static Generator generator;
  return generator;
}

void manual_seed(uint64_t seed) { default_generator() = Generator(seed); }

}  // namespace pw
