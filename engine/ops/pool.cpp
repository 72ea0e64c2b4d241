// Pooling ops: argument checks, output sizes (PyTorch's rules), kernels and backward. On the
// GPU devices (f32 only) the same shapes go to kernels/cuda/pool.cu.
#include "engine/ops/pool.h"

#include <limits>

#include "engine/autograd.h"
#include "engine/device/gpu.h"
#include "engine/ops.h"
#include "engine/ops/decisions.h"
#include "kernels/cpu/pool.h"

namespace pw {

int64_t pool_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation, bool ceil_mode) {
  const int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  if (span < 0) return 0;
  int64_t out = span / stride + 1;
  // Ceil mode may add a window that starts in the right padding; PyTorch (and Caffe) drop it.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

namespace {

// Checks x and p for the pooling op `op`; returns the kernel shape with the output size.
kernels::cpu::Pool2dShape check_pool(const Tensor& x, const Pool2dParams& p, const char* op, bool has_dilation) {
  PW_CHECK(x.defined(), op, ": undefined input");
  PW_CHECK(x.dim() == 4, op, ": input must be 4-D [N, C, H, W], got shape ", shape_str(x.shape()));
  PW_CHECK(is_floating(x.dtype()), op, ": expected a floating-point input, got ", dtype_name(x.dtype()));
  PW_CHECK(p.kernel_h > 0 && p.kernel_w > 0, op, ": kernel size must be positive, got (", p.kernel_h, ", ", p.kernel_w,
           ")");
  PW_CHECK(p.stride_h > 0 && p.stride_w > 0, op, ": stride must be positive, got (", p.stride_h, ", ", p.stride_w, ")");
  PW_CHECK(p.pad_h >= 0 && p.pad_w >= 0, op, ": padding must be non-negative, got (", p.pad_h, ", ", p.pad_w, ")");
  PW_CHECK(p.pad_h <= p.kernel_h / 2 && p.pad_w <= p.kernel_w / 2, op, ": padding (", p.pad_h, ", ", p.pad_w,
           ") must be at most half the kernel size (", p.kernel_h, ", ", p.kernel_w, ")");
  PW_CHECK(p.dilation_h > 0 && p.dilation_w > 0, op, ": dilation must be positive, got (", p.dilation_h, ", ",
           p.dilation_w, ")");
  PW_CHECK(has_dilation || (p.dilation_h == 1 && p.dilation_w == 1), op, ": dilation is not supported, got (",
           p.dilation_h, ", ", p.dilation_w, ")");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t Ho = pool_output_size(H, p.kernel_h, p.stride_h, p.pad_h, p.dilation_h, p.ceil_mode);
  const int64_t Wo = pool_output_size(W, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w, p.ceil_mode);
  PW_CHECK(Ho > 0 && Wo > 0, op, ": output size would be ", Ho, "x", Wo, " (input ", H, "x", W, ", kernel (",
           p.kernel_h, ", ", p.kernel_w, ")); it must be positive");
  return {N * C,      H,          W,       Ho,      Wo,           p.kernel_h,  p.kernel_w,
          p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w};
}

// The GPU devices compute in f32 only.
void check_gpu_dtype(const Tensor& x, const char* op) {
  PW_CHECK(!is_gpu(x.device()) || x.dtype() == DType::f32, op, ": the ", x.device().str(),
           " device computes in f32 only, got ", dtype_name(x.dtype()));
}

// Decision replay (decisions.h): the recorded positions replace the ones just found, and the
// values are read at them, so values and backward follow the recorded run's choices.
void replay_max_positions(const kernels::cpu::Pool2dShape& s, const Tensor& x, Tensor& y, Tensor& idx) {
  PW_CHECK(!is_gpu(x.device()), "max_pool2d: decision replay runs on cpu, the input is on ", x.device().str());
  idx = detail::next_decision("max_pool2d", idx.shape());
  const int32_t* pos = idx.data<int32_t>();
  const int64_t out_plane = s.Ho * s.Wo, in_plane = s.H * s.W;
  dispatch_floating(x.dtype(), "max_pool2d", [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data<T>();
    T* yp = y.data<T>();
    for (int64_t plane = 0; plane < s.planes; ++plane)
      for (int64_t o = 0; o < out_plane; ++o) {
        const int32_t at = pos[plane * out_plane + o];
        PW_CHECK(at >= 0 && at < in_plane, "max_pool2d: replayed position ", at, " is outside the input plane of ",
                 in_plane);
        yp[plane * out_plane + o] = xp[plane * in_plane + at];
      }
  });
}

}  // namespace

// The backward keeps its own index tensor; callers who ask for the indices get a copy, so that
// writing into them cannot send the backward's scatter out of bounds.
static MaxPool2dResult max_pool2d_impl(const Tensor& x, const Pool2dParams& p) {
  const kernels::cpu::Pool2dShape s = check_pool(x, p, "max_pool2d", true);
  PW_CHECK(s.H * s.W <= std::numeric_limits<int32_t>::max(), "max_pool2d: input plane of ", s.H, "x", s.W,
           " is too large for i32 indices");
  check_gpu_dtype(x, "max_pool2d");
  const DType dt = x.dtype();
  const Shape out_shape{x.size(0), x.size(1), s.Ho, s.Wo};
  Tensor xc = x.detach().contiguous();
  Tensor y = Tensor::empty(out_shape, dt, x.device());
  Tensor idx = Tensor::empty(out_shape, DType::i32, x.device());
  if (is_gpu(x.device())) {
    on_gpu(x.device(),
           [&](auto tag) { max_pool2d_forward(tag, s, xc.data<float>(), y.data<float>(), idx.data<int32_t>()); });
  } else {
    dispatch_floating(dt, "max_pool2d", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::max_pool2d_forward<T>(s, xc.data<T>(), y.data<T>(), idx.data<int32_t>());
    });
  }
  if (detail::replaying_decisions()) replay_max_positions(s, xc, y, idx);
  if (detail::recording_decisions()) detail::record_decision("max_pool2d", idx);
  const Shape in_shape = x.shape();
  y = record(y, "max_pool2d", {x}, [s, idx, in_shape, dt](const Tensor& g, const Node&) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(in_shape, dt, gc.device());
    if (is_gpu(gc.device())) {
      on_gpu(gc.device(),
             [&](auto tag) { max_pool2d_backward(tag, s, gc.data<float>(), idx.data<int32_t>(), dx.data<float>()); });
      return std::vector<Tensor>{dx};
    }
    dispatch_floating(dt, "max_pool2d_backward", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::max_pool2d_backward<T>(s, gc.data<T>(), idx.data<int32_t>(), dx.data<T>());
    });
    return std::vector<Tensor>{dx};
  });
  return {y, idx};
}

