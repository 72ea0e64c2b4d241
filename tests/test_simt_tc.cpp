// Tests of simt's tensor-core instructions (kernels/simt/mma.h, used through
// kernels/cuda/mma.cuh): the TF32/BF16 conversions' rounding, mma.sync for both shapes and
// ldmatrix in every variant against fragments computed by hand from the PTX ISA's tables, the
// cp.async group semantics, and the misuses simt reports. Every kernel runs in the three thread
// orders.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/simt/tc_formats.h"
#include "tests/simt_kernels/tc/tc_kernels.h"
#include "tests/simt_kernels/test_support.h"

namespace kt = pw::kernels::simt::test_tc;
using pw::simt::testing::all_schedules;
using pw::simt::testing::DeviceBuffer;
using pw::simt::testing::SettingsGuard;

namespace {

constexpr int kTf32 = 0, kBf16 = 1;

// ---- the PTX ISA's fragment tables, as the ISA writes them (lane -> element) ----
// groupID g = lane >> 2, threadID_in_group t = lane % 4.
// m16n8k8 .tf32:  A a_i: row g (i = 0, 2) or g + 8 (i = 1, 3); col t (i < 2) or t + 4.
//                 B b_i: row t (i = 0) or t + 4; col g.
// m16n8k16 .bf16: A a_0..a_7 (two per register, a_0 low): row g for i in {0, 1, 4, 5}, else
//                 g + 8; col 2t + (i & 1), + 8 for i >= 4.  B b_0..b_3: row 2t + (i & 1), + 8
//                 for i >= 2; col g.
// C and D (both): c_i: row g (i < 2) or g + 8; col 2t + (i & 1).
struct Elem {
  int row, col;
};
Elem a_elem(int shape, int lane, int i) {
  const int g = lane >> 2, t = lane % 4;
  if (shape == kTf32) return {i % 2 ? g + 8 : g, i < 2 ? t : t + 4};
  return {(i == 0 || i == 1 || i == 4 || i == 5) ? g : g + 8, 2 * t + (i & 1) + (i >= 4 ? 8 : 0)};
}
Elem b_elem(int shape, int lane, int i) {
  const int g = lane >> 2, t = lane % 4;
  if (shape == kTf32) return {i == 0 ? t : t + 4, g};
  return {2 * t + (i & 1) + (i >= 2 ? 8 : 0), g};
}
Elem c_elem(int lane, int i) { return {i < 2 ? lane / 4 : lane / 4 + 8, 2 * (lane % 4) + (i & 1)}; }

uint32_t bits(float x) { return std::bit_cast<uint32_t>(x); }

// Registers of every lane for A (16 x K), B (K x 8), C (16 x 8), row-major matrices.
struct Fragments {
  std::vector<uint32_t> a = std::vector<uint32_t>(32 * 4), b = std::vector<uint32_t>(32 * 2);
  std::vector<float> c = std::vector<float>(32 * 4);
};
Fragments fragments(int shape, const std::vector<float>& A, const std::vector<float>& B, const std::vector<float>& C) {
  const int K = shape == kTf32 ? 8 : 16;
  Fragments f;
  for (int lane = 0; lane < 32; ++lane) {
    for (int i = 0; i < (shape == kTf32 ? 4 : 8); ++i) {
      const Elem e = a_elem(shape, lane, i);
      const float v = A[size_t(e.row * K + e.col)];
      if (shape == kTf32)
        f.a[size_t(4 * lane + i)] = bits(v);
      else
        f.a[size_t(4 * lane + i / 2)] |= uint32_t(pw::simt::bf16_round(v)) << (16 * (i % 2));
    }
    for (int i = 0; i < (shape == kTf32 ? 2 : 4); ++i) {
      const Elem e = b_elem(shape, lane, i);
      const float v = B[size_t(e.row * 8 + e.col)];
      if (shape == kTf32)
        f.b[size_t(2 * lane + i)] = bits(v);
      else
        f.b[size_t(2 * lane + i / 2)] |= uint32_t(pw::simt::bf16_round(v)) << (16 * (i % 2));
    }
    for (int i = 0; i < 4; ++i) f.c[size_t(4 * lane + i)] = C[size_t(c_elem(lane, i).row * 8 + c_elem(lane, i).col)];
  }
  return f;
}

std::vector<float> run_mma(int shape, const Fragments& f) {
  DeviceBuffer<uint32_t> a(f.a), b(f.b);
  DeviceBuffer<float> c(f.c), d(32 * 4);
  kt::mma_regs(shape, a.get(), b.get(), c.get(), d.get());
  return d.download();
}

std::vector<float> random_small_ints(size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(-8, 8);
  std::vector<float> v(n);
  for (float& x : v) x = float(d(rng));
  return v;
}

}  // namespace

