// Device checks: the tensor-core GEMM of kernels/cuda/gemm_tc.cu (TF32 and BF16, every transpose
// combination, awkward sizes, aligned and misaligned operands, alpha/beta, batches) against the
// CPU, in two ways:
//   - against a double GEMM of the inputs rounded as the kernel rounds them (tf32_round,
//     bf16_rounded): only the FP32 accumulation differs, so the tolerance is the float bound of
//     a length-K sum, and a fragment in the wrong place fails by the size of a whole product;
//   - against the exact (double) product of the FP32 inputs, with the bound the formats imply:
//     |error| <= (2u + u^2) sum |a||b| + the FP32 accumulation bound, u = 2^-11 (TF32) or 2^-8
//     (BF16). The measured worst error is printed ("[tensor-core error]" lines).
// Small-integer inputs, exact in both formats, must give exactly the reference. And the matmul
// precision setting routes sgemm and the engine's matmul to these kernels.
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "engine/device/gpu.h"
#include "kernels/cpu/gemm.h"
#include "kernels/simt/tc_formats.h"
#include "tests/support/device_test.h"

using namespace pw;
using kernels::MatmulPrecision;
using pw::testing::DeviceTest;

namespace {

constexpr float kSentinel = 12345.f;  // the padding of C, which must never change

struct Size {
  int64_t M, N, K;
};
// 1, primes, sizes around the 64 x 64 x 16 tile and the 3-stage pipeline (K = 16, 33, 259).
const std::vector<Size> kSizes = {{1, 1, 1}, {17, 33, 9}, {130, 70, 259}, {64, 64, 16}, {65, 129, 33}, {3, 200, 40}};

double unit_roundoff(MatmulPrecision p) {
  return p == MatmulPrecision::tf32 ? std::ldexp(1.0, -11) : std::ldexp(1.0, -8);
}
float round_input(MatmulPrecision p, float x) {
  return p == MatmulPrecision::tf32 ? simt::tf32_round(x) : simt::bf16_rounded(x);
}

struct Problem {
  bool ta, tb;
  Size s;
  float alpha, beta;
  bool aligned;  // leading dimensions multiples of 4 and 16-byte-aligned bases, else +1 / offset 1
};

struct Errors {             // the worst element against the exact product, over a set of problems
  double abs = 0, rel = 0;  // |c - exact| and |c - exact| / (|alpha| sum |a||b| + |beta||c0|)
};

struct Operands {
  int64_t lda, ldb, ldc, offset;
  std::vector<float> A, B, C;
};

Operands make_operands(const Problem& pr, std::mt19937& rng, bool small_ints) {
  const auto [M, N, K] = pr.s;
  Operands o;
  const auto ld = [&](int64_t cols) { return pr.aligned ? (cols + 3) / 4 * 4 : cols + 1; };
  o.lda = ld(pr.ta ? M : K);
  o.ldb = ld(pr.tb ? K : N);
  o.ldc = ld(N);
  o.offset = pr.aligned ? 0 : 1;
  std::uniform_real_distribution<float> real(-1.f, 1.f);
  std::uniform_int_distribution<int> small(-4, 4);
  const auto fill = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = small_ints ? float(small(rng)) : real(rng);
    return v;
  };
  o.A = fill(size_t((pr.ta ? K : M) * o.lda));
  o.B = fill(size_t((pr.tb ? N : K) * o.ldb));
  o.C = fill(size_t(M * o.ldc));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = N; j < o.ldc; ++j) o.C[size_t(i * o.ldc + j)] = kSentinel;
  return o;
}

Tensor to_device_at(const std::vector<float>& host, int64_t offset, Device d) {
  std::vector<float> padded(size_t(offset), kSentinel);
  padded.insert(padded.end(), host.begin(), host.end());
  return Tensor::from_vector(padded, {(int64_t)padded.size()}).to(d);
}

// alpha op(A) op(B) + beta C in double, of the inputs as given (`mag`: of their magnitudes).
std::vector<double> reference(const Problem& pr, const Operands& o, const std::vector<float>& A,
                              const std::vector<float>& B, bool magnitudes) {
  const auto [M, N, K] = pr.s;
  std::vector<double> a(A.begin(), A.end()), b(B.begin(), B.end()), c(o.C.begin(), o.C.end());
  if (magnitudes)
    for (std::vector<double>* v : {&a, &b, &c})
      for (double& x : *v) x = std::abs(x);
  const double alpha = magnitudes ? std::abs(pr.alpha) : pr.alpha, beta = magnitudes ? std::abs(pr.beta) : pr.beta;
  kernels::cpu::gemm_reference<double>(pr.ta, pr.tb, M, N, K, alpha, a.data(), o.lda, b.data(), o.ldb, beta, c.data(),
                                       o.ldc);
  return c;
}

