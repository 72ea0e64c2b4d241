// Device checks: max / average / adaptive-average pooling and local response normalization,
// forward and backward through autograd, against the CPU: every configuration of
// tests/test_pool.cpp (padding, ceil mode, count_include_pad, dilation, non-square windows and
// strides, bins that do not divide) plus awkward larger sizes (primes, 1x1 planes, AlexNet's
// 55 -> 27). Max pooling must match exactly (values, i32 indices, first index on ties, NaN),
// and so must every pooling input gradient: the device gathers the same terms in the CPU's order.
#include <cmath>
#include <limits>
#include <string>

#include "tests/device_checks/cpu_vs_device.h"

using namespace pw;
using pw::testing::DeviceTest;
using pw::testing::max_rel_diff_any_device;
using pw::testing::run_on_cpu_and_device;
using pw::testing::same_values;

namespace {

Pool2dParams pool(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph = 0, int64_t pw = 0, int64_t dh = 1,
                  int64_t dw = 1, bool ceil = false) {
  return {kh, kw, sh, sw, ph, pw, dh, dw, ceil};
}

Pool2dParams square(int64_t k, int64_t s, int64_t pad = 0, bool ceil = false) {
  return pool(k, k, s, s, pad, pad, 1, 1, ceil);
}

std::string describe(const Shape& shape, const Pool2dParams& p) {
  return shape_str(shape) + " k" + std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w) + " s" +
         std::to_string(p.stride_h) + "x" + std::to_string(p.stride_w) + " p" + std::to_string(p.pad_h) + "x" +
         std::to_string(p.pad_w) + " d" + std::to_string(p.dilation_h) + "x" + std::to_string(p.dilation_w) +
         (p.ceil_mode ? " ceil" : " floor") + (p.count_include_pad ? " incl" : " excl");
}

// test_pool.cpp's max-pool cases, then larger awkward ones.
std::vector<std::pair<Shape, Pool2dParams>> max_pool_cases() {
  return {
      {{2, 3, 7, 9}, square(3, 2)},
      {{2, 3, 7, 9}, square(3, 2, 1, true)},
      {{1, 2, 6, 6}, square(3, 2, 0, true)},
      {{2, 2, 5, 5}, square(2, 1)},
      {{1, 3, 8, 7}, pool(3, 2, 2, 1, 1, 1)},
      {{1, 3, 8, 7}, pool(3, 2, 2, 3, 1, 1, 1, 1, true)},
      {{2, 2, 9, 8}, pool(3, 3, 2, 2, 1, 1, 2, 2)},
      {{1, 2, 9, 10}, pool(2, 3, 3, 2, 1, 0, 3, 2, true)},
      {{2, 3, 55, 55}, square(3, 2)},           // AlexNet 55 -> 27
      {{3, 5, 37, 29}, square(3, 2, 1, true)},  // primes, ceil with padding
      {{2, 7, 17, 13}, square(2, 2, 1, true)},
      {{1, 1, 1, 1}, square(1, 1)},
      {{5, 1, 1, 3}, pool(1, 3, 1, 1, 0, 1)},
      {{1, 3, 31, 33}, pool(5, 4, 3, 2, 2, 1, 2, 3, true)},
      {{2, 2, 12, 12}, square(4, 4)},  // windows that tile exactly
  };
}

std::vector<std::pair<Shape, Pool2dParams>> avg_pool_cases() {
  std::vector<std::pair<Shape, Pool2dParams>> cases;
  for (bool include_pad : {true, false})
    for (bool ceil : {false, true}) {
      std::vector<std::pair<Shape, Pool2dParams>> some = {
          {{2, 3, 7, 9}, square(3, 2, 1, ceil)},
          {{1, 2, 6, 6}, square(3, 2, 0, ceil)},
          {{2, 2, 5, 8}, square(2, 2, 1, ceil)},
          {{1, 3, 8, 7}, pool(3, 2, 2, 3, 1, 1, 1, 1, ceil)},
          {{1, 2, 9, 10}, pool(5, 4, 3, 2, 2, 1, 1, 1, ceil)},
          {{3, 5, 37, 29}, square(3, 2, 1, ceil)},
          {{1, 1, 1, 1}, square(1, 1, 0, ceil)},
          {{2, 3, 23, 19}, pool(7, 3, 1, 2, 3, 1, 1, 1, ceil)},
      };
      for (auto [shape, p] : some) {
        p.count_include_pad = include_pad;
        cases.push_back({shape, p});
      }
    }
  return cases;
}

}  // namespace

