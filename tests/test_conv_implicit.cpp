// Tests for the f32 implicit-GEMM convolution (kernels/cpu/conv_implicit.h), forward and weight
// gradient: against the f64 direct reference on awkward sizes (strides 1 to 4, padding on either
// axis, kernels 1x1 to 11x11 and not square, output channels that are not a multiple of a tile's
// block, rows of 1 to 55 positions, channels in more than one block of taps, more rows than one
// task holds, fewer images than threads and more), with NaN-poisoned outputs and the epilogue
// (bias, folded batch norm, ReLU); the forward's bits at every thread count, the weight
// gradient's on every run; and the op's dispatch and measured rule.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "engine/util/threads.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/conv_implicit.h"
#include "tests/support/gradcheck.h"
#include "tests/support/reference_vectors.h"

using namespace pw;
using pw::testing::all_close;
namespace cpu = pw::kernels::cpu;
using pw::testing::normal;
using pw::testing::scaled_error;
using pw::testing::widen;

namespace {

struct Case {
  const char* name;
  int64_t N, C, H, W, O, kh, kw, sh, sw, ph, pw;
};

kernels::ConvGeometry geometry(const Case& c) {
  const int64_t Ho = (c.H + 2 * c.ph - c.kh) / c.sh + 1, Wo = (c.W + 2 * c.pw - c.kw) / c.sw + 1;
  return {c.N, c.C, c.H, c.W, c.O, c.kh, c.kw, Ho, Wo, c.sh, c.sw, c.ph, c.pw, 1, 1, 1};
}

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      // name, N, C, H, W, O, kh, kw, sh, sw, ph, pw
      {"AlexNet's conv1 (one image, 55 positions a row, rows in several tasks)", 1, 3, 224, 224, 64, 11, 11, 4, 4, 2,
       2},
      {"AlexNet's conv2 at 27x27, 70 channels out", 2, 64, 27, 27, 70, 5, 5, 1, 1, 2, 2},
      {"3x3, 20 channels in two blocks of taps, odd planes", 3, 20, 13, 11, 65, 3, 3, 1, 1, 1, 1},
      {"stride 2 rows, stride 3 columns, a 3x4 kernel", 2, 5, 17, 23, 17, 3, 4, 2, 3, 1, 2},
      {"1x1, no padding, 1 channel out", 4, 7, 6, 5, 1, 1, 1, 1, 1, 0, 0},
      {"one position a row (a 7x7 kernel on a 7x7 plane)", 1, 2, 7, 7, 64, 7, 7, 1, 1, 0, 0},
      {"rows of 1 to 6 positions: 13 wide, 5x5 pad 0 gives 9", 5, 4, 9, 13, 66, 5, 5, 1, 1, 0, 0},
      {"padding larger than the kernel's reach on rows", 2, 3, 5, 9, 16, 5, 3, 1, 1, 4, 1},
      {"wide planes, 130 channels out", 1, 1, 40, 61, 130, 5, 5, 1, 1, 2, 2},
  };
  return c;
}

}  // namespace

