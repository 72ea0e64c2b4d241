// Operation codes shared by the CPU kernels and the CUDA kernels (both builds).
#pragma once
#include <cstdint>

namespace pw::kernels {

enum class UnaryOp {
  neg,
  exp,
  log,
  sqrt,
  pow,
  sigmoid,
  tanh,
  relu,
  abs,
  add_scalar,
  mul_scalar,
  rsub_scalar,
  rdiv_scalar,
  sign,
  min_scalar,  // min(v, p), NaN where v is NaN
  le_scalar    // 1 where v <= p, else 0
};

enum class BinaryOp { add, sub, mul, div };

// Element types as the kernels see them (same order as pw::DType).
enum class ElemType : uint8_t { f32 = 0, f64 = 1, i32 = 2 };

// Shape and strides (in elements) of a strided N-d copy, passed to GPU kernels by value.
struct StridedLayout {
  static constexpr int kMaxDims = 8;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t src_strides[kMaxDims] = {};
  int64_t dst_strides[kMaxDims] = {};
};

}  // namespace pw::kernels