// Runs the problem with gemm_tensor_core (or, when `through_sgemm`, with sgemm under the
// precision setting) and checks every element; adds its worst error to `errors`.
void check_tc(Device dev, MatmulPrecision prec, const Problem& pr, uint32_t seed, bool small_ints, Errors* errors,
              bool through_sgemm = false) {
  const auto [M, N, K] = pr.s;
  SCOPED_TRACE(std::string(kernels::matmul_precision_name(prec)) + " ta=" + std::to_string(pr.ta) +
               " tb=" + std::to_string(pr.tb) + " " + std::to_string(M) + "x" + std::to_string(N) + "x" +
               std::to_string(K) + " alpha=" + std::to_string(pr.alpha) + " beta=" + std::to_string(pr.beta) +
               " aligned=" + std::to_string(pr.aligned));
  std::mt19937 rng(seed);
  const Operands o = make_operands(pr, rng, small_ints);
  std::vector<float> Ar = o.A, Br = o.B;
  for (float& x : Ar) x = round_input(prec, x);
  for (float& x : Br) x = round_input(prec, x);
  const std::vector<double> exact = reference(pr, o, o.A, o.B, false), rounded = reference(pr, o, Ar, Br, false);
  const std::vector<double> mag = reference(pr, o, o.A, o.B, true);

  Tensor dA = to_device_at(o.A, o.offset, dev), dB = to_device_at(o.B, o.offset, dev);
  Tensor dC = to_device_at(o.C, o.offset, dev);
  const float *pa = dA.data<float>() + o.offset, *pb = dB.data<float>() + o.offset;
  float* pc = dC.data<float>() + o.offset;
  on_gpu(dev, [&](auto tag) {
    if (through_sgemm)
      sgemm(tag, pr.ta, pr.tb, M, N, K, pr.alpha, pa, o.lda, pb, o.ldb, pr.beta, pc, o.ldc);
    else
      gemm_tensor_core(tag, prec, kernels::GemmBatch{}, pr.ta, pr.tb, M, N, K, pr.alpha, pa, o.lda, pb, o.ldb, pr.beta,
                       pc, o.ldc);
  });
  std::vector<float> out = dC.to_vector_f32();
  out.erase(out.begin(), out.begin() + o.offset);

  const double u = unit_roundoff(prec), acc_bound = 2.0 * double(K + 4) * std::ldexp(1.0, -24);
  int bad = 0;
  for (int64_t i = 0; i < M && bad < 5; ++i)
    for (int64_t j = 0; j < o.ldc && bad < 5; ++j) {
      const size_t e = size_t(i * o.ldc + j);
      if (j >= N) {
        if (out[e] != kSentinel) {
          ADD_FAILURE() << "padding C[" << i << "][" << j << "] was written: " << out[e];
          ++bad;
        }
        continue;
      }
      const double err = std::abs(double(out[e]) - exact[e]);
      const double tol_rounded = acc_bound * mag[e] + 1e-30, tol_exact = (2 * u + u * u) * mag[e] + tol_rounded;
      const bool ok = small_ints ? double(out[e]) == exact[e]
                                 : std::abs(double(out[e]) - rounded[e]) <= tol_rounded && err <= tol_exact;
      if (!ok) {
        ADD_FAILURE() << "C[" << i << "][" << j << "] = " << out[e] << ", exact " << exact[e]
                      << ", of the rounded inputs " << rounded[e] << " (tolerances " << tol_rounded << ", " << tol_exact
                      << ")";
        ++bad;
      }
      errors->abs = std::max(errors->abs, err);
      if (mag[e] > 0) errors->rel = std::max(errors->rel, err / mag[e]);
    }
}

// Restores the precision setting when a test changes it.
struct PrecisionGuard {
  MatmulPrecision saved = kernels::matmul_precision();
  ~PrecisionGuard() { kernels::set_matmul_precision(saved); }
};

}  // namespace

class GemmTensorCoreOnDevice : public DeviceTest {};

TEST_P(GemmTensorCoreOnDevice, EveryTransposeAndAwkwardSizeMatchesTheCpu) {
  uint32_t seed = 1;
  for (MatmulPrecision prec : {MatmulPrecision::tf32, MatmulPrecision::bf16}) {
    for (const Size& s : kSizes) {
      Errors errors;
      for (int t = 0; t < 4; ++t) {
        check_tc(device(), prec, {bool(t & 1), bool(t & 2), s, 1.0f, 0.0f, true}, seed++, false, &errors);
        check_tc(device(), prec, {bool(t & 1), bool(t & 2), s, -0.75f, 1.5f, false}, seed++, false, &errors);
      }
      std::printf(
          "[tensor-core error] %s %lldx%lldx%lld: max |C - C_exact| = %.3g, max |C - C_exact| / "
          "(|alpha||A||B| + |beta||C|) = %.3g (unit roundoff %.3g; bound 2u = %.3g)\n",
          kernels::matmul_precision_name(prec), (long long)s.M, (long long)s.N, (long long)s.K, errors.abs, errors.rel,
          unit_roundoff(prec), 2 * unit_roundoff(prec));
    }
  }
}

