// Device checks: conv2d (kernels/cuda/conv.cu: the implicit-GEMM forward and data gradient,
// im2col + the GPU SGEMM for the weight gradient, the bias gradient) against the CPU, forward
// and the three gradients through autograd, over the configurations of tests/test_conv.cpp plus
// sizes past the GEMM tiles (in rows of both implicit GEMMs: output and input channels), and
// the weight gradient's chunking over images when the workspace is small. The im2col + SGEMM forward, which the engine
// no longer runs, is validated by its development file, bench/kernels/conv2d_forward.cu (CTest:
// dev_conv2d_forward_validation).
#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "engine/autograd.h"
#include "engine/device/gpu.h"
#include "tests/support/conv_cases.h"
#include "tests/support/device_test.h"

using namespace pw;
using pw::testing::DeviceTest;
using pw::testing::max_rel_diff_any_device;

namespace {

using pw::testing::ConvCase;
using pw::testing::P;

// The configurations of the CPU conv tests, then larger ones whose GEMMs cross the tiles.
const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = [] {
    std::vector<ConvCase> c = pw::testing::conv_cases();
    // clang-format off
    c.insert(c.end(), {
        {"past the tiles", 3, 7, 19, 17, 67, 3, 3, P(1, 1, 1, 1), true},
        {"past the tiles, groups 3", 2, 9, 15, 13, 33, 3, 3, P(2, 1, 1, 1, 1, 1, 3), true},
        {"pointwise, many channels", 2, 37, 9, 11, 131, 1, 1, P(), true},
        {"AlexNet conv1 shape, small", 1, 3, 31, 29, 5, 11, 11, P(4, 4, 2, 2), true},
        {"past the tiles in input channels", 2, 70, 9, 10, 5, 3, 3, P(1, 1, 1, 1), true},
        {"input channels past the tiles, strided, groups 2", 1, 132, 9, 7, 4, 3, 3, P(2, 2, 1, 1, 1, 1, 2), true},
    });
    // clang-format on
    return c;
  }();
  return cases;
}

// Forward and backward of conv2d on device d: returns y, dx, dw and db (db undefined without
// a bias), brought to the CPU. Inputs are fixed CPU tensors; `seed` is the upstream gradient.
std::vector<Tensor> run_conv(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& seed,
                             const Conv2dParams& p, Device d) {
  Tensor xd = x.to(d).detach(), wd = w.to(d).detach(), bd;
  xd.set_requires_grad(true);
  wd.set_requires_grad(true);
  if (b.defined()) {
    bd = b.to(d).detach();
    bd.set_requires_grad(true);
  }
  Tensor y = conv2d(xd, wd, bd, p);
  EXPECT_EQ(y.device(), d);
  y.backward(seed.to(d));
  const Device cpu = Device::cpu();
  return {y.to(cpu), xd.grad().to(cpu), wd.grad().to(cpu), b.defined() ? bd.grad().to(cpu) : Tensor()};
}

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t pad, int64_t d) {
  return (in + 2 * pad - d * (k - 1) - 1) / s + 1;
}

}  // namespace

class ConvOnDevice : public DeviceTest {};

TEST_P(ConvOnDevice, ForwardAndEveryGradientMatchTheCpu) {
  uint64_t seed = 1;
  for (const ConvCase& c : conv_cases()) {
    SCOPED_TRACE(c.name);
    const Conv2dParams& p = c.p;
    const int64_t Ho = out_size(c.H, c.kh, p.stride_h, p.pad_h, p.dilation_h);
    const int64_t Wo = out_size(c.W, c.kw, p.stride_w, p.pad_w, p.dilation_w);
    Tensor x = cpu_random({c.N, c.C, c.H, c.W}, seed++);
    Tensor w = cpu_random({c.O, c.C / p.groups, c.kh, c.kw}, seed++);
    Tensor b = c.bias ? cpu_random({c.O}, seed++) : Tensor();
    Tensor g = cpu_random({c.N, c.O, Ho, Wo}, seed++);
    const std::vector<Tensor> dev = run_conv(x, w, b, g, p, device());
    const std::vector<Tensor> cpu = run_conv(x, w, b, g, p, Device::cpu());
    // Sums of up to a few hundred products of values in [-1, 1] (the weight gradient sums
    // over N*Ho*Wo as well); the CPU accumulates some of them in double.
    const char* names[] = {"y", "dx", "dw", "db"};
    for (size_t i = 0; i < 4; ++i) {
      if (!cpu[i].defined()) continue;
      EXPECT_LE(max_rel_diff_any_device(dev[i], cpu[i]), 2e-5) << names[i];
    }
  }
}

