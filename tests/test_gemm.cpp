// Tests for kernels/cpu/gemm: the fast sgemm against the double-precision reference on
// random inputs of awkward sizes, all transpose combinations, padded strides and alpha/beta
// combinations (beta == 0 must overwrite NaN in C), and the float reference against double.
// Every test of sgemm runs once per micro-kernel this CPU supports (portable, AVX2, AVX-512;
// the others are skipped and say so), and covers the unpacked path for at most sixteen rows.
#include "kernels/cpu/gemm.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using pw::kernels::cpu::gemm_reference;
using pw::kernels::cpu::GemmKernel;
using pw::kernels::cpu::sgemm;
namespace cpu = pw::kernels::cpu;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kSentinel = 12345.f;  // fills the padding of C, which must never change

struct Case {
  int64_t M, N, K;
};

std::vector<float> random_vec(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Runs sgemm and the double reference on the same float inputs and compares every element
// of C against a bound that grows with K: |c - ref| <= (K + 2) * eps * (|alpha| * sum |a||b|
// + |beta| |c0|), the classic error bound of a length-K dot product in float.
void check(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, float beta, int64_t pad, uint32_t seed) {
  SCOPED_TRACE("ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " M=" + std::to_string(M) +
               " N=" + std::to_string(N) + " K=" + std::to_string(K) + " alpha=" + std::to_string(alpha) +
               " beta=" + std::to_string(beta) + " pad=" + std::to_string(pad));
  std::mt19937 rng(seed);
  // Stored shapes: A is M x K (K x M when transposed), B is K x N (N x K when transposed).
  const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K;
  const int64_t b_rows = tb ? N : K, b_cols = tb ? K : N;
  const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
  const std::vector<float> A = random_vec(size_t(a_rows * lda), rng);
  const std::vector<float> B = random_vec(size_t(b_rows * ldb), rng);
  std::vector<float> C = random_vec(size_t(M * ldc), rng);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      float& c = C[size_t(i * ldc + j)];
      if (j >= N)
        c = kSentinel;
      else if (beta == 0.f)
        c = kNaN;  // must be overwritten, never read
    }

  std::vector<double> Ad(A.begin(), A.end()), Bd(B.begin(), B.end()), Cd(C.begin(), C.end());
  std::vector<double> Aabs(Ad.size()), Babs(Bd.size()), mag(Cd.size());
  for (size_t i = 0; i < Ad.size(); ++i) Aabs[i] = std::fabs(Ad[i]);
  for (size_t i = 0; i < Bd.size(); ++i) Babs[i] = std::fabs(Bd[i]);
  for (size_t i = 0; i < Cd.size(); ++i) mag[i] = beta == 0.f ? 0.0 : std::fabs(Cd[i]);
  gemm_reference<double>(ta, tb, M, N, K, alpha, Ad.data(), lda, Bd.data(), ldb, beta, Cd.data(), ldc);
  gemm_reference<double>(ta, tb, M, N, K, std::fabs(alpha), Aabs.data(), lda, Babs.data(), ldb, std::fabs(beta),
                         mag.data(), ldc);
  sgemm(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);

  int64_t failures = 0;
  for (int64_t i = 0; i < M && failures < 5; ++i)
    for (int64_t j = 0; j < ldc && failures < 5; ++j) {
      const size_t at = size_t(i * ldc + j);
      if (j >= N) {
        if (C[at] != kSentinel) {
          ADD_FAILURE() << "padding of C written at (" << i << ", " << j << ")";
          ++failures;
        }
        continue;
      }
      const double tol = double(K + 2) * FLT_EPSILON * mag[at] + 1e-30;
      if (!(std::fabs(double(C[at]) - Cd[at]) <= tol)) {  // also catches NaN
        ADD_FAILURE() << "C(" << i << ", " << j << ") = " << C[at] << ", expected " << Cd[at] << " (tol " << tol << ")";
        ++failures;
      }
    }
}

// Awkward sizes: 1, primes, tile edges (MR x NR = 6 x 16 and 12 x 32), just above the cache
// blocks (MC = 144 and 240, KC = 256, NC = 4080 and 4096), several k blocks, shapes large enough
// to use threads, and one to sixteen rows (the unpacked path) with long rows and many columns
// (several of its 256-long chunks of K and 8-row blocks of B, partial 4 x 4 tiles, split over
// threads, K not a multiple of its 16 lanes, K shorter than one vector).
const Case kCases[] = {
    {1, 1, 1},       {2, 3, 4},      {7, 13, 5},     {6, 16, 1},     {5, 15, 17},    {13, 17, 19},   {1, 37, 23},
    {41, 1, 29},     {12, 32, 8},    {257, 130, 33}, {145, 17, 257}, {143, 33, 255}, {97, 101, 513}, {150, 40, 300},
    {300, 300, 300}, {1, 1000, 3},   {1000, 1, 3},   {6, 4081, 3},   {7, 4200, 70},  {311, 64, 64},  {13, 33, 257},
    {241, 65, 300},  {25, 4100, 20}, {1, 2100, 70},  {2, 1030, 301}, {3, 77, 1000},  {4, 4097, 33},  {5, 200, 200},
    {16, 70, 4100},  {15, 515, 37},  {11, 4099, 17}, {16, 9, 1300},  {9, 33, 250},   {8, 40, 513},   {14, 1, 7},
    {16, 16, 16},    {17, 50, 600},
};

