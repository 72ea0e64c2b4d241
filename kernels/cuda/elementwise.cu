// Elementwise kernels: unary maps, broadcasting binary ops, ReLU backward rules.
// Grid-stride loops over the flat output; memory-bound, so the target is DRAM bandwidth.
// The op code is a template parameter, so the inner loop has no switch.
#include "kernels/cuda/compat.cuh"
#include "kernels/cuda/grid.cuh"

#define PW_LAUNCHER_NS PW_KERNEL_NS
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

namespace pw::kernels::PW_KERNEL_NS {

namespace {

constexpr int kThreads = 256;

template <UnaryOp op>
__device__ __forceinline__ float apply_unary(float v, float p) {
  if constexpr (op == UnaryOp::neg)
    return -v;
  else if constexpr (op == UnaryOp::exp)
    return expf(v);
  else if constexpr (op == UnaryOp::log)
    return logf(v);
  else if constexpr (op == UnaryOp::sqrt)
    return sqrtf(v);
  else if constexpr (op == UnaryOp::pow)
    return powf(v, p);
  else if constexpr (op == UnaryOp::sigmoid)
    return 1.0f / (1.0f + expf(-v));
  else if constexpr (op == UnaryOp::tanh)
    return tanhf(v);
  else if constexpr (op == UnaryOp::relu)
    return v > 0.0f ? v : 0.0f;
  else if constexpr (op == UnaryOp::abs)
    return fabsf(v);
  else if constexpr (op == UnaryOp::add_scalar)
    return v + p;
  else if constexpr (op == UnaryOp::mul_scalar)
    return v * p;
  else if constexpr (op == UnaryOp::rsub_scalar)
    return p - v;
  else if constexpr (op == UnaryOp::rdiv_scalar)
    return p / v;
  else if constexpr (op == UnaryOp::min_scalar)
    return v > p ? p : v;  // not fminf: a NaN stays NaN
  else if constexpr (op == UnaryOp::le_scalar)
    return v <= p ? 1.0f : 0.0f;
  else
    return (float)((v > 0.0f) - (v < 0.0f));  // sign
}

template <UnaryOp op>
__global__ void unary_kernel(const float* x, float* y, int64_t n, float p) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = apply_unary<op>(x[i], p);
}

template <UnaryOp op>
void launch_unary(const float* x, float* y, int64_t n, float p) {
  PW_LAUNCH(unary_kernel<op>, grid_blocks(n, kThreads), kThreads, 0, 0)(x, y, n, p);
  PW_CUDA_CHECK_LAUNCH();
}

template <BinaryOp op>
__device__ __forceinline__ float apply_binary(float a, float b) {
  if constexpr (op == BinaryOp::add)
    return a + b;
  else if constexpr (op == BinaryOp::sub)
    return a - b;
  else if constexpr (op == BinaryOp::mul)
    return a * b;
  else
    return a / b;
}

// Same shape and both contiguous: a flat loop. Otherwise each output index is decomposed
// with the layout's shape into the two inputs' broadcast offsets.
template <BinaryOp op>
__global__ void binary_flat_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ out,
                                   int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = apply_binary<op>(a[i], b[i]);
}

// In index type I: int when n and every offset fit (grid.cuh's fits_int32), int64_t otherwise.
template <BinaryOp op, typename I>
__global__ void binary_broadcast_kernel(const float* __restrict__ a, const float* __restrict__ b,
                                        float* __restrict__ out, StridedLayout l, int64_t n64) {
  const I n = (I)n64;
  for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < n; i += (I)gridDim.x * blockDim.x) {
    I rem = i, oa = 0, ob = 0;
    for (int d = l.ndim - 1; d >= 0; --d) {
      const I extent = (I)l.shape[d], k = rem % extent;
      rem /= extent;
      oa += k * (I)l.src_strides[d];
      ob += k * (I)l.dst_strides[d];
    }
    out[i] = apply_binary<op>(a[oa], b[ob]);
  }
}

