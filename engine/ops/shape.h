// Shape ops built from copies into slices: concat, stack, split, pad.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace pw {

// Joins tensors of one dtype along an existing dimension dim (negative counts from the end);
// every other dimension must match. Any dtype (i32 too); gradients go to the floating inputs.
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
// Joins tensors of identical shape along a new dimension dim (in [-(ndim+1), ndim]).
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);
// Chunks of split_size along dim (the last may be smaller); differentiable views of x.
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim);
// PyTorch F.pad order: pads = {left, right} for the last dim, then {top, bottom} for the one
// before, ...; an even count, at most two per dimension. New elements hold `value`. Negative
// pads crop; every padded dimension must keep at least one element.
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value = 0.0);

}  // namespace pw
