// conv2d: argument checks (shared by every device), the choice between the direct, im2col,
// Winograd and implicit-GEMM CPU kernels or the GPU kernels (kernels/cuda/conv.cu, f32 only), and
// backward (data, weight, bias) through the same kernel family as the forward pass.
#include "engine/ops/conv.h"

#include <atomic>
#include <type_traits>

#include "engine/autograd.h"
#include "engine/device/gpu.h"
#include "engine/ops.h"
#include "engine/ops/kernel_args.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/conv_implicit.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/winograd.h"

namespace pw {

namespace {

std::atomic<ConvAlgo> g_conv_algo{ConvAlgo::automatic};

// How the CPU computes one convolution, fixed when its forward pass runs.
struct CpuPlan {
  bool direct = false;    // the reference loops for every pass
  bool winograd = false;  // f32: Winograd for forward and backward-data, im2col for the weight
  bool implicit = false;  // f32: the implicit GEMM forward and weight gradient, im2col for the data
};

// Winograd F(4x4, 3x3) (kernels/cpu/winograd.h) where it was measured faster than im2col:
// 3x3 stride-1 layers with at least 64 input and 64 output channels and at least 32 output
// tiles of 4x4 over the batch (the width of its 36 GEMMs; fewer, and re-reading the 36/9
// times larger transformed weights outweighs the 4x fewer multiplies).
//
// Measured at OMP_NUM_THREADS=1 on CPU time (the 2-core machine was shared and loaded, wall
// times 2-3x the CPU times), pad 1, ms im2col / ms Winograd (ratio), forward then
// backward-data:
//   VGG-11 at 64 px, batch 8 (bench_conv BM_vgg_*, medians of 3 interleaved repetitions):
//     conv2  64->128 32x32: 19.3 / 7.89 (2.45x),  17.0 / 9.47 (1.80x)
//     conv3 128->256 16x16: 16.8 / 8.07 (2.08x),  16.0 / 8.74 (1.83x)
//     conv4 256->256 16x16: 34.5 / 15.6 (2.21x),  32.1 / 15.3 (2.10x)
//     conv5 256->512   8x8: 19.8 / 11.4 (1.74x),  19.6 / 12.2 (1.61x)
//     conv6 512->512   8x8: 39.0 / 24.4 (1.60x),  39.5 / 27.8 (1.42x)
//     conv7 512->512   4x4: 16.1 / 19.1 (0.84x),  16.6 / 21.1 (0.79x)  8 tiles: im2col
//     conv1   3->64  64x64: 2.24 / 4.47 (0.50x),  2.74 / 9.88 (0.28x)  3 channels: im2col
//   with a program that alternates the two kernels (6 runs each, the first dropped, medians):
//   the tile count: 512->512 8x8 batch 2 (8 tiles) 0.53x, 0.47x; 4x4 batch 32 (32 tiles) 2.26x,
//     2.23x; 256->256 16x16 batch 1 (16 tiles) 1.01x, 0.94x; 64->64 56x56 batch 1 2.34x, 1.74x;
//   the channels: 32->64 14x14 batch 64 (fmnist-cnn's and alexnet-small's conv2) 0.89x, 0.75x;
//     16->64 32x32 batch 8 1.15x, 0.72x; 8->64 0.81x, 0.44x; 64->16 1.81x, 1.48x; 32->32
//     1.70x, 1.20x; alexnet-small's 7x7 layers at batch 64: 64->96 1.40x, 1.26x; 96->96
//     1.51x, 1.53x; 96->64 1.42x, 1.89x (batch 8: 64->96 1.47x, 1.33x).
// The rule leaves some measured wins to im2col (fewer than 64 channels on one side) rather
// than fit the losses at 16 and 32 channels with a finer rule.
bool winograd_pays(const kernels::ConvGeometry& s) {
  const int64_t tiles = s.N * ((s.Ho + 3) / 4) * ((s.Wo + 3) / 4);
  return kernels::cpu::winograd_supported(s) && s.C >= 64 && s.O >= 64 && tiles >= 32;
}

// The implicit-GEMM forward pass (kernels/cpu/conv_implicit.h) where it was measured faster than
// im2col: kernels of 5x5 or more with at least 64 output channels (a full block of AVX-512's
// tiles). Measured with a scratch program alternating the two kernels, 2 threads, ms im2col /
// ms implicit (AVX-512; the AVX2 build's tiles were not measured against im2col):
//   AlexNet's conv1   3->64  11x11/4 224 px: batch 1 1.33 / 0.86, batch 16 20.6 / 13.6
//   AlexNet's conv2  64->192 5x5 27x27:      batch 1 3.13 / 3.03, batch 16 40.6 / 35.5
//   fmnist-cnn's conv2 32->64 5x5 14x14:     batch 64 10.7 / 6.98
//   fmnist-cnn's conv1  1->32 5x5 28x28:     batch 64 0.92 / 1.82 (half of each tile idle)
//   AlexNet's conv3 192->384 3x3 13x13:      batch 1 1.55 / 2.62, batch 16 20.4 / 25.4
// and on 3x3 kernels no better than im2col (one thread, batch 4: 10.2 / 11.4). The weight
// gradient, where the forward pass runs implicit (two runs each):
//   AlexNet's conv1 batch 1 0.97 / 0.61, batch 16 17.1 / 10.0 and 20.4 / 9.4;
//   conv2 batch 16 32.4 / 27.4 and 30.1 / 25.8; fmnist-cnn's conv2 batch 64 8.7 / 5.5 and 8.2 / 5.2.
bool implicit_pays(const kernels::ConvGeometry& s) {
  return kernels::cpu::implicit_conv_supported(s) && s.O >= 64 && s.kh * s.kw >= 25;
}

CpuPlan cpu_plan(DType dt, ConvAlgo algo, const kernels::ConvGeometry& s) {
  if (algo == ConvAlgo::direct || (algo == ConvAlgo::automatic && dt != DType::f32)) return {true, false, false};
  if (dt != DType::f32 || algo == ConvAlgo::im2col) return {false, false, false};
  if (algo == ConvAlgo::implicit) return {false, false, kernels::cpu::implicit_conv_supported(s)};
  const bool supported = kernels::cpu::winograd_supported(s);
  if (algo == ConvAlgo::winograd) return {false, supported, false};
  const bool winograd = supported && winograd_pays(s);
  return {false, winograd, !winograd && implicit_pays(s)};
}

// The kernels for T other than the reference: Winograd (forward and data gradient) or the implicit
// GEMM (forward and weight gradient) where planned, both f32 only, else im2col.
template <typename T>
void forward_fast(const kernels::ConvGeometry& s, CpuPlan plan, const T* x, const T* w,
                  const kernels::cpu::ConvEpilogue<T>& ep, T* y) {
  if constexpr (std::is_same_v<T, float>) {
    if (plan.winograd) return kernels::cpu::conv2d_forward_winograd(s, x, w, ep, y);
    if (plan.implicit) return kernels::cpu::conv2d_forward_implicit(s, x, w, ep, y);
  }
  kernels::cpu::conv2d_forward_im2col<T>(s, x, w, ep, y);
}
template <typename T>
void backward_data_fast(const kernels::ConvGeometry& s, bool winograd, const T* dy, const T* w, T* dx) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd) return kernels::cpu::conv2d_backward_data_winograd(s, dy, w, dx);
  }
  kernels::cpu::conv2d_backward_data_im2col<T>(s, dy, w, dx);
}