template <BinaryOp op>
void launch_binary(const float* a, const float* b, float* out, const StridedLayout& l) {
  int64_t n = 1;
  bool flat = true;
  int64_t expect = 1;
  for (int d = l.ndim - 1; d >= 0; --d) {
    n *= l.shape[d];
    if (l.shape[d] != 1 && (l.src_strides[d] != expect || l.dst_strides[d] != expect)) flat = false;
    expect *= l.shape[d];
  }
  if (n == 0) return;
  const int blocks = grid_blocks(n, kThreads);
  if (flat) {
    PW_LAUNCH(binary_flat_kernel<op>, blocks, kThreads, 0, 0)(a, b, out, n);
  } else if (fits_int32(l, n)) {
    PW_LAUNCH((binary_broadcast_kernel<op, int>), blocks, kThreads, 0, 0)(a, b, out, l, n);
  } else {
    PW_LAUNCH((binary_broadcast_kernel<op, int64_t>), blocks, kThreads, 0, 0)(a, b, out, l, n);
  }
  PW_CUDA_CHECK_LAUNCH();
}

template <int rule>
__global__ void relu_backward_kernel(const float* y, const float* g, float* dx, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const bool pass_x = y[i] > 0.0f, pass_g = g[i] > 0.0f;
    const bool pass = rule == 0 ? pass_x : rule == 1 ? pass_g : (pass_x && pass_g);
    dx[i] = pass ? g[i] : 0.0f;
  }
}

}  // namespace

void unary(Tag, UnaryOp op, const float* x, float* y, int64_t n, float p) {
  if (n == 0) return;
  switch (op) {
    case UnaryOp::neg: launch_unary<UnaryOp::neg>(x, y, n, p); break;
    case UnaryOp::exp: launch_unary<UnaryOp::exp>(x, y, n, p); break;
    case UnaryOp::log: launch_unary<UnaryOp::log>(x, y, n, p); break;
    case UnaryOp::sqrt: launch_unary<UnaryOp::sqrt>(x, y, n, p); break;
    case UnaryOp::pow: launch_unary<UnaryOp::pow>(x, y, n, p); break;
    case UnaryOp::sigmoid: launch_unary<UnaryOp::sigmoid>(x, y, n, p); break;
    case UnaryOp::tanh: launch_unary<UnaryOp::tanh>(x, y, n, p); break;
    case UnaryOp::relu: launch_unary<UnaryOp::relu>(x, y, n, p); break;
    case UnaryOp::abs: launch_unary<UnaryOp::abs>(x, y, n, p); break;
    case UnaryOp::add_scalar: launch_unary<UnaryOp::add_scalar>(x, y, n, p); break;
    case UnaryOp::mul_scalar: launch_unary<UnaryOp::mul_scalar>(x, y, n, p); break;
    case UnaryOp::rsub_scalar: launch_unary<UnaryOp::rsub_scalar>(x, y, n, p); break;
    case UnaryOp::rdiv_scalar: launch_unary<UnaryOp::rdiv_scalar>(x, y, n, p); break;
    case UnaryOp::sign: launch_unary<UnaryOp::sign>(x, y, n, p); break;
    case UnaryOp::min_scalar: launch_unary<UnaryOp::min_scalar>(x, y, n, p); break;
    case UnaryOp::le_scalar: launch_unary<UnaryOp::le_scalar>(x, y, n, p); break;
  }
}

void binary(Tag, BinaryOp op, const float* a, const float* b, float* out, const StridedLayout& l) {
  switch (op) {
    case BinaryOp::add: launch_binary<BinaryOp::add>(a, b, out, l); break;
    case BinaryOp::sub: launch_binary<BinaryOp::sub>(a, b, out, l); break;
    case BinaryOp::mul: launch_binary<BinaryOp::mul>(a, b, out, l); break;
    case BinaryOp::div: launch_binary<BinaryOp::div>(a, b, out, l); break;
  }
}

void relu_backward(Tag, int rule, const float* y, const float* g, float* dx, int64_t n) {
  if (n == 0) return;
  switch (rule) {
    case 0: PW_LAUNCH(relu_backward_kernel<0>, grid_blocks(n, kThreads), kThreads, 0, 0)(y, g, dx, n); break;
    case 1: PW_LAUNCH(relu_backward_kernel<1>, grid_blocks(n, kThreads), kThreads, 0, 0)(y, g, dx, n); break;
    default: PW_LAUNCH(relu_backward_kernel<2>, grid_blocks(n, kThreads), kThreads, 0, 0)(y, g, dx, n); break;
  }
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace pw::kernels::PW_KERNEL_NS
