// softmax / log_softmax, cross_entropy and mse_loss: checks, kernel dispatch, recorded backward.
#include "engine/ops/loss.h"

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/cpu/softmax.h"

namespace pw {

namespace {
Tensor softmax_impl(const Tensor& x, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  PW_CHECK(x.defined(), name, ": undefined input");
  PW_CHECK(is_floating(x.dtype()), name, ": expected a floating-point input, got ", dtype_name(x.dtype()));
  const int64_t d = wrap_dim(dim, x.dim(), name);
  Tensor xc = x.detach().contiguous();
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= x.shape()[i];
  for (int64_t i = d + 1; i < x.dim(); ++i) inner *= x.shape()[i];
  const int64_t R = x.shape()[d];
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch_floating(x.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    kernels::cpu::softmax_forward<T>(xc.data<T>(), y.data<T>(), outer, R, inner, log);
  });
  Tensor saved = y.detach();
  return record(y, name, {x}, [=](const Tensor& g, const Node&) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(saved.shape(), saved.dtype(), saved.device());
    dispatch_floating(saved.dtype(), name, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::softmax_backward<T>(saved.data<T>(), gc.data<T>(), dx.data<T>(), outer, R, inner, log);
    });
    return std::vector<Tensor>{dx};
  });
}
}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction) {
  PW_CHECK(logits.defined() && target.defined(), "cross_entropy: undefined tensor argument");
  PW_CHECK(logits.dim() == 2, "cross_entropy: expected logits [N, C], got shape ", shape_str(logits.shape()));
  PW_CHECK(is_floating(logits.dtype()), "cross_entropy: expected floating-point logits, got ",
           dtype_name(logits.dtype()));
  PW_CHECK(target.dtype() == DType::i32, "cross_entropy: expected i32 class indices as target, got ",
           dtype_name(target.dtype()));
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  PW_CHECK(target.dim() == 1 && target.shape()[0] == N, "cross_entropy: target has shape ",
           shape_str(target.shape()), ", expected [", N, "] for logits ", shape_str(logits.shape()));
  PW_CHECK(N > 0, "cross_entropy: empty batch");
  PW_CHECK(C > 0, "cross_entropy: logits have no classes");
  Tensor tc = target.detach().clone();  // owned: the caller may reuse its label buffer before backward
  const int32_t* t = tc.data<int32_t>();
  for (int64_t n = 0; n < N; ++n)
    PW_CHECK(t[n] >= 0 && t[n] < C, "cross_entropy: target ", t[n], " at index ", n,
             " is out of range for ", C, " classes");

  Tensor lc = logits.detach().contiguous();
  Tensor rows = Tensor::empty({N}, logits.dtype(), logits.device());
  Tensor lse = Tensor::empty({N}, logits.dtype(), logits.device());
  Tensor out;
  dispatch_floating(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    kernels::cpu::cross_entropy_forward<T>(lc.data<T>(), t, rows.data<T>(), lse.data<T>(), N, C);
    if (reduction == Reduction::none) {
      out = rows;
    } else {
      double total = 0;  // in double, whatever T is
      const T* r = rows.data<T>();
      for (int64_t n = 0; n < N; ++n) total += r[n];
      if (reduction == Reduction::mean) total /= double(N);
      out = Tensor::full({}, total, logits.dtype(), logits.device());
    }
  });
  return record(out, "cross_entropy", {logits}, [=](const Tensor& g, const Node&) {
    Tensor gc = g.contiguous();
    Tensor dlogits = Tensor::empty(lc.shape(), lc.dtype(), lc.device());
    const int64_t stride = reduction == Reduction::none ? 1 : 0;
    const double scale = reduction == Reduction::mean ? 1.0 / double(N) : 1.0;
    dispatch_floating(lc.dtype(), "cross_entropy", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::cross_entropy_backward<T>(lc.data<T>(), tc.data<int32_t>(), lse.data<T>(), gc.data<T>(),
                                              stride, scale, dlogits.data<T>(), N, C);
    });
    return std::vector<Tensor>{dlogits};
  });
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  PW_CHECK(input.defined() && target.defined(), "mse_loss: undefined tensor argument");
  PW_CHECK(input.shape() == target.shape(), "mse_loss: input shape ", shape_str(input.shape()),
           " differs from target shape ", shape_str(target.shape()));
  PW_CHECK(input.dtype() == target.dtype(), "mse_loss: input is ", dtype_name(input.dtype()), ", target is ",
           dtype_name(target.dtype()));
  PW_CHECK(is_floating(input.dtype()), "mse_loss: expected floating-point tensors, got ",
           dtype_name(input.dtype()));
  // Composed from recorded ops: their backward rules give 2(input - target) and its negation.
  Tensor diff = sub(input, target);
  Tensor sq = mul(diff, diff);
  switch (reduction) {
    case Reduction::none: return sq;
    case Reduction::sum: return sum(sq);
    case Reduction::mean:
      PW_CHECK(input.numel() > 0, "mse_loss: mean of an empty tensor");
      return mean(sq);
  }
  return sq;
}

}  // namespace pw
