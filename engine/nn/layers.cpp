// Layer constructors (argument checks, parameter registration, default init), forwards and
// printouts.
#include "engine/nn/layers.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "engine/dist/sync_batch_norm.h"
#include "engine/nn/init.h"
#include "engine/ops/dropout.h"
#include "engine/ops/linalg.h"
#include "engine/ops/lrn.h"
#include "engine/ops/norm.h"

namespace pw::nn {

namespace {

// A double as Python's repr prints it (0.0001, 1e-05, 0.75, 1.0), for PyTorch-like printouts.
std::string py_float(double v) {
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eni") == std::string::npos) s += ".0";
  return s;
}

const char* py_bool(bool b) { return b ? "True" : "False"; }

// "(11, 11)": PyTorch prints Conv2d's sizes as tuples.
std::string tuple_str(int64_t h, int64_t w) { return "(" + std::to_string(h) + ", " + std::to_string(w) + ")"; }
// "3", or "(3, 2)" when the axes differ: PyTorch prints pooling sizes as given.
std::string size_str(int64_t h, int64_t w) { return h == w ? std::to_string(h) : tuple_str(h, w); }

// PyTorch's default init of a weight and its bias: kaiming_uniform_(W, a = sqrt(5)) and
// b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn weight first.
void default_init(const Tensor& weight, const Tensor& bias, Generator* gen) {
  init::kaiming_uniform_(weight, std::sqrt(5.0), init::FanMode::fan_in, init::Nonlinearity::leaky_relu, gen);
  if (bias.defined()) {
    double bound = 1.0 / std::sqrt((double)init::calculate_fan_in_and_fan_out(weight).first);
    init::uniform_(bias, -bound, bound, gen);
  }
}

void check_pool(const Pool2dParams& p, const char* who) {
  PW_CHECK(p.kernel_h > 0 && p.kernel_w > 0, who, ": kernel size must be positive, got ",
           tuple_str(p.kernel_h, p.kernel_w));
  PW_CHECK(p.stride_h > 0 && p.stride_w > 0, who, ": stride must be positive, got ", tuple_str(p.stride_h, p.stride_w));
  PW_CHECK(p.pad_h >= 0 && p.pad_w >= 0, who, ": padding must be >= 0, got ", tuple_str(p.pad_h, p.pad_w));
  PW_CHECK(p.dilation_h > 0 && p.dilation_w > 0, who, ": dilation must be positive, got ",
           tuple_str(p.dilation_h, p.dilation_w));
}

Pool2dParams square_pool(int64_t kernel, std::optional<int64_t> stride, int64_t padding, bool ceil_mode) {
  Pool2dParams p{};
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride.value_or(kernel);
  p.pad_h = p.pad_w = padding;
  p.ceil_mode = ceil_mode;
  return p;
}

}  // namespace

// ---------------------------------------------------------------- Linear

Linear::Linear(int64_t in, int64_t out, bool with_bias) : in_features(in), out_features(out) {
  PW_CHECK(in > 0 && out > 0, "Linear: in_features and out_features must be positive, got ", in, " and ", out);
  weight = register_parameter("weight", Tensor::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", Tensor::empty({out}));
  reset_parameters();
}

void Linear::reset_parameters(Generator* gen) { default_init(weight, bias, gen); }

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) + ", out_features=" + std::to_string(out_features) +
         ", bias=" + py_bool(bias.defined());
}

// ---------------------------------------------------------------- Conv2d

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation,
               int64_t groups, bool with_bias)
    : Conv2d(in, out, kernel, kernel, Conv2dParams{stride, stride, padding, padding, dilation, dilation, groups},
             with_bias) {}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kh, int64_t kw, const Conv2dParams& p, bool with_bias)
    : params(p), in_channels(in), out_channels(out), kernel_h(kh), kernel_w(kw) {
  PW_CHECK(in > 0 && out > 0, "Conv2d: in_channels and out_channels must be positive, got ", in, " and ", out);
  PW_CHECK(kh > 0 && kw > 0, "Conv2d: kernel size must be positive, got ", tuple_str(kh, kw));
  PW_CHECK(p.stride_h > 0 && p.stride_w > 0, "Conv2d: stride must be positive, got ",
           tuple_str(p.stride_h, p.stride_w));
  PW_CHECK(p.pad_h >= 0 && p.pad_w >= 0, "Conv2d: padding must be >= 0, got ", tuple_str(p.pad_h, p.pad_w));
  PW_CHECK(p.dilation_h > 0 && p.dilation_w > 0, "Conv2d: dilation must be positive, got ",
           tuple_str(p.dilation_h, p.dilation_w));
  PW_CHECK(p.groups > 0, "Conv2d: groups must be positive, got ", p.groups);
  PW_CHECK(in % p.groups == 0 && out % p.groups == 0, "Conv2d: in_channels ", in, " and out_channels ", out,
           " must both be divisible by groups ", p.groups);
  weight = register_parameter("weight", Tensor::empty({out, in / p.groups, kh, kw}));
  if (with_bias) bias = register_parameter("bias", Tensor::empty({out}));
  reset_parameters();
}

