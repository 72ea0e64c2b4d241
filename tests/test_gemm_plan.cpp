// The SGEMM dispatcher's plans (kernels/cuda/gemm_plan.h) for the engine's real shapes on an
// H100 (132 SMs): printed, and checked to fill the GPU where the work allows; the plans'
// invariants over many shapes; and split-K's determinism on simt: the same bits under the
// forward, reverse and random thread (and block) orders.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/gemm_shapes.h"
#include "kernels/cuda/gemm_plan.h"
#include "kernels/simt/runtime.h"

#define PW_LAUNCHER_NS simt
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

namespace plan = pw::kernels::gemm_plan;

namespace {

using Shape = pw::bench::GemmShape;

// The blocks the dispatcher before split-K launched (gemm.cu's old choose_version: v5's
// 128x128 tiles when there were >= 64 of them and K >= 32, v3's 64x64 when >= 32 and K >= 16,
// v1 for tiny problems or K <= 8, else v2's 32x32), for the before / after table.
int64_t blocks_before(const Shape& s) {
  const auto tiles = [&](int64_t bm, int64_t bn) {
    return plan::ceil_div(s.M, bm) * plan::ceil_div(s.N, bn) * s.count;
  };
  if (tiles(128, 128) >= 64 && s.K >= 32) return tiles(128, 128);
  if (tiles(64, 64) >= 32 && s.K >= 16) return tiles(64, 64);
  if (double(s.M) * s.N * s.K * s.count <= 262144.0 || s.K <= 8) return tiles(8, 32);
  return tiles(32, 32);
}

}  // namespace

TEST(GemmPlan, RealShapesFillAnH100WhereTheWorkAllows) {
  // blocks / SM: the grid over 132 SMs; waves: over the SMs x the blocks each can hold.
  std::printf("%-52s %7s | %-44s %9s %6s %8s\n", "shape", "before", "plan on 132 SMs", "blocks/SM", "waves", "est. us");
  for (const Shape& s : pw::bench::kRealGemmShapes) {
    const plan::Plan p = plan::choose(s.M, s.N, s.K, s.count, s.ta, s.tb, plan::kH100Sms);
    std::printf("%-52s %7lld | %-44s %9.2f %6.2f %8.1f\n", s.what, (long long)blocks_before(s), p.describe().c_str(),
                double(p.blocks) / plan::kH100Sms, p.waves, p.estimate_us);
    SCOPED_TRACE(std::string(s.what) + ": " + p.describe());
    // Work for 132 blocks of at least a 64x64 tile over 256 of K: then the grid must fill the SMs.
    const bool work_allows = double(s.M) * s.N * s.K * s.count >= 132.0 * 64 * 64 * 256;
    if (work_allows) {
      EXPECT_GE(p.blocks, plan::kH100Sms);
    }
    EXPECT_EQ(p.version, 5);
    EXPECT_LE(p.workspace_floats, plan::kMaxWorkspaceFloats);
  }
  // The two cases of issue 16: the VGG conv1_2 weight gradient had 36 blocks (v2), the Linear
  // forward 32 (v3); both split K now. Large squares need no split.
  EXPECT_GT(plan::choose(64, 576, 50176, 1, false, true).splits, 1);
  EXPECT_GT(plan::choose(32, 1000, 4096, 1, false, true).splits, 1);
  for (int64_t n : {4096, 8192}) {
    const plan::Plan p = plan::choose(n, n, n, 1, false, false);
    EXPECT_EQ(p.splits, 1);
    EXPECT_EQ(p.bm, 128);
    EXPECT_EQ(p.bn, 128);
  }
}

