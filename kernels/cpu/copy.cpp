// Strided copy: collapses the innermost dimension into a tight loop; the outer dimensions are
// walked with an odometer. Parallel over outer rows when large.
#include "kernels/cpu/copy.h"

#include <cstdint>
#include <vector>

namespace pw::kernels::cpu {

template <typename Src, typename Dst>
void copy_strided(const Src* src, const int64_t* src_strides, Dst* dst, const int64_t* dst_strides,
                  const int64_t* shape, int ndim) {
  if (ndim == 0) {
    dst[0] = static_cast<Dst>(src[0]);
    return;
  }
  int64_t inner = shape[ndim - 1];
  int64_t ss = src_strides[ndim - 1], ds = dst_strides[ndim - 1];
  int64_t rows = 1;
  for (int d = 0; d < ndim - 1; ++d) rows *= shape[d];
  if (rows * inner == 0) return;
#pragma omp parallel for schedule(static) if (rows * inner > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    int64_t so = 0, dof = 0, rem = r;
    for (int d = ndim - 2; d >= 0; --d) {
      int64_t i = rem % shape[d];
      rem /= shape[d];
      so += i * src_strides[d];
      dof += i * dst_strides[d];
    }
    const Src* s = src + so;
    Dst* o = dst + dof;
    if (ss == 1 && ds == 1) {
      for (int64_t i = 0; i < inner; ++i) o[i] = static_cast<Dst>(s[i]);
    } else {
      for (int64_t i = 0; i < inner; ++i) o[i * ds] = static_cast<Dst>(s[i * ss]);
    }
  }
}

template <typename T>
void fill(T* dst, int64_t n, T value) {
  for (int64_t i = 0; i < n; ++i) dst[i] = value;
}

#define PW_COPY(S, D) \
  template void copy_strided<S, D>(const S*, const int64_t*, D*, const int64_t*, const int64_t*, int);
PW_COPY(float, float)
PW_COPY(float, double)
PW_COPY(float, int32_t)
PW_COPY(double, float)
PW_COPY(double, double)
PW_COPY(double, int32_t)
PW_COPY(int32_t, float)
PW_COPY(int32_t, double)
PW_COPY(int32_t, int32_t)
#undef PW_COPY
template void fill<float>(float*, int64_t, float);
template void fill<double>(double*, int64_t, double);
template void fill<int32_t>(int32_t*, int64_t, int32_t);

}  // namespace pw::kernels::cpu