// Runs the tests once per micro-kernel; those the CPU cannot run are skipped.
class Gemm : public ::testing::TestWithParam<GemmKernel> {
 protected:
  void SetUp() override {
    if (!cpu::gemm_kernel_supported(GetParam()))
      GTEST_SKIP() << "this CPU cannot run the " << cpu::gemm_kernel_name(GetParam()) << " kernel";
    before_ = cpu::gemm_kernel();
    cpu::set_gemm_kernel(GetParam());
  }
  void TearDown() override { cpu::set_gemm_kernel(before_); }
  GemmKernel before_ = GemmKernel::portable;
};

INSTANTIATE_TEST_SUITE_P(Kernels, Gemm, ::testing::Values(GemmKernel::portable, GemmKernel::avx2, GemmKernel::avx512),
                         [](const auto& info) { return std::string(cpu::gemm_kernel_name(info.param)); });

TEST(GemmKernel, TheDefaultIsTheWidestSupported) {
  const GemmKernel k = cpu::gemm_kernel();
  EXPECT_TRUE(cpu::gemm_kernel_supported(k));
  if (cpu::gemm_kernel_supported(GemmKernel::avx512)) EXPECT_EQ(k, GemmKernel::avx512);
  if (!cpu::gemm_kernel_supported(GemmKernel::avx512) && cpu::gemm_kernel_supported(GemmKernel::avx2))
    EXPECT_EQ(k, GemmKernel::avx2);
  for (GemmKernel other : {GemmKernel::portable, GemmKernel::avx2, GemmKernel::avx512})
    if (!cpu::gemm_kernel_supported(other)) EXPECT_THROW(cpu::set_gemm_kernel(other), std::invalid_argument);
}

TEST_P(Gemm, SgemmMatchesReferenceAllTransposes) {
  uint32_t seed = 1;
  for (const Case& c : kCases)
    for (int t = 0; t < 4; ++t) check(t & 1, t & 2, c.M, c.N, c.K, 1.f, 0.f, 0, seed++);
}

TEST_P(Gemm, SgemmPaddedStrides) {
  uint32_t seed = 100;
  for (const Case& c : kCases)
    for (int t = 0; t < 4; ++t) check(t & 1, t & 2, c.M, c.N, c.K, 1.f, 0.f, 3, seed++);
}

TEST_P(Gemm, SgemmAlphaBeta) {
  const float ab[][2] = {{1.f, 1.f}, {2.f, 0.f}, {-0.5f, 2.5f}, {0.75f, -1.25f}, {1.f, -1.f}};
  const Case cases[] = {{1, 1, 1}, {7, 13, 5}, {257, 130, 33}, {145, 17, 257}, {200, 220, 260}, {3, 1100, 40}};
  uint32_t seed = 1000;
  for (const Case& c : cases)
    for (const auto& [alpha, beta] : ab)
      for (int t = 0; t < 4; ++t) check(t & 1, t & 2, c.M, c.N, c.K, alpha, beta, 5, seed++);
}

TEST_P(Gemm, SgemmBetaOneAccumulates) {
  // Two calls with beta = 1 on C = 0 give exactly twice the single product's reference.
  const int64_t M = 37, N = 41, K = 300;
  std::mt19937 rng(7);
  const std::vector<float> A = random_vec(M * K, rng), B = random_vec(K * N, rng);
  std::vector<float> C(M * N, 0.f);
  sgemm(false, false, M, N, K, 1.f, A.data(), K, B.data(), N, 1.f, C.data(), N);
  sgemm(false, false, M, N, K, 1.f, A.data(), K, B.data(), N, 1.f, C.data(), N);
  std::vector<double> Ad(A.begin(), A.end()), Bd(B.begin(), B.end()), Cd(M * N, 0.0);
  gemm_reference<double>(false, false, M, N, K, 2.0, Ad.data(), K, Bd.data(), N, 0.0, Cd.data(), N);
  for (int64_t i = 0; i < M * N; ++i) EXPECT_NEAR(C[i], Cd[i], 2.0 * K * FLT_EPSILON * K);
}