TEST(GemmPlan, ImplicitConvPlansFillAnH100) {
  // The data gradient's implicit GEMM (kernels/cuda/conv.cu): M = C/groups, N = N*H*W, K =
  // O/groups*k*k. Unsplit, the small-channel layers run a few dozen tiles on 132 SMs; the plan
  // slices K until the grid fills the GPU where the work allows, in the kernel's two tiles.
  struct Conv {
    const char* what;
    int64_t N, C, H, W, O, k;
  };
  const Conv convs[] = {
      {"fmnist-cnn conv2 (32->64, 3x3, 14x14), batch 16", 16, 32, 14, 14, 64, 3},
      {"fmnist-cnn conv2, batch 64", 64, 32, 14, 14, 64, 3},
      {"AlexNet conv2 (64->192, 5x5, 27x27), batch 16", 16, 64, 27, 27, 192, 5},
      {"AlexNet conv3 (192->384, 3x3, 13x13), batch 16", 16, 192, 13, 13, 384, 3},
      {"AlexNet conv4 (384->256, 3x3, 13x13), batch 16", 16, 384, 13, 13, 256, 3},
      {"VGG-16 conv1_2 (64->64, 3x3, 224x224), batch 16", 16, 64, 224, 224, 64, 3},
      {"VGG-16 conv5_3 (512->512, 3x3, 14x14), batch 16", 16, 512, 14, 14, 512, 3},
  };
  std::printf("%-52s %9s | %-44s %9s %8s\n", "data gradient", "unsplit", "plan on 132 SMs", "blocks/SM", "est. us");
  for (const Conv& c : convs) {
    const int64_t M = c.C, N = c.N * c.H * c.W, K = c.O * c.k * c.k;
    const plan::Plan p = plan::choose_implicit_conv(M, N, K, 1);
    const plan::Plan one = plan::evaluate(plan::kShapes[M <= 64 ? 2 : 0], 1, M, N, K, 1, plan::kH100Sms);
    std::printf("%-52s %9lld | %-44s %9.2f %8.1f\n", c.what, (long long)one.blocks, p.describe().c_str(),
                double(p.blocks) / plan::kH100Sms, p.estimate_us);
    SCOPED_TRACE(std::string(c.what) + ": " + p.describe());
    EXPECT_EQ(p.version, 5);
    EXPECT_EQ(p.bn, 128);  // the kernel's tiles: 64 x 128 and 128 x 128
    EXPECT_TRUE(p.bm == 64 || p.bm == 128);
    EXPECT_LE(p.workspace_floats, plan::kMaxWorkspaceFloats);
    EXPECT_LE(p.estimate_us, one.estimate_us);
    if (double(M) * N * K >= 132.0 * 64 * 64 * 256) {
      EXPECT_GE(p.blocks, plan::kH100Sms);
    }
  }
  // 25 tiles of 64 x 128 unsplit for fmnist-cnn's conv2 at batch 16: sliced.
  EXPECT_GT(plan::choose_implicit_conv(32, 16 * 196, 64 * 9, 1).splits, 1);
  // The forward's GEMM (M = O/groups, N = N*Ho*Wo, K = C/groups*k*k): AlexNet's 13x13 layers at
  // batch 16 ran 44-66 blocks unsplit.
  for (const auto& [O, C] : {std::pair<int64_t, int64_t>{384, 192}, {256, 384}, {256, 256}}) {
    const plan::Plan p = plan::choose_implicit_conv(O, 16 * 169, C * 9, 1);
    SCOPED_TRACE("AlexNet forward " + std::to_string(C) + " -> " + std::to_string(O) + ": " + p.describe());
    EXPECT_GE(p.blocks, plan::kH100Sms);
  }
}

TEST(GemmPlan, PlansAreWellFormedForManyShapes) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> log_size(0, 14);
  for (int i = 0; i < 3000; ++i) {
    const int64_t M = 1 + (rng() % (int64_t(1) << log_size(rng))), N = 1 + (rng() % (int64_t(1) << log_size(rng)));
    const int64_t K = 1 + (rng() % (int64_t(1) << log_size(rng))), count = 1 + rng() % 3;
    const plan::Plan p = plan::choose(M, N, K, count, rng() & 1, rng() & 1, 1 + int(rng() % 200));
    SCOPED_TRACE(std::to_string(M) + "x" + std::to_string(N) + "x" + std::to_string(K) + " x" + std::to_string(count) +
                 ": " + p.describe());
    ASSERT_GE(p.splits, 1);
    if (p.splits > 1) {
      ASSERT_EQ(p.version, 5);
      ASSERT_EQ(p.k_slice % plan::kBK, 0);
      ASSERT_GE(p.splits * p.k_slice, K);        // the slices cover K
      ASSERT_LT((p.splits - 1) * p.k_slice, K);  // and none is empty
      ASSERT_EQ(p.workspace_floats, p.splits * M * N * count);
      ASSERT_LE(p.workspace_floats, plan::kMaxWorkspaceFloats);
    } else {
      ASSERT_EQ(p.k_slice, K);
    }
    ASSERT_GE(p.blocks, 1);
  }
}