TEST_P(ConvOnDevice, OnlyTheNeededGradientsAndNonContiguousInputs) {
  Tensor x = cpu_random({2, 4, 9, 8}, 31), w = cpu_random({5, 4, 3, 3}, 32);
  const Conv2dParams p{.stride_h = 2, .pad_h = 1, .pad_w = 1};
  // The input as a permuted view (non-contiguous), on both devices.
  Tensor xp_cpu = x.permute({0, 1, 3, 2}).contiguous().permute({0, 1, 3, 2});
  Tensor xp_dev = x.permute({0, 1, 3, 2}).contiguous().to(device()).permute({0, 1, 3, 2});
  ASSERT_FALSE(xp_dev.is_contiguous());
  Tensor xd = xp_dev.detach();
  xd.set_requires_grad(true);
  Tensor wd = w.to(device());  // no grad wanted
  Tensor y = conv2d(xd, wd, Tensor(), p);
  Tensor g = cpu_random(y.shape(), 33);
  y.backward(g.to(device()));
  EXPECT_FALSE(wd.grad().defined());
  Tensor xc = xp_cpu.detach();
  xc.set_requires_grad(true);
  Tensor yc = conv2d(xc, w, Tensor(), p);
  yc.backward(g);
  EXPECT_LE(max_rel_diff_any_device(y, yc), 2e-5);
  EXPECT_LE(max_rel_diff_any_device(xd.grad(), xc.grad()), 2e-5);
}

TEST_P(ConvOnDevice, SmallWorkspacesRunInChunksOfImages) {
  // The weight gradient splits the batch into chunks that fit the workspace it is given and
  // accumulates over them. 5 images with room for 2 (and some slack): chunks of 2, 2, 1 must
  // give the engine's (one-chunk) results. The data gradient, an implicit GEMM, runs without a
  // workspace too (in one K-slice).
  const Device d = device();
  const int64_t N = 5, C = 4, H = 9, W = 7, O = 6, k = 3;
  const Conv2dParams p{.stride_h = 1, .stride_w = 2, .pad_h = 1, .pad_w = 1, .groups = 2};
  Tensor x = cpu_random({N, C, H, W}, 41).to(d), w = cpu_random({O, C / 2, k, k}, 42).to(d);
  Tensor y = conv2d(x, w, Tensor(), p);
  const int64_t Ho = y.size(2), Wo = y.size(3);
  Tensor g = cpu_random(y.shape(), 43).to(d);
  const kernels::ConvGeometry geo{N, C, H, W, O, k, k, Ho, Wo, 1, 2, 1, 1, 1, 1, 2};

  // References: the engine's backward (the workspace there holds the whole batch).
  Tensor xr = x.detach(), wr = w.detach();
  xr.set_requires_grad(true);
  wr.set_requires_grad(true);
  conv2d(xr, wr, Tensor(), p).backward(g);

  Tensor dx = Tensor::full(xr.grad().shape(), NAN).to(d);
  on_gpu(d, [&](auto tag) {
    conv2d_backward_data(tag, geo, g.data<float>(), w.data<float>(), dx.data<float>(), nullptr, 0);
  });
  EXPECT_LE(max_rel_diff_any_device(dx, xr.grad()), 2e-6);

  const int64_t per_image =
      on_gpu(d, [&](auto tag) { return conv2d_workspace_floats(tag, geo, kernels::ConvPass::backward_weight); }) / N;
  ASSERT_GT(per_image, 0);
  Tensor ws = Tensor::empty({2 * per_image + 3}, DType::f32, d);
  // Runs the pass into a NaN-poisoned output with `floats` of the workspace.
  auto run = [&](int64_t floats) {
    Tensor out = Tensor::full(wr.grad().shape(), NAN).to(d);
    on_gpu(d, [&](auto tag) {
      conv2d_backward_weight(tag, geo, x.data<float>(), g.data<float>(), out.data<float>(), ws.data<float>(), floats);
    });
    return out;
  };
  EXPECT_LE(max_rel_diff_any_device(run(ws.numel()), wr.grad()), 2e-6);
  EXPECT_LE(max_rel_diff_any_device(run(per_image), wr.grad()), 2e-6);  // one image at a time
  EXPECT_THROW(run(per_image - 1), Error);                              // less than one image's worth: refused clearly
}

