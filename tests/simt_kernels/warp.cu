// simt test kernels: every warp collective -- shuffles in all four forms with widths below
// 32, votes with partial masks, match and reduce -- and the two mask errors.
#include "kernels/cuda/compat.cuh"

namespace pw::kernels::PW_KERNEL_NS {

constexpr unsigned kFull = 0xffffffffu;

// Sum of each segment of `width` lanes, left in the segment's first lane.
__global__ void warp_sum_down_kernel(const float* x, float* out, int n, int width) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? x[i] : 0.0f;
  for (int offset = width / 2; offset > 0; offset /= 2) v += __shfl_down_sync(kFull, v, offset, width);
  if (i < n && threadIdx.x % width == 0) out[i / width] = v;
}

// Inclusive prefix sum within each segment of `width` lanes.
__global__ void warp_scan_up_kernel(const int* x, int* out, int n, int width) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  int v = i < n ? x[i] : 0;
  const int lane = threadIdx.x % width;
  for (int d = 1; d < width; d *= 2) {
    const int y = __shfl_up_sync(kFull, v, d, width);
    if (lane >= d) v += y;
  }
  if (i < n) out[i] = v;
}

// Butterfly all-reduce: every lane of a segment ends with the segment's maximum plus sum.
__global__ void warp_allreduce_xor_kernel(const float* x, float* out, int n, int width) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  float s = i < n ? x[i] : 0.0f, m = s;
  for (int mask = width / 2; mask > 0; mask /= 2) {
    s += __shfl_xor_sync(kFull, s, mask, width);
    m = fmaxf(m, __shfl_xor_sync(kFull, m, mask, width));
  }
  if (i < n) out[i] = s + 1000.0f * m;
}

__global__ void warp_broadcast_kernel(const int* x, int* out, int n, int src_lane, int width) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int v = __shfl_sync(kFull, i < n ? x[i] : -7, src_lane, width);
  if (i < n) out[i] = v;
}

// Every lane's result of one shuffle (kind 0 idx, 1 up, 2 down, 3 xor), to check the
// source-lane rules at the segment edges.
__global__ void warp_shuffle_kernel(const int* x, int* out, int n, int kind, int arg, int width) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int v = i < n ? x[i] : -7;
  int r = 0;
  if (kind == 0)
    r = __shfl_sync(kFull, v, arg, width);
  else if (kind == 1)
    r = __shfl_up_sync(kFull, v, arg, width);
  else if (kind == 2)
    r = __shfl_down_sync(kFull, v, arg, width);
  else
    r = __shfl_xor_sync(kFull, v, arg, width);
  if (i < n) out[i] = r;
}

// Only the lanes of `mask` vote; the others keep away from the collective.
__global__ void warp_votes_kernel(const int* pred, unsigned* ballot, int* any, int* all, unsigned mask, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const unsigned lane = threadIdx.x % 32;
  if (i >= n || !((mask >> lane) & 1u)) return;
  const int p = pred[i];
  ballot[i] = __ballot_sync(mask, p);
  any[i] = __any_sync(mask, p);
  all[i] = __all_sync(mask, p);
}

__global__ void warp_match_reduce_kernel(const int* x, unsigned* match, int* sum, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int v = i < n ? x[i] : 0;
  const unsigned m = __match_any_sync(kFull, v);
  const int s = __reduce_add_sync(kFull, v);
  if (i < n) {
    match[i] = m;
    sum[i] = s;
  }
}

// Lanes 16-31 exit; lanes 0-15 then shuffle with a full mask: a deadlock on a GPU.
__global__ void shfl_from_exited_lane_kernel(float* out) {
  if (threadIdx.x % 32 >= 16) return;
  out[threadIdx.x] = __shfl_down_sync(kFull, 1.0f, 1);
}

__global__ void shfl_mask_without_self_kernel(float* out) {
  out[threadIdx.x] = __shfl_sync(0x1u, 2.0f, 0);  // lanes 1-31 are not in their own mask
}

namespace test {

void warp_sum_down(const float* x, float* out, int n, int width, int threads) {
  PW_LAUNCH(warp_sum_down_kernel, (n + threads - 1) / threads, threads, 0, 0)(x, out, n, width);
  PW_CUDA_CHECK_LAUNCH();
}
void warp_scan_up(const int* x, int* out, int n, int width, int threads) {
  PW_LAUNCH(warp_scan_up_kernel, (n + threads - 1) / threads, threads, 0, 0)(x, out, n, width);
  PW_CUDA_CHECK_LAUNCH();
}
void warp_allreduce_xor(const float* x, float* out, int n, int width, int threads) {
  PW_LAUNCH(warp_allreduce_xor_kernel, (n + threads - 1) / threads, threads, 0, 0)(x, out, n, width);
  PW_CUDA_CHECK_LAUNCH();
}
void warp_broadcast(const int* x, int* out, int n, int src_lane, int width, int threads) {
  PW_LAUNCH(warp_broadcast_kernel, (n + threads - 1) / threads, threads, 0, 0)(x, out, n, src_lane, width);
  PW_CUDA_CHECK_LAUNCH();
}
void warp_shuffle(const int* x, int* out, int n, int kind, int arg, int width, int threads) {
  PW_LAUNCH(warp_shuffle_kernel, (n + threads - 1) / threads, threads, 0, 0)(x, out, n, kind, arg, width);
  PW_CUDA_CHECK_LAUNCH();
}
void warp_votes(const int* pred, unsigned* ballot, int* any, int* all, unsigned mask, int n, int threads) {
  PW_LAUNCH(warp_votes_kernel, (n + threads - 1) / threads, threads, 0, 0)(pred, ballot, any, all, mask, n);
  PW_CUDA_CHECK_LAUNCH();
}
void warp_match_reduce(const int* x, unsigned* match, int* sum, int n, int threads) {
  PW_LAUNCH(warp_match_reduce_kernel, (n + threads - 1) / threads, threads, 0, 0)(x, match, sum, n);
  PW_CUDA_CHECK_LAUNCH();
}
void shfl_from_exited_lane(float* out, int threads) {
  PW_LAUNCH(shfl_from_exited_lane_kernel, 1, threads, 0, 0)(out);
  PW_CUDA_CHECK_LAUNCH();
}
void shfl_mask_without_self(float* out) {
  PW_LAUNCH(shfl_mask_without_self_kernel, 1, 32, 0, 0)(out);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace test
}  // namespace pw::kernels::PW_KERNEL_NS
