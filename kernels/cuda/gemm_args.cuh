// The argument block of the FP32 and tensor-core GEMM kernels (gemm.cu, gemm_tc.cu), and its
// checked construction from the api's arguments. Included inside each file's anonymous namespace
// of pw::kernels::PW_KERNEL_NS, after compat.cuh and api.h.
#pragma once

// Everything a GEMM kernel needs, passed by value (one parameter keeps the ladder's kernels'
// signatures identical). Dimensions fit in int (checked on the host); offsets are 64-bit.
struct GemmArgs {
  int M, N, K;
  float alpha, beta;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float* C;
  int64_t ldc;
  // Problem z of the batch: X + (z / inner) * x_outer + (z % inner) * x_inner (gemm.inc).
  int64_t z0, inner, a_outer, a_inner, b_outer, b_inner, c_outer, c_inner;
  // float4 global accesses are allowed: the base pointer is 16-byte aligned and the leading
  // dimension and batch strides are multiples of 4 floats (used by v5, and v4 in the ladder).
  bool vec_a, vec_b, vec_c;
  // Split-K (v5 only; 1 / K / null otherwise): blockIdx.z = problem * splits + slice, a slice
  // is k_slice deep, and the raw partial tiles go to `partial` ([z][slice][M][N]); vec_w:
  // float4 stores there are aligned (N % 4 == 0).
  int splits, k_slice;
  float* partial;
  bool vec_w;
};

inline bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

inline void check_dim(int64_t v, const char* op, const char* what) {
  if (v < 0 || v > INT32_MAX)
    throw std::runtime_error(std::string(op) + ": " + what + " = " + std::to_string(v) + " is outside [0, 2^31)");
}

// The kernels' argument block for one problem shape and batch (dimensions checked).
// `op` names the caller in errors ("sgemm", "gemm_tensor_core").
inline GemmArgs make_args(const char* op, const GemmBatch& batch, int64_t M, int64_t N, int64_t K, float alpha,
                          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  check_dim(M, op, "M");
  check_dim(N, op, "N");
  check_dim(K, op, "K");
  if (batch.count < 0 || batch.inner < 1)
    throw std::runtime_error(std::string(op) + ": batch count " + std::to_string(batch.count) +
                             " must be >= 0 and inner " + std::to_string(batch.inner) + " >= 1");
  GemmArgs p{};
  p.M = (int)M;
  p.N = (int)N;
  p.K = (int)K;
  p.alpha = alpha;
  p.beta = beta;
  p.A = A;
  p.lda = lda;
  p.B = B;
  p.ldb = ldb;
  p.C = C;
  p.ldc = ldc;
  p.inner = batch.inner;
  p.a_outer = batch.a_outer;
  p.a_inner = batch.a_inner;
  p.b_outer = batch.b_outer;
  p.b_inner = batch.b_inner;
  p.c_outer = batch.c_outer;
  p.c_inner = batch.c_inner;
  const auto vec_ok = [](const void* ptr, int64_t ld, int64_t s1, int64_t s2) {
    return aligned16(ptr) && ld % 4 == 0 && s1 % 4 == 0 && s2 % 4 == 0;
  };
  p.vec_a = vec_ok(A, lda, batch.a_outer, batch.a_inner);
  p.vec_b = vec_ok(B, ldb, batch.b_outer, batch.b_inner);
  p.vec_c = vec_ok(C, ldc, batch.c_outer, batch.c_inner);
  p.splits = 1;  // unsplit until launch_version says otherwise
  p.k_slice = p.K;
  return p;
}