TEST(ConvImplicit, MatchesTheF64ReferenceWithEveryEpilogue) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const kernels::ConvGeometry s = geometry(c);
    ASSERT_TRUE(s.Ho > 0 && s.Wo > 0);
    if (!cpu::implicit_conv_supported(s)) GTEST_SKIP() << "this build has no AVX2 or AVX-512 tiles";
    std::mt19937 rng(7);
    const int64_t nx = s.N * s.C * s.H * s.W, ny = s.N * s.O * s.Ho * s.Wo;
    const std::vector<float> x = normal(nx, 1.f, rng), w = normal(s.O * s.C * s.kh * s.kw, 0.3f, rng),
                             b = normal(s.O, 1.f, rng), scale = normal(s.O, 1.f, rng), shift = normal(s.O, 1.f, rng);
    const std::vector<double> xd = widen(x), wd = widen(w), bd = widen(b), scd = widen(scale), shd = widen(shift);
    struct Epilogue {
      const char* name;
      cpu::ConvEpilogue<float> f;
      cpu::ConvEpilogue<double> d;
    };
    const Epilogue epilogues[] = {
        {"none", {}, {}},
        {"bias", {b.data()}, {bd.data()}},
        {"bias, scale and shift, ReLU",
         {b.data(), scale.data(), shift.data(), true},
         {bd.data(), scd.data(), shd.data(), true}},
        {"ReLU alone", {nullptr, nullptr, nullptr, true}, {nullptr, nullptr, nullptr, true}},
    };
    for (const Epilogue& e : epilogues) {
      SCOPED_TRACE(e.name);
      std::vector<float> y(static_cast<size_t>(ny), std::numeric_limits<float>::quiet_NaN());
      std::vector<double> ref(static_cast<size_t>(ny));
      cpu::conv2d_forward_implicit(s, x.data(), w.data(), e.f, y.data());
      cpu::conv2d_forward_direct<double>(s, xd.data(), wd.data(), e.d, ref.data());
      // One running sum of up to 1600 products (AlexNet's conv2) in f32.
      EXPECT_LT(scaled_error(y, ref), 1e-5);
    }
  }
}

TEST(ConvImplicit, WeightGradientMatchesTheF64Reference) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const kernels::ConvGeometry s = geometry(c);
    if (!cpu::implicit_conv_supported(s)) GTEST_SKIP() << "this build has no AVX2 or AVX-512 tiles";
    std::mt19937 rng(8);
    const std::vector<float> x = normal(s.N * s.C * s.H * s.W, 1.f, rng),
                             dy = normal(s.N * s.O * s.Ho * s.Wo, 1.f, rng);
    const int64_t nw = s.O * s.C * s.kh * s.kw;
    std::vector<float> dw(static_cast<size_t>(nw), std::numeric_limits<float>::quiet_NaN());
    std::vector<double> ref(static_cast<size_t>(nw));
    cpu::conv2d_backward_weight_implicit(s, x.data(), dy.data(), dw.data());
    const std::vector<double> xd = widen(x), dyd = widen(dy);
    cpu::conv2d_backward_weight_direct<double>(s, xd.data(), dyd.data(), ref.data());
    EXPECT_LT(scaled_error(dw, ref), 2e-6);
  }
}

// The weight gradient with as many images as threads and more (each thread sums its images, the
// sums added in thread order) and with fewer (the threads split each image's tiles): the same
// bits on every run with a given thread count.
TEST(ConvImplicit, WeightGradientRepeatsItsBits) {
  const int saved = pw::num_threads();
  for (int64_t N : {1, 2, 5}) {
    const Case c{"", N, 4, 19, 21, 70, 5, 7, 2, 3, 2, 3};
    const kernels::ConvGeometry s = geometry(c);
    if (!cpu::implicit_conv_supported(s)) GTEST_SKIP() << "this build has no AVX2 or AVX-512 tiles";
    std::mt19937 rng(10);
    const std::vector<float> x = normal(s.N * s.C * s.H * s.W, 1.f, rng),
                             dy = normal(s.N * s.O * s.Ho * s.Wo, 1.f, rng);
    for (int threads : {1, 2, 3}) {
      pw::set_num_threads(threads);
      std::vector<float> a(static_cast<size_t>(s.O * s.C * s.kh * s.kw)), b(a.size());
      cpu::conv2d_backward_weight_implicit(s, x.data(), dy.data(), a.data());
      cpu::conv2d_backward_weight_implicit(s, x.data(), dy.data(), b.data());
      EXPECT_EQ(a, b) << N << " images, " << threads << " threads";
    }
  }
  pw::set_num_threads(saved);
}

