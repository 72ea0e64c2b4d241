// Tests for Philox 4x32-10 (kernels/common/philox.h) and pw::Generator (engine/util/rng.h):
// Random123's known answers, the documented word layout, determinism, and loose statistics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "engine/util/rng.h"
#include "kernels/common/philox.h"

namespace {

using pw::Generator;
using pw::philox::Block;

// Random123 kat_vectors, lines "philox4x32 10 <counter x4> <key x2> <expected x4>".
TEST(Philox, KnownAnswerVectors) {
  struct Case {
    Block counter;
    uint32_t key[2];
    Block expected;
  };
  const Case cases[] = {
      {{{0, 0, 0, 0}}, {0, 0}, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       {0xffffffff, 0xffffffff},
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       {0xa4093822, 0x299f31d0},
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Case& c : cases) {
    const Block got = pw::philox::philox4x32_10(c.counter, c.key);
    for (int k = 0; k < 4; ++k) EXPECT_EQ(got.x[k], c.expected.x[k]) << "word " << k;
  }
}

// The keying the header documents: key = seed, counter = (block, stream), 64 bits each.
TEST(Philox, BlockKeyingMatchesRawCounter) {
  const uint64_t seed = 0x299f31d0a4093822ull;
  const uint64_t stream = 0x0370734413198a2eull;
  const uint64_t block = 0x85a308d3243f6a88ull;
  const Block got = pw::philox::philox_block(seed, stream, block);
  const uint32_t expected[4] = {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1};
  for (int k = 0; k < 4; ++k) EXPECT_EQ(got.x[k], expected[k]);
  // Word indices reach only blocks below 2^62; check the word view on a smaller block.
  const uint64_t small_block = block >> 2;
  const Block small = pw::philox::philox_block(seed, stream, small_block);
  for (uint64_t w = 0; w < 4; ++w) EXPECT_EQ(pw::philox::philox_u32(seed, stream, small_block * 4 + w), small.x[w]);
}

TEST(Philox, UniformConversionsStayInTheirIntervals) {
  using namespace pw::philox;
  EXPECT_EQ(uint_to_uniform01(0u), 0.0f);
  EXPECT_LT(uint_to_uniform01(0xffffffffu), 1.0f);
  EXPECT_EQ(uint_to_uniform01(0xffffffffu), 1.0f - std::ldexp(1.0f, -24));
  EXPECT_GT(uint_to_uniform01_open0(0u), 0.0f);
  EXPECT_EQ(uint_to_uniform01_open0(0xffffffffu), 1.0f);
  EXPECT_EQ(uint2_to_uniform01(0u, 0u), 0.0);
  EXPECT_EQ(uint2_to_uniform01(0xffffffffu, 0xffffffffu), 1.0 - std::ldexp(1.0, -53));
  EXPECT_GT(uint2_to_uniform01_open0(0u, 0u), 0.0);
  EXPECT_EQ(uint2_to_uniform01_open0(0xffffffffu, 0xffffffffu), 1.0);
}

TEST(Philox, BoxMullerIsFiniteAtTheEnds) {
  using namespace pw::philox;
  for (uint32_t r : {0u, 1u, 0xffffffffu}) {
    for (uint32_t t : {0u, 0x80000000u, 0xffffffffu}) {
      const Normal2f z = box_muller(r, t);
      EXPECT_TRUE(std::isfinite(z.z0) && std::isfinite(z.z1)) << r << " " << t;
      const Normal2d zd = box_muller_double(r, r, t, t);
      EXPECT_TRUE(std::isfinite(zd.z0) && std::isfinite(zd.z1)) << r << " " << t;
    }
  }
}

TEST(Generator, SameKeySameNumbers) {
  Generator a(1234, 5), b(1234, 5);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a.next_u32(), b.next_u32());
  EXPECT_EQ(a.offset(), 1000u);
  EXPECT_EQ(a.seed(), 1234u);
  EXPECT_EQ(a.stream(), 5u);
}

TEST(Generator, NextU32FollowsPhiloxWords) {
  Generator g(42, 7);
  for (uint64_t w = 0; w < 37; ++w) ASSERT_EQ(g.next_u32(), pw::philox::philox_u32(42, 7, w));
}

TEST(Generator, ForkAndSeedsGiveDifferentSequences) {
  Generator g(99, 0);
  g.next_u32();
  Generator f = g.fork(1);
  EXPECT_EQ(f.seed(), 99u);
  EXPECT_EQ(f.stream(), 1u);
  EXPECT_EQ(f.offset(), 0u);
  Generator base(99, 0), other_seed(100, 0);
  int same_stream = 0, same_seed = 0;
  for (int i = 0; i < 256; ++i) {
    const uint32_t x = base.next_u32();
    same_stream += (x == f.next_u32());
    same_seed += (x == other_seed.next_u32());
  }
  EXPECT_LT(same_stream, 3);
  EXPECT_LT(same_seed, 3);
}

TEST(Generator, SetOffsetContinuesTheSameSequence) {
  Generator g(2024, 3);
  std::vector<uint32_t> first(100);
  for (auto& x : first) x = g.next_u32();
  g.set_offset(40);
  for (int i = 40; i < 100; ++i) ASSERT_EQ(g.next_u32(), first[i]) << "word " << i;
  EXPECT_EQ(g.offset(), 100u);
}

TEST(Generator, FillLayoutMatchesHeader) {
  const uint64_t seed = 77, stream = 2;
  Generator g(seed, stream);
  g.next_u32();  // offset 1: the fill must start at the next block, word 4
  std::vector<float> u(7);
  g.fill_uniform(u.data(), 7, 0.0f, 1.0f);
  for (int i = 0; i < 7; ++i)
    EXPECT_EQ(u[i], pw::philox::uint_to_uniform01(pw::philox::philox_u32(seed, stream, 4 + i)));
  EXPECT_EQ(g.offset(), 12u);  // 4 + 7 rounded up

  std::vector<double> d(3);
  g.fill_uniform(d.data(), 3, 0.0, 1.0);  // words 12 .. 17
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(d[i], pw::philox::uint2_to_uniform01(pw::philox::philox_u32(seed, stream, 12 + 2 * i),
                                                   pw::philox::philox_u32(seed, stream, 13 + 2 * i)));
  EXPECT_EQ(g.offset(), 20u);

  std::vector<float> z(5);
  g.fill_normal(z.data(), 5, 0.0f, 1.0f);  // pairs at words 20, 22, 24
  for (int i = 0; i < 5; ++i) {
    const uint64_t w = 20 + 2 * (i / 2);
    const auto pair =
        pw::philox::box_muller(pw::philox::philox_u32(seed, stream, w), pw::philox::philox_u32(seed, stream, w + 1));
    EXPECT_EQ(z[i], i % 2 == 0 ? pair.z0 : pair.z1) << i;
  }
  EXPECT_EQ(g.offset(), 28u);  // 20 + 6 rounded up

  std::vector<double> zd(3);
  g.fill_normal(zd.data(), 3, 0.0, 1.0);  // pairs at blocks 7 and 8
  for (int i = 0; i < 3; ++i) {
    const Block b = pw::philox::philox_block(seed, stream, 7 + i / 2);
    const auto pair = pw::philox::box_muller_double(b.x[0], b.x[1], b.x[2], b.x[3]);
    EXPECT_EQ(zd[i], i % 2 == 0 ? pair.z0 : pair.z1) << i;
  }
  EXPECT_EQ(g.offset(), 36u);

  const uint64_t before = g.offset();
  g.fill_uniform(u.data(), 0, 0.0f, 1.0f);
  EXPECT_EQ(g.offset(), before);
}

// Fills of more than 8192 blocks run their blocks over the threads: the same numbers, in the
// header's layout, as drawn one block at a time (odd lengths leave a partial last block).
TEST(Generator, LargeFillsOverThreadsKeepTheLayout) {
  const uint64_t seed = 9, stream = 4;
  const int64_t n = 4 * 8192 * 3 + 5;
  Generator g(seed, stream);
  g.next_u32();
  std::vector<float> u(n), z(n);
  std::vector<double> d(n), zd(n);
  g.fill_uniform(u.data(), n, -1.0f, 3.0f);  // words 4 ..
  const uint64_t after_u = g.offset();
  EXPECT_EQ(after_u, (4 + uint64_t(n) + 3) / 4 * 4);
  g.fill_normal(z.data(), n, 0.5f, 2.0f);  // pairs from word after_u (a multiple of 4)
  const uint64_t zw = after_u;
  g.fill_uniform(d.data(), n, 0.0, 1.0);
  const uint64_t d_start = (zw + 2 * ((uint64_t(n) + 1) / 2) + 3) / 4 * 4;  // two words an element
  g.fill_normal(zd.data(), n, 0.0, 1.0);
  const uint64_t zd_start = (d_start + 2 * uint64_t(n) + 3) / 4 * 4;  // a block per pair
  EXPECT_EQ(g.offset(), (zd_start + 4 * ((uint64_t(n) + 1) / 2) + 3) / 4 * 4);
  for (int64_t i = 0; i < n; i += 997) {  // a sample of positions in every thread's share, and the last
    const int64_t k = std::min(i, n - 1);
    EXPECT_EQ(u[k], -1.0f + 4.0f * pw::philox::uint_to_uniform01(pw::philox::philox_u32(seed, stream, 4 + k))) << k;
    const uint64_t w = zw + 2 * uint64_t(k / 2);
    const auto pair =
        pw::philox::box_muller(pw::philox::philox_u32(seed, stream, w), pw::philox::philox_u32(seed, stream, w + 1));
    EXPECT_EQ(z[k], 0.5f + 2.0f * (k % 2 == 0 ? pair.z0 : pair.z1)) << k;
    EXPECT_EQ(d[k], pw::philox::uint2_to_uniform01(pw::philox::philox_u32(seed, stream, d_start + 2 * k),
                                                   pw::philox::philox_u32(seed, stream, d_start + 2 * k + 1)))
        << k;
    const Block b = pw::philox::philox_block(seed, stream, zd_start / 4 + uint64_t(k / 2));
    const auto pd = pw::philox::box_muller_double(b.x[0], b.x[1], b.x[2], b.x[3]);
    EXPECT_EQ(zd[k], k % 2 == 0 ? pd.z0 : pd.z1) << k;
  }
}

TEST(Generator, FillIsReproducibleFromOffset) {
  Generator g(5, 0);
  g.set_offset(123);
  std::vector<float> a(1001), b(1001);
  g.fill_normal(a.data(), 1001, 1.5f, 2.0f);
  g.set_offset(123);
  g.fill_normal(b.data(), 1001, 1.5f, 2.0f);
  EXPECT_EQ(a, b);
}

TEST(Generator, UniformMomentsAndRange) {
  Generator g(11);
  const int n = 1000000;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < n; ++i) {
    const float u = g.uniform();
    ASSERT_GE(u, 0.0f);
    ASSERT_LT(u, 1.0f);
    sum += u;
    sum_sq += double(u) * u;
  }
  const double mean = sum / n, var = sum_sq / n - mean * mean;
  EXPECT_NEAR(mean, 0.5, 2e-3);  // sigma of the mean is 2.9e-4
  EXPECT_NEAR(var, 1.0 / 12, 1e-3);

