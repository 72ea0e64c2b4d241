// concat, stack, split, pad and resize: hand values (PyTorch's for resize), gradient checks in
// f64, f32 against f64, and argument errors.
#include <cmath>

#include "kernels/cpu/resize.h"
#include "tests/support/gradcheck.h"

using namespace pw;
using pw::testing::all_close;
using pw::testing::gradcheck;
using pw::testing::random_input;

namespace {
Tensor f64(const std::vector<double>& v, const Shape& s) { return Tensor::from_vector(v, s); }
}  // namespace

// ---------------------------------------------------------------- concat / stack / split

TEST(Concat, ValuesAlongSeveralDims) {
  Tensor a = Tensor::arange(6, DType::f64).reshape({2, 3});
  Tensor b = add(Tensor::arange(4, DType::f64).reshape({2, 2}), 10.0);
  EXPECT_TRUE(all_close(concat({a, b}, 1), f64({0, 1, 2, 10, 11, 3, 4, 5, 12, 13}, {2, 5}), 0));
  EXPECT_TRUE(all_close(concat({a, b}, -1), concat({a, b}, 1), 0));
  Tensor c = add(Tensor::arange(3, DType::f64).reshape({1, 3}), 20.0);
  EXPECT_TRUE(all_close(concat({a, c, a}, 0), f64({0, 1, 2, 3, 4, 5, 20, 21, 22, 0, 1, 2, 3, 4, 5}, {5, 3}), 0));
  // Non-contiguous inputs and i32 tensors work too.
  EXPECT_TRUE(all_close(concat({a.t(), b.t()}, 0), concat({a, b}, 1).t(), 0));
  Tensor i = Tensor::from_vector(std::vector<int32_t>{1, 2}, {2}),
         j = Tensor::from_vector(std::vector<int32_t>{3}, {1});
  EXPECT_EQ(concat({i, j}, 0).to_vector_i32(), (std::vector<int32_t>{1, 2, 3}));
}

TEST(Concat, Gradcheck) {
  auto a = random_input({2, 3, 4}, 1), b = random_input({2, 1, 4}, 2), c = random_input({2, 2, 4}, 3);
  EXPECT_TRUE(gradcheck([](auto v) { return concat({v[0], v[1], v[2]}, 1); }, {a, b, c}));
  auto d = random_input({1, 3, 4}, 4), e = random_input({2, 3, 2}, 5);
  EXPECT_TRUE(gradcheck([](auto v) { return concat({v[0], v[1]}, 0); }, {a, d}));
  EXPECT_TRUE(gradcheck([](auto v) { return concat({v[0], v[1], v[0]}, -1); }, {a, e}));  // repeated input
}

TEST(Stack, ValuesShapesAndGradcheck) {
  Tensor a = f64({1, 2, 3}, {3}), b = f64({4, 5, 6}, {3});
  EXPECT_TRUE(all_close(stack({a, b}, 0), f64({1, 2, 3, 4, 5, 6}, {2, 3}), 0));
  EXPECT_TRUE(all_close(stack({a, b}, 1), f64({1, 4, 2, 5, 3, 6}, {3, 2}), 0));
  EXPECT_TRUE(all_close(stack({a, b}, -1), stack({a, b}, 1), 0));
  auto x = random_input({2, 3}, 6), y = random_input({2, 3}, 7), z = random_input({2, 3}, 8);
  EXPECT_EQ(stack({x, y, z}, 0).shape(), (Shape{3, 2, 3}));
  EXPECT_EQ(stack({x, y, z}, 1).shape(), (Shape{2, 3, 3}));
  EXPECT_EQ(stack({x, y, z}, 2).shape(), (Shape{2, 3, 3}));
  for (int64_t d : {0, 1, 2, -1})
    EXPECT_TRUE(gradcheck([d](auto v) { return stack({v[0], v[1], v[2]}, d); }, {x, y, z})) << d;
}

