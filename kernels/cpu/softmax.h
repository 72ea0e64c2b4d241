// Softmax, log-softmax and the fused softmax cross-entropy, over the middle axis of a
// contiguous [outer, R, inner] block (R = the softmax dimension).
#pragma once
#include <cstdint>

namespace pw::kernels::cpu {

// y = softmax(x) or log_softmax(x) along R. Stable: the maximum is subtracted before exp,
// and the normalizer is summed in double.
template <typename T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t R, int64_t inner, bool log);

// From the forward output y and the upstream gradient dy:
//   softmax:     dx = y * (dy - sum_R(dy * y))
//   log_softmax: dx = dy - exp(y) * sum_R(dy)
template <typename T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t outer, int64_t R, int64_t inner, bool log);

// Per row n of logits [N, C]: lse[n] = log(sum_c exp(logits[n, c])) (stable) and
// loss[n] = lse[n] - logits[n, target[n]]. Targets must already be checked to lie in [0, C).
template <typename T>
void cross_entropy_forward(const T* logits, const int32_t* target, T* loss, T* lse, int64_t N, int64_t C);

// out[0] = sum of loss_rows[0 .. N), divided by N when mean: the mean / sum reduction of
// cross_entropy, accumulated in double whatever T is. N must be > 0.
template <typename T>
void cross_entropy_reduce(const T* loss_rows, int64_t N, bool mean, T* out);

// dlogits[n, c] = grad_loss[n * grad_stride] * scale * (softmax(logits[n])[c] - [c == target[n]]),
// the softmax recomputed as exp(logits - lse). grad_stride 0 broadcasts one upstream value
// (reductions mean / sum; scale = 1/N for mean), 1 takes one per row (no reduction).
template <typename T>
void cross_entropy_backward(const T* logits, const int32_t* target, const T* lse, const T* grad_loss,
                            int64_t grad_stride, double scale, T* dlogits, int64_t N, int64_t C);

}  // namespace pw::kernels::cpu
