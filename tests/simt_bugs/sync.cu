// Seeded bugs for synccheck, each with its fixed twin: a __syncthreads in code that only part
// of the block runs, and warp masks that disagree between lanes.
#include "kernels/cuda/compat.cuh"

namespace pw::kernels::PW_KERNEL_NS {

// The first warp waits at one barrier, the second at another.
template <bool kFixed>
__global__ void divergent_barrier_kernel(float* out) {
  const unsigned t = threadIdx.x;
  if (!kFixed && t < 32) {
    __syncthreads();  // site: barrier_a
    out[t] = 1.0f;
    return;
  }
  __syncthreads();  // site: barrier_b
  out[t] = 2.0f;
}

// Each lane builds the mask of the lanes it votes with; the bug gives the first half of the
// warp a 24-lane mask and the second half the full one.
template <bool kFixed>
__global__ void mismatched_masks_kernel(unsigned* out) {
  const unsigned lane = threadIdx.x % 32;
  const unsigned mask = (kFixed || lane >= 16) ? 0xffffffffu : 0x00ffffffu;
  out[threadIdx.x] = __ballot_sync(mask, lane % 2);  // site: ballot
}

namespace bugs {

void divergent_barrier(float* out, bool fixed) {
  if (fixed)
    PW_LAUNCH(divergent_barrier_kernel<true>, 1, 64, 0, 0)(out);
  else
    PW_LAUNCH(divergent_barrier_kernel<false>, 1, 64, 0, 0)(out);
  PW_CUDA_CHECK_LAUNCH();
}
void mismatched_masks(unsigned* out, bool fixed) {
  if (fixed)
    PW_LAUNCH(mismatched_masks_kernel<true>, 1, 32, 0, 0)(out);
  else
    PW_LAUNCH(mismatched_masks_kernel<false>, 1, 32, 0, 0)(out);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace bugs
}  // namespace pw::kernels::PW_KERNEL_NS
