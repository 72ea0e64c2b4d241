// Matrix products: matmul (2-D, or batched 3-D) and linear layers.
#pragma once
#include "engine/tensor.h"

namespace pw {

// a [M, K] @ b [K, N] -> [M, N]; or batched a [B, M, K] @ b [B, K, N] -> [B, M, N].
// Transposed views are passed to the GEMM as transposes, not copied.
Tensor matmul(const Tensor& a, const Tensor& b);

// x [N, in] @ weight[out, in]^T + bias[out] -> [N, out] (PyTorch's layout). bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace pw

namespace pw::detail {
// C[M,N] = alpha * op(A) op(B) + beta * C on raw row-major pointers, f32 through the fast GEMM,
// f64 through the reference. Used by ops that run GEMMs on their own buffers (conv2d).
void gemm(DType dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const void* A, int64_t lda,
          const void* B, int64_t ldb, double beta, void* C, int64_t ldc);
}  // namespace pw::detail
