// Device checks: sum / mean over dimensions, max / argmax (ties, NaN) and their backward,
// against the CPU on awkward sizes: reduction lengths 1, 31, 33, 1000, 4099 (and one long
// enough to split over many blocks), inner sizes 1 and > 1.
#include <cmath>

#include "tests/support/device_test.h"

using namespace pw;
using pw::testing::DeviceTest;
using pw::testing::max_rel_diff_any_device;

namespace {

struct Case {
  int64_t outer, R, inner;
};

// Every combination the kernel plans differently: short and long R (and the split into
// chunks, which needs few outputs and R > 4096 / inner >= 32 with R > 128), inner 1, < 32, >= 32.
std::vector<Case> reduction_cases() {
  std::vector<Case> cases;
  for (int64_t R : {1, 31, 33, 1000, 4099})
    for (int64_t inner : {1, 7, 40})
      for (int64_t outer : {1, 3}) cases.push_back({outer, R, inner});
  cases.push_back({1, 100003, 1});  // 25 chunks and a second pass
  cases.push_back({2, 20011, 33});  // chunks with a partial column tile
  cases.push_back({1000, 3, 1});    // many tiny rows: one thread per row
  return cases;
}

// Rounded down to integers (on the CPU): many ties.
Tensor floor_like(const Tensor& x) {
  std::vector<float> v = x.to_vector_f32();
  for (float& e : v) e = std::floor(e);
  return Tensor::from_vector(v, x.shape());
}

std::string name(const Case& c) {
  return "[" + std::to_string(c.outer) + ", " + std::to_string(c.R) + ", " + std::to_string(c.inner) + "]";
}

}  // namespace

class ReduceOnDevice : public DeviceTest {};

TEST_P(ReduceOnDevice, SumOverOneAxisMatchesTheCpu) {
  uint64_t seed = 10;
  for (const Case& c : reduction_cases()) {
    Tensor x = cpu_random({c.outer, c.R, c.inner}, seed++);
    Tensor want = sum(x, {1});
    Tensor got = sum(x.to(device()), {1});
    EXPECT_EQ(got.device(), device());
    // f32 accumulation against the CPU's double: rounding grows with the length.
    EXPECT_LE(max_rel_diff_any_device(got, want), 2e-6 * std::sqrt((double)c.R) + 1e-6) << name(c);
  }
}

TEST_P(ReduceOnDevice, SumIsDeterministic) {
  Tensor x = cpu_random({1, 100003, 1}, 20).to(device());
  EXPECT_EQ(sum(x).to_vector_f32(), sum(x).to_vector_f32());
  Tensor y = cpu_random({3, 4099, 40}, 21).to(device());
  EXPECT_EQ(sum(y, {1}).to_vector_f32(), sum(y, {1}).to_vector_f32());
}

TEST_P(ReduceOnDevice, SumOverSeveralDimsMeanAndBackward) {
  Tensor x = cpu_random({5, 7, 11, 3}, 30);
  Tensor dx = x.to(device());
  EXPECT_LE(max_rel_diff_any_device(sum(dx), sum(x)), 1e-5);
  EXPECT_LE(max_rel_diff_any_device(sum(dx, {0, 2}, true), sum(x, {0, 2}, true)), 1e-5);
  EXPECT_LE(max_rel_diff_any_device(sum(dx, {-1, 1}), sum(x, {-1, 1})), 1e-5);
  EXPECT_LE(max_rel_diff_any_device(mean(dx, {3}), mean(x, {3})), 1e-6);
  EXPECT_LE(max_rel_diff_any_device(mean(dx), mean(x)), 1e-6);
  // Backward of mean over dims (expand on the device), and the broadcast gradient of an add,
  // which sums over the broadcast dims.
  Tensor w = cpu_random({7, 1, 1}, 31);
  Tensor xc = x.detach(), wc = w.detach();
  xc.set_requires_grad(true);
  wc.set_requires_grad(true);
  Tensor xd = x.to(device()).detach(), wd = w.to(device()).detach();
  xd.set_requires_grad(true);
  wd.set_requires_grad(true);
  Tensor g = cpu_random({5, 7, 3}, 32);
  mean(add(xc, wc), {2}).backward(g);
  mean(add(xd, wd), {2}).backward(g.to(device()));
  EXPECT_EQ(xd.grad().device(), device());
  EXPECT_LE(max_rel_diff_any_device(xd.grad(), xc.grad()), 1e-6);
  EXPECT_LE(max_rel_diff_any_device(wd.grad(), wc.grad()), 1e-5);
}

TEST_P(ReduceOnDevice, MaxMatchesTheCpuWithTies) {
  uint64_t seed = 40;
  for (const Case& c : reduction_cases()) {
    // Small integers: many ties, so the first-index rule is exercised everywhere.
    Tensor x = floor_like(cpu_random({c.outer, c.R, c.inner}, seed++, -4, 4));
    MaxResult want = max(x, 1);
    MaxResult got = max(x.to(device()), 1);
    EXPECT_EQ(got.values.device(), device());
    EXPECT_EQ(got.values.to_vector_f32(), want.values.to_vector_f32()) << name(c);
    EXPECT_EQ(got.indices.to_vector_i32(), want.indices.to_vector_i32()) << name(c);
    EXPECT_EQ(argmax(x.to(device()), 1, true).to_vector_i32(), argmax(x, 1, true).to_vector_i32()) << name(c);
  }
}

