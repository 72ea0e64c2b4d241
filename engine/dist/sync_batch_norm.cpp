// Batch norm with statistics over every rank: see sync_batch_norm.h.
#include "engine/dist/sync_batch_norm.h"

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/util/error.h"

namespace pw::dist {

namespace {

thread_local const SyncBatchNormScope* current_scope = nullptr;

Tensor summed(const Tensor& t, Communicator& comm, double scale) {
  std::vector<float> v = t.device() == Device::cpu() ? t.to_vector_f32() : t.to(Device::cpu()).to_vector_f32();
  if (scale != 1)
    for (float& x : v) x = (float)(x * scale);
  comm.all_reduce_sum(v.data(), (int64_t)v.size());
  return Tensor::from_vector(v, t.shape()).to(t.device());
}

}  // namespace

SyncBatchNormScope::SyncBatchNormScope(Communicator& c, double s) : comm(c), share(s), prev_(current_scope) {
  PW_CHECK(s > 0 && s <= 1, "sync batch norm: a rank's share of the batch must be in (0, 1], got ", s);
  current_scope = this;
}
SyncBatchNormScope::~SyncBatchNormScope() { current_scope = prev_; }
const SyncBatchNormScope* SyncBatchNormScope::current() { return current_scope; }

Tensor all_reduce_sum(const Tensor& x, const SyncBatchNormScope& scope) {
  Communicator* comm = &scope.comm;
  const double share = scope.share;
  Tensor out;
  {
    NoGradGuard no_grad;
    out = summed(x.detach(), *comm, 1);
  }
  return record(out, "all_reduce_sum", {x}, [comm, share](const Tensor& g, const Node&) -> std::vector<Tensor> {
    return {mul(summed(g, *comm, share), 1.0 / share)};
  });
}

Tensor sync_batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                       const Tensor& bias, double momentum, double eps, const SyncBatchNormScope& scope) {
  PW_CHECK(x.dim() >= 2, "sync batch norm: expected [N, C, ...], got ", shape_str(x.shape()));
  const int64_t C = x.size(1);
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  Shape stat_shape(x.dim(), 1);
  stat_shape[1] = C;
  double n = (double)(x.numel() / C);
  scope.comm.all_reduce_sum(&n, 1);
  PW_CHECK(n > 1, "sync batch norm: the global batch has ", n, " value(s) per channel; at least 2 are needed");
  const Tensor mean = mul(all_reduce_sum(sum(x, dims, /*keepdim=*/true), scope), 1.0 / n);
  const Tensor centered = sub(x, mean);
  const Tensor var = mul(all_reduce_sum(sum(mul(centered, centered), dims, true), scope), 1.0 / n);
  Tensor y = div(centered, sqrt(add(var, eps)));
  if (weight.defined()) y = mul(y, weight.reshape(stat_shape));
  if (bias.defined()) y = add(y, bias.reshape(stat_shape));
  if (running_mean.defined() && running_var.defined()) {
    NoGradGuard no_grad;
    const Shape s = running_mean.shape();
    running_mean.copy_(add(mul(running_mean, 1 - momentum), mul(mean.detach().reshape(s), momentum)));
    running_var.copy_(add(mul(running_var, 1 - momentum), mul(var.detach().reshape(s), momentum * n / (n - 1))));
  }
  return y;
}

}  // namespace pw::dist
