// Tests for max_pool2d, avg_pool2d, adaptive_avg_pool2d and local_response_norm: output sizes
// (floor/ceil mode as in PyTorch and Caffe), hand-computed values, f64 gradient checks over
// padding, ceil mode, count_include_pad and dilation, backward kernels writing every element
// of NaN-poisoned buffers, f32 against f64, and argument errors.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels/cpu/pool.h"
#include "tests/support/gradcheck.h"

using namespace pw;
using pw::testing::all_close;
using pw::testing::expect_error;
using pw::testing::gradcheck;
using pw::testing::random_input;

namespace {

Tensor f64(std::vector<double> v, const Shape& s) { return Tensor::from_vector(v, s); }

Tensor arange_plane(int64_t H, int64_t W) {  // 1 .. H*W in one [1, 1, H, W] plane
  std::vector<double> v(H * W);
  for (int64_t i = 0; i < H * W; ++i) v[i] = double(i + 1);
  return f64(v, {1, 1, H, W});
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

// Pool2dParams from kernel, stride, padding, dilation (h, w each) and ceil mode, in that order.
Pool2dParams pool(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph = 0, int64_t pw = 0, int64_t dh = 1,
                  int64_t dw = 1, bool ceil = false) {
  return {kh, kw, sh, sw, ph, pw, dh, dw, ceil};
}

Pool2dParams square(int64_t k, int64_t s, int64_t pad = 0, bool ceil = false) {
  return pool(k, k, s, s, pad, pad, 1, 1, ceil);
}

}  // namespace

// ---------------------------------------------------------------- output sizes

TEST(Pool2d, OutputSizes) {
  // Caffe's ceil rounding: 6x6, kernel 3, stride 2 gives 3x3 (floor would give 2x2).
  EXPECT_EQ(pool_output_size(6, 3, 2, 0, 1, true), 3);
  EXPECT_EQ(pool_output_size(6, 3, 2, 0, 1, false), 2);
  EXPECT_EQ(max_pool2d(Tensor::zeros({1, 1, 6, 6}), square(3, 2, 0, true)).shape(), (Shape{1, 1, 3, 3}));
  // AlexNet: 55 -> 27 -> (conv) 27 -> 13 -> ... 13 -> 6 with kernel 3 stride 2, either rounding.
  for (bool ceil : {false, true}) {
    EXPECT_EQ(max_pool2d(Tensor::zeros({2, 3, 55, 55}), square(3, 2, 0, ceil)).shape(), (Shape{2, 3, 27, 27}));
    EXPECT_EQ(pool_output_size(27, 3, 2, 0, 1, ceil), 13);
    EXPECT_EQ(pool_output_size(13, 3, 2, 0, 1, ceil), 6);
  }
  // Ceil mode drops a last window that would start in the right padding (PyTorch's rule):
  // 5 with kernel 2, stride 2, padding 1 is 3 windows (starts -1, 1, 3), not 4 (start 5).
  EXPECT_EQ(pool_output_size(5, 2, 2, 1, 1, true), 3);
  EXPECT_EQ(pool_output_size(5, 2, 2, 1, 1, false), 3);
  EXPECT_EQ(pool_output_size(7, 3, 2, 1, 1, true), 4);  // starts -1, 1, 3, 5
  EXPECT_EQ(pool_output_size(7, 3, 2, 1, 1, false), 4);
  EXPECT_EQ(pool_output_size(8, 3, 2, 1, 1, true), 5);  // the 5th starts at 7, inside
  EXPECT_EQ(pool_output_size(8, 3, 2, 1, 1, false), 4);
  // Dilation widens the window: 9 with kernel 3 dilation 2 spans 5.
  EXPECT_EQ(pool_output_size(9, 3, 1, 0, 2, false), 5);
  EXPECT_EQ(pool_output_size(2, 3, 1, 0, 1, false), 0);
}

// ---------------------------------------------------------------- max pool

TEST(MaxPool2d, HandComputedValuesAndIndices) {
  for (DType dt : {DType::f64, DType::f32}) {
    auto r = max_pool2d_with_indices(arange_plane(4, 4).to(dt), square(2, 2));
    EXPECT_EQ(r.values.to_vector_f64(), (std::vector<double>{6, 8, 14, 16}));
    EXPECT_EQ(r.indices.dtype(), DType::i32);
    EXPECT_EQ(r.indices.to_vector_i32(), (std::vector<int32_t>{5, 7, 13, 15}));
  }
  // Padding never wins, even against negative values; ceil mode adds the partial windows.
  Tensor neg = mul(arange_plane(3, 3), -1.0);  // -1 .. -9
  auto r = max_pool2d_with_indices(neg, square(2, 2, 1));
  EXPECT_EQ(r.values.to_vector_f64(), (std::vector<double>{-1, -2, -4, -5}));
  EXPECT_EQ(r.indices.to_vector_i32(), (std::vector<int32_t>{0, 1, 3, 4}));
  EXPECT_EQ(max_pool2d(arange_plane(3, 3), square(2, 2, 0, true)).to_vector_f64(), (std::vector<double>{5, 6, 8, 9}));
  // Dilation 2 samples every other element: the 3x3 dilated window on 5x5 sees 1,3,5,11,...,25.
  Pool2dParams dil = pool(3, 3, 1, 1, 0, 0, 2, 2);
  EXPECT_EQ(max_pool2d_with_indices(arange_plane(5, 5), dil).indices.to_vector_i32(), (std::vector<int32_t>{24}));
  // Ties pick the first element of the window in row-major order.
  auto ties = max_pool2d_with_indices(Tensor::ones({1, 1, 4, 4}, DType::f64), square(2, 2));
  EXPECT_EQ(ties.indices.to_vector_i32(), (std::vector<int32_t>{0, 2, 8, 10}));
}

TEST(MaxPool2d, BackwardRoutesToTheMaximum) {
  Tensor x = arange_plane(4, 4);
  x.set_requires_grad(true);
  max_pool2d(x, square(3, 1)).backward(f64({1, 2, 3, 4}, {1, 1, 2, 2}));
  // windows' maxima: 11, 12, 15, 16 (positions 10, 11, 14, 15)
  std::vector<double> want(16, 0.0);
  want[10] = 1, want[11] = 2, want[14] = 3, want[15] = 4;
  EXPECT_EQ(x.grad().to_vector_f64(), want);
  // Overlapping windows sharing a maximum accumulate: 2x2 stride 1 over a peak in the middle.
  Tensor y = f64({0, 0, 0, 0, 9, 0, 0, 0, 0}, {1, 1, 3, 3});
  y.set_requires_grad(true);
  max_pool2d(y, square(2, 1)).backward(Tensor::ones({1, 1, 2, 2}, DType::f64));
  EXPECT_EQ(y.grad().to_vector_f64(), (std::vector<double>{0, 0, 0, 0, 4, 0, 0, 0, 0}));
}

TEST(MaxPool2d, Gradcheck) {
  const std::vector<std::pair<Shape, Pool2dParams>> cases = {
      {{2, 3, 7, 9}, square(3, 2)},
      {{2, 3, 7, 9}, square(3, 2, 1, true)},
      {{1, 2, 6, 6}, square(3, 2, 0, true)},
      {{2, 2, 5, 5}, square(2, 1)},
      {{1, 3, 8, 7}, pool(3, 2, 2, 1, 1, 1)},
      {{1, 3, 8, 7}, pool(3, 2, 2, 3, 1, 1, 1, 1, true)},
      {{2, 2, 9, 8}, pool(3, 3, 2, 2, 1, 1, 2, 2)},
      {{1, 2, 9, 10}, pool(2, 3, 3, 2, 1, 0, 3, 2, true)},
  };
  uint64_t seed = 300;
  for (const auto& [shape, p] : cases) {
    SCOPED_TRACE(shape_str(shape) + " k" + std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w));
    Tensor x = random_input(shape, ++seed);  // distinct values, so no ties
    EXPECT_TRUE(gradcheck([p](auto v) { return max_pool2d(v[0], p); }, {x}, {.skip_kinks = true}));
  }
}