TEST(Split, UnevenChunksAndGradcheck) {
  Tensor x = Tensor::arange(14, DType::f64).reshape({7, 2});
  std::vector<Tensor> parts = split(x, 3, 0);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(parts[1].shape(), (Shape{3, 2}));
  EXPECT_EQ(parts[2].shape(), (Shape{1, 2}));
  EXPECT_EQ(parts[2].to_vector_f64(), (std::vector<double>{12, 13}));
  EXPECT_EQ(parts[1].storage(), x.storage());  // views
  std::vector<Tensor> cols = split(x, 4, -1);  // split bigger than the dim: one chunk
  ASSERT_EQ(cols.size(), 1u);
  EXPECT_EQ(cols[0].shape(), (Shape{7, 2}));
  auto y = random_input({5, 3}, 9);
  EXPECT_TRUE(gradcheck(
      [](auto v) {
        std::vector<Tensor> p = split(v[0], 2, 0);  // 2, 2, 1
        return concat({p[2], mul(p[0], 3.0), p[1]}, 0);
      },
      {y}));
  EXPECT_TRUE(gradcheck([](auto v) { return split(v[0], 2, 1)[1]; }, {y}));  // the short last chunk only
}

TEST(ConcatStackSplit, Errors) {
  Tensor a = Tensor::ones({2, 3}), b = Tensor::ones({2, 4});
  EXPECT_THROW(concat({}, 0), Error);
  EXPECT_THROW(concat({a, b}, 0), Error);  // differ outside dim
  EXPECT_THROW(concat({a, Tensor::ones({2, 3}, DType::f64)}, 0), Error);
  EXPECT_THROW(concat({a, Tensor::ones({2, 3, 1})}, 0), Error);  // ranks differ
  EXPECT_THROW(concat({a, a}, 2), Error);                        // bad dim
  EXPECT_THROW(concat({a, Tensor()}, 0), Error);
  EXPECT_THROW(stack({a, b}, 0), Error);
  EXPECT_THROW(stack({a, a}, 3), Error);
  EXPECT_THROW(stack({}, 0), Error);
  EXPECT_THROW(split(a, 0, 0), Error);
  EXPECT_THROW(split(a, 1, 2), Error);
}

// ---------------------------------------------------------------- pad

TEST(Pad, PositiveAndNegativePads) {
  Tensor x = f64({1, 2, 3}, {3});
  EXPECT_TRUE(all_close(pad(x, {2, 1}, 9), f64({9, 9, 1, 2, 3, 9}, {6}), 0));
  EXPECT_TRUE(all_close(pad(x, {-1, 2}), f64({2, 3, 0, 0}, {4}), 0));
  EXPECT_TRUE(all_close(pad(x, {0, -2}), f64({1}, {1}), 0));
  EXPECT_TRUE(all_close(pad(x, {2, -4}, 7), f64({7}, {1}), 0));  // all of x cropped away
  // [[1, 2, 3], [4, 5, 6]] with last dim (1, -1) and first dim (-1, 2):
  // last dim -> [[0, 1, 2], [0, 4, 5]]; first dim drops row 0 and adds two rows.
  Tensor m = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_TRUE(all_close(pad(m, {1, -1, -1, 2}), f64({0, 4, 5, 0, 0, 0, 0, 0, 0}, {3, 3}), 0));
  // Only the last dim padded of a 3-D tensor; earlier dims untouched.
  EXPECT_EQ(pad(Tensor::ones({2, 3, 4}), {1, 1}).shape(), (Shape{2, 3, 6}));
  EXPECT_EQ(pad(Tensor::ones({2, 3, 4}), {1, 1, 0, 0, 2, 0}).shape(), (Shape{4, 3, 6}));
}