namespace {

// Layers for the implicit GEMMs' K-slices: strided, dilated, grouped and padded, with K (channels
// per group x taps) not a multiple of the 16-wide K-step, and rows past a 64-row tile.
struct SliceLayer {
  int64_t N, C, H, W, O, k;
  Conv2dParams p;
  int64_t Ho() const { return out_size(H, k, p.stride_h, p.pad_h, p.dilation_h); }
  int64_t Wo() const { return out_size(W, k, p.stride_w, p.pad_w, p.dilation_w); }
  kernels::ConvGeometry geometry() const {
    return {N,       C, H, W, O, k, k, Ho(), Wo(), p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w,
            p.groups};
  }
};
const SliceLayer kSliceLayers[] = {
    {2, 5, 9, 7, 37, 3, {.stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 1}},
    {1, 70, 8, 8, 19, 3, {.pad_h = 1, .pad_w = 1, .dilation_h = 2, .dilation_w = 1}},
    {2, 8, 11, 10, 12, 5, {.stride_h = 3, .stride_w = 2, .pad_h = 2, .pad_w = 1, .groups = 2}},
    {1, 19, 9, 9, 70, 3, {.pad_h = 1, .pad_w = 1}},
};

// Runs `pass(bm, splits, out, workspace, floats)` into a NaN-poisoned tensor of `shape` on d, in
// both tiles and 1, 2, 3 and 7 K-slices: each within 2e-5 of `expected`, and the same bits when
// run twice; two slices without workspace must be refused.
template <class Pass>
void check_every_slicing(Device d, const Shape& shape, const Tensor& expected, int64_t slice_floats, Pass pass) {
  Tensor ws = Tensor::empty({7 * slice_floats}, DType::f32, d);
  for (int bm : {64, 128})
    for (int splits : {1, 2, 3, 7}) {
      SCOPED_TRACE("tile " + std::to_string(bm) + ", " + std::to_string(splits) + " slices");
      auto run = [&] {
        Tensor out = Tensor::full(shape, NAN).to(d);
        pass(bm, splits, out.data<float>(), ws.data<float>(), ws.numel());
        return out.to(Device::cpu());
      };
      const Tensor first = run();
      EXPECT_LE(max_rel_diff_any_device(first, expected), 2e-5);
      EXPECT_EQ(first.to_vector_f32(), run().to_vector_f32());
    }
  // Two slices without room for their partial tiles: refused, not run into memory it lacks.
  Tensor unused = Tensor::empty(shape, DType::f32, d);
  EXPECT_ANY_THROW(pass(64, 2, unused.data<float>(), ws.data<float>(), 0));
}

}  // namespace