// ---------------------------------------------------------------- avg pool

TEST(AvgPool2d, HandComputedValues) {
  // 1..9 in 3x3, kernel 2 stride 2 ceil mode: partial windows divide by their own size.
  EXPECT_EQ(avg_pool2d(arange_plane(3, 3), square(2, 2, 0, true)).to_vector_f64(),
            (std::vector<double>{3, 4.5, 7.5, 9}));
  // Ones 4x4, kernel 3 stride 2 padding 1 ceil mode (3x3 output, window rows [-1,2), [1,4),
  // [3,5) clipped to the padded input). count_include_pad: divisor 3*3, 3*2 or 2*2 as clipped;
  // without it every cell averages ones to 1.
  Pool2dParams p = square(3, 2, 1, true);
  expect_near(avg_pool2d(Tensor::ones({1, 1, 4, 4}, DType::f64), p).to_vector_f64(),
              {4. / 9, 6. / 9, 2. / 6, 6. / 9, 1, 3. / 6, 2. / 6, 3. / 6, 1. / 4});
  p.count_include_pad = false;
  expect_near(avg_pool2d(Tensor::ones({1, 1, 4, 4}, DType::f64), p).to_vector_f64(), std::vector<double>(9, 1.0));
  // Floor mode with padding 1 on 1..9, kernel 2 stride 2: windows [-1,1) and [1,3).
  Pool2dParams q = square(2, 2, 1);
  EXPECT_EQ(avg_pool2d(arange_plane(3, 3), q).to_vector_f64(), (std::vector<double>{1. / 4, 5. / 4, 11. / 4, 28. / 4}));
  q.count_include_pad = false;
  EXPECT_EQ(avg_pool2d(arange_plane(3, 3), q).to_vector_f64(), (std::vector<double>{1, 2.5, 5.5, 7}));
}

