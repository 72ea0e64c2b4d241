// Device checks: concat, stack, split, pad and resize against the CPU, forward and backward
// through autograd. concat / stack / split / pad have no kernels of their own: they are views
// and copies into slices (copy.cu's strided copy and fill), checked here on every configuration
// of tests/test_shape_resize.cpp. Resize (kernels/cuda/resize.cu) is checked in both modes and
// both align_corners settings, up and down, on awkward sizes; its backward is a gather.
#include <cmath>
#include <string>

#include "tests/device_checks/cpu_vs_device.h"

using namespace pw;
using pw::testing::DeviceTest;
using pw::testing::max_rel_diff_any_device;
using pw::testing::run_on_cpu_and_device;

class ShapeOnDevice : public DeviceTest {
 protected:
  // Shape ops only move values: outputs and gradients must be exact.
  void expect_exact(const std::function<Tensor(const std::vector<Tensor>&)>& f, const std::vector<Tensor>& inputs,
                    const std::string& what) {
    SCOPED_TRACE(what);
    auto r = run_on_cpu_and_device(f, inputs, device());
    EXPECT_EQ(r.dev_out.device(), device());
    EXPECT_LE(max_rel_diff_any_device(r.dev_out, r.cpu_out), 0);
    for (size_t i = 0; i < inputs.size(); ++i) {
      EXPECT_EQ(r.dev_grads[i].device(), device()) << "input " << i;
      EXPECT_LE(max_rel_diff_any_device(r.dev_grads[i], r.cpu_grads[i]), 0) << "input " << i;
    }
  }
};

TEST_P(ShapeOnDevice, ConcatAlongEveryDim) {
  Tensor a = cpu_random({2, 3, 4}, 1), b = cpu_random({2, 1, 4}, 2), c = cpu_random({2, 2, 4}, 3);
  expect_exact([](auto v) { return concat({v[0], v[1], v[2]}, 1); }, {a, b, c}, "dim 1");
  Tensor d = cpu_random({1, 3, 4}, 4), e = cpu_random({2, 3, 2}, 5);
  expect_exact([](auto v) { return concat({v[0], v[1]}, 0); }, {a, d}, "dim 0");
  expect_exact([](auto v) { return concat({v[0], v[1], v[0]}, -1); }, {a, e}, "repeated input, dim -1");
  // Non-contiguous inputs (transposed views) and an awkward large concat.
  Tensor p = cpu_random({33, 17}, 6), q = cpu_random({5, 33}, 7);
  expect_exact([](auto v) { return concat({v[0].t(), v[1]}, 0); }, {p, q}, "transposed");
  Tensor r = cpu_random({3, 1031, 7}, 8), s = cpu_random({3, 1, 7}, 9);
  expect_exact([](auto v) { return concat({v[0], v[1], v[0]}, 1); }, {r, s}, "long");
  // i32 (no gradients).
  Tensor i = Tensor::from_vector(std::vector<int32_t>{1, 2}, {2}),
         j = Tensor::from_vector(std::vector<int32_t>{3}, {1});
  EXPECT_EQ(concat({i.to(device()), j.to(device())}, 0).to_vector_i32(), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_THROW(concat({a.to(device()), b}, 1), Error);  // different devices
}

TEST_P(ShapeOnDevice, StackAlongEveryDim) {
  Tensor x = cpu_random({2, 3}, 10), y = cpu_random({2, 3}, 11), z = cpu_random({2, 3}, 12);
  for (int64_t d : {0, 1, 2, -1})
    expect_exact([d](auto v) { return stack({v[0], v[1], v[2]}, d); }, {x, y, z}, "dim " + std::to_string(d));
  Tensor big = cpu_random({7, 1, 13}, 13);
  expect_exact([](auto v) { return stack({v[0], v[0], v[0]}, 1); }, {big}, "one input three times");
}

TEST_P(ShapeOnDevice, SplitUnevenChunks) {
  Tensor y = cpu_random({5, 3}, 20);
  expect_exact(
      [](auto v) {
        std::vector<Tensor> p = split(v[0], 2, 0);  // 2, 2, 1
        return concat({p[2], mul(p[0], 3.0), p[1]}, 0);
      },
      {y}, "split + concat");
  expect_exact([](auto v) { return split(v[0], 2, 1)[1]; }, {y}, "short last chunk");
  Tensor x = cpu_random({7, 2}, 21).to(device());
  std::vector<Tensor> parts = split(x, 3, 0);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[2].device(), device());
  EXPECT_EQ(parts[1].storage(), x.storage());  // views on the device too
  EXPECT_EQ(parts[2].to_vector_f32(), x.to(Device::cpu()).slice(0, 6, 7).contiguous().to_vector_f32());
}