TEST(GemmPlan, SimtPlansForAnH100) {
  // The simt build plans with 132 SMs, so that the CPU checks run what an H100 would.
  const plan::Plan a = pw::kernels::simt::sgemm_plan(pw::kernels::simt::Tag{}, 64, 576, 50176, 1, false, true);
  const plan::Plan b = plan::choose(64, 576, 50176, 1, false, true, plan::kH100Sms);
  EXPECT_EQ(a.describe(), b.describe());
}

// One split-K GEMM on simt; returns C's bits.
std::vector<float> run_split_gemm(const plan::Plan& p, int64_t M, int64_t N, int64_t K, bool ta, bool tb,
                                  const std::vector<float>& A, const std::vector<float>& B) {
  namespace ps = pw::simt;
  float *dA = nullptr, *dB = nullptr, *dC = nullptr;
  EXPECT_EQ(ps::cudaMalloc(&dA, A.size() * 4), ps::cudaSuccess);
  EXPECT_EQ(ps::cudaMalloc(&dB, B.size() * 4), ps::cudaSuccess);
  EXPECT_EQ(ps::cudaMalloc(&dC, size_t(M * N) * 4), ps::cudaSuccess);
  ps::cudaMemcpy(dA, A.data(), A.size() * 4, ps::cudaMemcpyHostToDevice);
  ps::cudaMemcpy(dB, B.data(), B.size() * 4, ps::cudaMemcpyHostToDevice);
  pw::kernels::simt::sgemm_with_plan(pw::kernels::simt::Tag{}, pw::kernels::GemmBatch{}, ta, tb, M, N, K, 1.0f, dA,
                                     ta ? M : K, dB, tb ? K : N, 0.0f, dC, N, p);
  std::vector<float> C(size_t(M * N));
  ps::cudaMemcpy(C.data(), dC, C.size() * 4, ps::cudaMemcpyDeviceToHost);
  ps::cudaFree(dA);
  ps::cudaFree(dB);
  ps::cudaFree(dC);
  return C;
}

TEST(GemmPlan, SplitKIsBitIdenticalUnderEveryThreadAndBlockOrder) {
  const pw::simt::Schedule before = pw::simt::schedule();
  const uint64_t seed_before = pw::simt::schedule_seed();
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  const int64_t M = 70, N = 45, K = 1001;
  std::vector<float> A(size_t(M * K)), B(size_t(K * N));
  for (float& x : A) x = dist(rng);
  for (float& x : B) x = dist(rng);
  for (auto [bm, bn, splits] : {std::tuple{64, 64, 7}, std::tuple{128, 128, 13}}) {
    plan::Plan p;
    p.version = 5;
    p.bm = bm;
    p.bn = bn;
    p.splits = splits;
    for (int t = 0; t < 4; ++t) {
      std::vector<float> first;
      using Order = std::pair<pw::simt::Schedule, int>;
      for (auto [order, seed] : {Order{pw::simt::Schedule::forward, 0}, Order{pw::simt::Schedule::reverse, 0},
                                 Order{pw::simt::Schedule::random, 7}, Order{pw::simt::Schedule::random, 12345}}) {
        pw::simt::set_schedule(order, uint64_t(seed));
        const std::vector<float> C = run_split_gemm(p, M, N, K, t & 1, t & 2, A, B);
        if (first.empty()) {
          first = C;
          continue;
        }
        EXPECT_EQ(std::memcmp(first.data(), C.data(), C.size() * 4), 0)
            << bm << "x" << bn << " split " << splits << ", transposes " << t << ", order " << int(order) << " seed "
            << seed;
      }
    }
  }
  pw::simt::set_schedule(before, seed_before);
}