TEST(AvgPool2d, Gradcheck) {
  uint64_t seed = 400;
  for (bool include_pad : {true, false})
    for (bool ceil : {false, true}) {
      std::vector<std::pair<Shape, Pool2dParams>> cases = {
          {{2, 3, 7, 9}, square(3, 2, 1, ceil)},
          {{1, 2, 6, 6}, square(3, 2, 0, ceil)},
          {{2, 2, 5, 8}, square(2, 2, 1, ceil)},
          {{1, 3, 8, 7}, pool(3, 2, 2, 3, 1, 1, 1, 1, ceil)},
          {{1, 2, 9, 10}, pool(5, 4, 3, 2, 2, 1, 1, 1, ceil)},
      };
      for (auto [shape, p] : cases) {
        p.count_include_pad = include_pad;
        SCOPED_TRACE(shape_str(shape) + " k" + std::to_string(p.kernel_h) + " ceil " + std::to_string(ceil) +
                     " include_pad " + std::to_string(include_pad));
        Tensor x = random_input(shape, ++seed);
        EXPECT_TRUE(gradcheck([p](auto v) { return avg_pool2d(v[0], p); }, {x}));
      }
    }
}

// ---------------------------------------------------------------- adaptive avg pool

TEST(AdaptiveAvgPool2d, BinsThatDoNotDivide) {
  // Rows 7 -> 3: bins [0,3), [2,5), [4,7). Columns 5 -> 4: [0,2), [1,3), [2,4), [3,5).
  Tensor x = arange_plane(7, 5);  // x[r, c] = 5r + c + 1
  auto cell = [](int r0, int r1, int c0, int c1) {
    double s = 0;
    for (int r = r0; r < r1; ++r)
      for (int c = c0; c < c1; ++c) s += 5 * r + c + 1;
    return s / ((r1 - r0) * (c1 - c0));
  };
  std::vector<double> want;
  const int rb[3][2] = {{0, 3}, {2, 5}, {4, 7}}, cb[4][2] = {{0, 2}, {1, 3}, {2, 4}, {3, 5}};
  for (auto& r : rb)
    for (auto& c : cb) want.push_back(cell(r[0], r[1], c[0], c[1]));
  expect_near(adaptive_avg_pool2d(x, 3, 4).to_vector_f64(), want);
  // Upsampling 3 -> 6 repeats each element twice; 1x1 output is the global mean.
  EXPECT_EQ(adaptive_avg_pool2d(f64({1, 2, 3}, {1, 1, 1, 3}), 1, 6).to_vector_f64(),
            (std::vector<double>{1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(adaptive_avg_pool2d(arange_plane(3, 3), 1, 1).to_vector_f64(), (std::vector<double>{5}));
  // AlexNet's avgpool: 6x6 -> 6x6 is the identity.
  Tensor y = random_input({2, 3, 6, 6}, 1, -1, 1, false);
  EXPECT_TRUE(all_close(adaptive_avg_pool2d(y, 6, 6), y, 0));
}

TEST(AdaptiveAvgPool2d, Gradcheck) {
  const std::vector<std::tuple<Shape, int64_t, int64_t>> cases = {{{2, 3, 7, 5}, 3, 4}, {{1, 2, 5, 7}, 4, 3},
                                                                  {{2, 2, 3, 3}, 6, 6}, {{1, 3, 4, 6}, 1, 1},
                                                                  {{1, 2, 9, 4}, 4, 7}, {{2, 1, 6, 6}, 6, 6}};
  uint64_t seed = 500;
  for (const auto& [shape, oh, ow] : cases) {
    SCOPED_TRACE(shape_str(shape) + " -> " + std::to_string(oh) + "x" + std::to_string(ow));
    Tensor x = random_input(shape, ++seed);
    const int64_t h = oh, w = ow;
    EXPECT_TRUE(gradcheck([h, w](auto v) { return adaptive_avg_pool2d(v[0], h, w); }, {x}));
  }
}

// ---------------------------------------------------------------- kernels: every element written

TEST(Pool2d, BackwardKernelsWriteEveryElementAndF32MatchesF64) {
  namespace cpu = pw::kernels::cpu;
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  const int64_t planes = 6, H = 13, W = 11;
  Pool2dParams p = pool(3, 2, 2, 3, 1, 1, 1, 1, true);
  const int64_t Ho = pool_output_size(H, 3, 2, 1, 1, true), Wo = pool_output_size(W, 2, 3, 1, 1, true);
  const cpu::Pool2dShape s{planes, H, W, Ho, Wo, 3, 2, 2, 3, 1, 1, 1, 1};
  Tensor xd = random_input({2, 3, H, W}, 9, -1, 1, false);
  Tensor xf = xd.to(DType::f32);
  std::vector<float> x = xf.to_vector_f32();
  std::vector<float> dy(planes * Ho * Wo, 0.5f);
  // Many input elements are in no window's maximum; their gradient must still be written (0).
  std::vector<float> y(planes * Ho * Wo, kNaN), dx(planes * H * W, kNaN);
  std::vector<int32_t> idx(planes * Ho * Wo, -7);
  cpu::max_pool2d_forward<float>(s, x.data(), y.data(), idx.data());
  cpu::max_pool2d_backward<float>(s, dy.data(), idx.data(), dx.data());
  for (float v : y) EXPECT_FALSE(std::isnan(v));
  for (int32_t i : idx) EXPECT_TRUE(i >= 0 && i < H * W);
  for (float v : dx) EXPECT_FALSE(std::isnan(v));
  for (bool include_pad : {true, false}) {
    std::fill(y.begin(), y.end(), kNaN);
    std::fill(dx.begin(), dx.end(), kNaN);
    cpu::avg_pool2d_forward<float>(s, include_pad, x.data(), y.data());
    cpu::avg_pool2d_backward<float>(s, include_pad, dy.data(), dx.data());
    for (float v : y) EXPECT_FALSE(std::isnan(v));
    for (float v : dx) EXPECT_FALSE(std::isnan(v));
  }
  const cpu::Pool2dShape a{planes, H, W, 4, 3, 0, 0, 0, 0, 0, 0, 0, 0};
  std::vector<float> ya(planes * 12, kNaN), dya(planes * 12, 1.f), dxa(planes * H * W, kNaN);
  cpu::adaptive_avg_pool2d_forward<float>(a, x.data(), ya.data());
  cpu::adaptive_avg_pool2d_backward<float>(a, dya.data(), dxa.data());
  for (float v : ya) EXPECT_FALSE(std::isnan(v));
  for (float v : dxa) EXPECT_FALSE(std::isnan(v));
  // The f32 ops agree with the f64 ops (same templates, float rounding only).
  p.count_include_pad = false;
  EXPECT_TRUE(all_close(max_pool2d(xf, p), max_pool2d(xd, p), 1e-7));
  EXPECT_TRUE(all_close(avg_pool2d(xf, p), avg_pool2d(xd, p), 1e-6));
  EXPECT_TRUE(all_close(adaptive_avg_pool2d(xf, 4, 3), adaptive_avg_pool2d(xd, 4, 3), 1e-6));
}

// ---------------------------------------------------------------- local response norm

TEST(LocalResponseNorm, HandComputedValues) {
  // x = [1, 2, 3] over channels; alpha = 3, beta = 1, k = 1.
  // size 3, window [c-1, c+1]: scale = 1 + (3/3) * {1+4, 1+4+9, 4+9} = {6, 15, 14}.
  Tensor x = f64({1, 2, 3}, {1, 3, 1, 1});
  expect_near(local_response_norm(x, 3, 3.0, 1.0, 1.0).to_vector_f64(), {1. / 6, 2. / 15, 3. / 14});
  // size 2 pads one channel before and none after, window [c-1, c]:
  // scale = 1 + (3/2) * {1, 1+4, 4+9} = {2.5, 8.5, 20.5}.
  expect_near(local_response_norm(x, 2, 3.0, 1.0, 1.0).to_vector_f64(), {1 / 2.5, 2 / 8.5, 3 / 20.5});
  // AlexNet's constants (size 5, alpha 1e-4, beta 0.75, k 2) on one channel of value 10:
  // scale = 2 + 1e-4/5 * 100 = 2.002.
  expect_near(local_response_norm(Tensor::full({1, 1, 1, 1}, 10.0, DType::f64), 5, 1e-4, 0.75, 2.0).to_vector_f64(),
              {10 * std::pow(2.002, -0.75)});
}

TEST(LocalResponseNorm, Gradcheck) {
  struct Case {
    Shape shape;
    int64_t size;
    double alpha, beta, k;
  };
  // Large alpha so the cross-channel term of the gradient is not negligible.
  const std::vector<Case> cases = {
      {{2, 7, 3, 4}, 5, 0.8, 0.75, 1.0},  {{2, 7, 3, 4}, 5, 0.8, 0.75, 2.0}, {{1, 6, 4, 3}, 3, 1.5, 0.75, 1.0},
      {{1, 6, 4, 3}, 3, 1.5, 0.6, 2.0},   {{2, 5, 2, 3}, 4, 1.0, 0.75, 1.0},  // even size: the window is asymmetric
      {{1, 3, 3, 3}, 7, 2.0, 0.75, 1.0},                                      // window wider than the channels
      {{2, 4, 5}, 3, 1.0, 0.9, 1.5},                                          // 3-D input
      {{1, 4, 2, 2}, 1, 1.0, 0.75, 1.0},                                      // size 1: each channel alone
      {{2, 5, 3, 3}, 5, 1e-4, 0.75, 2.0},                                     // AlexNet's constants
  };
  uint64_t seed = 600;
  for (const Case& c : cases) {
    SCOPED_TRACE(shape_str(c.shape) + " size " + std::to_string(c.size) + " k " + std::to_string(c.k));
    Tensor x = random_input(c.shape, ++seed);
    auto lrn = [c](auto v) { return local_response_norm(v[0], c.size, c.alpha, c.beta, c.k); };
    EXPECT_TRUE(gradcheck(lrn, {x}));
  }
  // f32 agrees with f64, forward and backward, on the fast path (beta 0.75) and the general one;
  // planes of 30 and 63 positions (the fast path's sums go 16 positions at a time, then one by one).
  for (const Shape& shape : {Shape{2, 9, 5, 6}, Shape{1, 7, 7, 9}})
    for (double beta : {0.75, 0.6}) {
      SCOPED_TRACE(shape_str(shape) + " beta " + std::to_string(beta));
      Tensor xd = random_input(shape, 7, -2, 2, false);
      Tensor gd = random_input(shape, 8, -1, 1, false);
      Tensor x64 = xd.clone(), x32 = xd.to(DType::f32);
      x64.set_requires_grad(true);
      x32.set_requires_grad(true);
      Tensor y64 = local_response_norm(x64, 5, 0.5, beta, 1.0), y32 = local_response_norm(x32, 5, 0.5, beta, 1.0);
      EXPECT_TRUE(all_close(y32, y64, 1e-6));
      y64.backward(gd);
      y32.backward(gd.to(DType::f32));
      EXPECT_TRUE(all_close(x32.grad(), x64.grad(), 1e-6));
    }
}

// ---------------------------------------------------------------- errors

TEST(Pool2d, ArgumentErrors) {
  Tensor x = Tensor::ones({1, 2, 6, 6});
  expect_error([&] { max_pool2d(x, square(3, 2, 2)); },
               "max_pool2d: padding (2, 2) must be at most half the kernel size (3, 3)");
  expect_error([&] { avg_pool2d(x, square(2, 2, 2)); }, "avg_pool2d: padding (2, 2) must be at most half");
  EXPECT_THROW(max_pool2d(x, square(3, 2, 2)), Error);
  expect_error([&] { max_pool2d(x, square(0, 2)); }, "kernel size must be positive");
  expect_error([&] { max_pool2d(x, square(3, 0)); }, "stride must be positive");
  expect_error([&] { avg_pool2d(x, square(3, -1)); }, "stride must be positive");
  expect_error([&] { max_pool2d(x, pool(3, 3, 1, 1, -1)); }, "padding must be non-negative");
  expect_error([&] { max_pool2d(x, pool(3, 3, 1, 1, 0, 0, 1, 0)); }, "dilation must be positive");
  expect_error([&] { avg_pool2d(x, pool(3, 3, 1, 1, 0, 0, 2)); }, "avg_pool2d: dilation is not supported");
  Tensor x3 = Tensor::ones({2, 6, 6}), x2 = Tensor::ones({6, 6});
  expect_error([&] { max_pool2d(x3, square(2, 2)); }, "max_pool2d: input must be 4-D");
  expect_error([&] { avg_pool2d(x2, square(2, 2)); }, "avg_pool2d: input must be 4-D");
  // output size <= 0: a 3x3 window on a 2x2 input, or dilated past the input
  Tensor small = Tensor::ones({1, 1, 2, 2});
  expect_error([&] { max_pool2d(small, square(3, 1)); }, "output size would be 0x0");
  expect_error([&] { max_pool2d(x, pool(3, 3, 1, 1, 0, 0, 3)); }, "output size would be");
  expect_error([&] { max_pool2d(x.to(DType::i32), square(2, 2)); }, "floating-point");
  expect_error([&] { adaptive_avg_pool2d(x, 0, 3); }, "adaptive_avg_pool2d: output size must be positive");
  expect_error([&] { adaptive_avg_pool2d(x3, 2, 2); }, "must be 4-D");
  expect_error([&] { local_response_norm(x, 0); }, "local_response_norm: size must be positive");
  expect_error([&] { local_response_norm(x2, 3); }, "at least 3-D");
}
