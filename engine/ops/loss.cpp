// softmax / log_softmax, cross_entropy and mse_loss: checks, kernel dispatch (kernels/cpu/softmax.h
// on the cpu, kernels/cuda/loss.cu on cuda and simt, f32 only there), recorded backward.
#include "engine/ops/loss.h"

#include "engine/autograd.h"
#include "engine/device/gpu.h"
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
  const bool gpu = is_gpu(x.device());
  if (gpu) {
    PW_CHECK(x.dtype() == DType::f32, name, ": the ", x.device().str(), " device computes in f32 only");
    on_gpu(x.device(),
           [&](auto tag) { softmax_forward(tag, xc.data<float>(), y.data<float>(), outer, R, inner, log); });
  } else {
    dispatch_floating(x.dtype(), name, [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::softmax_forward<T>(xc.data<T>(), y.data<T>(), outer, R, inner, log);
    });
  }
  Tensor saved = y.detach();
  return record(y, name, {x}, [=](const Tensor& g, const Node&) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(saved.shape(), saved.dtype(), saved.device());
    if (gpu) {
      on_gpu(saved.device(), [&](auto tag) {
        softmax_backward(tag, saved.data<float>(), gc.data<float>(), dx.data<float>(), outer, R, inner, log);
      });
      return std::vector<Tensor>{dx};
    }
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

namespace {
void check_labels(const int32_t* t, int64_t N, int64_t C) {
  for (int64_t n = 0; n < N; ++n)
    PW_CHECK(t[n] >= 0 && t[n] < C, "cross_entropy: target ", t[n], " at index ", n, " is out of range for ", C,
             " classes");
}
Tensor cross_entropy_checked(const Tensor& logits, const Tensor& target, const Tensor* host_target,
                             Reduction reduction);
}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction) {
  return cross_entropy_checked(logits, target, nullptr, reduction);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& host_target, Reduction reduction) {
  PW_CHECK(host_target.defined() && host_target.device().is_cpu() && host_target.dtype() == DType::i32 &&
               host_target.shape() == target.shape(),
           "cross_entropy: the host copy of the target must be an i32 cpu tensor of the target's shape ",
           shape_str(target.shape()), ", got ", shape_str(host_target.shape()), " on ", host_target.device().str());
  return cross_entropy_checked(logits, target, &host_target, reduction);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& host_target, Reduction reduction,
                     double label_smoothing) {
  const double eps = label_smoothing;
  PW_CHECK(eps >= 0 && eps < 1, "cross_entropy: label smoothing must lie in [0, 1), got ", eps);
  const auto plain = [&](Reduction r) {
    return host_target.defined() ? cross_entropy(logits, target, host_target, r) : cross_entropy(logits, target, r);
  };
  if (eps == 0) return plain(reduction);
  // A composite of differentiable ops, so every device and the gradient come with it.
  const Tensor ce = plain(Reduction::none);                       // checks the arguments first
  const Tensor uniform = neg(mean(log_softmax(logits, 1), {1}));  // [N]: cross-entropy against 1/C
  const Tensor rows = add(mul(ce, 1.0 - eps), mul(uniform, eps));
  return reduction == Reduction::none ? rows : reduction == Reduction::sum ? sum(rows) : mean(rows);
}