class PoolOnDevice : public DeviceTest {};

TEST_P(PoolOnDevice, MaxPoolValuesIndicesAndGradientsMatchExactly) {
  uint64_t seed = 100;
  for (const auto& [shape, p] : max_pool_cases()) {
    SCOPED_TRACE(describe(shape, p));
    Tensor x = cpu_random(shape, ++seed);
    auto want = max_pool2d_with_indices(x, p);
    auto got = max_pool2d_with_indices(x.to(device()), p);
    EXPECT_EQ(got.values.device(), device());
    EXPECT_EQ(got.indices.dtype(), DType::i32);
    EXPECT_TRUE(same_values(got.values, want.values));
    EXPECT_EQ(got.indices.to_vector_i32(), want.indices.to_vector_i32());
    auto r = run_on_cpu_and_device([p](auto v) { return max_pool2d(v[0], p); }, {x}, device(), seed);
    EXPECT_EQ(r.dev_grads[0].device(), device());
    EXPECT_LE(max_rel_diff_any_device(r.dev_grads[0], r.cpu_grads[0]), 0);
  }
}

TEST_P(PoolOnDevice, MaxPoolTiesAndNaN) {
  // Few distinct values: many ties, which must resolve to the first index of the window, and
  // overlapping windows that share a maximum accumulate its gradient.
  Tensor x = cpu_random({2, 3, 19, 17}, 6, 0, 3).to(DType::i32).to(DType::f32);
  for (const Pool2dParams& p : {square(3, 1), square(3, 2, 1, true), pool(2, 3, 1, 2, 1, 1, 2, 1)}) {
    SCOPED_TRACE(describe(x.shape(), p));
    auto want = max_pool2d_with_indices(x, p);
    auto got = max_pool2d_with_indices(x.to(device()), p);
    EXPECT_TRUE(same_values(got.values, want.values));
    EXPECT_EQ(got.indices.to_vector_i32(), want.indices.to_vector_i32());
    auto r = run_on_cpu_and_device([p](auto v) { return max_pool2d(v[0], p); }, {x}, device(), 7);
    EXPECT_LE(max_rel_diff_any_device(r.dev_grads[0], r.cpu_grads[0]), 0);
  }
  // NaN wins its windows (the first NaN's index), on every device alike.
  std::vector<float> v = cpu_random({1, 2, 9, 8}, 5).to_vector_f32();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  v[3] = nan, v[20] = nan, v[21] = nan, v[100] = nan, v[143] = nan;
  Tensor xn = Tensor::from_vector(v, {1, 2, 9, 8});
  for (const Pool2dParams& p : {square(3, 2, 1, true), square(2, 1)}) {
    auto want = max_pool2d_with_indices(xn, p);
    auto got = max_pool2d_with_indices(xn.to(device()), p);
    EXPECT_TRUE(same_values(got.values, want.values));
    EXPECT_EQ(got.indices.to_vector_i32(), want.indices.to_vector_i32());
  }
}

TEST_P(PoolOnDevice, AvgPoolMatchesTheCpu) {
  uint64_t seed = 200;
  for (const auto& [shape, p] : avg_pool_cases()) {
    SCOPED_TRACE(describe(shape, p));
    Tensor x = cpu_random(shape, ++seed);
    auto r = run_on_cpu_and_device([p](auto v) { return avg_pool2d(v[0], p); }, {x}, device(), seed);
    // The window sum is float on the device, double on the CPU: a few ulps.
    EXPECT_LE(max_rel_diff_any_device(r.dev_out, r.cpu_out), 1e-6);
    // dy / divisor, summed in the CPU's order: exact.
    EXPECT_LE(max_rel_diff_any_device(r.dev_grads[0], r.cpu_grads[0]), 0);
  }
}

