// nn::init: fan computations, gains, and the in-place random fills.
#include "engine/nn/init.h"

#include <cmath>
#include <type_traits>

#include "engine/autograd.h"

namespace pw::nn::init {

namespace {

void check_floating(const Tensor& t, const char* op) {
  PW_CHECK(t.defined(), op, ": undefined tensor");
  PW_CHECK(is_floating(t.dtype()), op, ": expected an f32 or f64 tensor, got ", dtype_name(t.dtype()));
  PW_CHECK(t.device().is_cpu(), op, ": only CPU tensors are supported, got ", t.device().str());
}

// Fills t through the generator. A non-contiguous view (a slice of a weight) is filled through a
// contiguous temporary, so the draws land in logical order either way.
template <class Fill>
void fill_random(const Tensor& t, Fill&& fill) {
  NoGradGuard no_grad;
  Tensor dst = t.is_contiguous() ? t.detach() : Tensor::empty(t.shape(), t.dtype());
  dispatch_floating(t.dtype(), "init", [&](auto tag) {
    using T = decltype(tag);
    fill(dst.template data<T>(), dst.numel());
  });
  if (!t.is_contiguous())
    t.copy_(dst);
  else
    t.bump_version();
}

double fan(const Tensor& t, FanMode mode, const char* op) {
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  int64_t f = mode == FanMode::fan_in ? fan_in : fan_out;
  PW_CHECK(f > 0, op, ": cannot initialize a tensor of shape ", shape_str(t.shape()), " (its fan is 0)");
  return (double)f;
}

}  // namespace

double calculate_gain(Nonlinearity nonlinearity, double param) {
  switch (nonlinearity) {
    case Nonlinearity::linear:
    case Nonlinearity::conv2d:
    case Nonlinearity::sigmoid: return 1.0;
    case Nonlinearity::tanh: return 5.0 / 3.0;
    case Nonlinearity::relu: return std::sqrt(2.0);
    case Nonlinearity::leaky_relu: return std::sqrt(2.0 / (1.0 + param * param));
  }
  return 1.0;
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t) {
  PW_CHECK(t.defined(), "calculate_fan_in_and_fan_out: undefined tensor");
  PW_CHECK(t.dim() >= 2,
           "calculate_fan_in_and_fan_out: needs a tensor of at least 2 dimensions, "
           "got shape ",
           shape_str(t.shape()));
  int64_t receptive = 1;
  for (int64_t d = 2; d < t.dim(); ++d) receptive *= t.shape()[d];
  return {t.shape()[1] * receptive, t.shape()[0] * receptive};
}

Tensor uniform_(Tensor t, double lo, double hi, Generator* gen) {
  check_floating(t, "uniform_");
  PW_CHECK(lo <= hi, "uniform_: lower bound ", lo, " is above upper bound ", hi);
  Generator& g = gen ? *gen : default_generator();
  fill_random(t, [&](auto* p, int64_t n) {
    using T = std::remove_pointer_t<decltype(p)>;
    g.fill_uniform(p, n, T(lo), T(hi));
  });
  return t;
}

Tensor normal_(Tensor t, double mean, double std, Generator* gen) {
  check_floating(t, "normal_");
  PW_CHECK(std >= 0, "normal_: standard deviation must be >= 0, got ", std);
  Generator& g = gen ? *gen : default_generator();
  fill_random(t, [&](auto* p, int64_t n) {
    using T = std::remove_pointer_t<decltype(p)>;
    g.fill_normal(p, n, T(mean), T(std));
  });
  return t;
}

Tensor constant_(Tensor t, double value) {
  check_floating(t, "constant_");
  NoGradGuard no_grad;
  if (t.is_contiguous())
    t.fill_(value);
  else
    t.copy_(Tensor::full(t.shape(), value, t.dtype()));
  return t;
}

Tensor zeros_(Tensor t) { return constant_(std::move(t), 0.0); }
Tensor ones_(Tensor t) { return constant_(std::move(t), 1.0); }

Tensor kaiming_uniform_(Tensor t, double a, FanMode mode, Nonlinearity nonlinearity, Generator* gen) {
  check_floating(t, "kaiming_uniform_");
  double bound = std::sqrt(3.0) * calculate_gain(nonlinearity, a) / std::sqrt(fan(t, mode, "kaiming_uniform_"));
  return uniform_(std::move(t), -bound, bound, gen);
}

Tensor kaiming_normal_(Tensor t, double a, FanMode mode, Nonlinearity nonlinearity, Generator* gen) {
  check_floating(t, "kaiming_normal_");
  double std = calculate_gain(nonlinearity, a) / std::sqrt(fan(t, mode, "kaiming_normal_"));
  return normal_(std::move(t), 0.0, std, gen);
}

Tensor xavier_uniform_(Tensor t, double gain, Generator* gen) {
  check_floating(t, "xavier_uniform_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  PW_CHECK(fan_in + fan_out > 0, "xavier_uniform_: tensor of shape ", shape_str(t.shape()), " has no fan");
  double bound = gain * std::sqrt(6.0 / double(fan_in + fan_out));
  return uniform_(std::move(t), -bound, bound, gen);
}

Tensor xavier_normal_(Tensor t, double gain, Generator* gen) {
  check_floating(t, "xavier_normal_");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  PW_CHECK(fan_in + fan_out > 0, "xavier_normal_: tensor of shape ", shape_str(t.shape()), " has no fan");
  double std = gain * std::sqrt(2.0 / double(fan_in + fan_out));
  return normal_(std::move(t), 0.0, std, gen);
}

}  // namespace pw::nn::init
