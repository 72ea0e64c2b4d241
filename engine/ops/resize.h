// Spatial resize of [N, C, H, W] images (F.interpolate): nearest and bilinear.
#pragma once
#include "engine/tensor.h"

namespace pw {

enum class ResizeMode { nearest, bilinear };

// x [N, C, H, W] -> [N, C, out_h, out_w] with PyTorch F.interpolate(size=(out_h, out_w)) semantics:
//   nearest:  src = min(floor(dst * (float)in / out), in - 1), in single precision as PyTorch
//             (the legacy 'nearest', not 'nearest-exact'); align_corners must be false.
//   bilinear: align_corners false: src = max((dst + 0.5) * in / out - 0.5, 0);
//             align_corners true:  src = dst * (in - 1) / (out - 1) (0 when out == 1);
//             then the two neighbours floor(src) and floor(src) + 1 (clamped to the edge),
//             weighted by the fractional part. No antialiasing when shrinking.
// The backward scatters each output gradient to its sources with the same weights.
Tensor resize(const Tensor& x, int64_t out_h, int64_t out_w, ResizeMode mode, bool align_corners = false);

}  // namespace pw