TEST(Pad, Gradcheck) {
  auto x = random_input({2, 3, 4, 5}, 10);
  EXPECT_TRUE(gradcheck([](auto v) { return pad(v[0], {1, 2, 2, 0}, 0.5); }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return pad(v[0], {-1, 2, 1, -2}); }, {x}));
  EXPECT_TRUE(gradcheck([](auto v) { return pad(v[0], {-2, -1, 0, 0, 1, -1}); }, {x}));
}

TEST(Pad, Errors) {
  Tensor x = Tensor::ones({2, 3});
  EXPECT_THROW(pad(x, {1}), Error);                 // odd count
  EXPECT_THROW(pad(x, {1, 1, 1, 1, 1, 1}), Error);  // more pairs than dims
  EXPECT_THROW(pad(x, {-2, -1}), Error);            // nothing left
  EXPECT_THROW(pad(x, {0, 0, -3, 0}), Error);
}

// ---------------------------------------------------------------- resize

namespace {
// torch.arange(1, 5).view(1, 1, 2, 2), the input of the torch.nn.Upsample documentation.
Tensor doc_input() { return f64({1, 2, 3, 4}, {1, 1, 2, 2}); }
}  // namespace

TEST(Resize, PyTorchDocumentationValues) {
  // nn.Upsample(scale_factor=2, mode=...) on [[1, 2], [3, 4]], as printed in PyTorch's docs.
  EXPECT_TRUE(all_close(resize(doc_input(), 4, 4, ResizeMode::nearest),
                        f64({1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}, {1, 1, 4, 4}), 0));
  EXPECT_TRUE(all_close(resize(doc_input(), 4, 4, ResizeMode::bilinear, false),
                        f64({1.00, 1.25, 1.75, 2.00, 1.50, 1.75, 2.25, 2.50,  //
                             2.50, 2.75, 3.25, 3.50, 3.00, 3.25, 3.75, 4.00},
                            {1, 1, 4, 4}),
                        1e-12));
  const double t = 1.0 / 3.0;
  EXPECT_TRUE(all_close(resize(doc_input(), 4, 4, ResizeMode::bilinear, true),
                        f64({1, 1 + t, 1 + 2 * t, 2, 1 + 2 * t, 2, 2 + t, 2 + 2 * t,  //
                             2 + t, 2 + 2 * t, 3, 3 + t, 3, 3 + t, 3 + 2 * t, 4},
                            {1, 1, 4, 4}),
                        1e-12));
  // The docs' 3x3 input (the 2x2 above in a corner of zeros), bilinear, align_corners=False.
  Tensor x3 = f64({1, 2, 0, 3, 4, 0, 0, 0, 0}, {1, 1, 3, 3});
  EXPECT_TRUE(all_close(resize(x3, 6, 6, ResizeMode::bilinear),
                        f64({1.0000, 1.2500, 1.7500, 1.5000, 0.5000, 0.0000,  //
                             1.5000, 1.7500, 2.2500, 1.8750, 0.6250, 0.0000,  //
                             2.5000, 2.7500, 3.2500, 2.6250, 0.8750, 0.0000,  //
                             2.2500, 2.4375, 2.8125, 2.2500, 0.7500, 0.0000,  //
                             0.7500, 0.8125, 0.9375, 0.7500, 0.2500, 0.0000,  //
                             0.0000, 0.0000, 0.0000, 0.0000, 0.0000, 0.0000},
                            {1, 1, 6, 6}),
                        1e-12));
}