TEST_P(PoolOnDevice, AdaptiveAvgPoolMatchesTheCpu) {
  const std::vector<std::tuple<Shape, int64_t, int64_t>> cases = {
      {{2, 3, 7, 5}, 3, 4}, {{1, 2, 5, 7}, 4, 3},   {{2, 2, 3, 3}, 6, 6},   {{1, 3, 4, 6}, 1, 1}, {{1, 2, 9, 4}, 4, 7},
      {{2, 1, 6, 6}, 6, 6}, {{2, 5, 13, 13}, 6, 6}, {{3, 4, 37, 41}, 5, 7}, {{1, 1, 1, 1}, 3, 2}, {{2, 3, 64, 3}, 1, 1},
  };
  uint64_t seed = 300;
  for (const auto& [shape, oh, ow] : cases) {
    SCOPED_TRACE(shape_str(shape) + " -> " + std::to_string(oh) + "x" + std::to_string(ow));
    Tensor x = cpu_random(shape, ++seed);
    const int64_t h = oh, w = ow;
    auto r = run_on_cpu_and_device([h, w](auto v) { return adaptive_avg_pool2d(v[0], h, w); }, {x}, device(), seed);
    EXPECT_LE(max_rel_diff_any_device(r.dev_out, r.cpu_out), 1e-6);
    EXPECT_LE(max_rel_diff_any_device(r.dev_grads[0], r.cpu_grads[0]), 0);
  }
}

TEST_P(PoolOnDevice, LocalResponseNormMatchesTheCpu) {
  struct Case {
    Shape shape;
    int64_t size;
    double alpha, beta, k;
  };
  const std::vector<Case> cases = {
      {{2, 7, 3, 4}, 5, 0.8, 0.75, 1.0},    {{2, 7, 3, 4}, 5, 0.8, 0.75, 2.0},
      {{1, 6, 4, 3}, 3, 1.5, 0.75, 1.0},    {{1, 6, 4, 3}, 3, 1.5, 0.6, 2.0},
      {{2, 5, 2, 3}, 4, 1.0, 0.75, 1.0},    {{1, 3, 3, 3}, 7, 2.0, 0.75, 1.0},
      {{2, 4, 5}, 3, 1.0, 0.9, 1.5},        {{1, 4, 2, 2}, 1, 1.0, 0.75, 1.0},
      {{2, 5, 3, 3}, 5, 1e-4, 0.75, 2.0},   {{3, 96, 13, 11}, 5, 1e-4, 0.75, 2.0},  // AlexNet-like
      {{2, 9, 5, 6}, 5, 0.5, 0.75, 1.0},    {{1, 1, 1, 1}, 2, 1.0, 0.75, 1.0},
      {{2, 17, 7, 1, 3}, 6, 0.9, 0.8, 1.2},  // 5-D input, even window
  };
  uint64_t seed = 400;
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.shape) + " size " + std::to_string(c.size));
    Tensor x = cpu_random(c.shape, ++seed, -2, 2);
    auto r = run_on_cpu_and_device([c](auto v) { return local_response_norm(v[0], c.size, c.alpha, c.beta, c.k); }, {x},
                                   device(), seed);
    // Window sums and the power in float (the CPU in double).
    EXPECT_LE(max_rel_diff_any_device(r.dev_out, r.cpu_out), 1e-6);
    EXPECT_LE(max_rel_diff_any_device(r.dev_grads[0], r.cpu_grads[0]), 2e-6);
  }
}

TEST_P(PoolOnDevice, BackwardIsDeterministic) {
  Tensor x = cpu_random({4, 6, 29, 31}, 500).to(device());
  Tensor g = cpu_random({4, 6, 15, 16}, 501).to(device());
  auto grad_of = [&](auto op) {
    Tensor xi = x.detach();
    xi.set_requires_grad(true);
    op(xi).backward(g);
    return xi.grad().to_vector_f32();
  };
  auto avg = [](const Tensor& t) { return avg_pool2d(t, square(3, 2, 1, true)); };
  auto mx = [](const Tensor& t) { return max_pool2d(t, square(3, 2, 1, true)); };
  EXPECT_EQ(grad_of(avg), grad_of(avg));
  EXPECT_EQ(grad_of(mx), grad_of(mx));
}

TEST_P(PoolOnDevice, F64IsRefusedClearly) {
  Tensor x = Tensor::ones({1, 2, 6, 6}, DType::f64).to(device());
  EXPECT_THROW(max_pool2d(x, square(2, 2)), Error);
  EXPECT_THROW(avg_pool2d(x, square(2, 2)), Error);
  EXPECT_THROW(adaptive_avg_pool2d(x, 2, 2), Error);
  EXPECT_THROW(local_response_norm(x, 3), Error);
}

PW_INSTANTIATE_DEVICE_TEST(PoolOnDevice);