TEST_P(ConvOnDevice, ForwardInEveryTileAndKSlicing) {
  // The forward's implicit GEMM with a bias in both tiles and several K-slices (partial tiles
  // added in slice order, the bias added once, by a second kernel) against the CPU; then the
  // plan's own choice through the public launcher with the workspace it asks for.
  const Device d = device();
  uint64_t seed = 81;
  for (const SliceLayer& l : kSliceLayers) {
    SCOPED_TRACE("C=" + std::to_string(l.C) + " O=" + std::to_string(l.O));
    const kernels::ConvGeometry geo = l.geometry();
    Tensor x = cpu_random({l.N, l.C, l.H, l.W}, seed++), w = cpu_random({l.O, l.C / l.p.groups, l.k, l.k}, seed++);
    Tensor b = cpu_random({l.O}, seed++);
    const Tensor expected = conv2d(x, w, b, l.p);
    const Tensor xd = x.to(d), wd = w.to(d), bd = b.to(d);
    check_every_slicing(d, expected.shape(), expected, l.O * l.N * l.Ho() * l.Wo(),
                        [&](int bm, int splits, float* y, float* ws, int64_t floats) {
                          on_gpu(d, [&](auto tag) {
                            conv2d_forward_implicit_with(tag, geo, bm, splits, xd.data<float>(), wd.data<float>(),
                                                         bd.data<float>(), y, ws, floats);
                          });
                        });
    EXPECT_LE(max_rel_diff_any_device(conv2d(xd, wd, bd, l.p), expected), 2e-5);  // the engine, planned
  }
}

TEST_P(ConvOnDevice, ForwardWithBatchNormAndReluInEveryTileAndKSlicing) {
  // Inference: the batch norm (fixed statistics) and the ReLU applied in the implicit GEMM's
  // store (ConvPostOps), by the forward kernel or by the K-slices' reduction, in both tiles and
  // both store paths (float4 and scalar), against the CPU's conv2d, batch_norm and relu; then
  // conv2d_inference through the engine.
  const Device d = device();
  uint64_t seed = 91;
  for (const SliceLayer& l : kSliceLayers) {
    SCOPED_TRACE("C=" + std::to_string(l.C) + " O=" + std::to_string(l.O));
    const kernels::ConvGeometry geo = l.geometry();
    Tensor x = cpu_random({l.N, l.C, l.H, l.W}, seed++), w = cpu_random({l.O, l.C / l.p.groups, l.k, l.k}, seed++);
    const Tensor b = cpu_random({l.O}, seed++), mean = cpu_random({l.O}, seed++),
                 var = cpu_random({l.O}, seed++, 0.1, 2), gamma = cpu_random({l.O}, seed++),
                 beta = cpu_random({l.O}, seed++);
    const Tensor expected = relu(batch_norm(conv2d(x, w, b, l.p), mean, var, gamma, beta, false, 0.1, 1e-3));
    const Tensor xd = x.to(d), wd = w.to(d), bd = b.to(d);
    const BatchNormInference bn{mean.to(d), var.to(d), gamma.to(d), beta.to(d), 1e-3};
    const kernels::ConvPostOps post{bn.running_mean.data<float>(),
                                    bn.running_var.data<float>(),
                                    bn.weight.data<float>(),
                                    bn.bias.data<float>(),
                                    1e-3,
                                    true};
    check_every_slicing(d, expected.shape(), expected, l.O * l.N * l.Ho() * l.Wo(),
                        [&](int bm, int splits, float* y, float* ws, int64_t floats) {
                          on_gpu(d, [&](auto tag) {
                            conv2d_forward_implicit_with(tag, geo, bm, splits, xd.data<float>(), wd.data<float>(),
                                                         bd.data<float>(), y, ws, floats, post);
                          });
                        });
    NoGradGuard no_grad;
    EXPECT_LE(max_rel_diff_any_device(conv2d_inference(xd, wd, bd, l.p, &bn, true), expected), 2e-5);
  }
}