TEST(Resize, HandComputedUpAndDown) {
  Tensor row = f64({1, 2, 3, 4}, {1, 1, 1, 4});
  // Down 4 -> 2. Bilinear (half-pixel): src 0.5 and 2.5, averages of pairs. align_corners: src 0 and 3.
  EXPECT_TRUE(all_close(resize(row, 1, 2, ResizeMode::bilinear), f64({1.5, 3.5}, {1, 1, 1, 2}), 1e-12));
  EXPECT_TRUE(all_close(resize(row, 1, 2, ResizeMode::bilinear, true), f64({1, 4}, {1, 1, 1, 2}), 1e-12));
  EXPECT_TRUE(all_close(resize(row, 1, 2, ResizeMode::nearest), f64({1, 3}, {1, 1, 1, 2}), 0));
  // Down 4 -> 3 bilinear: src = (d + 0.5) * 4/3 - 0.5 = 1/6, 3/2, 17/6.
  EXPECT_TRUE(
      all_close(resize(row, 1, 3, ResizeMode::bilinear), f64({1 + 1.0 / 6, 2.5, 3 + 5.0 / 6}, {1, 1, 1, 3}), 1e-12));
  // Up 2 -> 3 nearest: floor(d * 2/3) = 0, 0, 1 (PyTorch: [1, 1, 2]); 5 -> 3: 0, 1, 3.
  EXPECT_TRUE(all_close(resize(f64({1, 2}, {1, 1, 1, 2}), 1, 3, ResizeMode::nearest), f64({1, 1, 2}, {1, 1, 1, 3}), 0));
  EXPECT_TRUE(all_close(resize(f64({10, 11, 12, 13, 14}, {1, 1, 5, 1}), 3, 1, ResizeMode::nearest),
                        f64({10, 11, 13}, {1, 1, 3, 1}), 0));
  // Up 2 -> 5 bilinear, align_corners: src = d / 4.
  EXPECT_TRUE(all_close(resize(f64({0, 8}, {1, 1, 2, 1}), 5, 1, ResizeMode::bilinear, true),
                        f64({0, 2, 4, 6, 8}, {1, 1, 5, 1}), 1e-12));
  // Out size 1 with align_corners takes the first element; without, the centre.
  EXPECT_TRUE(all_close(resize(row, 1, 1, ResizeMode::bilinear, true), f64({1}, {1, 1, 1, 1}), 0));
  EXPECT_TRUE(all_close(resize(row, 1, 1, ResizeMode::bilinear), f64({2.5}, {1, 1, 1, 1}), 1e-12));
  // Same size: identity in every mode.
  Tensor x = random_input({2, 3, 4, 5}, 20, -1, 1, false);
  for (bool ac : {false, true}) EXPECT_TRUE(all_close(resize(x, 4, 5, ResizeMode::bilinear, ac), x, 1e-15));
  EXPECT_TRUE(all_close(resize(x, 4, 5, ResizeMode::nearest), x, 0));
}

TEST(Resize, NearestIndexUsesPyTorchFloatArithmetic) {
  // PyTorch computes floor(dst * float(in / out)) in single precision; for in 2, out 82 the
  // float scale is just below 1/41, so dst 41 maps to 0 where the exact floor gives 1.
  EXPECT_EQ(kernels::cpu::resize_nearest_source(41, 2, 82), 0);
  EXPECT_EQ(kernels::cpu::resize_nearest_source(42, 2, 82), 1);
  EXPECT_EQ(kernels::cpu::resize_nearest_source(2, 2, 3), 1);
  EXPECT_EQ(kernels::cpu::resize_nearest_source(9, 7, 10), 6);
}

TEST(Resize, Gradcheck) {
  auto x = random_input({2, 2, 3, 4}, 21);
  for (ResizeMode mode : {ResizeMode::nearest, ResizeMode::bilinear}) {
    for (bool ac : {false, true}) {
      if (mode == ResizeMode::nearest && ac) continue;
      for (auto [h, w] : std::vector<std::pair<int64_t, int64_t>>{{5, 7}, {2, 3}, {6, 2}, {1, 1}, {3, 4}})
        EXPECT_TRUE(gradcheck([=](auto v) { return resize(v[0], h, w, mode, ac); }, {x}))
            << int(mode) << ac << " " << h << "x" << w;
    }
  }
}