namespace {
Tensor cross_entropy_checked(const Tensor& logits, const Tensor& target, const Tensor* host_target,
                             Reduction reduction) {
  PW_CHECK(logits.defined() && target.defined(), "cross_entropy: undefined tensor argument");
  PW_CHECK(logits.dim() == 2, "cross_entropy: expected logits [N, C], got shape ", shape_str(logits.shape()));
  PW_CHECK(is_floating(logits.dtype()), "cross_entropy: expected floating-point logits, got ",
           dtype_name(logits.dtype()));
  PW_CHECK(target.dtype() == DType::i32, "cross_entropy: expected i32 class indices as target, got ",
           dtype_name(target.dtype()));
  const int64_t N = logits.shape()[0], C = logits.shape()[1];
  PW_CHECK(target.dim() == 1 && target.shape()[0] == N, "cross_entropy: target has shape ", shape_str(target.shape()),
           ", expected [", N, "] for logits ", shape_str(logits.shape()));
  PW_CHECK(N > 0, "cross_entropy: empty batch");
  PW_CHECK(C > 0, "cross_entropy: logits have no classes");
  check_same_device("cross_entropy", logits.device(), target.device());
  const bool gpu = is_gpu(logits.device());
  PW_CHECK(!gpu || logits.dtype() == DType::f32, "cross_entropy: the ", logits.device().str(),
           " device computes in f32 only");
  Tensor tc = target.detach().clone();  // owned: the caller may reuse its label buffer before backward
  // Labels are checked on the host before any kernel runs, so the error can name the bad label
  // and its index on every device: on a GPU device from the caller's host copy, or else from a
  // download of the N labels (a wait for the device).
  std::vector<int32_t> host_labels;
  const int32_t* t = tc.data<int32_t>();
  if (gpu && host_target)
    t = (host_labels = host_target->to_vector_i32()).data();
  else if (gpu)
    t = (host_labels = tc.to_vector_i32()).data();
  check_labels(t, N, C);

  Tensor lc = logits.detach().contiguous();
  Tensor rows = Tensor::empty({N}, logits.dtype(), logits.device());
  Tensor lse = Tensor::empty({N}, logits.dtype(), logits.device());
  Tensor out = reduction == Reduction::none ? rows : Tensor::empty({}, logits.dtype(), logits.device());
  const bool mean = reduction == Reduction::mean;
  if (gpu) {
    on_gpu(logits.device(), [&](auto tag) {
      cross_entropy_forward(tag, lc.data<float>(), tc.data<int32_t>(), rows.data<float>(), lse.data<float>(), N, C);
      if (reduction != Reduction::none) cross_entropy_reduce(tag, rows.data<float>(), N, mean, out.data<float>());
    });
  } else {
    dispatch_floating(logits.dtype(), "cross_entropy", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::cross_entropy_forward<T>(lc.data<T>(), t, rows.data<T>(), lse.data<T>(), N, C);
      if (reduction != Reduction::none) kernels::cpu::cross_entropy_reduce<T>(rows.data<T>(), N, mean, out.data<T>());
    });
  }
  return record(out, "cross_entropy", {logits}, [=](const Tensor& g, const Node&) {
    Tensor gc = g.contiguous();
    Tensor dlogits = Tensor::empty(lc.shape(), lc.dtype(), lc.device());
    const int64_t stride = reduction == Reduction::none ? 1 : 0;
    const double scale = mean ? 1.0 / double(N) : 1.0;
    if (gpu) {
      on_gpu(lc.device(), [&](auto tag) {
        cross_entropy_backward(tag, lc.data<float>(), tc.data<int32_t>(), lse.data<float>(), gc.data<float>(), stride,
                               scale, dlogits.data<float>(), N, C);
      });
      return std::vector<Tensor>{dlogits};
    }
    dispatch_floating(lc.dtype(), "cross_entropy", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::cross_entropy_backward<T>(lc.data<T>(), tc.data<int32_t>(), lse.data<T>(), gc.data<T>(), stride,
                                              scale, dlogits.data<T>(), N, C);
    });
    return std::vector<Tensor>{dlogits};
  });
}
}  // namespace

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  PW_CHECK(input.defined() && target.defined(), "mse_loss: undefined tensor argument");
  PW_CHECK(input.shape() == target.shape(), "mse_loss: input shape ", shape_str(input.shape()),
           " differs from target shape ", shape_str(target.shape()));
  PW_CHECK(input.dtype() == target.dtype(), "mse_loss: input is ", dtype_name(input.dtype()), ", target is ",
           dtype_name(target.dtype()));
  PW_CHECK(is_floating(input.dtype()), "mse_loss: expected floating-point tensors, got ", dtype_name(input.dtype()));
  // Composed from recorded ops: their backward rules give 2(input - target) and its negation.
  Tensor diff = sub(input, target);
  Tensor sq = mul(diff, diff);
  switch (reduction) {
    case Reduction::none: return sq;
    case Reduction::sum: return sum(sq);
    case Reduction::mean: PW_CHECK(input.numel() > 0, "mse_loss: mean of an empty tensor"); return mean(sq);
  }
  return sq;
}

}  // namespace pw