template <typename T>
void backward_weight_fast(const kernels::ConvGeometry& s, CpuPlan plan, const T* x, const T* dy, T* dw) {
  if constexpr (std::is_same_v<T, float>) {
    if (plan.implicit) return kernels::cpu::conv2d_backward_weight_implicit(s, x, dy, dw);
  }
  kernels::cpu::conv2d_backward_weight_im2col<T>(s, x, dy, dw);
}

// floor((in + 2*pad - dilation*(k-1) - 1) / stride) + 1, or <= 0 when the dilated kernel does
// not fit in the padded input.
int64_t conv_output_size(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dilation) {
  const int64_t span = in + 2 * pad - dilation * (k - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

// The gradients for (x, weight, bias) from the contiguous upstream gradient g, each only when
// the node needs it, by the same kernel family as the forward pass.
std::vector<Tensor> conv2d_backward(const kernels::ConvGeometry& s, CpuPlan plan, DType dt, const Tensor& x,
                                    const Tensor& w, const Tensor& g, const Node& n) {
  namespace cpu = kernels::cpu;
  Tensor dx, dw, db;
  dispatch_floating(dt, "conv2d_backward", [&](auto tag) {
    using T = decltype(tag);
    if (n.needs_grad(0)) {
      dx = Tensor::empty({s.N, s.C, s.H, s.W}, dt, g.device());
      if (plan.direct)
        cpu::conv2d_backward_data_direct<T>(s, g.data<T>(), w.data<T>(), dx.data<T>());
      else
        backward_data_fast<T>(s, plan.winograd, g.data<T>(), w.data<T>(), dx.data<T>());
    }
    if (n.needs_grad(1)) {
      dw = Tensor::empty({s.O, s.C / s.groups, s.kh, s.kw}, dt, g.device());
      if (plan.direct)
        cpu::conv2d_backward_weight_direct<T>(s, x.data<T>(), g.data<T>(), dw.data<T>());
      else
        backward_weight_fast<T>(s, plan, x.data<T>(), g.data<T>(), dw.data<T>());
    }
    if (n.needs_grad(2)) {
      db = Tensor::empty({s.O}, dt, g.device());
      cpu::conv2d_backward_bias<T>(s, g.data<T>(), db.data<T>());
    }
  });
  return {dx, dw, db};
}

// ---- the GPU devices (kernels/cuda/conv.cu), f32 only: the forward pass and the data gradient
// by implicit GEMM (their K-slices' partial tiles in a workspace when the plan splits K), the
// weight gradient by im2col + the GPU SGEMM ----

// The scratch memory a pass wants, from the device's caching allocator (undefined if none).
template <class Tag>
Tensor gpu_workspace(Tag tag, const kernels::ConvGeometry& geo, kernels::ConvPass pass, Device d) {
  const int64_t n = conv2d_workspace_floats(tag, geo, pass);
  return n > 0 ? Tensor::empty({n}, DType::f32, d) : Tensor();
}

void conv2d_forward_gpu(const kernels::ConvGeometry& s, const Tensor& x, const Tensor& w, const Tensor& b,
                        const Tensor& y, const kernels::ConvPostOps& post = {}) {
  on_gpu(x.device(), [&](auto tag) {
    const Tensor ws = gpu_workspace(tag, s, kernels::ConvPass::forward, x.device());
    conv2d_forward_implicit(tag, s, x.data<float>(), w.data<float>(), ptr_or_null<float>(b), y.data<float>(),
                            ptr_or_null<float>(ws), numel_or_zero(ws), post);
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
      const Tensor ws = gpu_workspace(tag, s, kernels::ConvPass::backward_bias, d);
      conv2d_backward_bias(tag, s, g.data<float>(), db.data<float>(), ptr_or_null<float>(ws), numel_or_zero(ws));
    }
  });
  return {dx, dw, db};
}

// The arguments' checks (errors name conv2d) and the geometry they give.
kernels::ConvGeometry checked_geometry(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                       const Conv2dParams& p) {
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

  return kernels::ConvGeometry{N,  C,          H,          W,       O,       kh,           kw,           Ho,
                               Wo, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w, p.groups};
}

// The CPU forward pass of the plan with the epilogue ep (kernels/cpu/conv_epilogue.h).
template <typename T>
void forward_cpu(const kernels::ConvGeometry& s, CpuPlan plan, const Tensor& xc, const Tensor& wc,
                 const kernels::cpu::ConvEpilogue<T>& ep, const Tensor& y) {
  if (plan.direct)
    kernels::cpu::conv2d_forward_direct<T>(s, xc.data<T>(), wc.data<T>(), ep, y.data<T>());
  else
    forward_fast<T>(s, plan, xc.data<T>(), wc.data<T>(), ep, y.data<T>());
}

}  // namespace

