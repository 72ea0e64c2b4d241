// Reductions (inner-contiguous accumulation so the hot loop streams memory) and the max backward
// scatter. The GPU versions are in kernels/cuda/reduce.cu.
#include "kernels/cpu/reduce.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace pw::kernels::cpu {

template <typename T>
void sum_axis(const T* x, T* y, int64_t outer, int64_t R, int64_t inner) {
  // One accumulator row per thread, allocated before the region: running out of memory is then
  // an exception the caller sees (inside a region it would end the program).
  std::vector<double> rows(size_t(omp_get_max_threads()) * size_t(inner));
#pragma omp parallel for schedule(static) if (outer * R * inner > (1 << 16) && outer > 1)
  for (int64_t o = 0; o < outer; ++o) {
    double* acc = rows.data() + size_t(omp_get_thread_num()) * size_t(inner);
    std::fill(acc, acc + inner, 0.0);
    const T* base = x + o * R * inner;
    for (int64_t r = 0; r < R; ++r) {
      const T* row = base + r * inner;
      for (int64_t i = 0; i < inner; ++i) acc[i] += row[i];
    }
    for (int64_t i = 0; i < inner; ++i) y[o * inner + i] = static_cast<T>(acc[i]);
  }
}

template <typename T>
void max_axis(const T* x, T* values, int32_t* indices, int64_t outer, int64_t R, int64_t inner) {
#pragma omp parallel for schedule(static) if (outer * R * inner > (1 << 16) && outer > 1)
  for (int64_t o = 0; o < outer; ++o) {
    const T* base = x + o * R * inner;
    for (int64_t i = 0; i < inner; ++i) {
      T best = base[i];
      int32_t arg = 0;
      for (int64_t r = 1; r < R && !std::isnan(best); ++r) {
        T v = base[r * inner + i];
        if (v > best || std::isnan(v)) {
          best = v;
          arg = (int32_t)r;
        }
      }
      values[o * inner + i] = best;
      indices[o * inner + i] = arg;
    }
  }
}

template <typename T>
void max_axis_backward(const T* grad, const int32_t* indices, T* dx, int64_t outer, int64_t R, int64_t inner) {
#pragma omp parallel for schedule(static) if (outer * R * inner > (1 << 16) && outer > 1)
  for (int64_t o = 0; o < outer; ++o) {
    T* block = dx + o * R * inner;
    for (int64_t k = 0; k < R * inner; ++k) block[k] = T(0);
    for (int64_t i = 0; i < inner; ++i) block[indices[o * inner + i] * inner + i] = grad[o * inner + i];
  }
}

template void sum_axis<float>(const float*, float*, int64_t, int64_t, int64_t);
template void sum_axis<double>(const double*, double*, int64_t, int64_t, int64_t);
template void max_axis<float>(const float*, float*, int32_t*, int64_t, int64_t, int64_t);
template void max_axis<double>(const double*, double*, int32_t*, int64_t, int64_t, int64_t);
template void max_axis_backward<float>(const float*, const int32_t*, float*, int64_t, int64_t, int64_t);
template void max_axis_backward<double>(const double*, const int32_t*, double*, int64_t, int64_t, int64_t);

}  // namespace pw::kernels::cpu