  std::vector<float> f(n);
  g.fill_uniform(f.data(), n, -2.0f, 3.0f);
  const double fmean = std::accumulate(f.begin(), f.end(), 0.0) / n;
  EXPECT_NEAR(fmean, 0.5, 1e-2);
  EXPECT_GE(*std::min_element(f.begin(), f.end()), -2.0f);
  EXPECT_LE(*std::max_element(f.begin(), f.end()), 3.0f);

  double dsum = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = g.uniform_double();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    dsum += u;
  }
  EXPECT_NEAR(dsum / 100000, 0.5, 5e-3);
}

void expect_standard_normal(const std::vector<double>& z, double mean, double std) {
  const double n = double(z.size());
  double sum = 0, sum_sq = 0;
  for (double v : z) {
    ASSERT_TRUE(std::isfinite(v));
    sum += v;
    sum_sq += v * v;
  }
  const double m = sum / n, s = std::sqrt(sum_sq / n - m * m);
  EXPECT_NEAR(m, mean, 5e-3 * std);  // sigma of the mean is 1e-3 * std
  EXPECT_NEAR(s, std, 5e-3 * std);
}

TEST(Generator, NormalMoments) {
  const int n = 1000000;
  Generator g(12);
  std::vector<double> scalar(n);
  for (auto& v : scalar) v = g.normal();
  expect_standard_normal(scalar, 0.0, 1.0);

  std::vector<float> f(n);
  g.fill_normal(f.data(), n, 0.0f, 1.0f);
  expect_standard_normal(std::vector<double>(f.begin(), f.end()), 0.0, 1.0);

  std::vector<double> d(n);
  g.fill_normal(d.data(), n, 3.0, 0.5);
  expect_standard_normal(d, 3.0, 0.5);
}

