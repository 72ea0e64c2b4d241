// Device checks: batch_norm against the CPU. [N, C], [N, C, L] and [N, C, H, W]; training with
// batch statistics (and the running-stat update, biased variance to normalize, unbiased for
// the running one) and eval with running statistics; with and without affine parameters;
// forward and backward (dx, dweight, dbias) through autograd. Sizes cover every configuration
// of tests/test_norm_loss.cpp's batch-norm part and awkward larger ones: one chunk, a partial
// chunk, many chunks per channel (the device reduces 4096 values per block), S = 1, and a
// mean far from zero (the variance must not cancel away in float).
#include <cmath>
#include <string>

#include "tests/device_checks/cpu_vs_device.h"

using namespace pw;
using pw::testing::DeviceTest;
using pw::testing::max_rel_diff_any_device;
using pw::testing::run_on_cpu_and_device;

namespace {

std::vector<Shape> shapes() {
  return {{5, 3},         {2, 1},         {3, 3, 2, 4}, {4, 3, 5}, {4, 3},           {2, 3, 3, 2},
          {7, 5, 13, 11}, {2, 3, 71, 67}, {1, 2, 4099}, {129, 33}, {3, 2, 150, 150}, {64, 1, 8, 9}};
}

}  // namespace

class NormOnDevice : public DeviceTest {};

TEST_P(NormOnDevice, TrainingForwardBackwardAndRunningStats) {
  uint64_t seed = 10;
  for (const Shape& shape : shapes()) {
    const int64_t C = shape[1];
    for (int affine = 0; affine < 3; ++affine) {  // none, weight and bias, weight only
      SCOPED_TRACE(shape_str(shape) + " affine " + std::to_string(affine));
      Tensor x = cpu_random(shape, ++seed, -2, 3);
      Tensor w = affine ? cpu_random({C}, ++seed, 0.5, 1.5) : Tensor();
      Tensor b = affine == 1 ? cpu_random({C}, ++seed) : Tensor();
      // Running statistics start away from their defaults so the update is visible.
      Tensor rm = cpu_random({C}, ++seed), rv = cpu_random({C}, ++seed, 0.5, 2);
      Tensor rm_dev = rm.to(device()), rv_dev = rv.to(device());
      auto r = run_on_cpu_and_device(
          [&](const std::vector<Tensor>& v) {
            const bool on_cpu = !is_gpu(v[0].device());
            return batch_norm(v[0], on_cpu ? rm : rm_dev, on_cpu ? rv : rv_dev, v[1], v[2], true, 0.3, 1e-5);
          },
          {x, w, b}, device(), seed);
      EXPECT_EQ(r.dev_out.device(), device());
      // Statistics: float chunk sums merged in double (the CPU: float lanes merged in double).
      EXPECT_LE(max_rel_diff_any_device(r.dev_out, r.cpu_out), 2e-6);
      EXPECT_LE(max_rel_diff_any_device(rm_dev, rm), 1e-6);
      EXPECT_LE(max_rel_diff_any_device(rv_dev, rv), 1e-6);
      EXPECT_LE(max_rel_diff_any_device(r.dev_grads[0], r.cpu_grads[0]), 2e-6);
      // dweight and dbias are sums over N*S values (up to 67500 here), in float within a chunk.
      if (w.defined()) EXPECT_LE(max_rel_diff_any_device(r.dev_grads[1], r.cpu_grads[1]), 2e-5);
      if (b.defined()) EXPECT_LE(max_rel_diff_any_device(r.dev_grads[2], r.cpu_grads[2]), 2e-5);
    }
  }
}

TEST_P(NormOnDevice, EvalUsesRunningStats) {
  uint64_t seed = 100;
  for (const Shape& shape : {Shape{4, 3}, Shape{2, 3, 3, 2}, Shape{5, 7, 11}, Shape{3, 4, 33, 35}}) {
    const int64_t C = shape[1];
    for (bool affine : {true, false}) {
      SCOPED_TRACE(shape_str(shape) + (affine ? " affine" : ""));
      Tensor x = cpu_random(shape, ++seed, -2, 2);
      Tensor w = affine ? cpu_random({C}, ++seed, 0.5, 1.5) : Tensor();
      Tensor b = affine ? cpu_random({C}, ++seed) : Tensor();
      Tensor rm = cpu_random({C}, ++seed), rv = cpu_random({C}, ++seed, 0.5, 2);
      Tensor rm_dev = rm.to(device()), rv_dev = rv.to(device());
      auto r = run_on_cpu_and_device(
          [&](const std::vector<Tensor>& v) {
            const bool on_cpu = !is_gpu(v[0].device());
            return batch_norm(v[0], on_cpu ? rm : rm_dev, on_cpu ? rv : rv_dev, v[1], v[2], false, 0.1, 1e-3);
          },
          {x, w, b}, device(), seed);
      EXPECT_LE(max_rel_diff_any_device(r.dev_out, r.cpu_out), 2e-6);
      EXPECT_LE(max_rel_diff_any_device(r.dev_grads[0], r.cpu_grads[0]), 2e-6);
      if (affine) {
        EXPECT_LE(max_rel_diff_any_device(r.dev_grads[1], r.cpu_grads[1]), 2e-5);
        EXPECT_LE(max_rel_diff_any_device(r.dev_grads[2], r.cpu_grads[2]), 2e-5);
      }
      // Eval leaves the running statistics alone.
      EXPECT_EQ(rm_dev.to_vector_f32(), rm.to_vector_f32());
      EXPECT_EQ(rv_dev.to_vector_f32(), rv.to_vector_f32());
    }
  }
}

