// conv2d: argument checks (shared by every device), the choice between the direct and im2col
// CPU kernels or the GPU kernels (kernels/cuda/conv.cu, f32 only), and backward (data,
// weight, bias) through the same kernel family as the forward pass.
#include "engine/ops/conv.h"

#include <atomic>

#include "engine/autograd.h"
#include "engine/device/gpu.h"
#include "engine/ops.h"
#include "engine/ops/kernel_args.h"
#include "kernels/cpu/conv.h"

namespace pw {

namespace {

std::atomic<ConvAlgo> g_conv_algo{ConvAlgo::automatic};

bool use_direct(DType dt, ConvAlgo algo) {
  if (algo == ConvAlgo::direct) return true;
  if (algo == ConvAlgo::im2col) return false;
  return dt != DType::f32;  // automatic: f64 runs the reference
}

// floor((in + 2*pad - dilation*(k-1) - 1) / stride) + 1, or <= 0 when the dilated kernel does
// not fit in the padded input.
int64_t conv_output_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dilation) {
  const int64_t span = in + 2 * pad - dilation * (k - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

// The gradients for (x, weight, bias) from the contiguous upstream gradient g, each only when
// the node needs it, by the same kernel family as the forward pass.
std::vector<Tensor> conv2d_backward(const kernels::ConvGeometry& s, bool direct, DType dt, const Tensor& x,
                                    const Tensor& w, const Tensor& g, const Node& n) {
  namespace cpu = kernels::cpu;
  Tensor dx, dw, db;
  dispatch_floating(dt, "conv2d_backward", [&](auto tag) {
    using T = decltype(tag);
    if (n.needs_grad(0)) {
      dx = Tensor::empty({s.N, s.C, s.H, s.W}, dt, g.device());
      if (direct)
        cpu::conv2d_backward_data_direct<T>(s, g.data<T>(), w.data<T>(), dx.data<T>());
      else
        cpu::conv2d_backward_data_im2col<T>(s, g.data<T>(), w.data<T>(), dx.data<T>());
    }
    if (n.needs_grad(1)) {
      dw = Tensor::empty({s.O, s.C / s.groups, s.kh, s.kw}, dt, g.device());
      if (direct)
        cpu::conv2d_backward_weight_direct<T>(s, x.data<T>(), g.data<T>(), dw.data<T>());
      else
        cpu::conv2d_backward_weight_im2col<T>(s, x.data<T>(), g.data<T>(), dw.data<T>());
    }
    if (n.needs_grad(2)) {
      db = Tensor::empty({s.O}, dt, g.device());
      cpu::conv2d_backward_bias<T>(s, g.data<T>(), db.data<T>());
    }
  });
  return {dx, dw, db};
}

// ---- the GPU devices (kernels/cuda/conv.cu), f32 only: the forward pass by implicit GEMM,
// the data and weight gradients by im2col + the GPU SGEMM ----

// The scratch memory a pass wants, from the device's caching allocator (undefined if none).
template <class Tag>
Tensor gpu_workspace(Tag tag, const kernels::ConvGeometry& geo, kernels::ConvPass pass, Device d) {
  const int64_t n = conv2d_workspace_floats(tag, geo, pass);
  return n > 0 ? Tensor::empty({n}, DType::f32, d) : Tensor();
}

void conv2d_forward_gpu(const kernels::ConvGeometry& s, const Tensor& x, const Tensor& w, const Tensor& b,
                        const Tensor& y) {
  on_gpu(x.device(), [&](auto tag) {
    conv2d_forward_implicit(tag, s, x.data<float>(), w.data<float>(), ptr_or_null<float>(b), y.data<float>());
  });
}

std::vector<Tensor> conv2d_backward_gpu(const kernels::ConvGeometry& s, const Tensor& x, const Tensor& w,
                                        const Tensor& g, const Node& n) {
  const Device d = g.device();
  Tensor dx, dw, db;
  on_gpu(d, [&](auto tag) {
    if (n.needs_grad(0)) {
      dx = Tensor::empty({s.N, s.C, s.H, s.W}, DType::f32, d);
      Tensor ws = gpu_workspace(tag, s, kernels::ConvPass::backward_data, d);
      conv2d_backward_data(tag, s, g.data<float>(), w.data<float>(), dx.data<float>(), ptr_or_null<float>(ws),
                           numel_or_zero(ws));
    }
    if (n.needs_grad(1)) {
      dw = Tensor::empty({s.O, s.C / s.groups, s.kh, s.kw}, DType::f32, d);
      Tensor ws = gpu_workspace(tag, s, kernels::ConvPass::backward_weight, d);
      conv2d_backward_weight(tag, s, x.data<float>(), g.data<float>(), dw.data<float>(), ptr_or_null<float>(ws),
                             numel_or_zero(ws));
    }
    if (n.needs_grad(2)) {
      db = Tensor::empty({s.O}, DType::f32, d);
      conv2d_backward_bias(tag, s, g.data<float>(), db.data<float>());
    }
  });
  return {dx, dw, db};
}

}  // namespace

void set_conv_algorithm(ConvAlgo algo) { g_conv_algo.store(algo); }
ConvAlgo conv_algorithm() { return g_conv_algo.load(); }

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  PW_CHECK(x.defined() && weight.defined(), "conv2d: undefined input or weight");
  PW_CHECK(x.dim() == 4, "conv2d: input must be 4-D [N, C, H, W], got shape ", shape_str(x.shape()));
  PW_CHECK(weight.dim() == 4, "conv2d: weight must be 4-D [O, C/groups, kh, kw], got shape ",
           shape_str(weight.shape()));
  const DType dt = x.dtype();
  PW_CHECK(is_floating(dt), "conv2d: expected a floating-point input, got ", dtype_name(dt));
  PW_CHECK(weight.dtype() == dt, "conv2d: weight is ", dtype_name(weight.dtype()), ", input is ", dtype_name(dt));
  check_same_device("conv2d", x.device(), weight.device());
  if (bias.defined()) check_same_device("conv2d", x.device(), bias.device());
  PW_CHECK(!is_gpu(x.device()) || dt == DType::f32, "conv2d: the ", x.device().str(),
           " device computes in f32 only, got ", dtype_name(dt));
  PW_CHECK(p.stride_h > 0 && p.stride_w > 0, "conv2d: stride must be positive, got (", p.stride_h, ", ", p.stride_w,
           ")");
  PW_CHECK(p.dilation_h > 0 && p.dilation_w > 0, "conv2d: dilation must be positive, got (", p.dilation_h, ", ",
           p.dilation_w, ")");
  PW_CHECK(p.pad_h >= 0 && p.pad_w >= 0, "conv2d: padding must be non-negative, got (", p.pad_h, ", ", p.pad_w, ")");
  PW_CHECK(p.groups > 0, "conv2d: groups must be positive, got ", p.groups);

  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t O = weight.size(0), kh = weight.size(2), kw = weight.size(3);
  PW_CHECK(kh > 0 && kw > 0, "conv2d: kernel size must be positive, got ", kh, "x", kw);
  PW_CHECK(O > 0, "conv2d: weight has no output channels");
  PW_CHECK(C % p.groups == 0, "conv2d: groups=", p.groups, " does not divide the input's ", C, " channels");
  PW_CHECK(O % p.groups == 0, "conv2d: groups=", p.groups, " does not divide the weight's ", O, " output channels");
  PW_CHECK(weight.size(1) * p.groups == C, "conv2d: input has ", C, " channels, weight expects ",
           weight.size(1) * p.groups);
  const int64_t Ho = conv_output_size(H, kh, p.stride_h, p.pad_h, p.dilation_h);
  const int64_t Wo = conv_output_size(W, kw, p.stride_w, p.pad_w, p.dilation_w);
  PW_CHECK(Ho > 0 && Wo > 0, "conv2d: output size would be ", Ho, "x", Wo, " (input ", H, "x", W, ", kernel ", kh, "x",
           kw, ", padding (", p.pad_h, ", ", p.pad_w, "), dilation (", p.dilation_h, ", ", p.dilation_w,
           ")); it must be positive");
  if (bias.defined()) {
    PW_CHECK(bias.dim() == 1 && bias.size(0) == O, "conv2d: bias has shape ", shape_str(bias.shape()), ", expected [",
             O, "]");
    PW_CHECK(bias.dtype() == dt, "conv2d: bias is ", dtype_name(bias.dtype()), ", input is ", dtype_name(dt));
  }

  const kernels::ConvGeometry s{N,  C,          H,          W,       O,       kh,           kw,           Ho,
                                Wo, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w, p.groups};
  const bool direct = use_direct(dt, conv_algorithm());
  Tensor xc = x.detach().contiguous(), wc = weight.detach().contiguous();
  Tensor bc = bias.defined() ? bias.detach().contiguous() : Tensor();
  Tensor y = Tensor::empty({N, O, Ho, Wo}, dt, x.device());
  const bool gpu = is_gpu(x.device());
  if (gpu) {
    conv2d_forward_gpu(s, xc, wc, bc, y);
  } else {
    dispatch_floating(dt, "conv2d", [&](auto tag) {
      using T = decltype(tag);
      const T* b = ptr_or_null<T>(bc);
      if (direct)
        kernels::cpu::conv2d_forward_direct<T>(s, xc.data<T>(), wc.data<T>(), b, y.data<T>());
      else
        kernels::cpu::conv2d_forward_im2col<T>(s, xc.data<T>(), wc.data<T>(), b, y.data<T>());
    });
  }

  // The weight gradient needs x, the data gradient needs w: keep only what will be used.
  Tensor saved_x = weight.requires_grad() ? xc : Tensor();
  Tensor saved_w = x.requires_grad() ? wc : Tensor();
  return record(y, "conv2d", {x, weight, bias}, [s, direct, saved_x, saved_w, dt, gpu](const Tensor& g, const Node& n) {
    if (gpu) return conv2d_backward_gpu(s, saved_x, saved_w, g.contiguous(), n);
    return conv2d_backward(s, direct, dt, saved_x, saved_w, g.contiguous(), n);
  });
}

}  // namespace pw
