// Batch-normalization kernels: per-channel statistics, normalization and its backward, on a
// contiguous input viewed as [N, C, S] (S = H*W for images, 1 for [N, C] features).
#pragma once
#include <cstdint>

namespace pw::kernels::cpu {

// mean[c] and the biased variance var[c] of x[:, c, :] over the N*S values of channel c,
// accumulated in double (two passes: mean first, then squared deviations, so a large mean
// does not cancel the variance away). f32 with S >= 16 sums each plane in float vector lanes
// and merges the planes in double (norm.cpp says how); deterministic for any thread count.
template <typename T>
void batch_norm_stats(const T* x, T* mean, T* var, int64_t N, int64_t C, int64_t S);

// y = (x - mean[c]) / sqrt(var[c] + eps) * weight[c] + bias[c]. weight / bias may be null
// (no affine: 1 and 0). mean / var are the batch statistics in training, the running ones in eval.
// Computed as y = x * scale[c] + shift[c] with batch_norm_fold's constants.
template <typename T>
void batch_norm_forward(const T* x, const T* mean, const T* var, const T* weight, const T* bias, T* y, int64_t N,
                        int64_t C, int64_t S, double eps);

// scale[c] = weight[c] / sqrt(var[c] + eps) and shift[c] = bias[c] - mean[c] * scale[c], in
// double and rounded once: batch_norm_forward's constants, also those of a batch norm fused into
// the convolution before it (kernels/cpu/conv_epilogue.h).
template <typename T>
void batch_norm_fold(const T* mean, const T* var, const T* weight, const T* bias, int64_t C, double eps, T* scale,
                     T* shift);

// Gradients of batch_norm_forward. With batch_stats, mean and var are functions of x (training):
//   dx = w * invstd * (dy - mean(dy) - xhat * mean(dy * xhat))   (means over the channel's N*S values)
// otherwise (eval) they are constants: dx = w * invstd * dy. In both, dweight[c] = sum(dy * xhat)
// and dbias[c] = sum(dy). Any of dx, dweight, dbias may be null (not wanted); weight may be null.
template <typename T>
void batch_norm_backward(const T* x, const T* dy, const T* mean, const T* var, const T* weight, T* dx, T* dweight,
                         T* dbias, int64_t N, int64_t C, int64_t S, double eps, bool batch_stats);

// running = (1 - momentum) * running + momentum * batch, with the variance made unbiased
// (var * count / (count - 1)) for running_var, as PyTorch does. count = N*S > 1.
template <typename T>
void batch_norm_update_running(T* running_mean, T* running_var, const T* mean, const T* var, int64_t C, int64_t count,
                               double momentum);

}  // namespace pw::kernels::cpu