TEST(Generator, RandintRangeAndUniformity) {
  Generator g(13);
  const int buckets = 10, n = 100000;
  std::vector<int> count(buckets, 0);
  for (int i = 0; i < n; ++i) {
    const int64_t v = g.randint(-3, 7);
    ASSERT_GE(v, -3);
    ASSERT_LT(v, 7);
    ++count[v + 3];
  }
  double chi2 = 0;
  const double expected = double(n) / buckets;
  for (int c : count) chi2 += (c - expected) * (c - expected) / expected;
  EXPECT_LT(chi2, 40.0);  // 9 degrees of freedom: mean 9, p(chi2 > 40) < 1e-5

  for (int i = 0; i < 1000; ++i) {
    const int64_t big = g.randint(0, int64_t{1} << 40);  // takes the 64-bit path
    ASSERT_GE(big, 0);
    ASSERT_LT(big, int64_t{1} << 40);
    const int64_t wide = g.randint(INT64_MIN, INT64_MAX);
    ASSERT_LT(wide, INT64_MAX);
    ASSERT_EQ(g.randint(5, 6), 5);
  }
  EXPECT_THROW(g.randint(5, 5), pw::Error);
  EXPECT_THROW(g.randint(6, 5), pw::Error);
}

TEST(Generator, PermutationIsAPermutation) {
  Generator g(14);
  for (int64_t n : {0, 1, 2, 17, 1000}) {
    std::vector<int64_t> p = g.permutation(n);
    ASSERT_EQ(p.size(), size_t(n));
    std::vector<int64_t> sorted = p;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < n; ++i) ASSERT_EQ(sorted[i], i);
  }
  const std::vector<int64_t> a = g.permutation(1000), b = g.permutation(1000);
  EXPECT_NE(a, b);
  EXPECT_THROW(g.permutation(-1), pw::Error);

  std::vector<std::string> words = {"a", "b", "c", "d", "e"};
  g.shuffle(words);
  std::sort(words.begin(), words.end());
  EXPECT_EQ(words, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
}

TEST(Generator, BadFillArgumentsThrow) {
  Generator g;
  float x[4];
  EXPECT_THROW(g.fill_uniform(x, -1, 0.0f, 1.0f), pw::Error);
  EXPECT_THROW(g.fill_uniform(x, 4, 1.0f, 0.0f), pw::Error);
  EXPECT_THROW(g.fill_normal(x, 4, 0.0f, -1.0f), pw::Error);
  EXPECT_THROW(g.fill_normal(static_cast<float*>(nullptr), 4, 0.0f, 1.0f), pw::Error);
}

TEST(Generator, ManualSeedResetsTheDefault) {
  pw::manual_seed(31337);
  std::vector<uint32_t> a(10);
  for (auto& x : a) x = pw::default_generator().next_u32();
  pw::manual_seed(31337);
  Generator fresh(31337);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(pw::default_generator().next_u32(), a[i]);
    EXPECT_EQ(fresh.next_u32(), a[i]);
  }
  EXPECT_EQ(pw::default_generator().seed(), 31337u);
}

}  // namespace
