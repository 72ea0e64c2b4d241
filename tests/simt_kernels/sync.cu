// simt test kernels: __syncthreads_count/_and/_or, a planted race (a missing barrier) and
// its fix, and a barrier in divergent code (a deadlock simt must report, not hang on).
#include "kernels/cuda/compat.cuh"

namespace pw::kernels::PW_KERNEL_NS {

__global__ void barrier_votes_kernel(const int* pred, int* count, int* all, int* any, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int p = i < n ? pred[i] : 0;
  const int c = __syncthreads_count(p);
  const int a = __syncthreads_and(p);
  const int o = __syncthreads_or(p);
  if (threadIdx.x == 0) {
    count[blockIdx.x] = c;
    all[blockIdx.x] = a;
    any[blockIdx.x] = o;
  }
}

// Each thread reads its neighbour's slot right after writing its own. Without the barrier
// the neighbour may not have written yet: which value is read depends on the thread order.
// (Dynamic shared memory, which simt poisons for every block, so an unwritten slot reads -1
// rather than whatever an earlier block left.)
template <bool kBarrier>
__global__ void neighbour_kernel(int* out) {
  PW_DYNAMIC_SMEM(int, s);
  const int t = threadIdx.x;
  s[t] = 1000 * blockIdx.x + t;
  if (kBarrier) __syncthreads();
  out[blockIdx.x * blockDim.x + t] = s[(t + 1) % blockDim.x];
}

constexpr int kFirstBarrierLine = __LINE__ + 5;
constexpr int kSecondBarrierLine = __LINE__ + 8;
// Warp 0 waits at the first barrier, everyone else at the second: on a GPU, a hang.
__global__ void divergent_barrier_kernel(float* out) {
  if (threadIdx.x < 32) {
    __syncthreads();
    out[threadIdx.x] = 1.0f;
  }
  out[threadIdx.x] = 2.0f;
  __syncthreads();
}

namespace test {

void barrier_votes(const int* pred, int* count, int* all, int* any, int n, int threads) {
  PW_LAUNCH(barrier_votes_kernel, (n + threads - 1) / threads, threads, 0, 0)(pred, count, all, any, n);
  PW_CUDA_CHECK_LAUNCH();
}
void racy_neighbour(int* out, int blocks, int threads) {
  PW_LAUNCH(neighbour_kernel<false>, blocks, threads, threads * sizeof(int), 0)(out);
  PW_CUDA_CHECK_LAUNCH();
}
void fixed_neighbour(int* out, int blocks, int threads) {
  PW_LAUNCH(neighbour_kernel<true>, blocks, threads, threads * sizeof(int), 0)(out);
  PW_CUDA_CHECK_LAUNCH();
}
void divergent_barrier(float* out, int threads) {
  PW_LAUNCH(divergent_barrier_kernel, 1, threads, 0, 0)(out);
  PW_CUDA_CHECK_LAUNCH();
}
void divergent_barrier_lines(int* first, int* second) {
  *first = kFirstBarrierLine;
  *second = kSecondBarrierLine;
}

}  // namespace test
}  // namespace pw::kernels::PW_KERNEL_NS