TEST_P(NormOnDevice, LargeMeanDoesNotCancelTheVariance) {
  // Values 1000 +- 1 over 3 * 150 * 150 per channel: a one-pass float variance (E[x^2] - E[x]^2)
  // would lose about 1000^2 * 2^-24 = 0.06 of a variance of 1/3; the chunked two-pass statistics
  // keep it to float rounding. momentum 1 makes the running buffers the batch statistics (the
  // variance unbiased), compared with the f64 CPU op.
  Tensor x = add(cpu_random({3, 2, 150, 150}, 200), 1000.0);
  Tensor rm64 = Tensor::zeros({2}, DType::f64), rv64 = Tensor::ones({2}, DType::f64);
  Tensor rm_dev = Tensor::zeros({2}).to(device()), rv_dev = Tensor::ones({2}).to(device());
  Tensor want = batch_norm(x.to(DType::f64), rm64, rv64, Tensor(), Tensor(), true, 1.0);
  Tensor got = batch_norm(x.to(device()), rm_dev, rv_dev, Tensor(), Tensor(), true, 1.0);
  EXPECT_LE(max_rel_diff_any_device(rm_dev, rm64), 1e-6);
  EXPECT_LE(max_rel_diff_any_device(rv_dev, rv64), 1e-5);
  // y = x * scale + shift in float with |x * scale| ~ 1700: rounding of 1700 is ~1e-4.
  EXPECT_LE(max_rel_diff_any_device(got, want), 1e-4);
}

TEST_P(NormOnDevice, StridedRunningBuffersAreUpdatedInPlace) {
  Tensor x = cpu_random({6, 3, 5, 4}, 300);
  Tensor store = cpu_random({2, 6}, 301, 0.5, 1.5);  // rows: running mean, running var (every other)
  Tensor store_dev = store.to(device());
  Tensor rm = store.select(0, 0).slice(0, 0, 6, 2), rv = store.select(0, 1).slice(0, 1, 6, 2);
  Tensor rm_dev = store_dev.select(0, 0).slice(0, 0, 6, 2), rv_dev = store_dev.select(0, 1).slice(0, 1, 6, 2);
  batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.25);
  batch_norm(x.to(device()), rm_dev, rv_dev, Tensor(), Tensor(), true, 0.25);
  EXPECT_LE(max_rel_diff_any_device(store_dev, store), 1e-6);
}

TEST_P(NormOnDevice, ResultsAreDeterministic) {
  Tensor x = cpu_random({5, 4, 61, 59}, 400).to(device());
  Tensor w = cpu_random({4}, 401).to(device()), g = cpu_random({5, 4, 61, 59}, 402).to(device());
  auto run = [&] {
    Tensor xi = x.detach(), wi = w.detach();
    xi.set_requires_grad(true);
    wi.set_requires_grad(true);
    Tensor y = batch_norm(xi, Tensor(), Tensor(), wi, Tensor(), true);
    y.backward(g);
    std::vector<float> out = y.to_vector_f32(), dx = xi.grad().to_vector_f32(), dw = wi.grad().to_vector_f32();
    out.insert(out.end(), dx.begin(), dx.end());
    out.insert(out.end(), dw.begin(), dw.end());
    return out;
  };
  EXPECT_EQ(run(), run());
}

TEST_P(NormOnDevice, ErrorsOnTheDevice) {
  Tensor x = Tensor::ones({4, 3}).to(device());
  Tensor cpu3 = Tensor::ones({3});
  EXPECT_THROW(batch_norm(x, cpu3, cpu3, Tensor(), Tensor(), true), Error);  // buffers on the cpu
  EXPECT_THROW(batch_norm(x, Tensor(), Tensor(), cpu3, Tensor(), true), Error);
  Tensor x64 = Tensor::ones({4, 3}, DType::f64).to(device());
  EXPECT_THROW(batch_norm(x64, Tensor(), Tensor(), Tensor(), Tensor(), true), Error);
}

PW_INSTANTIATE_DEVICE_TEST(NormOnDevice);