TEST_P(Gemm, SgemmSameResultForAnyThreadCount) {
  // Every element of C is summed in an order fixed by the shape alone: the packed path and the
  // few-row path (16 rows, B read both ways) give the same bits on one thread and on several.
  const int64_t shapes[][3] = {{16, 300, 1000}, {5, 200, 4100}, {200, 150, 300}};
  std::mt19937 rng(13);
  for (const auto& [M, N, K] : shapes)
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      const std::vector<float> A = random_vec(M * K, rng), B = random_vec(K * N, rng);
      std::vector<float> one(M * N), many(M * N);
      const int threads = omp_get_max_threads();
      omp_set_num_threads(1);
      sgemm(ta, tb, M, N, K, 1.f, A.data(), ta ? M : K, B.data(), tb ? K : N, 0.f, one.data(), N);
      omp_set_num_threads(std::max(2, threads));
      sgemm(ta, tb, M, N, K, 1.f, A.data(), ta ? M : K, B.data(), tb ? K : N, 0.f, many.data(), N);
      omp_set_num_threads(threads);
      EXPECT_EQ(one, many) << "M=" << M << " N=" << N << " K=" << K << " t=" << t;
    }
}

TEST_P(Gemm, SgemmZeroKOrAlphaScalesC) {
  // K == 0 or alpha == 0: C = beta * C, and A / B (here NaN) are not read.
  std::vector<float> A(64, kNaN), B(64, kNaN);
  std::vector<float> C = {1.f, 2.f, 3.f, 4.f};
  sgemm(false, false, 2, 2, 0, 1.f, A.data(), 1, B.data(), 2, 2.f, C.data(), 2);
  EXPECT_EQ(C, (std::vector<float>{2.f, 4.f, 6.f, 8.f}));
  sgemm(false, false, 2, 2, 8, 0.f, A.data(), 8, B.data(), 2, 0.5f, C.data(), 2);
  EXPECT_EQ(C, (std::vector<float>{1.f, 2.f, 3.f, 4.f}));
  C.assign(4, kNaN);
  sgemm(true, true, 2, 2, 8, 0.f, A.data(), 2, B.data(), 8, 0.f, C.data(), 2);
  EXPECT_EQ(C, (std::vector<float>(4, 0.f)));
}

TEST_P(Gemm, SgemmFromInsideParallelRegion) {
  // Concurrent calls from an enclosing parallel region each run on their own thread and
  // their own packing buffers.
  constexpr int kCalls = 4;
  const int64_t M = 130, N = 70, K = 150;
  std::mt19937 rng(11);
  const std::vector<float> A = random_vec(M * K, rng), B = random_vec(K * N, rng);
  std::vector<std::vector<float>> C(kCalls, std::vector<float>(M * N, kNaN));
#pragma omp parallel for num_threads(2)
  for (int c = 0; c < kCalls; ++c)
    sgemm(false, false, M, N, K, float(c + 1), A.data(), K, B.data(), N, 0.f, C[c].data(), N);
  std::vector<double> Ad(A.begin(), A.end()), Bd(B.begin(), B.end()), Cd(M * N);
  gemm_reference<double>(false, false, M, N, K, 1.0, Ad.data(), K, Bd.data(), N, 0.0, Cd.data(), N);
  for (int c = 0; c < kCalls; ++c)
    for (int64_t i = 0; i < M * N; ++i)
      ASSERT_NEAR(C[c][i], (c + 1) * Cd[i], (c + 1) * K * FLT_EPSILON * K) << "call " << c;
}