void Conv2d::reset_parameters(Generator* gen) { default_init(weight, bias, gen); }

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, params); }

std::string Conv2d::extra_repr() const {
  std::string s = std::to_string(in_channels) + ", " + std::to_string(out_channels) +
                  ", kernel_size=" + tuple_str(kernel_h, kernel_w) +
                  ", stride=" + tuple_str(params.stride_h, params.stride_w);
  if (params.pad_h != 0 || params.pad_w != 0) s += ", padding=" + tuple_str(params.pad_h, params.pad_w);
  if (params.dilation_h != 1 || params.dilation_w != 1)
    s += ", dilation=" + tuple_str(params.dilation_h, params.dilation_w);
  if (params.groups != 1) s += ", groups=" + std::to_string(params.groups);
  if (!bias.defined()) s += ", bias=False";
  return s;
}

// ---------------------------------------------------------------- pooling

MaxPool2d::MaxPool2d(int64_t kernel, std::optional<int64_t> stride, int64_t padding, bool ceil_mode)
    : MaxPool2d(square_pool(kernel, stride, padding, ceil_mode)) {}

MaxPool2d::MaxPool2d(const Pool2dParams& p) : params(p) { check_pool(p, "MaxPool2d"); }

Tensor MaxPool2d::forward(const Tensor& x) { return max_pool2d(x, params); }

std::string MaxPool2d::extra_repr() const {
  const Pool2dParams& p = params;
  return "kernel_size=" + size_str(p.kernel_h, p.kernel_w) + ", stride=" + size_str(p.stride_h, p.stride_w) +
         ", padding=" + size_str(p.pad_h, p.pad_w) + ", dilation=" + size_str(p.dilation_h, p.dilation_w) +
         ", ceil_mode=" + py_bool(p.ceil_mode);
}

AvgPool2d::AvgPool2d(int64_t kernel, std::optional<int64_t> stride, int64_t padding, bool ceil_mode,
                     bool count_include_pad)
    : AvgPool2d([&] {
        Pool2dParams p = square_pool(kernel, stride, padding, ceil_mode);
        p.count_include_pad = count_include_pad;
        return p;
      }()) {}

AvgPool2d::AvgPool2d(const Pool2dParams& p) : params(p) {
  check_pool(p, "AvgPool2d");
  PW_CHECK(p.dilation_h == 1 && p.dilation_w == 1, "AvgPool2d: dilation must be 1, got ",
           tuple_str(p.dilation_h, p.dilation_w));
}

Tensor AvgPool2d::forward(const Tensor& x) { return avg_pool2d(x, params); }

std::string AvgPool2d::extra_repr() const {
  const Pool2dParams& p = params;
  std::string s = "kernel_size=" + size_str(p.kernel_h, p.kernel_w) + ", stride=" + size_str(p.stride_h, p.stride_w) +
                  ", padding=" + size_str(p.pad_h, p.pad_w);
  if (p.ceil_mode) s += ", ceil_mode=True";
  if (!p.count_include_pad) s += ", count_include_pad=False";
  return s;
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(int64_t out_h, int64_t out_w) : out_h(out_h), out_w(out_w) {
  PW_CHECK(out_h > 0 && out_w > 0, "AdaptiveAvgPool2d: output size must be positive, got ", tuple_str(out_h, out_w));
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return adaptive_avg_pool2d(x, out_h, out_w); }

std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + tuple_str(out_h, out_w); }