MaxPool2dResult max_pool2d_with_indices(const Tensor& x, const Pool2dParams& p) {
  MaxPool2dResult r = max_pool2d_impl(x, p);
  r.indices = r.indices.clone();
  return r;
}

Tensor max_pool2d(const Tensor& x, const Pool2dParams& p) { return max_pool2d_impl(x, p).values; }

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p) {
  const kernels::cpu::Pool2dShape s = check_pool(x, p, "avg_pool2d", false);
  check_gpu_dtype(x, "avg_pool2d");
  const DType dt = x.dtype();
  const bool include_pad = p.count_include_pad;
  Tensor xc = x.detach().contiguous();
  Tensor y = Tensor::empty({x.size(0), x.size(1), s.Ho, s.Wo}, dt, x.device());
  if (is_gpu(x.device())) {
    on_gpu(x.device(), [&](auto tag) { avg_pool2d_forward(tag, s, include_pad, xc.data<float>(), y.data<float>()); });
  } else {
    dispatch_floating(dt, "avg_pool2d", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::avg_pool2d_forward<T>(s, include_pad, xc.data<T>(), y.data<T>());
    });
  }
  const Shape in_shape = x.shape();
  return record(y, "avg_pool2d", {x}, [s, include_pad, in_shape, dt](const Tensor& g, const Node&) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(in_shape, dt, gc.device());
    if (is_gpu(gc.device())) {
      on_gpu(gc.device(),
             [&](auto tag) { avg_pool2d_backward(tag, s, include_pad, gc.data<float>(), dx.data<float>()); });
      return std::vector<Tensor>{dx};
    }
    dispatch_floating(dt, "avg_pool2d_backward", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::avg_pool2d_backward<T>(s, include_pad, gc.data<T>(), dx.data<T>());
    });
    return std::vector<Tensor>{dx};
  });
}

Tensor adaptive_avg_pool2d(const Tensor& x, int64_t out_h, int64_t out_w) {
  PW_CHECK(x.defined(), "adaptive_avg_pool2d: undefined input");
  PW_CHECK(x.dim() == 4, "adaptive_avg_pool2d: input must be 4-D [N, C, H, W], got shape ", shape_str(x.shape()));
  PW_CHECK(is_floating(x.dtype()), "adaptive_avg_pool2d: expected a floating-point input, got ", dtype_name(x.dtype()));
  PW_CHECK(out_h > 0 && out_w > 0, "adaptive_avg_pool2d: output size must be positive, got ", out_h, "x", out_w);
  const int64_t H = x.size(2), W = x.size(3);
  PW_CHECK(H > 0 && W > 0, "adaptive_avg_pool2d: input plane is empty (", H, "x", W, ")");
  const kernels::cpu::Pool2dShape s{x.size(0) * x.size(1), H, W, out_h, out_w, 0, 0, 0, 0, 0, 0, 0, 0};
  check_gpu_dtype(x, "adaptive_avg_pool2d");
  const DType dt = x.dtype();
  Tensor xc = x.detach().contiguous();
  Tensor y = Tensor::empty({x.size(0), x.size(1), out_h, out_w}, dt, x.device());
  if (is_gpu(x.device())) {
    on_gpu(x.device(), [&](auto tag) { adaptive_avg_pool2d_forward(tag, s, xc.data<float>(), y.data<float>()); });
  } else {
    dispatch_floating(dt, "adaptive_avg_pool2d", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::adaptive_avg_pool2d_forward<T>(s, xc.data<T>(), y.data<T>());
    });
  }
  const Shape in_shape = x.shape();
  return record(y, "adaptive_avg_pool2d", {x}, [s, in_shape, dt](const Tensor& g, const Node&) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(in_shape, dt, gc.device());
    if (is_gpu(gc.device())) {
      on_gpu(gc.device(), [&](auto tag) { adaptive_avg_pool2d_backward(tag, s, gc.data<float>(), dx.data<float>()); });
      return std::vector<Tensor>{dx};
    }
    dispatch_floating(dt, "adaptive_avg_pool2d_backward", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::adaptive_avg_pool2d_backward<T>(s, gc.data<T>(), dx.data<T>());
    });
    return std::vector<Tensor>{dx};
  });
}

}  // namespace pw