TEST_P(Gemm, PackedOperandGivesSgemmsBits) {
  // sgemm_packed on op(A) packed once equals sgemm bit for bit: every kernel, both transposes,
  // padded strides, the few-row path (M <= 16, A left unpacked), partial KC and MC blocks, one
  // thread and several, alpha and beta; and it refuses panels packed for another kernel.
  const Case cases[] = {{16, 40, 30}, {17, 33, 257}, {130, 70, 600}, {300, 41, 520}, {97, 101, 513}, {25, 3, 7}};
  std::mt19937 rng(17);
  const int threads = omp_get_max_threads();
  for (const Case& c : cases)
    for (int t = 0; t < 4; ++t)
      for (int nt : {1, std::max(2, threads)}) {
        const bool ta = t & 1, tb = t & 2;
        SCOPED_TRACE("M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) +
                     " t=" + std::to_string(t) + " threads=" + std::to_string(nt));
        const int64_t lda = (ta ? c.M : c.K) + 3, ldb = (tb ? c.K : c.N) + 2, ldc = c.N + 1;
        const std::vector<float> A = random_vec((ta ? c.K : c.M) * lda, rng),
                                 B = random_vec((tb ? c.N : c.K) * ldb, rng);
        const std::vector<float> C0 = random_vec(c.M * ldc, rng);
        std::vector<float> want = C0, got = C0;
        std::vector<float> buf(size_t(cpu::packed_a_floats(c.M, c.K) + 16), kNaN);
        float* aligned = buf.data() + (16 - (reinterpret_cast<uintptr_t>(buf.data()) / 4) % 16) % 16;
        omp_set_num_threads(nt);
        const cpu::PackedA a = cpu::pack_a_operand(ta, c.M, c.K, A.data(), lda, aligned);
        EXPECT_EQ(a.panels == nullptr, c.M <= 16);
        sgemm(ta, tb, c.M, c.N, c.K, 0.75f, A.data(), lda, B.data(), ldb, -0.5f, want.data(), ldc);
        cpu::sgemm_packed(a, tb, c.N, 0.75f, B.data(), ldb, -0.5f, got.data(), ldc);
        omp_set_num_threads(threads);
        EXPECT_EQ(got, want);
      }
  for (GemmKernel other : {GemmKernel::portable, GemmKernel::avx2, GemmKernel::avx512}) {
    if (other == GetParam() || !cpu::gemm_kernel_supported(other)) continue;
    std::vector<float> A(130 * 20, 1.f), B(20 * 8, 1.f), C(130 * 8), buf(size_t(cpu::packed_a_floats(130, 20)) + 16);
    float* aligned = buf.data() + (16 - (reinterpret_cast<uintptr_t>(buf.data()) / 4) % 16) % 16;
    const cpu::PackedA a = cpu::pack_a_operand(false, 130, 20, A.data(), 20, aligned);
    cpu::set_gemm_kernel(other);
    EXPECT_THROW(cpu::sgemm_packed(a, false, 8, 1.f, B.data(), 8, 0.f, C.data(), 8), std::invalid_argument);
    cpu::set_gemm_kernel(GetParam());
  }
}

TEST_P(Gemm, SgemmLargeWrittenOnceCGivesTheSameBitsStreamed) {
  // A C of 8 MiB or more written once (beta 0, K <= KC) at 64-byte aligned rows is written by
  // non-temporal stores (gemm.cpp, streams_c), full tiles only: the same bits as the cached
  // stores of the same product into a C one float off alignment, and the reference's values.
  const int64_t M = 1030, N = 2100, K = 16, ldc = 2112;  // 8.7 MB; edge tiles both ways
  std::mt19937 rng(19);
  const std::vector<float> A = random_vec(K * M, rng), B = random_vec(K * N, rng);
  std::vector<float> storage(size_t(M * ldc + 32), kNaN);
  float* aligned = storage.data() + (16 - (reinterpret_cast<uintptr_t>(storage.data()) / 4) % 16) % 16;
  sgemm(true, false, M, N, K, 1.f, A.data(), M, B.data(), N, 0.f, aligned, ldc);
  const std::vector<float> streamed(aligned, aligned + M * ldc);
  std::fill(storage.begin(), storage.end(), kNaN);
  sgemm(true, false, M, N, K, 1.f, A.data(), M, B.data(), N, 0.f, aligned + 1, ldc);
  std::vector<double> Ad(A.begin(), A.end()), Bd(B.begin(), B.end()), Cd(size_t(M * N));
  gemm_reference<double>(true, false, M, N, K, 1.0, Ad.data(), M, Bd.data(), N, 0.0, Cd.data(), N);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      ASSERT_EQ(streamed[size_t(i * ldc + j)], aligned[1 + i * ldc + j]) << i << ", " << j;
      ASSERT_NEAR(streamed[size_t(i * ldc + j)], Cd[size_t(i * N + j)], (K + 2) * FLT_EPSILON * K) << i << ", " << j;
    }
}

TEST(Gemm, FloatReferenceMatchesDouble) {
  const Case cases[] = {{1, 1, 1}, {7, 13, 5}, {33, 17, 65}};
  uint32_t seed = 5000;
  for (const Case& c : cases)
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      std::mt19937 rng(seed++);
      const int64_t lda = ta ? c.M : c.K, ldb = tb ? c.K : c.N;
      const std::vector<float> A = random_vec(c.M * c.K, rng), B = random_vec(c.K * c.N, rng);
      std::vector<float> C = random_vec(c.M * c.N, rng);
      std::vector<double> Ad(A.begin(), A.end()), Bd(B.begin(), B.end()), Cd(C.begin(), C.end());
      gemm_reference<float>(ta, tb, c.M, c.N, c.K, 1.5f, A.data(), lda, B.data(), ldb, -0.5f, C.data(), c.N);
      gemm_reference<double>(ta, tb, c.M, c.N, c.K, 1.5, Ad.data(), lda, Bd.data(), ldb, -0.5, Cd.data(), c.N);
      for (int64_t i = 0; i < c.M * c.N; ++i)
        EXPECT_NEAR(C[i], Cd[i], 4.0 * (c.K + 2) * FLT_EPSILON * c.K) << "t=" << t;
    }
}

}  // namespace