TEST(SimtTensorCore, Tf32ConversionRoundsToNearestTiesAwayFromZero) {
  using pw::simt::tf32_round;
  const float ulp = std::ldexp(1.0f, -10);                            // of 1.0 in TF32
  EXPECT_EQ(tf32_round(1.0f + ulp / 2), 1.0f + ulp);                  // tie: away from zero
  EXPECT_EQ(tf32_round(-(1.0f + ulp / 2)), -(1.0f + ulp));            // on both sides
  EXPECT_EQ(tf32_round(1.0f + 3 * ulp / 2), 1.0f + 2 * ulp);          // tie again: away, not to even
  EXPECT_EQ(tf32_round(std::nextafter(1.0f + ulp / 2, 0.0f)), 1.0f);  // just below the tie
  EXPECT_EQ(tf32_round(2.0f - ulp / 4), 2.0f);                        // carry into the exponent
  EXPECT_EQ(bits(tf32_round(0.1f)) & 0x1FFFu, 0u);                    // low 13 bits cleared
  EXPECT_TRUE(std::isinf(tf32_round(INFINITY)));
  EXPECT_TRUE(std::isnan(tf32_round(NAN)));
  EXPECT_EQ(pw::simt::tf32_truncate(1.0f + ulp - std::ldexp(1.0f, -23)), 1.0f);  // mma ignores low bits
}

TEST(SimtTensorCore, Bf16ConversionRoundsToNearestTiesToEven) {
  using pw::simt::bf16_rounded;
  const float ulp = std::ldexp(1.0f, -7);                       // of 1.0 in BF16
  EXPECT_EQ(bf16_rounded(1.0f + ulp / 2), 1.0f);                // tie: to the even 1.0
  EXPECT_EQ(bf16_rounded(1.0f + 3 * ulp / 2), 1.0f + 2 * ulp);  // tie: to the even 1 + 2 ulp
  EXPECT_EQ(bf16_rounded(-(1.0f + 3 * ulp / 2)), -(1.0f + 2 * ulp));
  EXPECT_EQ(bf16_rounded(std::nextafter(1.0f + ulp / 2, 2.0f)), 1.0f + ulp);  // just above a tie
  EXPECT_EQ(pw::simt::bf16_round(NAN), 0x7FFFu);
  EXPECT_EQ(pw::simt::cvt_bf16x2(1.0f, -2.0f), 0xC0003F80u);  // lo = 1.0 (0x3F80), hi = -2.0 (0xC000)
}

TEST(SimtTensorCore, MmaOneElementLandsWhereThePtxTablesSay) {
  // Hand-placed: A[9][6] = 3 is a3 of lane 6 (row g + 8, g = 1; col t + 4, t = 2); B[6][5] = 2 is
  // b1 of lane 22 (row t + 4, t = 2; col g = 5); so D[9][5] = 6 is d3 of lane 6 (row g + 8, col
  // 2t + 1). For m16n8k16 .bf16, A[9][13] = 3 is the high half of a3 of lane 6 and B[13][5] = 2
  // the high half of b1 of lane 22; D is laid out alike.
  SettingsGuard guard;
  for (int shape : {kTf32, kBf16})
    for (auto [s, seed] : all_schedules()) {
      pw::simt::set_schedule(s, seed);
      Fragments f;
      f.a[4 * 6 + 3] = shape == kTf32 ? bits(3.0f) : uint32_t(pw::simt::bf16_round(3.0f)) << 16;
      f.b[2 * 22 + 1] = shape == kTf32 ? bits(2.0f) : uint32_t(pw::simt::bf16_round(2.0f)) << 16;
      const std::vector<float> d = run_mma(shape, f);
      for (int i = 0; i < 32 * 4; ++i) EXPECT_EQ(d[size_t(i)], i == 4 * 6 + 3 ? 6.0f : 0.0f) << "register " << i;
    }
}

