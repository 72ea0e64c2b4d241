// CPU local response normalization (see lrn.h). Each output channel reads its window of
// neighbouring channel rows directly (size is small, 3..5 in practice), so the inner loop
// over the spatial positions streams contiguous memory.
//
// The general path computes in double with std::pow per element: about 20 ns an element, which
// made LRN cost more than the convolutions around it in alexnet-small (bench/bench_memory.cpp:
// 62.6 ms of CPU for AlexNet conv1's output at batch 16, 0.25 GB/s). f32 with beta = 0.75 (every
// AlexNet-style network) takes a fast path: window sums of squares in float (at most `size`
// terms), s^-0.75 = 1 / (sqrt(s) * sqrt(sqrt(s))) (two correctly rounded square roots, a product
// and a division: a few ulp, against half an ulp for pow in double), and in the backward pass
// each element's dy * y / scale computed once rather than once per window that contains it.
// The loops over positions vectorize (this file is built with -fno-math-errno, so that sqrt
// needs no errno branch); tests hold both paths to the f64 reference.
#include "kernels/cpu/lrn.h"

#include "kernels/cpu/scratch.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

namespace pw::kernels::cpu {

namespace {
constexpr int64_t kParallelWork = 1 << 15;

inline float pow_minus_three_quarters(float s) {
  const float r = std::sqrt(s);
  return 1.f / (r * std::sqrt(r));
}

// out[i] = the sum over the rows r < rows of f(x[r * inner + i]), from row 0 up, with f the square
// (each a fused multiply-add where the machine has one) or the identity, 16 positions at a time in
// registers. Summed into out row by row, every row was a load and a store of out: about half of
// the forward's time (perf).
typedef float Vec16 __attribute__((vector_size(64)));
template <bool kSquares>
void window_sums(const float* x, int64_t rows, int64_t inner, float* __restrict out) {
  int64_t i = 0;
  for (; i + 16 <= inner; i += 16) {
    Vec16 acc = {};
    for (int64_t r = 0; r < rows; ++r) {
      Vec16 v;
      std::memcpy(&v, x + r * inner + i, sizeof v);
      acc += kSquares ? v * v : v;
    }
    std::memcpy(out + i, &acc, sizeof acc);
  }
  for (; i < inner; ++i) {
    float acc = 0.f;
    for (int64_t r = 0; r < rows; ++r) acc += kSquares ? x[r * inner + i] * x[r * inner + i] : x[r * inner + i];
    out[i] = acc;
  }
}

void lrn_forward_f32_beta075(const float* x, float* y, float* scale, int64_t N, int64_t C, int64_t inner, int64_t size,
                             float a, float k) {
#pragma omp parallel for collapse(2) schedule(static) if (N * C * inner * size > kParallelWork)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const int64_t lo = std::max<int64_t>(0, c - size / 2);
      const int64_t hi = std::min<int64_t>(C - 1, c + (size - 1) / 2);
      const int64_t row = (n * C + c) * inner;
      float* __restrict sc = scale + row;
      window_sums<true>(x + (n * C + lo) * inner, hi - lo + 1, inner, sc);
      const float* __restrict xr = x + row;
      float* __restrict yr = y + row;
      for (int64_t i = 0; i < inner; ++i) {
        const float s = k + a * sc[i];
        sc[i] = s;
        yr[i] = xr[i] * pow_minus_three_quarters(s);
      }
    }
}

void lrn_backward_f32_beta075(const float* x, const float* y, const float* scale, const float* dy, float* dx, int64_t N,
                              int64_t C, int64_t inner, int64_t size, float ratio) {
  const int64_t total = N * C * inner;
  float* __restrict t = thread_scratch<float>(kLrnRatios, size_t(total));
#pragma omp parallel if (total * size > kParallelWork)
  {
#pragma omp for schedule(static)
    for (int64_t e = 0; e < total; ++e) t[e] = dy[e] * y[e] / scale[e];
#pragma omp for collapse(2) schedule(static)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t j = 0; j < C; ++j) {
        const int64_t lo = std::max<int64_t>(0, j - (size - 1) / 2);
        const int64_t hi = std::min<int64_t>(C - 1, j + size / 2);
        const int64_t row = (n * C + j) * inner;
        float* __restrict d = dx + row;
        window_sums<false>(t + (n * C + lo) * inner, hi - lo + 1, inner, d);
        for (int64_t i = 0; i < inner; ++i)
          d[i] = dy[row + i] * pow_minus_three_quarters(scale[row + i]) - ratio * x[row + i] * d[i];
      }
  }
}
}  // namespace

template <typename T>
void lrn_forward(const T* x, T* y, T* scale, int64_t N, int64_t C, int64_t inner, int64_t size, double alpha,
                 double beta, double k) {
  const double a = alpha / double(size);
  if constexpr (std::is_same_v<T, float>) {
    if (beta == 0.75) return lrn_forward_f32_beta075(x, y, scale, N, C, inner, size, float(a), float(k));
  }
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
  if constexpr (std::is_same_v<T, float>) {
    if (beta == 0.75) return lrn_backward_f32_beta075(x, y, scale, dy, dx, N, C, inner, size, float(ratio));
  }
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
