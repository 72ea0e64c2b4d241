// simt test kernels: atomics across blocks that run on different worker threads -- a float
// histogram, the integer read-modify-write family, and the "last block finishes the
// reduction" pattern with __threadfence and atomicInc.
#include "kernels/cuda/compat.cuh"

namespace pw::kernels::PW_KERNEL_NS {

__global__ void histogram_kernel(const float* x, int n, float* hist, int bins) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    const int bin = min(bins - 1, max(0, static_cast<int>(x[i] * bins)));
    atomicAdd(&hist[bin], i % 2 ? 0.5f : 1.0f);  // exact in float whatever the order
  }
}

// counters: [0] add, [1] max, [2] min, [3] CAS-built increment, [4] exch (any thread id),
// [5] sub, [6] or of bits, [7] ticket.
__global__ void atomic_ops_kernel(int* c, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  atomicAdd(&c[0], i);
  atomicMax(&c[1], i * 7 % 1009);
  atomicMin(&c[2], 5000 - i % 4001);
  int old = c[3], seen;
  do {
    seen = old;
    old = atomicCAS(&c[3], seen, seen + 2);
  } while (old != seen);
  atomicExch(&c[4], i);
  atomicSub(&c[5], 3);
  atomicOr(&c[6], 1 << (i % 31));
  atomicInc(reinterpret_cast<unsigned*>(&c[7]), 0x7fffffffu);
}

__global__ void last_block_sum_kernel(const float* x, int n, float* partial, unsigned* ticket, float* total) {
  __shared__ float s[256];
  __shared__ bool is_last;
  float v = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) v += x[i];
  s[threadIdx.x] = v;
  __syncthreads();
  if (threadIdx.x == 0) {
    float b = 0.0f;
    for (unsigned k = 0; k < blockDim.x; ++k) b += s[k];
    partial[blockIdx.x] = b;
    __threadfence();  // the partial is visible before the ticket says so
    is_last = atomicInc(ticket, gridDim.x) == gridDim.x - 1;
  }
  __syncthreads();
  if (is_last && threadIdx.x == 0) {
    __threadfence();
    float t = 0.0f;
    for (unsigned k = 0; k < gridDim.x; ++k) t += partial[k];
    *total = t;
  }
}

namespace test {

void histogram(const float* x, int n, float* hist, int bins, int blocks, int threads) {
  PW_LAUNCH(histogram_kernel, blocks, threads, 0, 0)(x, n, hist, bins);
  PW_CUDA_CHECK_LAUNCH();
}
void atomic_ops(int* counters, int n, int blocks, int threads) {
  PW_LAUNCH(atomic_ops_kernel, blocks, threads, 0, 0)(counters, n);
  PW_CUDA_CHECK_LAUNCH();
}
void last_block_sum(const float* x, int n, float* partial, unsigned* ticket, float* total, int blocks, int threads) {
  PW_LAUNCH(last_block_sum_kernel, blocks, threads, 0, 0)(x, n, partial, ticket, total);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace test
}  // namespace pw::kernels::PW_KERNEL_NS
