// Grid sizes for grid-stride loops and the 32-bit index checks, shared by the kernel files
// (include after compat.cuh).
#pragma once
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "kernels/common/ops.h"

namespace pw::kernels::PW_KERNEL_NS {

// Enough blocks of `threads` to give every one of n elements its own thread, capped at
// max_blocks: the grid-stride loop covers the rest, and a capped grid still fills any GPU.
inline int grid_blocks(int64_t n, int threads, int64_t max_blocks = 16384) {
  const int64_t b = (n + threads - 1) / threads;
  return (int)(b < 1 ? 1 : (b < max_blocks ? b : max_blocks));
}

// 32-bit index fast paths: a kernel templated on its index type runs with int when every index
// it forms fits, so that its divisions and remainders are 32-bit instructions instead of 64-bit
// sequences (the values, hence the results, are the same). The limit 2^30 leaves room for an
// index plus a grid stride (at most 16384 x 256 = 2^22).
inline constexpr int64_t kInt32IndexLimit = int64_t(1) << 30;

// PW_CUDA_INDEX64=1 turns every 32-bit fast path off, so that the tests (ctest
// simt_kernels_index64) check the 64-bit kernels on the small sizes they use.
inline bool index64_forced() {
  static const bool forced = [] {
    const char* v = std::getenv("PW_CUDA_INDEX64");
    return v && std::strcmp(v, "1") == 0;
  }();
  return forced;
}

// Whether every one of the (non-negative) extents is below the limit.
inline bool fits_int32(std::initializer_list<int64_t> extents) {
  if (index64_forced()) return false;
  for (int64_t e : extents)
    if (e >= kInt32IndexLimit) return false;
  return true;
}

// Whether n and every offset a strided layout reaches, on either side, are below the limit.
inline bool fits_int32(const StridedLayout& l, int64_t n) {
  if (index64_forced()) return false;
  int64_t src_reach = 0, dst_reach = 0;
  for (int d = 0; d < l.ndim; ++d) {
    const int64_t s = l.src_strides[d] < 0 ? -l.src_strides[d] : l.src_strides[d];
    const int64_t t = l.dst_strides[d] < 0 ? -l.dst_strides[d] : l.dst_strides[d];
    if (l.shape[d] >= kInt32IndexLimit || s >= kInt32IndexLimit || t >= kInt32IndexLimit) return false;
    src_reach += (l.shape[d] - 1) * s;
    dst_reach += (l.shape[d] - 1) * t;
    if (src_reach >= kInt32IndexLimit || dst_reach >= kInt32IndexLimit) return false;
  }
  return n < kInt32IndexLimit;
}

}  // namespace pw::kernels::PW_KERNEL_NS
