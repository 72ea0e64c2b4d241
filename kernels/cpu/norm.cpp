// Batch-normalization kernels. One channel per loop iteration (parallel over channels); all
// sums in double. These are both the reference and the f32 path: the work is a few streaming
// passes, so they are memory-bound and a separate fast version would buy little.
#include "kernels/cpu/norm.h"

#include <cmath>

namespace pw::kernels::cpu {

namespace {
bool parallel_worth_it(int64_t N, int64_t C, int64_t S) { return N * C * S > (1 << 15) && C > 1; }
}  // namespace

template <typename T>
void batch_norm_stats(const T* x, T* mean, T* var, int64_t N, int64_t C, int64_t S) {
  const double count = double(N * S);
#pragma omp parallel for schedule(static) if (parallel_worth_it(N, C, S))
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T* p = x + (n * C + c) * S;
      for (int64_t s = 0; s < S; ++s) sum += p[s];
    }
    const double m = sum / count;
    double sq = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T* p = x + (n * C + c) * S;
      for (int64_t s = 0; s < S; ++s) {
        const double d = double(p[s]) - m;
        sq += d * d;
      }
    }
    mean[c] = T(m);
    var[c] = T(sq / count);
  }
}

template <typename T>
void batch_norm_forward(const T* x, const T* mean, const T* var, const T* weight, const T* bias, T* y,
                        int64_t N, int64_t C, int64_t S, double eps) {
#pragma omp parallel for schedule(static) if (parallel_worth_it(N, C, S))
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = 1.0 / std::sqrt(double(var[c]) + eps);
    // y = x * scale + shift, folded per channel.
    const double w = weight ? double(weight[c]) : 1.0, b = bias ? double(bias[c]) : 0.0;
    const T scale = T(w * invstd), shift = T(b - double(mean[c]) * w * invstd);
    for (int64_t n = 0; n < N; ++n) {
      const T* p = x + (n * C + c) * S;
      T* q = y + (n * C + c) * S;
      for (int64_t s = 0; s < S; ++s) q[s] = p[s] * scale + shift;
    }
  }
}

template <typename T>
void batch_norm_backward(const T* x, const T* dy, const T* mean, const T* var, const T* weight, T* dx,
                         T* dweight, T* dbias, int64_t N, int64_t C, int64_t S, double eps,
                         bool batch_stats) {
  const double count = double(N * S);
#pragma omp parallel for schedule(static) if (parallel_worth_it(N, C, S))
  for (int64_t c = 0; c < C; ++c) {
    const double m = double(mean[c]);
    const double invstd = 1.0 / std::sqrt(double(var[c]) + eps);
    const double w = weight ? double(weight[c]) : 1.0;
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T* xp = x + (n * C + c) * S;
      const T* gp = dy + (n * C + c) * S;
      for (int64_t s = 0; s < S; ++s) {
        sum_dy += gp[s];
        sum_dy_xhat += double(gp[s]) * (double(xp[s]) - m) * invstd;
      }
    }
    if (dweight) dweight[c] = T(sum_dy_xhat);
    if (dbias) dbias[c] = T(sum_dy);
    if (!dx) continue;
    const double k = w * invstd;
    const double mean_dy = batch_stats ? sum_dy / count : 0.0;
    const double mean_dy_xhat = batch_stats ? sum_dy_xhat / count : 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const T* xp = x + (n * C + c) * S;
      const T* gp = dy + (n * C + c) * S;
      T* dp = dx + (n * C + c) * S;
      for (int64_t s = 0; s < S; ++s) {
        const double xhat = (double(xp[s]) - m) * invstd;
        dp[s] = T(k * (double(gp[s]) - mean_dy - xhat * mean_dy_xhat));
      }
    }
  }
}

template <typename T>
void batch_norm_update_running(T* running_mean, T* running_var, const T* mean, const T* var, int64_t C,
                               int64_t count, double momentum) {
  const double unbias = double(count) / double(count - 1);
  for (int64_t c = 0; c < C; ++c) {
    running_mean[c] = T((1 - momentum) * double(running_mean[c]) + momentum * double(mean[c]));
    running_var[c] = T((1 - momentum) * double(running_var[c]) + momentum * double(var[c]) * unbias);
  }
}

#define PW_INSTANTIATE(T)                                                                            \
  template void batch_norm_stats<T>(const T*, T*, T*, int64_t, int64_t, int64_t);                    \
  template void batch_norm_forward<T>(const T*, const T*, const T*, const T*, const T*, T*, int64_t, \
                                      int64_t, int64_t, double);                                     \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*,  \
                                       int64_t, int64_t, int64_t, double, bool);                     \
  template void batch_norm_update_running<T>(T*, T*, const T*, const T*, int64_t, int64_t, double);
PW_INSTANTIATE(float)
PW_INSTANTIATE(double)
#undef PW_INSTANTIATE

}  // namespace pw::kernels::cpu
