// Device checks: the SGEMM of kernels/cuda/gemm.cu (every version the engine keeps, every
// transpose combination, awkward sizes, padded and misaligned operands, alpha/beta, batches)
// against the CPU's double-precision reference GEMM, and matmul / linear on the device against
// the CPU, forward and backward. The rungs of the ladder the engine does not keep (v4) are
// validated by their development file, bench/kernels/gemm.cu (CTest: dev_gemm_validation);
// v5's other block tiles and split-K by gemm_splitk.cpp.
#include "tests/device_checks/gemm_check.h"

using namespace pw;
using namespace pw::testing::gemm_check;
using pw::testing::DeviceTest;
using pw::testing::max_rel_diff_any_device;

class GemmOnDevice : public DeviceTest {};

TEST_P(GemmOnDevice, EveryVersionTransposeAndSizeMatchesTheReference) {
  const std::vector<int> all = engine_versions(device());
  EXPECT_EQ(all, (std::vector<int>{1, 2, 3, 5}));
  uint32_t seed = 1;
  for (int t = 0; t < 4; ++t)
    for (const Size& s : kSizes) {
      const bool ta = t & 1, tb = t & 2;
      check_gemm(device(), runs_of(all), ta, tb, s, 1.0f, 0.0f, {true, 0, 0}, seed++);
      check_gemm(device(), runs_of(all), ta, tb, s, -0.75f, 1.0f, {false, 1, 1}, seed++);
    }
}

TEST_P(GemmOnDevice, VectorPathsAndTheirScalarFallbacks) {
  // v5 reads and writes float4 where the layout allows it: every combination of an aligned /
  // misaligned base and a leading dimension that is / is not a multiple of 4.
  uint32_t seed = 1000;
  for (int t = 0; t < 4; ++t)
    for (Layout l : {Layout{true, 0, 0}, Layout{true, 4, 2}, Layout{false, 3, 0}, Layout{false, 2, 3}})
      for (Size s : {Size{131, 133, 37}, Size{12, 20, 16}}) {
        check_gemm(device(), {5}, t & 1, t & 2, s, 1.5f, 0.0f, l, seed++);
        check_gemm(device(), {5}, t & 1, t & 2, s, 1.0f, -2.0f, l, seed++);
      }
}

TEST_P(GemmOnDevice, DispatcherMatchesTheReferenceFromTinyToLarge) {
  uint32_t seed = 2000;
  // Large enough for the dispatcher to pick v5 (>= 64 tiles of 128x128), then v3, v2, v1.
  // (The large one in one transpose combination only: its reference dominates the run time.)
  check_gemm(device(), {0}, true, true, {1000, 1001, 33}, 1.0f, 0.0f, {true, 0, 0}, seed++);
  for (Size s : {Size{400, 300, 40}, Size{70, 50, 80}, Size{3, 5, 7}})
    for (int t : {0, 3}) check_gemm(device(), {0}, t & 1, t & 2, s, 1.0f, 0.0f, {true, 0, 0}, seed++);
}

