// simt test kernels for the fidelity of simt's model: warp collectives after some lanes have
// exited, dynamic shared memory that ends at a guard page, static shared memory poisoned at
// every block start, the order of blocks, and kernels that fail while running -- a spin-wait
// that never finishes on simt, an integer division by zero, a failed assert, a stack frame
// larger than a fiber's stack.
#include "kernels/cuda/compat.cuh"

// assert() must stay in these kernels whatever the build type says.
#undef NDEBUG
#include <cassert>

namespace pw::kernels::PW_KERNEL_NS {

// Lanes from `exit_from` on return at once; the others meet at collectives over the full
// mask, which (PTX) wait only for the lanes that have not exited.
__global__ void exited_lanes_kernel(float* shfl, unsigned* ballot, int* sum, int exit_from) {
  const int t = threadIdx.x;
  if (t % 32 >= exit_from) return;
  __syncwarp();
  shfl[t] = __shfl_down_sync(0xffffffffu, static_cast<float>(t), 1);
  ballot[t] = __ballot_sync(0xffffffffu, 1);
  sum[t] = __reduce_add_sync(0xffffffffu, 1);
}

// Each block reverses a tile through dynamic shared memory of blockDim.x floats: a launch
// that asks for fewer bytes runs past the end.
__global__ void smem_tile_kernel(float* out) {
  PW_DYNAMIC_SMEM(float, tile);
  const unsigned t = threadIdx.x;
  tile[t] = static_cast<float>(t);
  __syncthreads();
  out[blockIdx.x * blockDim.x + t] = tile[blockDim.x - 1 - t];
}

// The seeded bug: reads static shared memory before any thread of the block wrote it
// (undefined in CUDA; poison on simt), then writes it: a later block on the same worker must
// not see this. The fixed twin writes its slot before the barrier and reads a neighbour's.
template <bool kFixed>
__global__ void stale_static_shared_kernel(int* out) {
  __shared__ int s[64];
  const unsigned t = threadIdx.x;
  if (kFixed) {
    s[t] = static_cast<int>(blockIdx.x) + 1;
    __syncthreads();
    out[blockIdx.x * blockDim.x + t] = s[(t + 1) % 64];
  } else {
    out[blockIdx.x * blockDim.x + t] = s[t];
    __syncthreads();
    s[t] = static_cast<int>(blockIdx.x) + 1;
  }
}

// Records the order in which blocks start.
__global__ void block_order_kernel(unsigned* counter, int* order) {
  if (threadIdx.x == 0 && threadIdx.y == 0)
    order[atomicAdd(counter, 1u)] = static_cast<int>(blockIdx.x + gridDim.x * blockIdx.y);
}

// Thread 0 spins until thread 1 sets the flag: fine on a GPU with independent thread
// scheduling, endless on simt when thread 0 runs first (nothing switches it out).
__global__ void spin_wait_kernel(int* flag) {
  if (threadIdx.x == 0)
    while (atomicAdd(flag, 0) == 0) {
    }
  if (threadIdx.x == 1) atomicExch(flag, 1);
}

// Thread `zero_at` divides by zero. UBSan would report the division before the CPU raises
// SIGFPE; the test is of simt's SIGFPE report, so UBSan leaves this function alone.
#if defined(__GNUC__) && !defined(__CUDACC__)
#define PW_NO_UBSAN __attribute__((no_sanitize_undefined))
#else
#define PW_NO_UBSAN
#endif
PW_NO_UBSAN __global__ void divide_kernel(int* out, int zero_at) {
  out[threadIdx.x] = 1000 / (zero_at - static_cast<int>(threadIdx.x));
}

__global__ void assert_kernel(int* out, int block, int thread) {
  assert(!(static_cast<int>(blockIdx.x) == block && static_cast<int>(threadIdx.x) == thread));
  out[blockIdx.x * blockDim.x + threadIdx.x] = 1;
}

// A 256 KiB frame after a barrier, on a 64 KiB fiber stack (every thread but the first to
// suspend runs on one).
__global__ void big_frame_kernel(int* out, int index) {
  __syncthreads();
  volatile char big[256 * 1024];
  big[index] = 1;
  out[threadIdx.x] = big[index];
}

namespace test {

void exited_lanes(float* shfl, unsigned* ballot, int* sum, int exit_from, int threads) {
  PW_LAUNCH(exited_lanes_kernel, 1, threads, 0, 0)(shfl, ballot, sum, exit_from);
  PW_CUDA_CHECK_LAUNCH();
}
void smem_tile(float* out, int blocks, int threads, size_t smem_bytes) {
  PW_LAUNCH(smem_tile_kernel, blocks, threads, smem_bytes, 0)(out);
  PW_CUDA_CHECK_LAUNCH();
}
void stale_static_shared(int* out, int blocks, bool fixed) {
  if (fixed)
    PW_LAUNCH(stale_static_shared_kernel<true>, blocks, 64, 0, 0)(out);
  else
    PW_LAUNCH(stale_static_shared_kernel<false>, blocks, 64, 0, 0)(out);
  PW_CUDA_CHECK_LAUNCH();
}
void block_order(unsigned* counter, int* order, int gx, int gy) {
  PW_LAUNCH(block_order_kernel, dim3(gx, gy), 32, 0, 0)(counter, order);
  PW_CUDA_CHECK_LAUNCH();
}
void spin_wait(int* flag, int threads) {
  PW_LAUNCH(spin_wait_kernel, 1, threads, 0, 0)(flag);
  PW_CUDA_CHECK_LAUNCH();
}
void divide(int* out, int zero_at, int threads) {
  PW_LAUNCH(divide_kernel, 1, threads, 0, 0)(out, zero_at);
  PW_CUDA_CHECK_LAUNCH();
}
void assert_in_kernel(int* out, int blocks, int threads, int block, int thread) {
  PW_LAUNCH(assert_kernel, blocks, threads, 0, 0)(out, block, thread);
  PW_CUDA_CHECK_LAUNCH();
}
void big_frame(int* out, int threads) {
  PW_LAUNCH(big_frame_kernel, 1, threads, 0, 0)(out, 0);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace test
}  // namespace pw::kernels::PW_KERNEL_NS