TEST_P(GemmTensorCoreOnDevice, SmallIntegersGiveExactlyTheReference) {
  uint32_t seed = 500;
  Errors errors;
  for (MatmulPrecision prec : {MatmulPrecision::tf32, MatmulPrecision::bf16})
    for (int t = 0; t < 4; ++t)
      for (Size s : {Size{130, 70, 259}, Size{17, 33, 9}})
        check_tc(device(), prec, {bool(t & 1), bool(t & 2), s, 1.0f, 0.0f, t % 2 == 0}, seed++, true, &errors);
  EXPECT_EQ(errors.abs, 0.0);
}

TEST_P(GemmTensorCoreOnDevice, BatchedWithTwoLevelStrides) {
  // 2 outer x 3 inner problems of 37 x 45 x 19 with A shared across the outer index (stride 0):
  // each problem against the CPU with the TF32 bound.
  const Device d = device();
  const int64_t M = 37, N = 45, K = 19, outer = 2, inner = 3;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> real(-1.f, 1.f);
  std::vector<float> A(size_t(inner * M * K)), B(size_t(outer * inner * K * N));
  for (float& x : A) x = real(rng);
  for (float& x : B) x = real(rng);
  kernels::GemmBatch b;
  b.count = outer * inner;
  b.inner = inner;
  b.a_inner = M * K;
  b.b_outer = inner * K * N;
  b.b_inner = K * N;
  b.c_outer = inner * M * N;
  b.c_inner = M * N;
  Tensor dA = Tensor::from_vector(A, {(int64_t)A.size()}).to(d), dB = Tensor::from_vector(B, {(int64_t)B.size()}).to(d);
  Tensor dC = Tensor::full({outer * inner * M * N}, std::numeric_limits<float>::quiet_NaN()).to(d);
  on_gpu(d, [&](auto tag) {
    gemm_tensor_core(tag, MatmulPrecision::tf32, b, false, false, M, N, K, 1.0f, dA.data<float>(), K, dB.data<float>(),
                     N, 0.0f, dC.data<float>(), N);
  });
  const std::vector<float> out = dC.to_vector_f32();
  for (int64_t z = 0; z < outer * inner; ++z) {
    const int64_t i = z % inner;
    double worst = 0;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = 0, mag = 0;
        for (int64_t k = 0; k < K; ++k) {
          const double p = double(A[size_t(i * M * K + m * K + k)]) * B[size_t(z * K * N + k * N + n)];
          s += p;
          mag += std::abs(p);
        }
        worst = std::max(worst, std::abs(out[size_t(z * M * N + m * N + n)] - s) / mag);
      }
    EXPECT_LE(worst, 2 * std::ldexp(1.0, -11) + 1e-5) << "problem " << z;
  }
}

TEST_P(GemmTensorCoreOnDevice, ThePrecisionSettingRoutesSgemmAndMatmul) {
  PrecisionGuard guard;
  Errors errors;
  for (MatmulPrecision prec : {MatmulPrecision::tf32, MatmulPrecision::bf16}) {
    kernels::set_matmul_precision(prec);
    // Through sgemm: only the TF32/BF16 bounds hold, and integers stay exact.
    check_tc(device(), prec, {false, true, {65, 129, 33}, 1.0f, 0.0f, true}, 900, false, &errors, true);
    check_tc(device(), prec, {true, false, {65, 129, 33}, 1.0f, 0.0f, true}, 901, true, &errors, true);
    // Through the engine: matmul of inputs that are not exact in the format differs from the
    // fp32 result by about the format's roundoff, not by fp32's.
    Tensor a = cpu_random({40, 70}, 1), b = cpu_random({70, 30}, 2);
    const double diff = pw::testing::max_rel_diff_any_device(matmul(a.to(device()), b.to(device())), matmul(a, b));
    EXPECT_GT(diff, 1e-5) << kernels::matmul_precision_name(prec) << ": matmul did not use the tensor cores";
    EXPECT_LT(diff, 70 * 2 * unit_roundoff(prec)) << kernels::matmul_precision_name(prec);
  }
  kernels::set_matmul_precision(MatmulPrecision::fp32);
  Tensor a = cpu_random({40, 70}, 1), b = cpu_random({70, 30}, 2);
  EXPECT_LT(pw::testing::max_rel_diff_any_device(matmul(a.to(device()), b.to(device())), matmul(a, b)), 1e-5);
}

TEST(GemmPrecisionSetting, NamesParseAndUnknownOnesAreErrors) {
  EXPECT_EQ(kernels::parse_matmul_precision("tf32"), MatmulPrecision::tf32);
  EXPECT_EQ(kernels::parse_matmul_precision("bf16"), MatmulPrecision::bf16);
  EXPECT_EQ(kernels::parse_matmul_precision("fp32"), MatmulPrecision::fp32);
  try {
    kernels::parse_matmul_precision("fp16");
    ADD_FAILURE() << "fp16 was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("'fp16' is not one of fp32, tf32, bf16"), std::string::npos) << e.what();
  }
  // The default, as PyTorch's matmul: fp32 (unless PW_PRECISION says otherwise).
  if (!std::getenv("PW_PRECISION")) {
    EXPECT_EQ(kernels::matmul_precision(), MatmulPrecision::fp32);
  }
}

PW_INSTANTIATE_DEVICE_TEST(GemmTensorCoreOnDevice);
