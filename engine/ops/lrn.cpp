// local_response_norm: checks, the kernel, and a backward that reuses the saved scale term.
// On the GPU devices (f32 only) the kernels are kernels/cuda/lrn.cu.
#include "engine/ops/lrn.h"

#include "engine/autograd.h"
#include "engine/device/gpu.h"
#include "engine/ops.h"
#include "kernels/cpu/lrn.h"

namespace pw {

Tensor local_response_norm(const Tensor& x, int64_t size, double alpha, double beta, double k) {
  PW_CHECK(x.defined(), "local_response_norm: undefined input");
  PW_CHECK(x.dim() >= 3, "local_response_norm: input must be at least 3-D [N, C, ...], got shape ",
           shape_str(x.shape()));
  PW_CHECK(is_floating(x.dtype()), "local_response_norm: expected a floating-point input, got ", dtype_name(x.dtype()));
  PW_CHECK(size > 0, "local_response_norm: size must be positive, got ", size);
  PW_CHECK(!is_gpu(x.device()) || x.dtype() == DType::f32, "local_response_norm: the ", x.device().str(),
           " device computes in f32 only, got ", dtype_name(x.dtype()));
  const DType dt = x.dtype();
  const int64_t N = x.size(0), C = x.size(1), inner = N * C == 0 ? 0 : x.numel() / (N * C);
  Tensor xc = x.detach().contiguous();
  Tensor y = Tensor::empty(x.shape(), dt, x.device());
  Tensor scale = Tensor::empty(x.shape(), dt, x.device());
  if (is_gpu(x.device())) {
    on_gpu(x.device(), [&](auto tag) {
      lrn_forward(tag, xc.data<float>(), y.data<float>(), scale.data<float>(), N, C, inner, size, alpha, beta, k);
    });
  } else {
    dispatch_floating(dt, "local_response_norm", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::lrn_forward<T>(xc.data<T>(), y.data<T>(), scale.data<T>(), N, C, inner, size, alpha, beta, k);
    });
  }
  if (!x.requires_grad()) return y;
  // The backward pass needs x, y and the scale; y is the output itself (no extra memory).
  Tensor saved_y = y.detach();
  return record(y, "local_response_norm", {x},
                [xc, saved_y, scale, N, C, inner, size, alpha, beta, dt](const Tensor& g, const Node&) {
                  Tensor gc = g.contiguous();
                  Tensor dx = Tensor::empty(xc.shape(), dt, gc.device());
                  if (is_gpu(gc.device())) {
                    on_gpu(gc.device(), [&](auto tag) {
                      lrn_backward(tag, xc.data<float>(), saved_y.data<float>(), scale.data<float>(), gc.data<float>(),
                                   dx.data<float>(), N, C, inner, size, alpha, beta);
                    });
                    return std::vector<Tensor>{dx};
                  }
                  dispatch_floating(dt, "local_response_norm_backward", [&](auto tag) {
                    using T = decltype(tag);
                    kernels::cpu::lrn_backward<T>(xc.data<T>(), saved_y.data<T>(), scale.data<T>(), gc.data<T>(),
                                                  dx.data<T>(), N, C, inner, size, alpha, beta);
                  });
                  return std::vector<Tensor>{dx};
                });
}

}  // namespace pw
