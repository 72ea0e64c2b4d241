// Softmax kernels (the GPU versions are in kernels/cuda/loss.cu). Each (outer, inner) line along R is independent: the
// lines run in parallel, and inside a line the exponentials and sums are in double. One templated version serves as
// reference and f32 path (the cost is dominated by exp, not by the loop structure).
#include "kernels/cpu/softmax.h"

#include <cmath>
#include <limits>

namespace pw::kernels::cpu {

namespace {
bool parallel_worth_it(int64_t work, int64_t lines) { return work > (1 << 14) && lines > 1; }
}  // namespace

template <typename T>
void softmax_forward(const T* x, T* y, int64_t outer, int64_t R, int64_t inner, bool log) {
  const int64_t lines = outer * inner;
#pragma omp parallel for schedule(static) if (parallel_worth_it(lines * R, lines))
  for (int64_t line = 0; line < lines; ++line) {
    const int64_t o = line / inner, i = line % inner;
    const T* xp = x + o * R * inner + i;
    T* yp = y + o * R * inner + i;
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t r = 0; r < R; ++r) mx = std::max(mx, double(xp[r * inner]));
    // A line of all -inf gives exp(nan) = nan, which is also PyTorch's answer.
    double sum = 0;
    for (int64_t r = 0; r < R; ++r) sum += std::exp(double(xp[r * inner]) - mx);
    if (log) {
      const double lse = mx + std::log(sum);
      for (int64_t r = 0; r < R; ++r) yp[r * inner] = T(double(xp[r * inner]) - lse);
    } else {
      for (int64_t r = 0; r < R; ++r) yp[r * inner] = T(std::exp(double(xp[r * inner]) - mx) / sum);
    }
  }
}

template <typename T>
void softmax_backward(const T* y, const T* dy, T* dx, int64_t outer, int64_t R, int64_t inner, bool log) {
  const int64_t lines = outer * inner;
#pragma omp parallel for schedule(static) if (parallel_worth_it(lines * R, lines))
  for (int64_t line = 0; line < lines; ++line) {
    const int64_t o = line / inner, i = line % inner;
    const int64_t base = o * R * inner + i;
    double dot = 0;
    if (log) {
      for (int64_t r = 0; r < R; ++r) dot += dy[base + r * inner];
      for (int64_t r = 0; r < R; ++r) {
        const int64_t k = base + r * inner;
        dx[k] = T(double(dy[k]) - std::exp(double(y[k])) * dot);
      }
    } else {
      for (int64_t r = 0; r < R; ++r) dot += double(dy[base + r * inner]) * double(y[base + r * inner]);
      for (int64_t r = 0; r < R; ++r) {
        const int64_t k = base + r * inner;
        dx[k] = T(double(y[k]) * (double(dy[k]) - dot));
      }
    }
  }
}

template <typename T>
void cross_entropy_forward(const T* logits, const int32_t* target, T* loss, T* lse, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (parallel_worth_it(N * C, N))
  for (int64_t n = 0; n < N; ++n) {
    const T* row = logits + n * C;
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t c = 0; c < C; ++c) mx = std::max(mx, double(row[c]));
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += std::exp(double(row[c]) - mx);
    const double l = mx + std::log(sum);
    lse[n] = T(l);
    loss[n] = T(l - double(row[target[n]]));
  }
}

template <typename T>
void cross_entropy_reduce(const T* loss_rows, int64_t N, bool mean, T* out) {
  double total = 0;
  for (int64_t n = 0; n < N; ++n) total += double(loss_rows[n]);
  out[0] = T(mean ? total / double(N) : total);
}

template <typename T>
void cross_entropy_backward(const T* logits, const int32_t* target, const T* lse, const T* grad_loss,
                            int64_t grad_stride, double scale, T* dlogits, int64_t N, int64_t C) {
#pragma omp parallel for schedule(static) if (parallel_worth_it(N * C, N))
  for (int64_t n = 0; n < N; ++n) {
    const T* row = logits + n * C;
    T* out = dlogits + n * C;
    const double g = double(grad_loss[n * grad_stride]) * scale;
    const double l = double(lse[n]);
    const int64_t t = target[n];
    for (int64_t c = 0; c < C; ++c) out[c] = T(g * (std::exp(double(row[c]) - l) - (c == t ? 1.0 : 0.0)));
  }
}

#define PW_INSTANTIATE(T)                                                                                             \
  template void softmax_forward<T>(const T*, T*, int64_t, int64_t, int64_t, bool);                                    \
  template void softmax_backward<T>(const T*, const T*, T*, int64_t, int64_t, int64_t, bool);                         \
  template void cross_entropy_forward<T>(const T*, const int32_t*, T*, T*, int64_t, int64_t);                         \
  template void cross_entropy_reduce<T>(const T*, int64_t, bool, T*);                                                 \
  template void cross_entropy_backward<T>(const T*, const int32_t*, const T*, const T*, int64_t, double, T*, int64_t, \
                                          int64_t);
PW_INSTANTIATE(float)
PW_INSTANTIATE(double)
#undef PW_INSTANTIATE

}  // namespace pw::kernels::cpu