TEST(Resize, BackwardScattersWithForwardWeights) {
  // Each output element's weights sum to one, so the input gradient of ones sums to out_h*out_w;
  // nearest's gradient counts how often each input was picked.
  Tensor x = random_input({1, 1, 3, 2}, 22);
  resize(x, 7, 5, ResizeMode::bilinear).backward(Tensor::ones({1, 1, 7, 5}, DType::f64));
  EXPECT_NEAR(sum(x.grad()).item(), 35.0, 1e-12);
  Tensor y = random_input({1, 1, 1, 3}, 23);
  resize(y, 1, 7, ResizeMode::nearest).backward(Tensor::ones({1, 1, 1, 7}, DType::f64));
  // floor(d * 3/7) for d = 0..6: 0 0 0 1 1 2 2
  EXPECT_EQ(y.grad().to_vector_f64(), (std::vector<double>{3, 2, 2}));
}

TEST(Resize, F32MatchesF64OnAwkwardSizes) {
  Tensor up = random_input({2, 3, 11, 4}, 24, -1, 1, false);
  for (ResizeMode mode : {ResizeMode::nearest, ResizeMode::bilinear}) {
    for (bool ac : {false, true}) {
      if (mode == ResizeMode::nearest && ac) continue;
      Tensor x64 = random_input({2, 3, 7, 5}, 25);
      Tensor x32 = x64.detach().to(DType::f32);
      x32.set_requires_grad(true);
      Tensor y64 = resize(x64, 11, 4, mode, ac), y32 = resize(x32, 11, 4, mode, ac);
      EXPECT_TRUE(all_close(y32, y64, 1e-6));
      sum(mul(y64, up)).backward();
      sum(mul(y32, up.to(DType::f32))).backward();
      EXPECT_TRUE(all_close(x32.grad(), x64.grad(), 1e-5));
    }
  }
}

TEST(Resize, KernelsWriteEveryOutput) {
  const int64_t P = 3, ih = 4, iw = 5, oh = 7, ow = 2;
  Tensor x = random_input({P, ih, iw}, 26, -1, 1, false), g = random_input({P, oh, ow}, 27, -1, 1, false);
  for (bool bilinear : {false, true}) {
    Tensor y = Tensor::full({P, oh, ow}, NAN, DType::f64), dx = Tensor::full({P, ih, iw}, NAN, DType::f64);
    if (bilinear) {
      kernels::cpu::resize_bilinear_forward<double>(x.data<double>(), y.data<double>(), P, ih, iw, oh, ow, false);
      kernels::cpu::resize_bilinear_backward<double>(g.data<double>(), dx.data<double>(), P, ih, iw, oh, ow, false);
    } else {
      kernels::cpu::resize_nearest_forward<double>(x.data<double>(), y.data<double>(), P, ih, iw, oh, ow);
      kernels::cpu::resize_nearest_backward<double>(g.data<double>(), dx.data<double>(), P, ih, iw, oh, ow);
    }
    for (const Tensor& t : {y, dx})
      for (double v : t.to_vector_f64()) ASSERT_FALSE(std::isnan(v)) << bilinear;
  }
}

TEST(Resize, Errors) {
  Tensor x = Tensor::ones({1, 1, 4, 4});
  EXPECT_THROW(resize(Tensor::ones({1, 4, 4}), 2, 2, ResizeMode::nearest), Error);
  EXPECT_THROW(resize(x, 0, 2, ResizeMode::bilinear), Error);
  EXPECT_THROW(resize(x, 2, -1, ResizeMode::bilinear), Error);
  EXPECT_THROW(resize(x, 2, 2, ResizeMode::nearest, true), Error);
  EXPECT_THROW(resize(Tensor::ones({1, 1, 4, 4}, DType::i32), 2, 2, ResizeMode::nearest), Error);
  EXPECT_THROW(resize(Tensor::ones({1, 1, 0, 4}), 2, 2, ResizeMode::nearest), Error);
}