TEST_P(GemmOnDevice, DegenerateProblems) {
  // K == 0: C = beta * C, and A, B are never read (they are poisoned here).
  const Device d = device();
  Tensor poison = Tensor::full({64}, kNaN).to(d);
  Tensor c = Tensor::full({3, 5}, kNaN).to(d);
  on_gpu(d, [&](auto tag) {
    sgemm(tag, false, false, 3, 5, 0, 1.0f, poison.data<float>(), 1, poison.data<float>(), 5, 0.0f, c.data<float>(), 5);
  });
  EXPECT_EQ(c.to_vector_f32(), std::vector<float>(15, 0.0f));
  Tensor c2 = Tensor::full({3, 5}, 2.0).to(d);
  // alpha == 0 with K > 0: A and B are not read either.
  float expect = 2.0f;
  for (int v : engine_versions(d)) {
    on_gpu(d, [&](auto tag) {
      sgemm_batched(tag, kernels::GemmBatch{}, true, true, 3, 5, 4, 0.0f, poison.data<float>(), 3, poison.data<float>(),
                    4, 1.5f, c2.data<float>(), 5, v);
    });
    expect *= 1.5f;
  }
  EXPECT_EQ(c2.to_vector_f32(), std::vector<float>(15, expect));
  // M == 0 or N == 0: nothing to do, nothing touched.
  on_gpu(d, [&](auto tag) {
    sgemm(tag, false, false, 0, 5, 3, 1.0f, poison.data<float>(), 3, poison.data<float>(), 5, 0.0f,
          poison.data<float>(), 5);
    // A rung the engine does not keep (v4 lives in bench/kernels/gemm.cu), or none at all.
    for (int v : {4, 6, -1})
      EXPECT_THROW(sgemm_batched(tag, kernels::GemmBatch{}, false, false, 1, 1, 1, 1.0f, poison.data<float>(), 1,
                                 poison.data<float>(), 1, 0.0f, c.data<float>(), 1, v),
                   std::runtime_error);
  });
}

TEST_P(GemmOnDevice, ProblemsBeyondOneLaunchGoInSeveral) {
  // grid.y and grid.z hold at most 65535 tiles / problems per launch: more rows than v1's
  // 8-row tiles can cover in one launch, and more problems than one launch's grid.z.
  const Device d = device();
  std::mt19937 rng(11);
  {
    const int64_t M = 65535 * 8 + 5, N = 3, K = 2;
    const std::vector<float> A = random_vec(size_t(M * K), rng), B = random_vec(size_t(K * N), rng);
    Tensor dA = Tensor::from_vector(A, {M * K}).to(d), dB = Tensor::from_vector(B, {K * N}).to(d);
    Tensor dC = Tensor::full({M * N}, kNaN).to(d);
    on_gpu(d, [&](auto tag) {
      sgemm_batched(tag, kernels::GemmBatch{}, false, false, M, N, K, 1.0f, dA.data<float>(), K, dB.data<float>(), N,
                    0.0f, dC.data<float>(), N, 1);
    });
    const std::vector<float> C = dC.to_vector_f32();
    int bad = 0;
    for (int64_t m = 0; m < M && bad < 5; ++m)
      for (int64_t n = 0; n < N; ++n) {
        const float ref = A[size_t(m * K)] * B[size_t(n)] + A[size_t(m * K + 1)] * B[size_t(N + n)];
        if (!(std::abs(C[size_t(m * N + n)] - ref) <= 1e-6f)) {
          ADD_FAILURE() << "C[" << m << "][" << n << "] = " << C[size_t(m * N + n)] << ", expected " << ref;
          ++bad;
        }
      }
  }
  {
    const int64_t count = 65535 + 7;  // 1x2 @ 2x1 problems, each with its own A and B
    const std::vector<float> A = random_vec(size_t(2 * count), rng), B = random_vec(size_t(2 * count), rng);
    Tensor dA = Tensor::from_vector(A, {2 * count}).to(d), dB = Tensor::from_vector(B, {2 * count}).to(d);
    Tensor dC = Tensor::full({count}, kNaN).to(d);
    kernels::GemmBatch batch;
    batch.count = count;
    batch.a_outer = 2;
    batch.b_outer = 2;
    batch.c_outer = 1;
    on_gpu(d, [&](auto tag) {
      sgemm_batched(tag, batch, false, false, 1, 1, 2, 1.0f, dA.data<float>(), 2, dB.data<float>(), 1, 0.0f,
                    dC.data<float>(), 1);
    });
    const std::vector<float> C = dC.to_vector_f32();
    int bad = 0;
    for (int64_t z = 0; z < count && bad < 5; ++z) {
      const float ref = A[size_t(2 * z)] * B[size_t(2 * z)] + A[size_t(2 * z + 1)] * B[size_t(2 * z + 1)];
      if (!(std::abs(C[size_t(z)] - ref) <= 1e-6f)) {
        ADD_FAILURE() << "problem " << z << ": " << C[size_t(z)] << ", expected " << ref;
        ++bad;
      }
    }
  }
}

