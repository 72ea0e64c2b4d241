// Analytic micro-kernels for simt-profile (test_simt_profile): one warp-level access pattern
// each, whose sectors or wavefronts per request are known in advance.
#include "kernels/cuda/compat.cuh"
#include "kernels/cuda/profile.cuh"
#include "tests/simt_profile/profile_kernels.h"

namespace pw::kernels::PW_KERNEL_NS::profile_test {

// Lane i loads in[i * stride] (float): 32 lanes touch 4, 8 or 32 sectors at stride 1, 2, 32.
__global__ void strided_load_kernel(const float* in, float* out, int stride) {
  const int i = threadIdx.x;
  out[i] = in[i * stride];  // site: strided_load
}

// Lane t writes then reads s[t * stride] (a 32x33 array): stride 32 puts every lane in bank 0
// (32 wavefronts), 33 in a different bank each (1); then every lane reads s[0] (a broadcast: 1).
__global__ void shared_stride_kernel(float* out, int stride) {
  __shared__ float s[32 * 33];
  const int t = threadIdx.x;
  s[t * stride] = float(t);  // site: shared_store
  __syncthreads();
  const float mine = s[t * stride];  // site: shared_load
  const float all = s[0];            // site: shared_broadcast
  out[t] = mine + all;
}

// Each lane loads `rounds` floats in a loop (one request per round and warp).
__global__ void loop_load_kernel(const float* in, float* out, int rounds) {
  float sum = 0;
  for (int r = 0; r < rounds; ++r) sum += in[r * blockDim.x + threadIdx.x];  // site: loop_load
  out[threadIdx.x] = sum;
}

// Pure streaming: y[i] = x[i], grid-stride.
__global__ void copy_kernel(const float* x, float* y, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) y[i] = x[i];
}

void strided_load(const float* in, float* out, int stride) {
  PW_LAUNCH(strided_load_kernel, 1, 32, 0, nullptr)(in, out, stride);
  PW_CUDA_CHECK_LAUNCH();
}
void shared_stride(float* out, int stride) {
  PW_LAUNCH(shared_stride_kernel, 1, 32, 0, nullptr)(out, stride);
  PW_CUDA_CHECK_LAUNCH();
}
void loop_load(const float* in, float* out, int threads, int rounds) {
  PW_LAUNCH(loop_load_kernel, 1, threads, 0, nullptr)(in, out, rounds);
  PW_CUDA_CHECK_LAUNCH();
}
void copy(const float* x, float* y, int n, int blocks) {
  PW_PROFILE_FLOPS(0);
  PW_LAUNCH(copy_kernel, blocks, 256, 0, nullptr)(x, y, n);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace pw::kernels::PW_KERNEL_NS::profile_test