void set_conv_algorithm(ConvAlgo algo) { g_conv_algo.store(algo); }
ConvAlgo conv_algorithm() { return g_conv_algo.load(); }

ConvAlgo parse_conv_algorithm(const std::string& name) {
  if (name == "automatic") return ConvAlgo::automatic;
  if (name == "direct") return ConvAlgo::direct;
  if (name == "im2col") return ConvAlgo::im2col;
  if (name == "winograd") return ConvAlgo::winograd;
  if (name == "implicit") return ConvAlgo::implicit;
  throw Error("conv algorithm: expected automatic, direct, im2col, winograd or implicit, got '" + name + "'");
}

namespace {
// The automatic plan for an f32 convolution of these sizes (the input's own size does not enter it).
CpuPlan automatic_plan(int64_t N, int64_t C, int64_t O, int64_t kh, int64_t kw, int64_t Ho, int64_t Wo,
                       const Conv2dParams& p) {
  const kernels::ConvGeometry s{N,  C,          0,          0,       O,       kh,           kw,           Ho,
                                Wo, p.stride_h, p.stride_w, p.pad_h, p.pad_w, p.dilation_h, p.dilation_w, p.groups};
  return cpu_plan(DType::f32, ConvAlgo::automatic, s);
}
}  // namespace

bool conv2d_uses_winograd(int64_t N, int64_t C, int64_t O, int64_t kh, int64_t kw, int64_t Ho, int64_t Wo,
                          const Conv2dParams& p) {
  return automatic_plan(N, C, O, kh, kw, Ho, Wo, p).winograd;
}