TEST_P(GemmOnDevice, BatchedWithTwoLevelStridesMatchesTheReference) {
  // count 6 = 2 outer x 3 inner problems of 37 x 45 x 19; A is shared across the outer index
  // (stride 0), as conv2d's weights are across images.
  const Device d = device();
  const int64_t M = 37, N = 45, K = 19, outer = 2, inner = 3;
  std::mt19937 rng(7);
  const std::vector<float> A = random_vec(size_t(inner * M * K), rng);
  const std::vector<float> B = random_vec(size_t(outer * inner * K * N + 5), rng);
  std::vector<int> versions = engine_versions(d);
  versions.insert(versions.begin(), 0);  // and the dispatcher
  for (int v : versions)
    for (bool tb : {false, true}) {
      SCOPED_TRACE("version " + std::to_string(v) + " tb " + std::to_string(tb));
      kernels::GemmBatch b;
      b.count = outer * inner;
      b.inner = inner;
      b.a_outer = 0;
      b.a_inner = M * K;
      b.b_outer = inner * K * N + 1;  // odd: misaligned problems, the scalar fallback
      b.b_inner = K * N;
      b.c_outer = inner * M * N;
      b.c_inner = M * N;
      DeviceBuffer dA = to_device(A, 0, d), dB = to_device(B, 1, d);
      Tensor dC = Tensor::full({outer * inner * M * N}, kNaN).to(d);
      on_gpu(d, [&](auto tag) {
        sgemm_batched(tag, b, false, tb, M, N, K, 1.0f, dA.ptr(), K, dB.ptr(), tb ? K : N, 0.0f, dC.data<float>(), N,
                      v);
      });
      const std::vector<float> out = dC.to_vector_f32();
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          std::vector<double> a(A.begin() + i * M * K, A.begin() + (i + 1) * M * K);
          const int64_t boff = o * (inner * K * N + 1) + i * K * N;
          std::vector<double> b(B.begin() + boff, B.begin() + boff + K * N), c(size_t(M * N));
          kernels::cpu::gemm_reference<double>(false, tb, M, N, K, 1.0, a.data(), K, b.data(), tb ? K : N, 0.0,
                                               c.data(), N);
          double worst = 0;
          for (int64_t e = 0; e < M * N; ++e)
            worst = std::max(worst, std::abs(out[size_t((o * inner + i) * M * N + e)] - c[size_t(e)]));
          EXPECT_LE(worst, 1e-5) << "problem (" << o << ", " << i << ")";
        }
    }
}

// ---- through the engine ----

namespace {
// Runs f on leaves made from `inputs` on device d (requiring grad), backpropagates `seed_grad`
// and returns the output and the inputs' gradients, all brought back to the CPU.
template <class F>
std::vector<Tensor> run_with_grads(F f, const std::vector<Tensor>& inputs, const Tensor& seed_grad, Device d) {
  std::vector<Tensor> leaves;
  for (const Tensor& t : inputs) {
    Tensor l = t.to(d).detach();
    l.set_requires_grad(true);
    leaves.push_back(l);
  }
  Tensor y = f(leaves);
  y.backward(seed_grad.to(d));
  std::vector<Tensor> out{y.to(Device::cpu())};
  for (const Tensor& l : leaves) out.push_back(l.grad().to(Device::cpu()));
  return out;
}

void expect_same_run(const std::vector<Tensor>& dev, const std::vector<Tensor>& cpu, double tol,
                     const std::string& what) {
  ASSERT_EQ(dev.size(), cpu.size());
  const char* names[] = {"output", "grad 0", "grad 1", "grad 2"};
  for (size_t i = 0; i < dev.size(); ++i)
    EXPECT_LE(max_rel_diff_any_device(dev[i], cpu[i]), tol) << what << ": " << names[i];
}
}  // namespace