TEST(SimtTensorCore, MmaOfSmallIntegersIsExact) {
  // Every register distinct: a layout error anywhere moves some product.
  SettingsGuard guard;
  std::mt19937 rng(5);
  for (int shape : {kTf32, kBf16}) {
    const int K = shape == kTf32 ? 8 : 16;
    const std::vector<float> A = random_small_ints(size_t(16 * K), rng), B = random_small_ints(size_t(K * 8), rng),
                             C = random_small_ints(16 * 8, rng);
    std::vector<float> D(16 * 8);
    for (int m = 0; m < 16; ++m)
      for (int n = 0; n < 8; ++n) {
        float s = C[size_t(m * 8 + n)];
        for (int k = 0; k < K; ++k) s += A[size_t(m * K + k)] * B[size_t(k * 8 + n)];
        D[size_t(m * 8 + n)] = s;
      }
    for (auto [s, seed] : all_schedules()) {
      pw::simt::set_schedule(s, seed);
      const std::vector<float> d = run_mma(shape, fragments(shape, A, B, C));
      for (int lane = 0; lane < 32; ++lane)
        for (int i = 0; i < 4; ++i)
          EXPECT_EQ(d[size_t(4 * lane + i)], D[size_t(c_elem(lane, i).row * 8 + c_elem(lane, i).col)])
              << "shape " << shape << " lane " << lane << " d" << i;
    }
  }
}

TEST(SimtTensorCore, Tf32MmaIgnoresTheLow13MantissaBits) {
  // A[0][0] = 1 + 2^-10 + 2^-12 unconverted: the mma reads 1 + 2^-10. B[0][0] = 1.
  Fragments f;
  f.a[0] = bits(1.0f + std::ldexp(1.0f, -10) + std::ldexp(1.0f, -12));
  f.b[0] = bits(1.0f);
  f.c[0] = std::ldexp(1.0f, -20);  // C keeps its fp32 bits
  const std::vector<float> d = run_mma(kTf32, f);
  EXPECT_EQ(d[0], 1.0f + std::ldexp(1.0f, -10) + std::ldexp(1.0f, -20));
}

TEST(SimtTensorCore, LdmatrixEveryVariantMatchesThePtxTable) {
  // Row r holds v(r, c) = 16 r + c + 1. Lane l addresses row perm(l), so that the rows a lane
  // receives come from the other lanes' addresses. PTX: for matrix j (rows addressed by lanes
  // 8j..8j+7), lane i receives row i / 4, elements 2 (i % 4) and 2 (i % 4) + 1 (the first in the
  // low half); .trans: elements (2 (i % 4), i / 4) and (2 (i % 4) + 1, i / 4).
  SettingsGuard guard;
  std::vector<uint16_t> rows(32 * 8);
  for (int r = 0; r < 32; ++r)
    for (int c = 0; c < 8; ++c) rows[size_t(8 * r + c)] = uint16_t(16 * r + c + 1);
  std::vector<int> perm(32);
  for (int l = 0; l < 32; ++l) perm[size_t(l)] = (5 * l + 3) % 32;
  DeviceBuffer<uint16_t> drows(rows);
  DeviceBuffer<int> dperm(perm);
  const auto v = [&](int j, int r, int c) { return uint32_t(rows[size_t(8 * perm[size_t(8 * j + r)] + c)]); };
  for (int matrices : {1, 2, 4})
    for (bool trans : {false, true})
      for (auto [s, seed] : all_schedules()) {
        pw::simt::set_schedule(s, seed);
        DeviceBuffer<uint32_t> out(32 * 4);
        kt::ldmatrix(drows.get(), dperm.get(), matrices, trans, out.get());
        const std::vector<uint32_t> got = out.download();
        for (int i = 0; i < 32; ++i)
          for (int j = 0; j < matrices; ++j) {
            const uint32_t want = trans ? v(j, 2 * (i % 4), i / 4) | v(j, 2 * (i % 4) + 1, i / 4) << 16
                                        : v(j, i / 4, 2 * (i % 4)) | v(j, i / 4, 2 * (i % 4) + 1) << 16;
            EXPECT_EQ(got[size_t(4 * i + j)], want)
                << "x" << matrices << (trans ? ".trans" : "") << " lane " << i << " register " << j;
          }
      }
  // By hand, x1 with lane l addressing row l: lane 5 holds v(1, 2) = 19 | v(1, 3) = 20, and
  // with .trans v(2, 1) = 34 | v(3, 1) = 50.
  std::vector<int> identity(32);
  for (int l = 0; l < 32; ++l) identity[size_t(l)] = l;
  DeviceBuffer<int> did(identity);
  DeviceBuffer<uint32_t> out(32 * 4);
  kt::ldmatrix(drows.get(), did.get(), 1, false, out.get());
  EXPECT_EQ(out.download()[4 * 5], 19u | 20u << 16);
  kt::ldmatrix(drows.get(), did.get(), 1, true, out.get());
  EXPECT_EQ(out.download()[4 * 5], 34u | 50u << 16);
}

