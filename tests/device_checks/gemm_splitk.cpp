// Device checks: v5's four block tiles and its deterministic split-K (kernels/cuda/
// gemm_warptile.cuh), each forced by a plan, against the CPU's double-precision reference GEMM:
// every transpose combination, sizes that are not multiples of any tile, K = 1 and K shorter
// than one BK step, split counts that do not divide K, alpha / beta (C poisoned when beta == 0),
// padded and misaligned operands, strided batches, and more problems x slices than one launch's
// grid.z; then the dispatcher on shapes for which it plans split-K. Run on simt in three thread
// orders by CTest (tests/CMakeLists.txt), on cuda by test_gpu_kernels.
#include "tests/device_checks/gemm_check.h"

using namespace pw;
using namespace pw::testing::gemm_check;
using kernels::gemm_plan::Plan;
using pw::testing::DeviceTest;

namespace {

Plan v5_plan(int bm, int bn, int splits) {
  Plan p;
  p.version = 5;
  p.bm = bm;
  p.bn = bn;
  p.splits = splits;
  return p;
}

// Every v5 tile with each of `splits`.
std::vector<GemmRun> v5_runs(std::initializer_list<int> splits) {
  std::vector<GemmRun> runs;
  for (auto [bm, bn] : {std::pair{128, 128}, std::pair{128, 64}, std::pair{64, 128}, std::pair{64, 64}})
    for (int s : splits) runs.emplace_back(v5_plan(bm, bn, s));
  return runs;
}

}  // namespace

class GemmSplitKOnDevice : public DeviceTest {};

TEST_P(GemmSplitKOnDevice, EveryTileAndSplitCountMatchesTheReference) {
  // K = 1 and 5 (one partial BK step: splits collapse to one), 37 = 16 + 16 + 5 (3 slices, the
  // last short), 129 and 200 (7 slices of 32 with a short last one), M and N past every tile.
  const std::vector<Size> sizes = {{1, 1, 1}, {7, 13, 5}, {65, 33, 129}, {130, 67, 100}, {33, 130, 37}, {129, 65, 200}};
  const std::vector<GemmRun> runs = v5_runs({1, 2, 3, 7});
  uint32_t seed = 3000;
  for (int t = 0; t < 4; ++t)
    for (const Size& s : sizes) {
      check_gemm(device(), runs, t & 1, t & 2, s, 1.0f, 0.0f, {true, 0, 0}, seed++);
      check_gemm(device(), runs, t & 1, t & 2, s, -0.75f, 1.0f, {false, 1, 1}, seed++);
    }
}

TEST_P(GemmSplitKOnDevice, VectorPathsAndTheirScalarFallbacksInEveryTile) {
  // float4 loads, stores and partial-tile stores where the layout allows them, scalar ones
  // otherwise: aligned / misaligned bases, leading dimensions that are / are not multiples of 4.
  const std::vector<GemmRun> runs = v5_runs({1, 3});
  uint32_t seed = 4000;
  for (int t = 0; t < 4; ++t)
    for (Layout l : {Layout{true, 0, 0}, Layout{true, 4, 2}, Layout{false, 3, 0}, Layout{false, 2, 3}}) {
      check_gemm(device(), runs, t & 1, t & 2, {131, 133, 37}, 1.5f, 0.0f, l, seed++);
      check_gemm(device(), runs, t & 1, t & 2, {67, 12, 64}, 1.0f, -2.0f, l, seed++);
    }
}

TEST_P(GemmSplitKOnDevice, DispatcherSplitsLongKAndMatchesTheReference) {
  // Shapes like a conv weight gradient (few output tiles, long K) and a small-batch Linear
  // layer, scaled down for simt: the dispatcher must plan split-K for them.
  const Device d = device();
  uint32_t seed = 5000;
  for (auto [s, ta, tb] : {std::tuple{Size{64, 96, 2000}, false, true}, std::tuple{Size{32, 100, 1500}, false, true},
                           std::tuple{Size{45, 70, 3001}, true, false}}) {
    const Plan plan = on_gpu(d, [&](auto tag) { return sgemm_plan(tag, s.M, s.N, s.K, 1, ta, tb); });
    SCOPED_TRACE("dispatcher: " + plan.describe());
    EXPECT_GT(plan.splits, 1);
    check_gemm(d, {0}, ta, tb, s, 1.0f, 0.0f, {true, 0, 0}, seed++);
    check_gemm(d, {0}, ta, tb, s, 0.5f, 1.0f, {false, 1, 1}, seed++);
  }
}

