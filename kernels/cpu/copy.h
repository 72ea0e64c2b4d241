// Strided N-d copy with element conversion: the kernel behind contiguous(), to(dtype), copy_.
#pragma once
#include <cstdint>

namespace pw::kernels::cpu {

// dst[i] = (Dst)src[i] for every multi-index i of `shape`; strides in elements.
template <typename Src, typename Dst>
void copy_strided(const Src* src, const int64_t* src_strides, Dst* dst, const int64_t* dst_strides,
                  const int64_t* shape, int ndim);

template <typename T>
void fill(T* dst, int64_t n, T value);

}  // namespace pw::kernels::cpu