bool conv2d_uses_implicit_gemm(int64_t N, int64_t C, int64_t O, int64_t kh, int64_t kw, int64_t Ho, int64_t Wo,
                               const Conv2dParams& p) {
  return automatic_plan(N, C, O, kh, kw, Ho, Wo, p).implicit;
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p) {
  const kernels::ConvGeometry s = checked_geometry(x, weight, bias, p);
  const DType dt = x.dtype();
  const CpuPlan plan = cpu_plan(dt, conv_algorithm(), s);
  Tensor xc = x.detach().contiguous(), wc = weight.detach().contiguous();
  Tensor bc = contiguous_or_undefined(bias);
  Tensor y = Tensor::empty({s.N, s.O, s.Ho, s.Wo}, dt, x.device());
  const bool gpu = is_gpu(x.device());
  if (gpu) {
    conv2d_forward_gpu(s, xc, wc, bc, y);
  } else {
    dispatch_floating(dt, "conv2d", [&](auto tag) {
      using T = decltype(tag);
      forward_cpu<T>(s, plan, xc, wc, {ptr_or_null<T>(bc)}, y);
    });
  }

  // The weight gradient needs x, the data gradient needs w: keep only what will be used.
  Tensor saved_x = weight.requires_grad() ? xc : Tensor();
  Tensor saved_w = x.requires_grad() ? wc : Tensor();
  return record(y, "conv2d", {x, weight, bias}, [s, plan, saved_x, saved_w, dt, gpu](const Tensor& g, const Node& n) {
    if (gpu) return conv2d_backward_gpu(s, saved_x, saved_w, g.contiguous(), n);
    return conv2d_backward(s, plan, dt, saved_x, saved_w, g.contiguous(), n);
  });
}