TEST_P(ReduceOnDevice, MoreTilesThanBlocksLoopInsideABlock) {
  // 2^20 + 37 columns of R = 5 (blocks of 128 columns x 2 rows): 8193 tiles, more than the
  // grid's 8192 blocks, so one block reduces two tiles, reusing its shared memory.
  const int64_t inner = (1 << 20) + 37;
  Tensor x = cpu_random({1, 5, inner}, 45);
  Tensor dx = x.to(device());
  EXPECT_LE(max_rel_diff_any_device(sum(dx, {1}), sum(x, {1})), 1e-6);
  MaxResult want = max(x, 1), got = max(dx, 1);
  EXPECT_EQ(got.indices.to_vector_i32(), want.indices.to_vector_i32());
  EXPECT_EQ(got.values.to_vector_f32(), want.values.to_vector_f32());
}

TEST_P(ReduceOnDevice, MaxTreatsNaNAsTheMaximumLikeTheCpu) {
  for (const Case& c : std::vector<Case>{{3, 33, 1}, {2, 1000, 7}, {1, 4099, 40}, {1, 100003, 1}}) {
    std::vector<float> v = cpu_random({c.outer, c.R, c.inner}, 50).to_vector_f32();
    // NaNs at a few places (two in some lines: the first must win), -inf elsewhere.
    for (size_t k = 5; k < v.size(); k += 997) v[k] = NAN;
    for (size_t k = 11; k < v.size(); k += 1409) v[k] = NAN;
    v[0] = -INFINITY;
    Tensor x = Tensor::from_vector(v, {c.outer, c.R, c.inner});
    MaxResult want = max(x, 1);
    MaxResult got = max(x.to(device()), 1);
    EXPECT_EQ(got.indices.to_vector_i32(), want.indices.to_vector_i32()) << name(c);
    std::vector<float> gv = got.values.to_vector_f32(), wv = want.values.to_vector_f32();
    ASSERT_EQ(gv.size(), wv.size());
    for (size_t k = 0; k < gv.size(); ++k) {
      if (std::isnan(wv[k]))
        EXPECT_TRUE(std::isnan(gv[k])) << name(c) << " output " << k;
      else
        EXPECT_EQ(gv[k], wv[k]) << name(c) << " output " << k;
    }
  }
  // A line of -inf only: index 0, as on the CPU.
  Tensor ninf = Tensor::full({2, 37}, -INFINITY);
  EXPECT_EQ(argmax(ninf.to(device()), 1).to_vector_i32(), argmax(ninf, 1).to_vector_i32());
}

TEST_P(ReduceOnDevice, MaxBackwardScattersToTheArgmax) {
  uint64_t seed = 60;
  for (const Case& c : std::vector<Case>{{1, 1, 1}, {3, 31, 1}, {2, 33, 7}, {3, 1000, 40}, {1, 4099, 1}}) {
    for (bool keepdim : {false, true}) {
      Tensor x = floor_like(cpu_random({c.outer, c.R, c.inner}, seed++, -3, 3));
      Tensor g = cpu_random(keepdim ? Shape{c.outer, 1, c.inner} : Shape{c.outer, c.inner}, seed++);
      Tensor xc = x.detach();
      xc.set_requires_grad(true);
      max(xc, 1, keepdim).values.backward(g);
      Tensor xd = x.to(device()).detach();
      xd.set_requires_grad(true);
      max(xd, 1, keepdim).values.backward(g.to(device()));
      EXPECT_EQ(xd.grad().device(), device());
      EXPECT_LE(max_rel_diff_any_device(xd.grad(), xc.grad()), 0) << name(c);
    }
  }
  // Over another dimension of a 4-d tensor, through a strided (transposed) input.
  Tensor x = cpu_random({4, 5, 6, 3}, 70).transpose(1, 3);
  Tensor xc = x.detach(), xd = x.to(device()).detach();
  xc.set_requires_grad(true);
  xd.set_requires_grad(true);
  Tensor g = cpu_random({4, 3, 5}, 71);
  max(xc, 2).values.backward(g);
  max(xd, 2).values.backward(g.to(device()));
  EXPECT_LE(max_rel_diff_any_device(xd.grad(), xc.grad()), 0);
}

TEST_P(ReduceOnDevice, F64AndBadArgumentsAreRefusedClearly) {
  Tensor x = Tensor::ones({3, 4}, DType::f64).to(device());
  EXPECT_THROW(sum(x, {1}), Error);
  EXPECT_THROW(max(x, 1), Error);
  Tensor y = Tensor::ones({3, 4}).to(device());
  EXPECT_THROW(max(y, 2), Error);
  EXPECT_THROW(sum(y, {0, 0}), Error);
  EXPECT_THROW(max(Tensor::ones({3, 0}).to(device()), 1), Error);
  // Empty reductions: a sum over a zero-length dimension is 0, as on the CPU.
  EXPECT_EQ(sum(Tensor::ones({3, 0, 2}).to(device()), {1}).to_vector_f32(), std::vector<float>(6, 0.0f));
}

PW_INSTANTIATE_DEVICE_TEST(ReduceOnDevice);