TEST_P(ConvOnDevice, DataGradientInEveryTileAndKSlicing) {
  // The data gradient's implicit GEMM in both tiles and several K-slices against the CPU; then
  // the plan's own choice through the public launcher with the workspace it asks for.
  const Device d = device();
  uint64_t seed = 61;
  for (const SliceLayer& l : kSliceLayers) {
    SCOPED_TRACE("C=" + std::to_string(l.C) + " O=" + std::to_string(l.O));
    const kernels::ConvGeometry geo = l.geometry();
    Tensor x = cpu_random({l.N, l.C, l.H, l.W}, seed++), w = cpu_random({l.O, l.C / l.p.groups, l.k, l.k}, seed++);
    Tensor g = cpu_random({l.N, l.O, l.Ho(), l.Wo()}, seed++);
    Tensor xr = x.detach();
    xr.set_requires_grad(true);
    conv2d(xr, w, Tensor(), l.p).backward(g);  // the CPU reference
    const Tensor gd = g.to(d), wd = w.to(d);
    check_every_slicing(d, xr.grad().shape(), xr.grad(), l.C * l.N * l.H * l.W,
                        [&](int bm, int splits, float* dx, float* ws, int64_t floats) {
                          on_gpu(d, [&](auto tag) {
                            conv2d_backward_data_with(tag, geo, bm, splits, gd.data<float>(), wd.data<float>(), dx, ws,
                                                      floats);
                          });
                        });
    const int64_t floats =
        on_gpu(d, [&](auto tag) { return conv2d_workspace_floats(tag, geo, kernels::ConvPass::backward_data); });
    Tensor planned_ws = floats > 0 ? Tensor::empty({floats}, DType::f32, d) : Tensor();
    Tensor dx = Tensor::full(xr.grad().shape(), NAN).to(d);
    on_gpu(d, [&](auto tag) {
      conv2d_backward_data(tag, geo, gd.data<float>(), wd.data<float>(), dx.data<float>(),
                           floats > 0 ? planned_ws.data<float>() : nullptr, floats);
    });
    EXPECT_LE(max_rel_diff_any_device(dx, xr.grad()), 2e-5);
  }
}

TEST_P(ConvOnDevice, BiasGradientIsDeterministicAndExact) {
  // Integers: every order of summation gives the same exact result, so this checks that each
  // channel's sum covers every (n, p) exactly once: a plane larger than the block, and a
  // channel of 5 x 41 x 43 = 8815 values, three chunks of the GPU kernel (4096 each, the last
  // partial) merged in order.
  const Device d = device();
  for (const auto& [N, Ho, Wo] : {std::tuple<int64_t, int64_t, int64_t>{3, 23, 19}, {5, 41, 43}}) {
    std::vector<float> v(N * 4 * Ho * Wo);
    for (size_t i = 0; i < v.size(); ++i) v[i] = float(int(i * 7919 % 13) - 6);
    Tensor gy = Tensor::from_vector(v, {N, 4, Ho, Wo});
    Tensor x = cpu_random({N, 2, Ho + 2, Wo + 2}, 51), w = cpu_random({4, 2, 3, 3}, 52), b = cpu_random({4}, 53);
    Tensor bd = b.to(d).detach();
    bd.set_requires_grad(true);
    conv2d(x.to(d), w.to(d), bd, {}).backward(gy.to(d));
    Tensor bc = b.detach();
    bc.set_requires_grad(true);
    conv2d(x, w, bc, {}).backward(gy);
    EXPECT_EQ(bd.grad().to_vector_f32(), bc.grad().to_vector_f32()) << N << "x" << Ho << "x" << Wo;
  }
}

TEST_P(ConvOnDevice, ArgumentErrors) {
  Tensor x = Tensor::ones({1, 3, 5, 5}).to(device()), w = Tensor::ones({2, 3, 3, 3}).to(device());
  EXPECT_THROW(conv2d(x, Tensor::ones({2, 3, 3, 3}), Tensor(), {}), Error);       // devices differ
  EXPECT_THROW(conv2d(x, w, Tensor::ones({2}), {}), Error);                       // bias on the cpu
  EXPECT_THROW(conv2d(x.to(DType::f64), w.to(DType::f64), Tensor(), {}), Error);  // f32 only
  EXPECT_THROW(conv2d(x, Tensor::ones({2, 4, 3, 3}).to(device()), Tensor(), {}), Error);
  EXPECT_THROW(conv2d(x, w, Tensor(), {.stride_h = 0}), Error);
  EXPECT_NO_THROW(conv2d(x, w, Tensor(), {}));
}

PW_INSTANTIATE_DEVICE_TEST(ConvOnDevice);
