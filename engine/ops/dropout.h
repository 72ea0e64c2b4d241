// Inverted dropout, with a keep mask that every device can reproduce from the generator state.
#pragma once
#include "engine/tensor.h"

namespace pw {

class Generator;

// In training with 0 < p < 1: y[i] = keep[i] ? x[i] / (1 - p) : 0. In eval, or with p == 0,
// x itself is returned and the generator is not touched. p outside [0, 1) is an error.
//
// The mask rule (what a CUDA kernel must reproduce). Let g = gen or default_generator(),
// n = x.numel(), and i the row-major (logical) index of an element of x. The op calls
// g.fill_uniform(float buffer, n, 0, 1) once, so with `start` = g's offset rounded up to a
// multiple of 4 (see engine/util/rng.h):
//   u[i]    = philox::uint_to_uniform01(philox_u32(seed, stream, start + i))   (a float in [0, 1))
//   keep[i] = (double)u[i] >= p                                               (compared in double)
// and the generator's offset then advances to start + n rounded up to a multiple of 4. The
// same (seed, stream, offset) therefore gives the same mask for any dtype of x, on any device.
// The gradient is dy * keep / (1 - p), with the mask of the forward call.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

}  // namespace pw
