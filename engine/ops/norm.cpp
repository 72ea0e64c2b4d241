// batch_norm: argument checks, statistics, the running-stat update and the recorded backward.
// On the GPU devices (f32 only) the kernels are kernels/cuda/norm.cu.
#include "engine/ops/norm.h"

#include "engine/autograd.h"
#include "engine/device/gpu.h"
#include "engine/ops.h"
#include "engine/ops/kernel_args.h"
#include "kernels/cpu/norm.h"

namespace pw {

namespace {
void check_channel_vector(const Tensor& t, const char* what, int64_t C, const Tensor& x) {
  if (!t.defined()) return;
  PW_CHECK(t.dim() == 1 && t.shape()[0] == C, "batch_norm: ", what, " has shape ", shape_str(t.shape()), ", expected [",
           C, "] for an input with ", C, " channels");
  PW_CHECK(t.dtype() == x.dtype(), "batch_norm: ", what, " is ", dtype_name(t.dtype()), ", input is ",
           dtype_name(x.dtype()));
  PW_CHECK(t.device() == x.device(), "batch_norm: ", what, " is on ", t.device().str(), ", input on ",
           x.device().str());
}

// Scratch memory of the GPU statistics and backward kernels, on device d.
template <class Tag>
Tensor gpu_workspace(Tag tag, int64_t N, int64_t C, int64_t S, Device d) {
  const size_t bytes = batch_norm_workspace_bytes(tag, N, C, S);
  return Tensor::empty({int64_t((bytes + sizeof(float) - 1) / sizeof(float))}, DType::f32, d);
}
}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  PW_CHECK(x.defined(), "batch_norm: undefined input");
  PW_CHECK(x.dim() >= 2 && x.dim() <= 4, "batch_norm: expected an [N, C], [N, C, L] or [N, C, H, W] input, got shape ",
           shape_str(x.shape()));
  PW_CHECK(is_floating(x.dtype()), "batch_norm: expected a floating-point input, got ", dtype_name(x.dtype()));
  PW_CHECK(running_mean.defined() == running_var.defined(),
           "batch_norm: running_mean and running_var must both be given or both be undefined");
  PW_CHECK(eps >= 0, "batch_norm: eps must be >= 0, got ", eps);
  PW_CHECK(momentum >= 0 && momentum <= 1, "batch_norm: momentum must be in [0, 1], got ", momentum);
  const int64_t N = x.shape()[0], C = x.shape()[1];
  const int64_t S = x.numel() / std::max<int64_t>(N * C, 1);
  check_channel_vector(running_mean, "running_mean", C, x);
  check_channel_vector(running_var, "running_var", C, x);
  check_channel_vector(weight, "weight", C, x);
  check_channel_vector(bias, "bias", C, x);
  const bool gpu = is_gpu(x.device());
  PW_CHECK(!gpu || x.dtype() == DType::f32, "batch_norm: the ", x.device().str(), " device computes in f32 only, got ",
           dtype_name(x.dtype()));
  if (training) {
    PW_CHECK(N * S > 1, "batch_norm: expected more than 1 value per channel when training, got input shape ",
             shape_str(x.shape()));
  } else {
    PW_CHECK(running_mean.defined(), "batch_norm: eval mode needs running_mean and running_var");
  }

  Tensor xc = x.detach().contiguous();
  Tensor w = weight.defined() ? weight.detach().contiguous() : Tensor();
  Tensor b = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor mean, var;  // the statistics used to normalize; saved for backward
  if (training) {
    mean = Tensor::empty({C}, x.dtype(), x.device());
    var = Tensor::empty({C}, x.dtype(), x.device());
  } else {
    // Copies: the running buffers may be updated by a later training step before backward.
    mean = running_mean.detach().clone();
    var = running_var.detach().clone();
  }
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (gpu) {
    on_gpu(x.device(), [&](auto tag) {
      if (training) {
        Tensor ws = gpu_workspace(tag, N, C, S, x.device());
        batch_norm_stats(tag, xc.data<float>(), mean.data<float>(), var.data<float>(), N, C, S, ws.raw_data());
        if (running_mean.defined()) {
          Tensor rm = running_mean.detach().contiguous(), rv = running_var.detach().contiguous();
          batch_norm_update_running(tag, rm.data<float>(), rv.data<float>(), mean.data<float>(), var.data<float>(), C,
                                    N * S, momentum);
          if (rm.storage() != running_mean.storage()) running_mean.copy_(rm);
          if (rv.storage() != running_var.storage()) running_var.copy_(rv);
        }
      }
      batch_norm_forward(tag, xc.data<float>(), mean.data<float>(), var.data<float>(), ptr_or_null<float>(w),
                         ptr_or_null<float>(b), y.data<float>(), N, C, S, eps);
    });
  } else {
    dispatch_floating(x.dtype(), "batch_norm", [&](auto tag) {
      using T = decltype(tag);
      if (training) {
        kernels::cpu::batch_norm_stats<T>(xc.data<T>(), mean.data<T>(), var.data<T>(), N, C, S);
        if (running_mean.defined()) {
          // Update through contiguous copies when the buffers are strided views.
          Tensor rm = running_mean.detach().contiguous(), rv = running_var.detach().contiguous();
          kernels::cpu::batch_norm_update_running<T>(rm.data<T>(), rv.data<T>(), mean.data<T>(), var.data<T>(), C,
                                                     N * S, momentum);
          if (rm.storage() != running_mean.storage()) running_mean.copy_(rm);
          if (rv.storage() != running_var.storage()) running_var.copy_(rv);
        }
      }
      kernels::cpu::batch_norm_forward<T>(xc.data<T>(), mean.data<T>(), var.data<T>(), ptr_or_null<T>(w),
                                          ptr_or_null<T>(b), y.data<T>(), N, C, S, eps);
    });
  }

  if (training && running_mean.defined()) {  // the running statistics are buffers, not the output
    check_updated_buffer(running_mean, "batch_norm", "running_mean", {x, weight, bias});
    check_updated_buffer(running_var, "batch_norm", "running_var", {x, weight, bias});
  }
  return record(y, "batch_norm", {x, weight, bias}, [=](const Tensor& g, const Node& n) {
    Tensor gc = g.contiguous();
    Tensor dx, dw, db;
    if (n.needs_grad(0)) dx = Tensor::empty(xc.shape(), xc.dtype(), xc.device());
    if (n.needs_grad(1)) dw = Tensor::empty({C}, xc.dtype(), xc.device());
    if (n.needs_grad(2)) db = Tensor::empty({C}, xc.dtype(), xc.device());
    if (is_gpu(xc.device())) {
      on_gpu(xc.device(), [&](auto tag) {
        Tensor ws = gpu_workspace(tag, N, C, S, xc.device());
        batch_norm_backward(tag, xc.data<float>(), gc.data<float>(), mean.data<float>(), var.data<float>(),
                            ptr_or_null<float>(w), ptr_or_null<float>(dx), ptr_or_null<float>(dw),
                            ptr_or_null<float>(db), N, C, S, eps, training, ws.raw_data());
      });
      return std::vector<Tensor>{dx, dw, db};
    }
    dispatch_floating(xc.dtype(), "batch_norm_backward", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::batch_norm_backward<T>(xc.data<T>(), gc.data<T>(), mean.data<T>(), var.data<T>(), ptr_or_null<T>(w),
                                           ptr_or_null<T>(dx), ptr_or_null<T>(dw), ptr_or_null<T>(db), N, C, S, eps,
                                           training);
    });
    return std::vector<Tensor>{dx, dw, db};
  });
}

}  // namespace pw
