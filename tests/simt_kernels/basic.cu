// simt test kernels: grid-stride loops, a shared-memory reduction, dynamic shared memory,
// threads exiting before a barrier, deep recursion across barriers, and the index variables.
#include "kernels/cuda/compat.cuh"

namespace pw::kernels::PW_KERNEL_NS {

__global__ void vector_add_kernel(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
                                  int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) c[i] = a[i] + b[i];
}

// The same with float4 loads and stores (memory reinterpreted, as CUDA kernels do), the tail
// of n % 4 elements by the first threads.
__global__ void vector_add4_kernel(const float* a, const float* b, float* c, int n) {
  const int n4 = n / 4, stride = blockDim.x * gridDim.x, first = blockIdx.x * blockDim.x + threadIdx.x;
  for (int i = first; i < n4; i += stride) {
    const float4 x = __ldg(reinterpret_cast<const float4*>(a) + i);
    const float4 y = __ldg(reinterpret_cast<const float4*>(b) + i);
    reinterpret_cast<float4*>(c)[i] = make_float4(x.x + y.x, x.y + y.y, x.z + y.z, x.w + y.w);
  }
  if (first < n % 4) c[4 * n4 + first] = a[4 * n4 + first] + b[4 * n4 + first];
}

// Grid-stride partial sums, then a tree in shared memory (blockDim.x a power of two <= 1024).
__global__ void block_sum_kernel(const float* x, float* partial, int n) {
  __shared__ float s[1024];
  float v = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) v += x[i];
  s[threadIdx.x] = v;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) s[threadIdx.x] += s[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}

// Each block reverses its tile through dynamic shared memory.
__global__ void reverse_blocks_kernel(const float* in, float* out, int n) {
  PW_DYNAMIC_SMEM(float, tile);
  const int base = blockIdx.x * blockDim.x, i = base + threadIdx.x;
  if (i < n) tile[threadIdx.x] = in[i];
  __syncthreads();
  const int count = min(static_cast<int>(blockDim.x), n - base);
  if (static_cast<int>(threadIdx.x) < count) out[base + threadIdx.x] = tile[count - 1 - threadIdx.x];
}

// Threads past `active` return at once; the barrier must not wait for them.
__global__ void rotate_active_kernel(const int* in, int* out, int active) {
  __shared__ int s[1024];
  const int t = threadIdx.x;
  if (t >= active) return;
  s[t] = in[t];
  __syncthreads();
  out[t] = s[(t + 1) % active];
}

// Recurses `depth` levels (each frame holding a local array), meets every other thread at a
// barrier at the bottom, and checks its own frames on the way up.
__device__ int descend(int depth, int tid) {
  volatile int frame[16];
  for (int k = 0; k < 16; ++k) frame[k] = tid * 31 + depth + k;
  int below = 0;
  if (depth > 0)
    below = descend(depth - 1, tid);
  else
    __syncthreads();
  int ok = 1;
  for (int k = 0; k < 16; ++k) ok &= frame[k] == tid * 31 + depth + k;
  return below + ok;
}

__global__ void deep_recursion_kernel(int* out, int depth) {
  __syncthreads();  // every thread is a fiber on its own stack from here on
  out[threadIdx.x] = descend(depth, threadIdx.x);
}

__global__ void thread_indices_kernel(int* out) {
  const int block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const int local = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int threads = blockDim.x * blockDim.y * blockDim.z;
  out[block * threads + local] =
      (((blockIdx.z * 8 + blockIdx.y) * 8 + blockIdx.x) * 8 + threadIdx.z) * 64 + threadIdx.y * 8 + threadIdx.x;
}

namespace test {

void vector_add(const float* a, const float* b, float* c, int n, int blocks, int threads) {
  PW_LAUNCH(vector_add_kernel, blocks, threads, 0, 0)(a, b, c, n);
  PW_CUDA_CHECK_LAUNCH();
}
void vector_add4(const float* a, const float* b, float* c, int n, int blocks, int threads) {
  PW_LAUNCH(vector_add4_kernel, blocks, threads, 0, 0)(a, b, c, n);
  PW_CUDA_CHECK_LAUNCH();
}
void block_sum(const float* x, float* partial, int n, int blocks, int threads) {
  PW_LAUNCH(block_sum_kernel, blocks, threads, 0, 0)(x, partial, n);
  PW_CUDA_CHECK_LAUNCH();
}
void reverse_blocks(const float* in, float* out, int n, int threads) {
  const int blocks = (n + threads - 1) / threads;
  PW_LAUNCH(reverse_blocks_kernel, blocks, threads, threads * sizeof(float), 0)(in, out, n);
  PW_CUDA_CHECK_LAUNCH();
}
void rotate_active(const int* in, int* out, int active, int threads) {
  PW_LAUNCH(rotate_active_kernel, 1, threads, 0, 0)(in, out, active);
  PW_CUDA_CHECK_LAUNCH();
}
void deep_recursion(int* out, int depth, int threads) {
  PW_LAUNCH(deep_recursion_kernel, 1, threads, 0, 0)(out, depth);
  PW_CUDA_CHECK_LAUNCH();
}
void thread_indices(int* out, int gx, int gy, int gz, int bx, int by, int bz) {
  PW_LAUNCH(thread_indices_kernel, dim3(gx, gy, gz), dim3(bx, by, bz), 0, 0)(out);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace test
}  // namespace pw::kernels::PW_KERNEL_NS