TEST_P(GemmSplitKOnDevice, StridedBatchesSplitPerProblem) {
  // 2 (outer) x 3 (inner) problems, A shared across the outer index, B's problems misaligned.
  const Device d = device();
  const int64_t M = 37, N = 45, K = 300, outer = 2, inner = 3;
  std::mt19937 rng(17);
  const std::vector<float> A = random_vec(size_t(inner * M * K), rng);
  const std::vector<float> B = random_vec(size_t(outer * (inner * K * N + 1)), rng);
  kernels::GemmBatch b;
  b.count = outer * inner;
  b.inner = inner;
  b.a_inner = M * K;
  b.b_outer = inner * K * N + 1;
  b.b_inner = K * N;
  b.c_outer = inner * M * N;
  b.c_inner = M * N;
  DeviceBuffer dA = to_device(A, 0, d), dB = to_device(B, 1, d);
  for (const GemmRun& run : {GemmRun(v5_plan(64, 64, 5)), GemmRun(v5_plan(128, 128, 3)), GemmRun(0)}) {
    SCOPED_TRACE(run.name());
    Tensor dC = Tensor::full({outer * inner * M * N}, kNaN).to(d);
    run_gemm(d, run, b, false, false, M, N, K, 1.0f, dA.ptr(), K, dB.ptr(), N, 0.0f, dC.data<float>(), N);
    const std::vector<float> out = dC.to_vector_f32();
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        std::vector<double> a(A.begin() + i * M * K, A.begin() + (i + 1) * M * K);
        const int64_t boff = o * b.b_outer + i * K * N;
        std::vector<double> bb(B.begin() + boff, B.begin() + boff + K * N), c(size_t(M * N));
        kernels::cpu::gemm_reference<double>(false, false, M, N, K, 1.0, a.data(), K, bb.data(), N, 0.0, c.data(), N);
        double worst = 0;
        for (int64_t e = 0; e < M * N; ++e)
          worst = std::max(worst, std::abs(out[size_t((o * inner + i) * M * N + e)] - c[size_t(e)]));
        EXPECT_LE(worst, 1e-4) << "problem (" << o << ", " << i << ")";
      }
  }
}

TEST_P(GemmSplitKOnDevice, MoreProblemsTimesSlicesThanOneLaunchHolds) {
  // grid.z = problems x slices <= 65535: 21852 problems of 1 x 1 x 40 in 3 slices need 2 launches.
  const Device d = device();
  const int64_t count = 65535 / 3 + 7, K = 40;
  std::mt19937 rng(23);
  const std::vector<float> A = random_vec(size_t(K * count), rng), B = random_vec(size_t(K * count), rng);
  Tensor dA = Tensor::from_vector(A, {K * count}).to(d), dB = Tensor::from_vector(B, {K * count}).to(d);
  Tensor dC = Tensor::full({count}, kNaN).to(d);
  kernels::GemmBatch batch;
  batch.count = count;
  batch.a_outer = K;
  batch.b_outer = K;
  batch.c_outer = 1;
  run_gemm(d, GemmRun(v5_plan(64, 64, 3)), batch, false, false, 1, 1, K, 1.0f, dA.data<float>(), K, dB.data<float>(), 1,
           0.0f, dC.data<float>(), 1);
  const std::vector<float> C = dC.to_vector_f32();
  int bad = 0;
  for (int64_t z = 0; z < count && bad < 5; ++z) {
    double ref = 0;
    for (int64_t k = 0; k < K; ++k) ref += double(A[size_t(z * K + k)]) * B[size_t(z * K + k)];
    if (!(std::abs(C[size_t(z)] - ref) <= 1e-5)) {
      ADD_FAILURE() << "problem " << z << ": " << C[size_t(z)] << ", expected " << ref;
      ++bad;
    }
  }
}

TEST_P(GemmSplitKOnDevice, PlansNoKernelMatchesAreErrors) {
  Tensor x = Tensor::full({4}, 1.0).to(device());
  on_gpu(device(), [&](auto tag) {
    for (Plan p : {v5_plan(96, 96, 1), v5_plan(32, 32, 2)}) {
      p.version = p.bm == 32 ? 4 : 5;  // v4 lives only in bench/kernels/gemm.cu; no 96x96 tile
      EXPECT_THROW(sgemm_with_plan(tag, kernels::GemmBatch{}, false, false, 2, 2, 1, 1.0f, x.data<float>(), 1,
                                   x.data<float>(), 2, 0.0f, x.data<float>(), 2, p),
                   std::runtime_error);
    }
  });
}

PW_INSTANTIATE_DEVICE_TEST(GemmSplitKOnDevice);