TEST_P(ShapeOnDevice, PadPositiveAndNegative) {
  Tensor x = cpu_random({2, 3, 4, 5}, 30);
  expect_exact([](auto v) { return pad(v[0], {1, 2, 2, 0}, 0.5); }, {x}, "positive");
  expect_exact([](auto v) { return pad(v[0], {-1, 2, 1, -2}); }, {x}, "mixed");
  expect_exact([](auto v) { return pad(v[0], {-2, -1, 0, 0, 1, -1}); }, {x}, "three dims");
  expect_exact([](auto v) { return pad(v[0], {2, -6}, 7); }, {x}, "all cropped away");
  Tensor img = cpu_random({3, 5, 17, 13}, 31);
  expect_exact([](auto v) { return pad(v[0], {3, 3, 3, 3}); }, {img}, "image border");
}

namespace {

struct ResizeCase {
  Shape in;
  int64_t out_h, out_w;
};

std::vector<ResizeCase> resize_cases() {
  return {
      // test_shape_resize.cpp's gradient checks and its f32 case
      {{2, 2, 3, 4}, 5, 7},
      {{2, 2, 3, 4}, 2, 3},
      {{2, 2, 3, 4}, 6, 2},
      {{2, 2, 3, 4}, 1, 1},
      {{2, 2, 3, 4}, 3, 4},
      {{2, 3, 7, 5}, 11, 4},
      {{1, 1, 2, 2}, 4, 4},
      {{1, 1, 1, 4}, 1, 2},
      {{1, 1, 1, 2}, 1, 82},  // PyTorch's float index rule picks 0 for dst 41
      // awkward larger ones: up and down by non-integer factors, 1-pixel inputs, heavy upsampling
      {{2, 3, 17, 23}, 40, 9},
      {{1, 2, 31, 29}, 5, 31},
      {{3, 1, 1, 1}, 7, 3},
      {{1, 2, 3, 2}, 50, 61},
      {{2, 2, 64, 48}, 224, 224},
  };
}

std::string describe(const ResizeCase& c, ResizeMode mode, bool ac) {
  return shape_str(c.in) + " -> " + std::to_string(c.out_h) + "x" + std::to_string(c.out_w) +
         (mode == ResizeMode::nearest ? " nearest"
          : ac                        ? " bilinear align_corners"
                                      : " bilinear");
}

}  // namespace

TEST_P(ShapeOnDevice, ResizeMatchesTheCpu) {
  uint64_t seed = 40;
  for (const ResizeCase& c : resize_cases())
    for (ResizeMode mode : {ResizeMode::nearest, ResizeMode::bilinear})
      for (bool ac : {false, true}) {
        if (mode == ResizeMode::nearest && ac) continue;
        SCOPED_TRACE(describe(c, mode, ac));
        Tensor x = cpu_random(c.in, ++seed);
        const int64_t h = c.out_h, w = c.out_w;
        auto r = run_on_cpu_and_device([=](auto v) { return resize(v[0], h, w, mode, ac); }, {x}, device(), seed);
        if (mode == ResizeMode::nearest) {
          // Same source indices, same summation order: exact both ways.
          EXPECT_LE(max_rel_diff_any_device(r.dev_out, r.cpu_out), 0);
          EXPECT_LE(max_rel_diff_any_device(r.dev_grads[0], r.cpu_grads[0]), 0);
        } else {
          // Exact source positions; the four-term sum in float (the CPU's in double). The
          // gradient of an input sums up to ~50 terms in float when upsampling 3.5x4.7.
          EXPECT_LE(max_rel_diff_any_device(r.dev_out, r.cpu_out), 5e-7);
          EXPECT_LE(max_rel_diff_any_device(r.dev_grads[0], r.cpu_grads[0]), 2e-5);
        }
      }
}

TEST_P(ShapeOnDevice, ResizeBackwardWeightsSumToTheOutputCount) {
  // Each output's bilinear weights sum to one: the gradient of ones sums to out_h * out_w.
  Tensor x = cpu_random({1, 1, 3, 2}, 60).to(device()).detach();
  x.set_requires_grad(true);
  resize(x, 7, 5, ResizeMode::bilinear).backward(Tensor::ones({1, 1, 7, 5}).to(device()));
  EXPECT_NEAR(sum(x.grad()).item(), 35.0, 1e-4);
}

TEST_P(ShapeOnDevice, ResizeF64IsRefusedClearly) {
  Tensor x = Tensor::ones({1, 1, 4, 4}, DType::f64).to(device());
  EXPECT_THROW(resize(x, 2, 2, ResizeMode::bilinear), Error);
}

PW_INSTANTIATE_DEVICE_TEST(ShapeOnDevice);
