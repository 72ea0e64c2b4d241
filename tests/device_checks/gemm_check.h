// Device-check helpers for the SGEMM (gemm.cpp, gemm_splitk.cpp in this folder): one GEMM run
// on the device by a given rung, plan or the dispatcher, compared element by element with the
// CPU's double-precision reference GEMM within the float error bound of its dot products, with
// C poisoned (beta == 0) and its padding holding a sentinel that must survive.
#pragma once
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/device/gpu.h"
#include "kernels/cpu/gemm.h"
#include "tests/support/device_test.h"

namespace pw::testing::gemm_check {

inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
inline constexpr float kSentinel = 12345.f;  // the padding of C, which must never change

struct Size {
  int64_t M, N, K;
};

// 1, primes, sizes just above the tiles of every version (8/32 for v1, 32 for v2, 64 for
// v3, 128 for v5, and BK = 8/16), and degenerate vectors.
inline const std::vector<Size> kSizes = {{1, 1, 1},      {7, 13, 5},  {65, 33, 129}, {130, 257, 67},
                                         {129, 129, 17}, {33, 65, 9}, {1, 131, 3},   {131, 1, 2}};

inline std::vector<float> random_vec(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// A float buffer on the device holding `host`, starting `offset` floats into its allocation
// (offset 1 makes the base pointer misaligned for float4 access).
struct DeviceBuffer {
  Tensor t;
  int64_t offset;
  float* ptr() const { return t.data<float>() + offset; }
  std::vector<float> read() const {
    std::vector<float> all = t.to_vector_f32();
    return std::vector<float>(all.begin() + offset, all.end());
  }
};
inline DeviceBuffer to_device(const std::vector<float>& host, int64_t offset, Device d) {
  std::vector<float> padded(size_t(offset), kSentinel);
  padded.insert(padded.end(), host.begin(), host.end());
  return {Tensor::from_vector(padded, {(int64_t)padded.size()}).to(d), offset};
}

// How the operands are laid out: the leading dimensions are the stored row length plus `pad`
// and the base pointers start `offset` floats into their allocations. {round to 4, 0} lets
// v5 use float4 loads; {+1, 1} forces its scalar fallback.
struct Layout {
  bool round_to_4;
  int64_t pad, offset;
};
inline int64_t leading_dim(int64_t cols, const Layout& l) {
  int64_t ld = cols + l.pad;
  if (l.round_to_4) ld = (ld + 3) / 4 * 4;
  return std::max<int64_t>(ld, 1);
}

// Runs one GEMM with each of `versions` (0 = the dispatcher) on the device and the double
// reference once on the CPU, and compares every element of C with the float error bound of a
// length-K dot product: |c - ref| <= 2 (K + 2) eps (|alpha| sum |a||b| + |beta| |c0|) + tiny.
// Checks that the padding of C is untouched (beta == 0: C is poisoned with NaN, which must be
// overwritten).
// How a check runs the GEMM: a rung of the ladder (version 1..5, unsplit), the dispatcher
// (version 0), or a given plan (kernels/cuda/api/gemm.inc: sgemm_with_plan).
struct GemmRun {
  int version = 0;
  bool planned = false;
  kernels::gemm_plan::Plan plan{};
  GemmRun(int v) : version(v) {}  // NOLINT: implicit, so that {5} and {0} read as before
  explicit GemmRun(const kernels::gemm_plan::Plan& p) : planned(true), plan(p) {}
  std::string name() const { return planned ? "plan " + plan.describe() : "version " + std::to_string(version); }
};

// Runs `run` for one GEMM on device `dev` (sgemm / sgemm_batched / sgemm_with_plan).
inline void run_gemm(Device dev, const GemmRun& run, const kernels::GemmBatch& batch, bool ta, bool tb, int64_t M,
                     int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                     float beta, float* C, int64_t ldc) {
  on_gpu(dev, [&](auto tag) {
    if (run.planned)
      sgemm_with_plan(tag, batch, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, run.plan);
    else if (run.version == 0 && batch.count == 1 && batch.inner == 1)
      sgemm(tag, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
      sgemm_batched(tag, batch, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, run.version);
  });
}

inline void check_gemm(Device dev, const std::vector<GemmRun>& versions, bool ta, bool tb, Size s, float alpha,
                       float beta, const Layout& layout, uint32_t seed) {
  const auto [M, N, K] = s;
  SCOPED_TRACE("ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " M=" + std::to_string(M) +
               " N=" + std::to_string(N) + " K=" + std::to_string(K) + " alpha=" + std::to_string(alpha) +
               " beta=" + std::to_string(beta) + " ld%4=" + std::to_string(layout.round_to_4) +
               " offset=" + std::to_string(layout.offset));
  std::mt19937 rng(seed);
  const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K;
  const int64_t b_rows = tb ? N : K, b_cols = tb ? K : N;
  const int64_t lda = leading_dim(a_cols, layout), ldb = leading_dim(b_cols, layout), ldc = leading_dim(N, layout);
  const std::vector<float> A = random_vec(size_t(a_rows * lda), rng);
  const std::vector<float> B = random_vec(size_t(b_rows * ldb), rng);
  std::vector<float> C = random_vec(size_t(M * ldc), rng);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      float& c = C[size_t(i * ldc + j)];
      if (j >= N)
        c = kSentinel;
      else if (beta == 0.f)
        c = kNaN;
    }

  // Reference, and the magnitude sum |alpha| |A||B| + |beta| |C| for the bound.
  std::vector<double> Ad(A.begin(), A.end()), Bd(B.begin(), B.end()), Cd(C.begin(), C.end());
  std::vector<double> Aabs(Ad.size()), Babs(Bd.size()), mag(Cd.size());
  for (size_t i = 0; i < Ad.size(); ++i) Aabs[i] = std::abs(Ad[i]);
  for (size_t i = 0; i < Bd.size(); ++i) Babs[i] = std::abs(Bd[i]);
  for (size_t i = 0; i < Cd.size(); ++i) mag[i] = beta == 0.f ? 0.0 : std::abs(Cd[i]);
  kernels::cpu::gemm_reference<double>(ta, tb, M, N, K, alpha, Ad.data(), lda, Bd.data(), ldb, beta, Cd.data(), ldc);
  kernels::cpu::gemm_reference<double>(ta, tb, M, N, K, std::abs(alpha), Aabs.data(), lda, Babs.data(), ldb,
                                       std::abs(beta), mag.data(), ldc);

  DeviceBuffer dA = to_device(A, layout.offset, dev), dB = to_device(B, layout.offset, dev);
  for (const GemmRun& run : versions) {
    SCOPED_TRACE(run.name());
    DeviceBuffer dC = to_device(C, layout.offset, dev);
    run_gemm(dev, run, kernels::GemmBatch{}, ta, tb, M, N, K, alpha, dA.ptr(), lda, dB.ptr(), ldb, beta, dC.ptr(), ldc);
    const std::vector<float> out = dC.read();
    const double eps = std::numeric_limits<float>::epsilon();
    int bad = 0;
    for (int64_t i = 0; i < M && bad < 5; ++i)
      for (int64_t j = 0; j < ldc && bad < 5; ++j) {
        const size_t e = size_t(i * ldc + j);
        if (j >= N) {
          if (out[e] != kSentinel) {
            ADD_FAILURE() << "padding C[" << i << "][" << j << "] was written: " << out[e];
            ++bad;
          }
          continue;
        }
        const double tol = 2.0 * double(K + 2) * eps * mag[e] + 1e-30;
        if (!(std::abs(double(out[e]) - Cd[e]) <= tol)) {
          ADD_FAILURE() << "C[" << i << "][" << j << "] = " << out[e] << ", expected " << Cd[e] << " (tolerance " << tol
                        << ")";
          ++bad;
        }
      }
  }
}

// The rungs of the ladder the engine keeps.
inline std::vector<int> engine_versions(Device d) {
  return on_gpu(d, [](auto tag) { return sgemm_versions(tag); });
}
inline std::vector<GemmRun> runs_of(const std::vector<int>& versions) {
  return std::vector<GemmRun>(versions.begin(), versions.end());
}

}  // namespace pw::testing::gemm_check