namespace {

// The batch norm's tensors: [O], the input's dtype and device, the statistics given.
void check_batch_norm(const BatchNormInference& bn, int64_t O, DType dt, Device d) {
  const Tensor stats[] = {bn.running_mean, bn.running_var, bn.weight, bn.bias};
  const char* names[] = {"running_mean", "running_var", "weight", "bias"};
  for (int i = 0; i < 4; ++i) {
    if (!stats[i].defined()) continue;
    PW_CHECK(stats[i].dim() == 1 && stats[i].size(0) == O, "conv2d_inference: batch norm ", names[i], " has shape ",
             shape_str(stats[i].shape()), ", expected [", O, "]");
    PW_CHECK(stats[i].dtype() == dt, "conv2d_inference: batch norm ", names[i], " is ", dtype_name(stats[i].dtype()),
             ", the input is ", dtype_name(dt));
    check_same_device("conv2d_inference", d, stats[i].device());
  }
  PW_CHECK(bn.running_mean.defined() && bn.running_var.defined(),
           "conv2d_inference: the batch norm needs running_mean and running_var");
  PW_CHECK(bn.eps >= 0, "conv2d_inference: batch norm eps must be >= 0, got ", bn.eps);
}

// The GPU devices: the batch norm and ReLU in the implicit GEMM's store (ConvPostOps).
Tensor conv2d_inference_gpu(const kernels::ConvGeometry& s, const Tensor& x, const Tensor& weight, const Tensor& bias,
                            const BatchNormInference* bn, bool relu) {
  auto c = contiguous_or_undefined;
  const Tensor mean = bn ? c(bn->running_mean) : Tensor(), var = bn ? c(bn->running_var) : Tensor();
  const Tensor bn_w = bn ? c(bn->weight) : Tensor(), bn_b = bn ? c(bn->bias) : Tensor();
  const kernels::ConvPostOps post{ptr_or_null<float>(mean), ptr_or_null<float>(var), ptr_or_null<float>(bn_w),
                                  ptr_or_null<float>(bn_b), bn ? bn->eps : 0.0,      relu};
  Tensor y = Tensor::empty({s.N, s.O, s.Ho, s.Wo}, DType::f32, x.device());
  conv2d_forward_gpu(s, c(x), c(weight), c(bias), y, post);
  return y;
}

// The folded batch norm's scale (first O values) and shift (next O), on the cpu.
Tensor folded_batch_norm(const BatchNormInference& bn, int64_t O, DType dt) {
  Tensor folded = Tensor::empty({2 * O}, dt);
  dispatch_floating(dt, "conv2d_inference", [&](auto tag) {
    using T = decltype(tag);
    auto c = contiguous_or_undefined;
    const Tensor m = c(bn.running_mean), v = c(bn.running_var), w = c(bn.weight), b = c(bn.bias);
    kernels::cpu::batch_norm_fold<T>(m.data<T>(), v.data<T>(), ptr_or_null<T>(w), ptr_or_null<T>(b), O, bn.eps,
                                     folded.data<T>(), folded.data<T>() + O);
  });
  return folded;
}

}  // namespace

Tensor conv2d_inference(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dParams& p,
                        const BatchNormInference* bn, bool relu) {
  std::vector<Tensor> inputs{x, weight, bias};
  if (bn) inputs.insert(inputs.end(), {bn->weight, bn->bias});
  PW_CHECK(!GradMode::enabled() || !any_requires_grad(inputs),
           "conv2d_inference: records no graph, but grad mode is on and an input requires grad (run conv2d, "
           "batch_norm and relu to differentiate, or turn grad mode off)");
  const kernels::ConvGeometry s = checked_geometry(x, weight, bias, p);
  const DType dt = x.dtype();
  if (bn) check_batch_norm(*bn, s.O, dt, x.device());
  if (is_gpu(x.device()))
    return record(conv2d_inference_gpu(s, x, weight, bias, bn, relu), "conv2d_inference", inputs, nullptr);
  const Tensor folded = bn ? folded_batch_norm(*bn, s.O, dt) : Tensor();
  const Tensor xc = x.detach().contiguous(), wc = weight.detach().contiguous();
  const Tensor bc = contiguous_or_undefined(bias);
  Tensor y = Tensor::empty({s.N, s.O, s.Ho, s.Wo}, dt);
  dispatch_floating(dt, "conv2d_inference", [&](auto tag) {
    using T = decltype(tag);
    const T* scale = folded.defined() ? folded.data<T>() : nullptr;
    forward_cpu<T>(s, cpu_plan(dt, conv_algorithm(), s), xc, wc,
                   {ptr_or_null<T>(bc), scale, scale ? scale + s.O : nullptr, relu}, y);
  });
  return record(y, "conv2d_inference", inputs, nullptr);
}

}  // namespace pw
