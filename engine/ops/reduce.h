// Reductions: sum, mean, max/argmax over dimensions.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace pw {

Tensor sum(const Tensor& x);  // over everything: a 0-d tensor
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);

struct MaxResult {
  Tensor values;   // differentiable
  Tensor indices;  // i32
};
MaxResult max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);

}  // namespace pw
