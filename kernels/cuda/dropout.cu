// Inverted dropout on the GPU, with the same mask as the CPU for the same generator state.
// Pairs with kernels/cpu/dropout.cpp; the rule is engine/ops/dropout.h's.
//
// The CPU fills a buffer of n uniforms from its Generator and compares; here no buffer and no
// generator state exist on the device: Philox is counter-based (kernels/common/philox.h), so a
// thread computes the words it needs from (seed, stream, index) alone. The fill starts on a
// block boundary (start % 4 == 0), so elements 4b .. 4b+3 are exactly the four words of Philox
// block start/4 + b: one thread per block, one Philox evaluation per four elements. The
// uniform is uint_to_uniform01 (a 24-bit integer times 2^-24, exact), and the keep test is the
// CPU's comparison in double, so the masks are bit-identical on every device; the multiply
// x * mask is a single rounding on both sides.
//
// Expected on a GPU: memory-bound (read x, write mask and y: 12 bytes per element) with the
// 10 Philox rounds hidden behind the memory traffic; near the DRAM floor for large n. The
// four stores of a thread are 4 floats apart per lane, which the L2 merges into full lines.
// Not yet measured on a GPU.
#include "kernels/common/philox.h"
#include "kernels/cuda/compat.cuh"

#define PW_LAUNCHER_NS PW_KERNEL_NS
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

namespace pw::kernels::PW_KERNEL_NS {

namespace {

constexpr int kThreads = 256;

__global__ void dropout_forward_kernel(const float* __restrict__ x, float* __restrict__ mask, float* __restrict__ y,
                                       int64_t n, double p, float scale, uint64_t seed, uint64_t stream,
                                       uint64_t first_block) {
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; b < blocks; b += (int64_t)gridDim.x * blockDim.x) {
    const philox::Block words = philox::philox_block(seed, stream, first_block + (uint64_t)b);
    PW_UNROLL
    for (int k = 0; k < 4; ++k) {
      const int64_t i = 4 * b + k;
      if (i < n) {
        const float m = (double)philox::uint_to_uniform01(words.x[k]) >= p ? scale : 0.0f;
        mask[i] = m;
        y[i] = x[i] * m;
      }
    }
  }
}

}  // namespace

void dropout_forward(Tag, const float* x, float* mask, float* y, int64_t n, double p, float scale, uint64_t seed,
                     uint64_t stream, uint64_t start) {
  if (n == 0) return;
  if (start % 4 != 0) throw CudaError("dropout_forward: start must be a multiple of 4 (a fill start)");
  int64_t grid = ((n + 3) / 4 + kThreads - 1) / kThreads;
  if (grid > 8192) grid = 8192;
  PW_LAUNCH(dropout_forward_kernel, (int)grid, kThreads, 0, 0)(x, mask, y, n, p, scale, seed, stream, start / 4);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace pw::kernels::PW_KERNEL_NS