TEST(SimtTensorCore, CpAsyncLandsOnlyAtItsWaitGroup) {
  SettingsGuard guard;
  std::vector<float> src(16);
  for (int i = 0; i < 16; ++i) src[size_t(i)] = float(i + 1);
  DeviceBuffer<float> dsrc(src);
  DeviceBuffer<unsigned> snap(5 * 16);
  kt::cp_async_groups(dsrc.get(), snap.get());
  const std::vector<unsigned> got = snap.download();
  const unsigned poison = 0xFFFFFFFFu;
  // Group 0 (S[0..3]) lands at step 1, group 1 (S[4..6]) at 2, group 2 (S[8..11]: 8 bytes from
  // src, 8 zero-filled) at 3, the copy committed last (S[12], zero-filled) at 4. In flight, a
  // destination reads as poison; S[7] and S[13..15] are never copied to (they stay 0).
  for (int step = 0; step < 5; ++step)
    for (int i = 0; i < 16; ++i) {
      const int group = i < 4 ? 0 : i < 7 ? 1 : (i >= 8 && i < 12) ? 2 : i == 12 ? 3 : -1;
      unsigned want = 0;
      if (group >= 0) want = step <= group ? poison : i < 10 ? bits(src[size_t(i)]) : 0u;
      EXPECT_EQ(got[size_t(16 * step + i)], want) << "step " << step << " S[" << i << "]";
    }
}

TEST(SimtTensorCore, CopiesLeftPendingByABlockDoNotLandInTheNext) {
  SettingsGuard guard;
  pw::simt::set_workers(1);  // the same worker runs both blocks
  DeviceBuffer<float> src(std::vector<float>{1, 2, 3, 4});
  DeviceBuffer<float> out(4);
  kt::cp_async_left_pending(src.get(), out.get(), 0);
  kt::cp_async_left_pending(src.get(), out.get(), 1);
  EXPECT_EQ(out.download(), (std::vector<float>{7, 7, 7, 7}));
}

namespace {
void expect_error(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing '" << part << "'";
  } catch (const pw::simt::Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(SimtTensorCore, MisusesAreReported) {
  Fragments f;
  DeviceBuffer<uint32_t> a(f.a), b(f.b);
  DeviceBuffer<float> c(f.c), d(64 * 4);
  expect_error([&] { kt::mma_regs(kTf32, a.get(), b.get(), c.get(), d.get(), 16); }, "needs all 32 lanes");
  expect_error([&] { kt::mma_regs(kBf16, a.get(), b.get(), c.get(), d.get(), 32, 3); }, "lane 3 (thread 3) has exited");
  // The even lanes at one mma.sync.m16n8k8.tf32, the odd ones at the same instruction on another line.
  expect_error([&] { kt::mma_regs(kTf32, a.get(), b.get(), c.get(), d.get(), 32, -1, true); },
               "all 32 lanes must execute the same instruction");
  // A bf16 mma meeting a tf32 one.
  expect_error([&] { kt::mma_regs(kBf16, a.get(), b.get(), c.get(), d.get(), 32, -1, true); },
               "met the warp at mma.sync.m16n8k");
  std::vector<uint16_t> rows(32 * 8, 1);
  std::vector<int> identity(32);
  for (int l = 0; l < 32; ++l) identity[size_t(l)] = l;
  DeviceBuffer<uint16_t> drows(rows);
  DeviceBuffer<int> did(identity);
  DeviceBuffer<uint32_t> out(32 * 4);
  expect_error([&] { kt::ldmatrix(drows.get(), did.get(), 4, false, out.get(), 4); }, "is not 16-byte aligned");
  DeviceBuffer<float> src(16);
  expect_error([&] { kt::cp_async_misaligned(src.get(), 2, 16); }, "is not aligned to the copy's size");
  expect_error([&] { kt::cp_async_misaligned(src.get(), 1, 8); }, "is not aligned to the copy's size");
}
