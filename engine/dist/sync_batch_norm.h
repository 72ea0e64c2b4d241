// Batch norm over every rank's rows (--sync-batch-norm): in a SyncBatchNormScope, BatchNorm
// layers in training mode normalize with the mean and variance of the whole global batch, as
// one process would, instead of their own rank's rows. The statistics come from two
// differentiable all-reduces per layer (the sum, then the sum of squared deviations from the
// global mean: two passes, no E[x²] - E[x]² cancellation); their backward all-reduces the
// gradients, so the ranks' gradients sum to one process's.
#pragma once
#include "engine/dist/comm.h"
#include "engine/tensor.h"

namespace pw::dist {

class SyncBatchNormScope {
 public:
  // share: this rank's fraction of the global batch's rows (the weight its gradient gets when the
  // ranks' gradients are summed).
  SyncBatchNormScope(Communicator& comm, double share);
  ~SyncBatchNormScope();
  SyncBatchNormScope(const SyncBatchNormScope&) = delete;
  SyncBatchNormScope& operator=(const SyncBatchNormScope&) = delete;
  static const SyncBatchNormScope* current();  // per thread; null outside a scope

  Communicator& comm;
  double share;

 private:
  const SyncBatchNormScope* prev_;
};

// Sum over the ranks, differentiable: the backward of rank r is (1/share_r) * Σ_s share_s g_s, so
// that after the ranks' gradients are weighted by their shares and summed, each rank's rows get
// the gradient of the weighted total loss.
Tensor all_reduce_sum(const Tensor& x, const SyncBatchNormScope& scope);

// Training-mode batch norm with global statistics; updates the running statistics (when
// defined) like batch_norm does, with the global batch's unbiased variance.
Tensor sync_batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, double momentum, double eps, const SyncBatchNormScope& scope);

}  // namespace pw::dist
