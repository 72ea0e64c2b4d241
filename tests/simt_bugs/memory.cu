// Seeded bugs for memcheck and initcheck, each with its fixed twin: static shared memory read
// before any thread wrote it, a host pointer handed to a kernel, a float4 load at a 4-byte
// offset, dynamic shared memory one element short, and a read one element before a buffer.
#include "kernels/cuda/compat.cuh"

namespace pw::kernels::PW_KERNEL_NS {

// Each thread reads its neighbour's slot; the twin fills the slots first.
template <bool kFixed>
__global__ void static_shared_before_written_kernel(int* out) {
  __shared__ int s[64];
  const unsigned t = threadIdx.x;
  if (kFixed) {
    s[t] = static_cast<int>(t);
    __syncthreads();
  }
  out[t] = s[(t + 1) % 64];  // site: stale_read
}

// Pointers inside a structure reach the kernel unchecked by the launch.
struct ScaleParams {
  const float* x;
  float* y;
  int n;
};

__global__ void scale_in_struct_kernel(ScaleParams p) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < p.n) p.y[i] = 2.0f * p.x[i];  // site: struct_read
}

__global__ void scale_kernel(const float* x, float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = 2.0f * x[i];
}

// Copies threads float4s from x + offset: a GPU needs x + offset aligned to 16 bytes.
__global__ void copy_float4_kernel(const float* x, float* y, int offset) {
  const float4 v = reinterpret_cast<const float4*>(x + offset)[threadIdx.x];  // site: float4_read
  reinterpret_cast<float4*>(y)[threadIdx.x] = v;
}

// Reverses a block's values through dynamic shared memory of blockDim.x floats.
__global__ void reverse_tile_kernel(const float* x, float* y) {
  PW_DYNAMIC_SMEM(float, tile);
  const unsigned t = threadIdx.x;
  tile[t] = x[t];  // site: tile_write
  __syncthreads();
  y[t] = tile[blockDim.x - 1 - t];
}

// y[i] = x[i] - x[i - 1]; the bug forgets that element 0 has no left neighbour.
template <bool kFixed>
__global__ void neighbour_difference_kernel(const float* x, float* y, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float left = (kFixed && i == 0) ? 0.0f : x[i - 1];  // site: left_read
  y[i] = x[i] - left;
}

namespace bugs {

void static_shared_before_written(int* out, bool fixed) {
  if (fixed)
    PW_LAUNCH(static_shared_before_written_kernel<true>, 1, 64, 0, 0)(out);
  else
    PW_LAUNCH(static_shared_before_written_kernel<false>, 1, 64, 0, 0)(out);  // site: stale_launch
  PW_CUDA_CHECK_LAUNCH();
}
void scale_in_struct(const float* x, float* y, int n) {
  PW_LAUNCH(scale_in_struct_kernel, (n + 63) / 64, 64, 0, 0)(ScaleParams{x, y, n});  // site: struct_launch
  PW_CUDA_CHECK_LAUNCH();
}
void scale(const float* x, float* y, int n) {
  PW_LAUNCH(scale_kernel, (n + 63) / 64, 64, 0, 0)(x, y, n);
  PW_CUDA_CHECK_LAUNCH();
}
void copy_float4(const float* x, float* y, int offset, int threads) {
  PW_LAUNCH(copy_float4_kernel, 1, threads, 0, 0)(x, y, offset);  // site: float4_launch
  PW_CUDA_CHECK_LAUNCH();
}
void reverse_tile(const float* x, float* y, int threads, bool fixed) {
  const size_t floats = fixed ? threads : threads - 1;
  PW_LAUNCH(reverse_tile_kernel, 1, threads, floats * sizeof(float), 0)(x, y);  // site: tile_launch
  PW_CUDA_CHECK_LAUNCH();
}
void neighbour_difference(const float* x, float* y, int n, bool fixed) {
  if (fixed)
    PW_LAUNCH(neighbour_difference_kernel<true>, (n + 63) / 64, 64, 0, 0)(x, y, n);
  else
    PW_LAUNCH(neighbour_difference_kernel<false>, (n + 63) / 64, 64, 0, 0)(x, y, n);  // site: left_launch
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace bugs
}  // namespace pw::kernels::PW_KERNEL_NS
