// CPU local response normalization (see lrn.h). Each output channel reads its window of
// neighbouring channel rows directly (size is small, 3..5 in practice), so the inner loop
// over the spatial positions streams contiguous memory and needs no scratch buffer.
#include "kernels/cpu/lrn.h"

#include <algorithm>
#include <cmath>

namespace pw::kernels::cpu {

namespace {
constexpr int64_t kParallelWork = 1 << 15;
}

template <typename T>
void lrn_forward(const T* x, T* y, T* scale, int64_t N, int64_t C, int64_t inner, int64_t size, double alpha,
                 double beta, double k) {
  const double a = alpha / double(size);
#pragma omp parallel for collapse(2) schedule(static) if (N * C * inner * size > kParallelWork)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t lo = std::max<int64_t>(0, c - size / 2);
      const int64_t hi = std::min<int64_t>(C - 1, c + (size - 1) / 2);
      const T* xn = x + n * C * inner;
      const int64_t row = (n * C + c) * inner;
      for (int64_t i = 0; i < inner; ++i) {
        double sq = 0;
        for (int64_t cc = lo; cc <= hi; ++cc) {
          const double v = xn[cc * inner + i];
          sq += v * v;
        }
        const double s = k + a * sq;
        scale[row + i] = T(s);
        y[row + i] = T(double(x[row + i]) * std::pow(s, -beta));
      }
    }
}

template <typename T>
void lrn_backward(const T* x, const T* y, const T* scale, const T* dy, T* dx, int64_t N, int64_t C, int64_t inner,
                  int64_t size, double alpha, double beta) {
  const double ratio = 2.0 * alpha * beta / double(size);
#pragma omp parallel for collapse(2) schedule(static) if (N * C * inner * size > kParallelWork)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t j = 0; j < C; ++j) {
      // The channels whose window contains j: the window of c is [c - size/2, c + (size-1)/2].
      const int64_t lo = std::max<int64_t>(0, j - (size - 1) / 2);
      const int64_t hi = std::min<int64_t>(C - 1, j + size / 2);
      const int64_t base = n * C * inner;
      const int64_t row = base + j * inner;
      for (int64_t i = 0; i < inner; ++i) {
        double acc = 0;
        for (int64_t c = lo; c <= hi; ++c) {
          const int64_t e = base + c * inner + i;
          acc += double(dy[e]) * double(y[e]) / double(scale[e]);
        }
        dx[row + i] =
            T(double(dy[row + i]) * std::pow(double(scale[row + i]), -beta) - ratio * double(x[row + i]) * acc);
      }
    }
}

template void lrn_forward<float>(const float*, float*, float*, int64_t, int64_t, int64_t, int64_t, double, double,
                                 double);
template void lrn_forward<double>(const double*, double*, double*, int64_t, int64_t, int64_t, int64_t, double, double,
                                  double);
template void lrn_backward<float>(const float*, const float*, const float*, const float*, float*, int64_t, int64_t,
                                  int64_t, int64_t, double, double);
template void lrn_backward<double>(const double*, const double*, const double*, const double*, double*, int64_t,
                                   int64_t, int64_t, int64_t, double, double);

}  // namespace pw::kernels::cpu
