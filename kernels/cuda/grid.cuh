// Grid sizes for grid-stride loops, shared by the kernel files (include after compat.cuh).
#pragma once
#include <cstdint>

namespace pw::kernels::PW_KERNEL_NS {

// Enough blocks of `threads` to give every one of n elements its own thread, capped at
// max_blocks: the grid-stride loop covers the rest, and a capped grid still fills any GPU.
inline int grid_blocks(int64_t n, int threads, int64_t max_blocks = 16384) {
  const int64_t b = (n + threads - 1) / threads;
  return (int)(b < 1 ? 1 : (b < max_blocks ? b : max_blocks));
}

}  // namespace pw::kernels::PW_KERNEL_NS
