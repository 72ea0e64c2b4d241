// nn::init: in-place initializers with PyTorch's formulas (torch.nn.init), drawing from a
// pw::Generator (the process default unless one is given), so a model is reproducible after
// pw::manual_seed. All of them write under NoGradGuard into the tensor's own storage and return
// the tensor.
#pragma once
#include <cstdint>
#include <utility>

#include "engine/tensor.h"
#include "engine/util/rng.h"

namespace pw::nn::init {

enum class FanMode { fan_in, fan_out };
enum class Nonlinearity { linear, conv2d, sigmoid, tanh, relu, leaky_relu };

// PyTorch's calculate_gain: 1 for linear/conv2d/sigmoid, 5/3 for tanh, sqrt(2) for relu,
// sqrt(2 / (1 + a^2)) for leaky_relu with negative slope a.
double calculate_gain(Nonlinearity nonlinearity, double param = 0.01);

// {fan_in, fan_out} of a weight of at least 2 dimensions: [out, in, k...] gives
// fan_in = in * prod(k), fan_out = out * prod(k).
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& t);

Tensor uniform_(Tensor t, double lo = 0, double hi = 1, Generator* gen = nullptr);
Tensor normal_(Tensor t, double mean = 0, double std = 1, Generator* gen = nullptr);
Tensor constant_(Tensor t, double value);
Tensor zeros_(Tensor t);
Tensor ones_(Tensor t);

// U(-b, b) with b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a). The default
// nonlinearity is leaky_relu as in PyTorch, so a = 0 gives the ReLU gain sqrt(2) and
// kaiming_uniform_(w, sqrt(5)) is PyTorch's default Linear/Conv2d weight init,
// b = sqrt(6 / ((1 + a^2) fan_in)).
Tensor kaiming_uniform_(Tensor t, double a = 0, FanMode mode = FanMode::fan_in,
                        Nonlinearity nonlinearity = Nonlinearity::leaky_relu, Generator* gen = nullptr);
// N(0, std^2) with std = gain / sqrt(fan).
Tensor kaiming_normal_(Tensor t, double a = 0, FanMode mode = FanMode::fan_in,
                       Nonlinearity nonlinearity = Nonlinearity::leaky_relu, Generator* gen = nullptr);
// U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).
Tensor xavier_uniform_(Tensor t, double gain = 1, Generator* gen = nullptr);
// N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).
Tensor xavier_normal_(Tensor t, double gain = 1, Generator* gen = nullptr);

}  // namespace pw::nn::init
