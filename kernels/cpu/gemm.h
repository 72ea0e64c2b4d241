// CPU matrix multiply: C = alpha * op(A) * op(B) + beta * C, in row-major storage.
// op(A) is M x K, op(B) is K x N, C is M x N. lda/ldb/ldc are the row strides of the
// matrices as stored (so a transposed A is stored K x M with lda >= M). When beta == 0, C is
// never read (NaN already in C is overwritten); when alpha == 0 or K == 0, A and B are
// never read. Sizes are not checked here: the engine's ops check their arguments.
#pragma once
#include <cstdint>

namespace pw::kernels::cpu {

// The obviously correct triple loop, accumulating in T. Instantiated for float and double;
// the double version is what tests compare the fast kernels against.
template <typename T>
void gemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                    const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// The fast single-precision kernel: cache-blocked, packed, with an AVX-512 or AVX2/FMA
// micro-kernel, OpenMP; products of at most sixteen rows stream B unpacked instead. Uses up to
// omp_get_max_threads() threads (one when called from inside a parallel region or when the
// problem is small). Safe to call from several threads at once.
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

enum class GemmKernel { portable, avx2, avx512 };  // the micro-kernels (below)

// op(A) packed once for many products with it: a convolution's weight, the same for every image
// of a call, was packed again by every image's sgemm (pack_a: 3.8% of AlexNet's training step).
// pack_a_operand lays out the panels sgemm would pack, in the order it reads them, into `buf`
// (packed_a_floats(M, K) floats, 64-byte aligned, kept by the caller while the PackedA is used);
// sgemm_packed then skips that packing and gives the same result as sgemm bit for bit. With buf
// null op(A) stays unpacked and sgemm_packed is sgemm: for an operand used by one product, which
// sgemm packs block by block as it goes, each block used from L2 right after (packed whole first
// it would make one more trip through memory). Products of at most sixteen rows always keep op(A)
// unpacked (packed_a_floats is 0). The micro-kernel is the one of the packing: pack again after
// set_gemm_kernel.
struct PackedA {
  bool trans;
  int64_t M, K;
  const float* A;  // op(A) as stored, for the unpacked paths
  int64_t lda;
  const float* panels;  // null: unpacked
  GemmKernel kernel;
};
int64_t packed_a_floats(int64_t M, int64_t K);
PackedA pack_a_operand(bool trans_a, int64_t M, int64_t K, const float* A, int64_t lda, float* buf);
void sgemm_packed(const PackedA& a, bool trans_b, int64_t N, float alpha, const float* B, int64_t ldb, float beta,
                  float* C, int64_t ldc);

// The micro-kernels sgemm can run. It uses the widest this CPU supports, or the one the
// environment variable PW_GEMM_KERNEL names (portable, avx2, avx512): an unknown name, or one
// this CPU cannot run, throws std::invalid_argument at the first product. Tests and benches
// switch with set_gemm_kernel (which throws for an unsupported kernel).
bool gemm_kernel_supported(GemmKernel k);
GemmKernel gemm_kernel();
void set_gemm_kernel(GemmKernel k);
const char* gemm_kernel_name(GemmKernel k);

}  // namespace pw::kernels::cpu
