// Seeded bugs for racecheck, each with its fixed twin (kFixed): a missing __syncthreads, a
// shared counter incremented without an atomic, a tree reduction without its loop barrier, a
// warp reduction that relies on lock-step execution instead of __syncwarp, and a
// double-buffered GEMM that loads the next tile into the buffer being read; and blocks of one
// launch writing the same word of global memory. Shared memory is
// always written in an earlier barrier interval than the racy accesses, so that initcheck has
// nothing to say and the report is racecheck's whatever the thread order.
#include "kernels/cuda/compat.cuh"

namespace pw::kernels::PW_KERNEL_NS {

// Each thread reads its neighbour's slot, then overwrites its own: the neighbour may still
// have to read it. The twin waits at a barrier between the two.
template <bool kFixed>
__global__ void neighbour_exchange_kernel(const int* in, int* out) {
  PW_DYNAMIC_SMEM(int, s);
  const unsigned t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
  s[t] = in[i];
  __syncthreads();
  const int next = s[(t + 1) % blockDim.x];  // site: neighbour_read
  if (kFixed) __syncthreads();
  s[t] = next * 2;  // site: neighbour_write
  __syncthreads();
  out[i] = s[t];
}

// Every thread counts itself into a shared counter: a plain += loses updates.
template <bool kFixed>
__global__ void shared_counter_kernel(int* out) {
  __shared__ int count;
  if (threadIdx.x == 0) count = 0;
  __syncthreads();
  if (kFixed)
    atomicAdd(&count, 1);
  else
    count += 1;  // site: counter
  __syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = count;
}

// Sum of 256 values per block by halving; each step reads what another thread wrote in the
// step before, so each step needs a barrier.
template <bool kFixed>
__global__ void tree_reduction_kernel(const float* x, float* out) {
  __shared__ float s[256];
  const unsigned t = threadIdx.x;
  s[t] = x[blockIdx.x * 256 + t];
  __syncthreads();
  for (unsigned stride = 128; stride > 0; stride >>= 1) {
    if (t < stride) s[t] += s[t + stride];  // site: tree_step
    if (kFixed) __syncthreads();
  }
  if (t == 0) out[blockIdx.x] = s[0];
}

// The last 64 values summed by the first warp through shared memory, the pre-Volta way: the
// lanes were assumed to run in lock-step. Each step reads a slot another lane writes.
template <bool kFixed>
__global__ void warp_reduction_kernel(const float* x, float* out) {
  __shared__ float s[64];
  const unsigned t = threadIdx.x;
  s[t] = x[blockIdx.x * 64 + t];
  __syncthreads();
  if (t < 32) {
    volatile float* v = s;
    for (unsigned offset = 32; offset > 0; offset >>= 1) {
      const float other = t < offset ? v[t + offset] : 0.0f;  // site: warp_read
      if (kFixed) __syncwarp();
      if (t < offset) v[t] = v[t] + other;  // site: warp_write
      if (kFixed) __syncwarp();
    }
    if (t == 0) out[blockIdx.x] = v[0];
  }
}

// C = A B (n x n, n a multiple of 16), one 16x16 tile of C per block, the k tiles of A and B
// double-buffered in shared memory: iteration k computes from buffer k % 2 while it loads
// tile k + 1 into the other, with one barrier per iteration. The bug loads into the buffer
// being read.
template <bool kFixed>
__global__ void double_buffered_gemm_kernel(const float* a, const float* b, float* c, int n) {
  __shared__ float as[2][16][16];
  __shared__ float bs[2][16][16];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int row = blockIdx.y * 16 + ty, col = blockIdx.x * 16 + tx;
  as[0][ty][tx] = a[row * n + tx];
  bs[0][ty][tx] = b[ty * n + col];
  __syncthreads();
  float acc = 0.0f;
  const int tiles = n / 16;
  for (int k = 0; k < tiles; ++k) {
    const int cur = k % 2, next = kFixed ? 1 - cur : cur;
    if (k + 1 < tiles) {
      as[next][ty][tx] = a[row * n + (k + 1) * 16 + tx];    // site: gemm_load
      bs[next][ty][tx] = b[((k + 1) * 16 + ty) * n + col];  // site: gemm_load_b
    }
    for (int i = 0; i < 16; ++i) acc += as[cur][ty][i] * bs[cur][i][tx];  // site: gemm_use
    __syncthreads();
  }
  c[row * n + col] = acc;
}

// Every block records which block it is; the bug has them all write the same word.
template <bool kFixed>
__global__ void block_ids_kernel(int* out) {
  if (threadIdx.x == 0) out[kFixed ? blockIdx.x : 0] = static_cast<int>(blockIdx.x);  // site: block_write
}

namespace bugs {

void neighbour_exchange(const int* in, int* out, int blocks, int threads, bool fixed) {
  if (fixed)
    PW_LAUNCH(neighbour_exchange_kernel<true>, blocks, threads, threads * sizeof(int), 0)(in, out);
  else
    PW_LAUNCH(neighbour_exchange_kernel<false>, blocks, threads, threads * sizeof(int), 0)(in, out);
  PW_CUDA_CHECK_LAUNCH();
}
void shared_counter(int* out, int blocks, int threads, bool fixed) {
  if (fixed)
    PW_LAUNCH(shared_counter_kernel<true>, blocks, threads, 0, 0)(out);
  else
    PW_LAUNCH(shared_counter_kernel<false>, blocks, threads, 0, 0)(out);
  PW_CUDA_CHECK_LAUNCH();
}
void tree_reduction(const float* x, float* out, int blocks, bool fixed) {
  if (fixed)
    PW_LAUNCH(tree_reduction_kernel<true>, blocks, 256, 0, 0)(x, out);
  else
    PW_LAUNCH(tree_reduction_kernel<false>, blocks, 256, 0, 0)(x, out);
  PW_CUDA_CHECK_LAUNCH();
}
void warp_reduction(const float* x, float* out, int blocks, bool fixed) {
  if (fixed)
    PW_LAUNCH(warp_reduction_kernel<true>, blocks, 64, 0, 0)(x, out);
  else
    PW_LAUNCH(warp_reduction_kernel<false>, blocks, 64, 0, 0)(x, out);
  PW_CUDA_CHECK_LAUNCH();
}
void double_buffered_gemm(const float* a, const float* b, float* c, int n, bool fixed) {
  const dim3 grid(n / 16, n / 16), block(16, 16);
  if (fixed)
    PW_LAUNCH(double_buffered_gemm_kernel<true>, grid, block, 0, 0)(a, b, c, n);
  else
    PW_LAUNCH(double_buffered_gemm_kernel<false>, grid, block, 0, 0)(a, b, c, n);
  PW_CUDA_CHECK_LAUNCH();
}

void block_ids(int* out, int blocks, bool fixed) {
  if (fixed)
    PW_LAUNCH(block_ids_kernel<true>, blocks, 32, 0, 0)(out);
  else
    PW_LAUNCH(block_ids_kernel<false>, blocks, 32, 0, 0)(out);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace bugs
}  // namespace pw::kernels::PW_KERNEL_NS