// Each output is summed by one task in one order: the same bits whatever the thread count (1:
// images over the threads; 2 and 3 with fewer images: rows and channel blocks over them).
TEST(ConvImplicit, SameBitsForEveryThreadCount) {
  const Case c{"", 2, 6, 31, 29, 70, 5, 5, 2, 1, 2, 2};
  const kernels::ConvGeometry s = geometry(c);
  if (!cpu::implicit_conv_supported(s)) GTEST_SKIP() << "this build has no AVX2 or AVX-512 tiles";
  std::mt19937 rng(9);
  const std::vector<float> x = normal(s.N * s.C * s.H * s.W, 1.f, rng), w = normal(s.O * s.C * 25, 0.2f, rng);
  const int saved = pw::num_threads();
  std::vector<float> y1;
  for (int threads : {1, 2, 3}) {
    pw::set_num_threads(threads);
    std::vector<float> y(static_cast<size_t>(s.N * s.O * s.Ho * s.Wo));
    cpu::conv2d_forward_implicit(s, x.data(), w.data(), {}, y.data());
    if (threads == 1) {
      y1 = y;
      continue;
    }
    EXPECT_EQ(y, y1) << threads << " threads";
  }
  pw::set_num_threads(saved);
}

TEST(ConvImplicit, DispatchAndTheMeasuredRule) {
  const Conv2dParams alexnet1{.stride_h = 4, .stride_w = 4, .pad_h = 2, .pad_w = 2};
  const Conv2dParams same5{.pad_h = 2, .pad_w = 2}, same3{.pad_h = 1, .pad_w = 1};
  const bool built = cpu::implicit_conv_supported({1, 3, 224, 224, 64, 11, 11, 55, 55, 4, 4, 2, 2, 1, 1, 1});
  // AlexNet's conv1 and conv2, fmnist-cnn's conv2; not its conv1 (32 channels out) nor 3x3 layers.
  EXPECT_EQ(conv2d_uses_implicit_gemm(16, 3, 64, 11, 11, 55, 55, alexnet1), built);
  EXPECT_EQ(conv2d_uses_implicit_gemm(1, 64, 192, 5, 5, 27, 27, same5), built);
  EXPECT_EQ(conv2d_uses_implicit_gemm(64, 32, 64, 5, 5, 14, 14, same5), built);
  EXPECT_FALSE(conv2d_uses_implicit_gemm(64, 1, 32, 5, 5, 28, 28, same5));
  EXPECT_FALSE(conv2d_uses_implicit_gemm(1, 192, 384, 3, 3, 13, 13, same3));
  EXPECT_FALSE(conv2d_uses_implicit_gemm(1, 64, 192, 5, 5, 27, 27, {.pad_h = 2, .pad_w = 2, .groups = 2}));
  EXPECT_FALSE(conv2d_uses_implicit_gemm(1, 64, 192, 5, 5, 23, 23, {.pad_h = 2, .pad_w = 2, .dilation_h = 2}));

  // Through the op: forced and automatic give the same forward pass and gradients; within f32
  // rounding of im2col's, and the same data gradient (im2col's).
  Generator gen(3);
  Tensor x = Tensor::randn({3, 5, 15, 14}, DType::f32, &gen), w = Tensor::randn({64, 5, 5, 5}, DType::f32, &gen);
  Tensor b = Tensor::randn({64}, DType::f32, &gen);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  auto run = [&](ConvAlgo algo) {
    ConvAlgoGuard guard(algo);
    x.zero_grad();
    w.zero_grad();
    Tensor y = conv2d(x, w, b, {.stride_h = 2, .pad_h = 2, .pad_w = 1});
    y.backward(Tensor::ones(y.shape()));
    return std::vector<Tensor>{y.detach(), x.grad().clone(), w.grad().clone()};
  };
  const std::vector<Tensor> im2col = run(ConvAlgo::im2col), implicit = run(ConvAlgo::implicit);
  EXPECT_TRUE(all_close(implicit[0], im2col[0], 1e-5));
  EXPECT_TRUE(all_close(implicit[1], im2col[1], 0));
  EXPECT_TRUE(all_close(implicit[2], im2col[2], 1e-5));
  const std::vector<Tensor> automatic = run(ConvAlgo::automatic);
  EXPECT_TRUE(all_close(automatic[0], implicit[0], 0));
  EXPECT_TRUE(all_close(automatic[2], implicit[2], 0));
}
