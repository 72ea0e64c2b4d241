// Engine-internal: tensors as kernel arguments. Optional tensors (a bias built without one, a
// workspace a pass does not want, a momentum buffer before the first step) reach the kernels as
// null pointers and zero sizes. Include only from .cpp files of the engine.
#pragma once
#include <cstdint>

#include "engine/tensor.h"

namespace pw {

// The data of t as T*, or null when t is undefined.
template <typename T>
T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// t detached and contiguous, or undefined when t is.
inline Tensor contiguous_or_undefined(const Tensor& t) { return t.defined() ? t.detach().contiguous() : Tensor(); }

// The elements of t, or 0 when t is undefined.
inline int64_t numel_or_zero(const Tensor& t) { return t.defined() ? t.numel() : 0; }

}  // namespace pw