// ---------------------------------------------------------------- normalization, dropout

LocalResponseNorm::LocalResponseNorm(int64_t size, double alpha, double beta, double k)
    : size(size), alpha(alpha), beta(beta), k(k) {
  PW_CHECK(size > 0, "LocalResponseNorm: size must be positive, got ", size);
}

Tensor LocalResponseNorm::forward(const Tensor& x) { return local_response_norm(x, size, alpha, beta, k); }

std::string LocalResponseNorm::extra_repr() const {
  return std::to_string(size) + ", alpha=" + py_float(alpha) + ", beta=" + py_float(beta) + ", k=" + py_float(k);
}

Dropout::Dropout(double p, Generator* gen) : p(p), gen(gen) {
  PW_CHECK(p >= 0 && p < 1, "Dropout: probability must be in [0, 1), got ", p);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), gen); }

std::string Dropout::extra_repr() const { return "p=" + py_float(p); }

BatchNorm::BatchNorm(int64_t num_features, double eps, double momentum, bool affine, bool track)
    : num_features(num_features), eps(eps), momentum(momentum), affine(affine), track_running_stats(track) {
  PW_CHECK(num_features > 0, "BatchNorm: num_features must be positive, got ", num_features);
  PW_CHECK(eps > 0, "BatchNorm: eps must be positive, got ", eps);
  PW_CHECK(momentum >= 0 && momentum <= 1, "BatchNorm: momentum must be in [0, 1], got ", momentum);
  if (affine) {
    weight = register_parameter("weight", Tensor::empty({num_features}));
    bias = register_parameter("bias", Tensor::empty({num_features}));
  }
  if (track) {
    running_mean = register_buffer("running_mean", Tensor::empty({num_features}));
    running_var = register_buffer("running_var", Tensor::empty({num_features}));
  }
  reset_parameters();
  reset_running_stats();
}

void BatchNorm::reset_parameters() {
  if (weight.defined()) init::ones_(weight);
  if (bias.defined()) init::zeros_(bias);
}

void BatchNorm::reset_running_stats() {
  if (running_mean.defined()) init::zeros_(running_mean);
  if (running_var.defined()) init::ones_(running_var);
}

Tensor BatchNorm::forward(const Tensor& x) {
  check_input(x);
  PW_CHECK(x.shape()[1] == num_features, type_name(), ": input has ", x.shape()[1], " channels, the layer expects ",
           num_features);
  // Without running statistics there is nothing to use in eval mode, so the batch is used.
  const bool use_batch = is_training() || !track_running_stats;
  // Data-parallel --sync-batch-norm: statistics over every rank's rows (engine/dist).
  if (is_training())
    if (const dist::SyncBatchNormScope* sync = dist::SyncBatchNormScope::current())
      return dist::sync_batch_norm(x, running_mean, running_var, weight, bias, momentum, eps, *sync);
  return batch_norm(x, running_mean, running_var, weight, bias, use_batch, momentum, eps);
}

std::string BatchNorm::extra_repr() const {
  return std::to_string(num_features) + ", eps=" + py_float(eps) + ", momentum=" + py_float(momentum) +
         ", affine=" + py_bool(affine) + ", track_running_stats=" + py_bool(track_running_stats);
}

void BatchNorm1d::check_input(const Tensor& x) const {
  PW_CHECK(x.defined(), "BatchNorm1d: undefined input");
  PW_CHECK(x.dim() == 2 || x.dim() == 3, "BatchNorm1d: expected a 2-D [N, C] or 3-D [N, C, L] input, got shape ",
           shape_str(x.shape()));
}

void BatchNorm2d::check_input(const Tensor& x) const {
  PW_CHECK(x.defined(), "BatchNorm2d: undefined input");
  PW_CHECK(x.dim() == 4, "BatchNorm2d: expected a 4-D [N, C, H, W] input, got shape ", shape_str(x.shape()));
}

// ---------------------------------------------------------------- activations, reshapes

Tensor ReLU::forward(const Tensor& x) { return rule ? relu(x, *rule) : relu(x); }

std::string ReLU::extra_repr() const { return rule ? std::string("rule=") + relu_rule_name(*rule) : std::string(); }

std::string Flatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_dim) + ", end_dim=" + std::to_string(end_dim);
}

}  // namespace pw::nn
