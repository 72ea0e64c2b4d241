// resize: checks, kernel dispatch over the N*C planes, recorded backward. On the GPU devices
// (f32 only) the kernels are kernels/cuda/resize.cu.
#include "engine/ops/resize.h"

#include "engine/autograd.h"
#include "engine/device/gpu.h"
#include "engine/ops.h"
#include "kernels/cpu/resize.h"

namespace pw {

Tensor resize(const Tensor& x, int64_t out_h, int64_t out_w, ResizeMode mode, bool align_corners) {
  PW_CHECK(x.defined(), "resize: undefined input");
  PW_CHECK(x.dim() == 4, "resize: expected an [N, C, H, W] input, got shape ", shape_str(x.shape()));
  PW_CHECK(is_floating(x.dtype()), "resize: expected a floating-point input, got ", dtype_name(x.dtype()));
  PW_CHECK(out_h > 0 && out_w > 0, "resize: output size must be positive, got ", out_h, "x", out_w);
  const int64_t N = x.shape()[0], C = x.shape()[1], in_h = x.shape()[2], in_w = x.shape()[3];
  PW_CHECK(in_h > 0 && in_w > 0, "resize: input has an empty spatial size ", shape_str(x.shape()));
  PW_CHECK(mode == ResizeMode::bilinear || !align_corners,
           "resize: align_corners applies only to bilinear mode, not nearest");
  PW_CHECK(!is_gpu(x.device()) || x.dtype() == DType::f32, "resize: the ", x.device().str(),
           " device computes in f32 only, got ", dtype_name(x.dtype()));
  const int64_t planes = N * C;
  Tensor xc = x.detach().contiguous();
  Tensor y = Tensor::empty({N, C, out_h, out_w}, x.dtype(), x.device());
  if (is_gpu(x.device())) {
    on_gpu(x.device(), [&](auto tag) {
      if (mode == ResizeMode::nearest)
        resize_nearest_forward(tag, xc.data<float>(), y.data<float>(), planes, in_h, in_w, out_h, out_w);
      else
        resize_bilinear_forward(tag, xc.data<float>(), y.data<float>(), planes, in_h, in_w, out_h, out_w,
                                align_corners);
    });
  } else {
    dispatch_floating(x.dtype(), "resize", [&](auto tag) {
      using T = decltype(tag);
      if (mode == ResizeMode::nearest)
        kernels::cpu::resize_nearest_forward<T>(xc.data<T>(), y.data<T>(), planes, in_h, in_w, out_h, out_w);
      else
        kernels::cpu::resize_bilinear_forward<T>(xc.data<T>(), y.data<T>(), planes, in_h, in_w, out_h, out_w,
                                                 align_corners);
    });
  }
  Shape in_shape = x.shape();
  return record(y, "resize", {x}, [=](const Tensor& g, const Node&) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(in_shape, gc.dtype(), gc.device());
    if (is_gpu(gc.device())) {
      on_gpu(gc.device(), [&](auto tag) {
        if (mode == ResizeMode::nearest)
          resize_nearest_backward(tag, gc.data<float>(), dx.data<float>(), planes, in_h, in_w, out_h, out_w);
        else
          resize_bilinear_backward(tag, gc.data<float>(), dx.data<float>(), planes, in_h, in_w, out_h, out_w,
                                   align_corners);
      });
      return std::vector<Tensor>{dx};
    }
    dispatch_floating(gc.dtype(), "resize", [&](auto tag) {
      using T = decltype(tag);
      if (mode == ResizeMode::nearest)
        kernels::cpu::resize_nearest_backward<T>(gc.data<T>(), dx.data<T>(), planes, in_h, in_w, out_h, out_w);
      else
        kernels::cpu::resize_bilinear_backward<T>(gc.data<T>(), dx.data<T>(), planes, in_h, in_w, out_h, out_w,
                                                  align_corners);
    });
    return std::vector<Tensor>{dx};
  });
}

}  // namespace pw