TEST_P(GemmOnDevice, MatmulForwardAndBackwardMatchTheCpu) {
  const double tol = 2e-5;
  for (Size s : {Size{1, 1, 1}, Size{7, 13, 5}, Size{65, 33, 129}, Size{130, 67, 9}}) {
    const std::string what = "matmul " + std::to_string(s.M) + "x" + std::to_string(s.N) + "x" + std::to_string(s.K);
    Tensor a = cpu_random({s.M, s.K}, 1), b = cpu_random({s.K, s.N}, 2), g = cpu_random({s.M, s.N}, 3);
    auto f = [](const std::vector<Tensor>& t) { return matmul(t[0], t[1]); };
    expect_same_run(run_with_grads(f, {a, b}, g, device()), run_with_grads(f, {a, b}, g, Device::cpu()), tol, what);
    // Transposed views go to the GEMM as transposes.
    Tensor at = cpu_random({s.K, s.M}, 4), bt = cpu_random({s.N, s.K}, 5);
    auto ft = [](const std::vector<Tensor>& t) { return matmul(t[0].t(), t[1].t()); };
    expect_same_run(run_with_grads(ft, {at, bt}, g, device()), run_with_grads(ft, {at, bt}, g, Device::cpu()), tol,
                    what + " transposed");
  }
}

TEST_P(GemmOnDevice, BatchedMatmulMatchesTheCpu) {
  Tensor a = cpu_random({3, 17, 11}, 6), b = cpu_random({3, 11, 29}, 7), g = cpu_random({3, 17, 29}, 8);
  auto f = [](const std::vector<Tensor>& t) { return matmul(t[0], t[1]); };
  expect_same_run(run_with_grads(f, {a, b}, g, device()), run_with_grads(f, {a, b}, g, Device::cpu()), 2e-5,
                  "batched matmul");
  // Transposed and sliced batch views.
  Tensor at = cpu_random({3, 11, 17}, 9), bs = cpu_random({5, 11, 29}, 10);
  auto fv = [](const std::vector<Tensor>& t) { return matmul(t[0].transpose(1, 2), t[1].slice(0, 1, 4)); };
  expect_same_run(run_with_grads(fv, {at, bs}, g, device()), run_with_grads(fv, {at, bs}, g, Device::cpu()), 2e-5,
                  "batched matmul views");
}

TEST_P(GemmOnDevice, LinearForwardAndBackwardMatchTheCpu) {
  Tensor x = cpu_random({9, 70}, 11), w = cpu_random({33, 70}, 12), bias = cpu_random({33}, 13),
         g = cpu_random({9, 33}, 14);
  auto f = [](const std::vector<Tensor>& t) { return linear(t[0], t[1], t[2]); };
  expect_same_run(run_with_grads(f, {x, w, bias}, g, device()), run_with_grads(f, {x, w, bias}, g, Device::cpu()), 2e-5,
                  "linear");
  auto fnb = [](const std::vector<Tensor>& t) { return linear(t[0], t[1]); };
  expect_same_run(run_with_grads(fnb, {x, w}, g, device()), run_with_grads(fnb, {x, w}, g, Device::cpu()), 2e-5,
                  "linear without bias");
}

TEST_P(GemmOnDevice, MatmulArgumentErrors) {
  Tensor a = Tensor::ones({2, 3}).to(device()), b = Tensor::ones({3, 4}).to(device());
  EXPECT_THROW(matmul(a, Tensor::ones({3, 4})), Error);             // different devices
  EXPECT_THROW(matmul(a, a), Error);                                // inner dimensions
  EXPECT_THROW(matmul(a.to(DType::f64), b.to(DType::f64)), Error);  // f32 only on the GPU
  EXPECT_NO_THROW(matmul(a, b));
}

PW_INSTANTIATE_DEVICE_TEST(GemmOnDevice);
