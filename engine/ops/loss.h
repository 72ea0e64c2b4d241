// Softmax, log-softmax and the losses: fused softmax cross-entropy and mean squared error.
#pragma once
#include "engine/tensor.h"

namespace pw {

// Along dimension dim (negative counts from the end). Stable (the max is subtracted first).
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// mean: the average over elements (over the N rows for cross_entropy), a 0-d tensor;
// sum: their sum, a 0-d tensor; none: one value per element (per row for cross_entropy).
enum class Reduction { mean, sum, none };

// logits [N, C] (f32/f64), target [N] i32 class indices in [0, C) (an error names the bad label).
// loss[n] = logsumexp(logits[n]) - logits[n, target[n]], fused and stable; the gradient is
// (softmax - onehot) scaled by the upstream gradient (and 1/N for mean). No gradient to target.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction = Reduction::mean);
// The same, with the target's values also on the host: `host_target` is the cpu tensor that
// `target` was copied from. The labels are range-checked there, so on a GPU device the check
// downloads nothing and the host does not wait for the device (the training loop's path).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& host_target,
                     Reduction reduction = Reduction::mean);

// Label smoothing (Szegedy et al. 2016, "Rethinking the Inception Architecture", section 7; as
// PyTorch's label_smoothing): the target row is (1 - eps) onehot + eps / C, so
// loss[n] = (1 - eps) ce[n] + eps * mean_k(-log softmax(logits[n])_k), reduced as above. eps in
// [0, 1); 0 gives cross_entropy exactly. host_target: as above, or an undefined tensor.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& host_target, Reduction reduction,
                     double label_smoothing);

// (input - target)^2, reduced; input and target have the same shape and dtype. Both get gradients.
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);

}  // namespace pw
