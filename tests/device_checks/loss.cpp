// Device checks: softmax / log_softmax (rows short and long, and along an inner dimension),
// cross_entropy (every reduction, forward and logits gradient, label errors, label smoothing)
// and the composite mse_loss, against the CPU on awkward sizes.
#include <cmath>

#include "tests/support/device_test.h"

using namespace pw;
using pw::testing::DeviceTest;
using pw::testing::max_rel_diff_any_device;

namespace {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Labels in [0, C), drawn on the CPU.
Tensor random_labels(int64_t N, int64_t C, uint64_t seed) {
  Generator g(seed, 5);
  std::vector<int32_t> v(N);
  for (auto& e : v) e = (int32_t)g.randint(0, C);
  return Tensor::from_vector(v, {N});
}

// Runs f(x) forward and backward with upstream gradient g on the CPU and on `dev`; returns
// {max diff of outputs, max diff of input gradients}.
template <class F>
std::pair<double, double> compare(F f, const Tensor& x, const Tensor& g, Device dev) {
  Tensor xc = x.detach(), xd = x.to(dev).detach();
  xc.set_requires_grad(true);
  xd.set_requires_grad(true);
  Tensor yc = f(xc), yd = f(xd);
  EXPECT_EQ(yd.device(), dev);
  yc.backward(g);
  yd.backward(g.to(dev));
  EXPECT_EQ(xd.grad().device(), dev);
  return {max_rel_diff_any_device(yd, yc), max_rel_diff_any_device(xd.grad(), xc.grad())};
}

}  // namespace

class LossOnDevice : public DeviceTest {};

TEST_P(LossOnDevice, SoftmaxAndLogSoftmaxAlongRows) {
  uint64_t seed = 100;
  // R up to 1024: a warp per row; longer: a block per row.
  for (int64_t R : {1, 31, 33, 1000, 1025, 4099}) {
    for (int64_t rows : {1, 9}) {
      // A spread of logits (and an offset) so exp() and the max subtraction matter.
      Tensor x = cpu_random({rows, R}, seed++, -8, 12);
      Tensor g = cpu_random({rows, R}, seed++);
      for (bool log : {false, true}) {
        auto f = [log](const Tensor& t) { return log ? log_softmax(t, -1) : softmax(t, 1); };
        auto [fwd, bwd] = compare(f, x, g, device());
        EXPECT_LE(fwd, 2e-6) << (log ? "log_softmax" : "softmax") << " rows " << rows << " R " << R;
        EXPECT_LE(bwd, 2e-6) << (log ? "log_softmax" : "softmax") << " backward rows " << rows << " R " << R;
      }
    }
  }
}

TEST_P(LossOnDevice, SoftmaxAndLogSoftmaxAlongAnInnerDimension) {
  uint64_t seed = 200;
  // [N, C, H, W] over the channels (inner = H * W > 1), and over the first dimension.
  struct Shape4 {
    Shape shape;
    int64_t dim;
  };
  for (const Shape4& c :
       std::vector<Shape4>{{{2, 33, 3, 5}, 1}, {{3, 1, 7}, 1}, {{31, 2, 3}, 0}, {{1, 1000, 2}, 1}, {{2, 5, 1}, 1}}) {
    Tensor x = cpu_random(c.shape, seed++, -6, 6);
    Tensor g = cpu_random(c.shape, seed++);
    for (bool log : {false, true}) {
      auto f = [&](const Tensor& t) { return log ? log_softmax(t, c.dim) : softmax(t, c.dim); };
      auto [fwd, bwd] = compare(f, x, g, device());
      EXPECT_LE(fwd, 2e-6) << shape_str(c.shape) << " dim " << c.dim << (log ? " log" : "");
      EXPECT_LE(bwd, 2e-6) << shape_str(c.shape) << " dim " << c.dim << (log ? " log" : "");
    }
  }
  // Through a non-contiguous input.
  Tensor x = cpu_random({4, 6, 5}, 250).transpose(0, 2);
  auto [fwd, bwd] = compare([](const Tensor& t) { return softmax(t, 1); }, x, cpu_random({5, 6, 4}, 251), device());
  EXPECT_LE(fwd, 2e-6);
  EXPECT_LE(bwd, 2e-6);
}

