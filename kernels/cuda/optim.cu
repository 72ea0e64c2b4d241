// Fused optimizer updates: one grid-stride pass per parameter tensor that reads the gradient
// and the state once and writes the parameter and the state in place. Pairs with
// kernels/cpu/optim.cpp.
//
// The CPU's arithmetic, operation for operation. Every operation is written with the
// round-to-nearest intrinsics (__fmul_rn, __fadd_rn, __fdiv_rn, __fsqrt_rn) in the CPU kernel's
// order: nvcc fuses a * b + c into one FMA (one rounding) unless told not to, and the
// intrinsics are how it is told. The per-launch constants (1 - beta, lr / bc1, ...) are
// computed the same way, in the kernel, because host code may be contracted too. So the GPU
// computes exactly the unfused formula. The CPU kernel and the simt build agree with it bit
// for bit when the host compiler does not contract either (-ffp-contract=off; checked with a
// standalone harness); GCC contracts by default in C++, so with the default flags the devices
// agree to a few ulps per step (tests/device_checks/optim.cpp).
//
// Expected on a GPU: memory-bound -- SGD with momentum moves 16 bytes per element (read p, g,
// buf; write p, buf: 20), Adam 28; near the DRAM floor for large tensors. Not yet measured on
// a GPU.
#include "kernels/cuda/compat.cuh"
#include "kernels/cuda/grid.cuh"

#define PW_LAUNCHER_NS PW_KERNEL_NS
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

namespace pw::kernels::PW_KERNEL_NS {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float add(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float sub(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ float mul(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float div(float a, float b) { return __fdiv_rn(a, b); }

__global__ void sgd_step_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ buf,
                                int64_t n, SgdParams a) {
  const float keep = sub(1.0f, a.dampening);
  const bool use_momentum = a.momentum != 0.0f, decay = a.weight_decay != 0.0f;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float d = grad[i];
    if (decay) d = add(d, mul(a.weight_decay, param[i]));
    if (use_momentum) {
      const float b = a.first_step ? d : add(mul(a.momentum, buf[i]), mul(keep, d));
      buf[i] = b;
      d = a.nesterov ? add(d, mul(a.momentum, b)) : b;
    }
    param[i] = sub(param[i], mul(a.lr, d));
  }
}

__global__ void adam_step_kernel(float* __restrict__ param, const float* __restrict__ grad, float* __restrict__ m,
                                 float* __restrict__ v, int64_t n, AdamParams a) {
  const float step_size = div(a.lr, a.bias_correction1);
  const float bc2_sqrt = __fsqrt_rn(a.bias_correction2);
  const float decay = sub(1.0f, mul(a.lr, a.weight_decay));
  const float one_minus_b1 = sub(1.0f, a.beta1), one_minus_b2 = sub(1.0f, a.beta2);
  const bool has_wd = a.weight_decay != 0.0f;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    float g = grad[i];
    float p = param[i];
    if (has_wd) {
      if (a.decoupled_weight_decay)
        p = mul(p, decay);
      else
        g = add(g, mul(a.weight_decay, p));
    }
    const float mi = add(m[i], mul(one_minus_b1, sub(g, m[i])));
    const float vi = add(mul(a.beta2, v[i]), mul(mul(one_minus_b2, g), g));
    m[i] = mi;
    v[i] = vi;
    param[i] = sub(p, div(mul(step_size, mi), add(div(__fsqrt_rn(vi), bc2_sqrt), a.eps)));
  }
}

}  // namespace

void sgd_step(Tag, float* param, const float* grad, float* momentum_buf, int64_t n, const SgdParams& a) {
  if (n == 0) return;
  if (a.momentum != 0.0f && momentum_buf == nullptr) throw CudaError("sgd_step: momentum needs a momentum buffer");
  PW_LAUNCH(sgd_step_kernel, grid_blocks(n, kThreads), kThreads, 0, 0)(param, grad, momentum_buf, n, a);
  PW_CUDA_CHECK_LAUNCH();
}

void adam_step(Tag, float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
               const AdamParams& a) {
  if (n == 0) return;
  PW_LAUNCH(adam_step_kernel, grid_blocks(n, kThreads), kThreads, 0, 0)(param, grad, exp_avg, exp_avg_sq, n, a);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace pw::kernels::PW_KERNEL_NS