TEST_P(LossOnDevice, CrossEntropyEveryReductionForwardAndBackward) {
  uint64_t seed = 300;
  struct Size {
    int64_t N, C;
  };
  for (const Size& s : std::vector<Size>{{1, 1}, {7, 10}, {33, 31}, {5, 1000}, {3, 4099}, {300, 33}}) {
    Tensor logits = cpu_random({s.N, s.C}, seed++, -5, 5);
    Tensor target = random_labels(s.N, s.C, seed++);
    Tensor dtarget = target.to(device());
    for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
      Tensor g = r == Reduction::none ? cpu_random({s.N}, seed++) : Tensor::full({}, 1.7);
      Tensor lc = logits.detach(), ld = logits.to(device()).detach();
      lc.set_requires_grad(true);
      ld.set_requires_grad(true);
      Tensor yc = cross_entropy(lc, target, r), yd = cross_entropy(ld, dtarget, r);
      EXPECT_EQ(yd.device(), device());
      EXPECT_EQ(yd.shape(), yc.shape());
      EXPECT_LE(max_rel_diff_any_device(yd, yc), 2e-6) << "N " << s.N << " C " << s.C << " reduction " << (int)r;
      yc.backward(g);
      yd.backward(g.to(device()));
      EXPECT_LE(max_rel_diff_any_device(ld.grad(), lc.grad()), 2e-6)
          << "N " << s.N << " C " << s.C << " reduction " << (int)r;
    }
  }
}

TEST_P(LossOnDevice, CrossEntropyWithLabelSmoothingMatchesTheCpu) {
  const Tensor logits = cpu_random({37, 11}, 410), target = random_labels(37, 11, 411);
  const Tensor dtarget = target.to(device());
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
    Tensor lc = logits.detach(), ld = logits.to(device()).detach();
    lc.set_requires_grad(true);
    ld.set_requires_grad(true);
    Tensor yc = cross_entropy(lc, target, Tensor(), r, 0.1), yd = cross_entropy(ld, dtarget, target, r, 0.1);
    EXPECT_EQ(yd.device(), device());
    EXPECT_LE(max_rel_diff_any_device(yd, yc), 2e-6) << (int)r;
    const Tensor g = r == Reduction::none ? cpu_random({37}, 412) : Tensor::full({}, 0.5);
    yc.backward(g);
    yd.backward(g.to(device()));
    EXPECT_LE(max_rel_diff_any_device(ld.grad(), lc.grad()), 2e-6) << (int)r;
  }
}

TEST_P(LossOnDevice, CrossEntropyLabelErrorsNameTheLabelAndItsIndex) {
  Tensor logits = cpu_random({4, 5}, 400).to(device());
  Tensor bad = Tensor::from_vector(std::vector<int32_t>{1, 0, 7, 2}, {4}).to(device());
  const std::string msg = error_of([&] { cross_entropy(logits, bad); });
  EXPECT_NE(msg.find("target 7 at index 2"), std::string::npos) << msg;
  Tensor negative = Tensor::from_vector(std::vector<int32_t>{0, -1, 0, 0}, {4}).to(device());
  EXPECT_NE(error_of([&] { cross_entropy(logits, negative); }).find("target -1 at index 1"), std::string::npos);
  // Labels on another device than the logits, f64 logits, wrong shapes.
  Tensor ok = Tensor::from_vector(std::vector<int32_t>{1, 0, 3, 2}, {4});
  EXPECT_THROW(cross_entropy(logits, ok), Error);
  EXPECT_THROW(cross_entropy(logits.to(DType::f64), ok.to(device())), Error);
  EXPECT_THROW(cross_entropy(logits, ok.slice(0, 0, 3).to(device())), Error);
  EXPECT_THROW(softmax(Tensor::ones({3}, DType::f64).to(device()), 0), Error);
}

TEST_P(LossOnDevice, MseLossIsCompositeAndWorks) {
  Tensor a = cpu_random({7, 33}, 500), b = cpu_random({7, 33}, 501);
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none}) {
    Tensor ac = a.detach(), bc = b.detach(), ad = a.to(device()).detach(), bd = b.to(device()).detach();
    for (Tensor* t : {&ac, &bc, &ad, &bd}) t->set_requires_grad(true);
    Tensor yc = mse_loss(ac, bc, r), yd = mse_loss(ad, bd, r);
    EXPECT_LE(max_rel_diff_any_device(yd, yc), 1e-5);
    Tensor g = r == Reduction::none ? cpu_random({7, 33}, 502) : Tensor::full({}, 0.5);
    yc.backward(g);
    yd.backward(g.to(device()));
    EXPECT_LE(max_rel_diff_any_device(ad.grad(), ac.grad()), 1e-6);
    EXPECT_LE(max_rel_diff_any_device(bd.grad(), bc.grad()), 1e-6);
  }
}

PW_INSTANTIATE_DEVICE_TEST(LossOnDevice);
