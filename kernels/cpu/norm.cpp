// Batch-normalization kernels on [N, C, S] (one plane = the S values of one image and channel).
//
// Two versions of the statistics and of the backward pass:
//   - reference (any T; the f64 path the gradient checks run on): one channel per iteration,
//     parallel over channels, every sum in double element by element;
//   - f32 fast path (float, planes of at least kFastMinRow values): the planes are visited in
//     memory order, split statically over the threads; each plane is summed in float with
//     independent vector lanes (kernels/cpu/lane_sums.h) and its partial results are stored; then
//     each channel combines its N partials in double, in image order. The statistics use the
//     corrected two-pass variance within a plane (the plane is still in L1 for its second pass)
//     and merge the planes' (count, mean, M2) with Chan et al.'s pairwise formula, so a mean far
//     from zero does not cancel the variance away and the error does not grow with the batch.
//     Every sum has one fixed order, so results do not depend on the thread count.
//   The reference was 3-4x slower on [64, 32, 28, 28]: a conversion and a dependent double add
//   per element, and a channel's planes are 100 KB apart, which defeats the prefetcher.
#include "kernels/cpu/norm.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/cpu/lane_sums.h"

namespace pw::kernels::cpu {

namespace {
bool parallel_worth_it(int64_t N, int64_t C, int64_t S) { return N * C * S > (1 << 15) && C > 1; }
bool planes_worth_splitting(int64_t N, int64_t C, int64_t S) { return N * C * S > (1 << 15) && N * C > 1; }

// Below this many values per plane ([N, C] features, tiny maps) the per-plane bookkeeping of the
// fast path costs more than it saves, and the reference runs.
constexpr int64_t kFastMinRow = 16;

template <typename T>
bool use_fast_path(int64_t S) {
  return std::is_same_v<T, float> && S >= kFastMinRow;
}

// Statistics, f32 fast path (see the file comment).
void stats_fast(const float* x, float* mean, float* var, int64_t N, int64_t C, int64_t S) {
  const int64_t planes = N * C;
  std::vector<double> plane_mean(planes), plane_m2(planes);
#pragma omp parallel for schedule(static) if (planes_worth_splitting(N, C, S))
  for (int64_t r = 0; r < planes; ++r) {
    const float* p = x + r * S;
    // Pass 1: a centre near the plane's mean; pass 2: sums of deviations from it. The correction
    // sum_d^2 / S makes up for the centre not being the exact mean.
    const float centre = float(lanes::row_sum(p, S) / double(S));
    double sum_d, sum_d2;
    lanes::row_centered_sums(p, S, centre, sum_d, sum_d2);
    plane_mean[r] = double(centre) + sum_d / double(S);
    plane_m2[r] = std::max(0.0, sum_d2 - sum_d * sum_d / double(S));
  }
  for (int64_t c = 0; c < C; ++c) {
    // Chan et al.: merge each plane's (S, mean, M2) into the running (count, m, m2).
    double count = 0, m = 0, m2 = 0;
    for (int64_t n = 0; n < N; ++n) {
      const double total = count + double(S);
      const double delta = plane_mean[n * C + c] - m;
      m += delta * double(S) / total;
      m2 += plane_m2[n * C + c] + delta * delta * count * double(S) / total;
      count = total;
    }
    mean[c] = float(m);
    var[c] = float(m2 / count);
  }
}

// Backward, f32 fast path: the two sums per plane by float lanes (combined per channel in
// double, in image order), then dx in float, plane by plane.
void backward_fast(const float* x, const float* dy, const float* mean, const float* var, const float* weight, float* dx,
                   float* dweight, float* dbias, int64_t N, int64_t C, int64_t S, double eps, bool batch_stats) {
  const int64_t planes = N * C;
  const bool split = planes_worth_splitting(N, C, S);
  std::vector<double> plane_dy(planes), plane_dy_xc(planes);  // sum dy, sum dy * (x - mean)
#pragma omp parallel for schedule(static) if (split)
  for (int64_t r = 0; r < planes; ++r)
    lanes::row_grad_sums(dy + r * S, x + r * S, S, mean[r % C], plane_dy[r], plane_dy_xc[r]);
  // dx = k * (dy - mean(dy) - xhat * mean(dy xhat)) with xhat = (x - mean) * invstd, as
  // k * ((dy - mdy) - (x - mean) * slope) per channel.
  std::vector<float> k(C), mdy(C), slope(C);
  const double count = double(N * S);
  for (int64_t c = 0; c < C; ++c) {
    double sum_dy = 0, sum_dy_xc = 0;
    for (int64_t n = 0; n < N; ++n) {
      sum_dy += plane_dy[n * C + c];
      sum_dy_xc += plane_dy_xc[n * C + c];
    }
    const double invstd = 1.0 / std::sqrt(double(var[c]) + eps);
    const double sum_dy_xhat = sum_dy_xc * invstd;
    if (dweight) dweight[c] = float(sum_dy_xhat);
    if (dbias) dbias[c] = float(sum_dy);
    const double w = weight ? double(weight[c]) : 1.0;
    k[c] = float(w * invstd);
    mdy[c] = batch_stats ? float(sum_dy / count) : 0.f;
    slope[c] = batch_stats ? float(invstd * sum_dy_xhat / count) : 0.f;
  }
  if (!dx) return;
#pragma omp parallel for schedule(static) if (split)
  for (int64_t r = 0; r < planes; ++r) {
    const int64_t c = r % C;
    const float kc = k[c], mc = mdy[c], sc = slope[c], mean_c = mean[c];
    const float* xp = x + r * S;
    const float* gp = dy + r * S;
    float* dp = dx + r * S;
    for (int64_t s = 0; s < S; ++s) dp[s] = kc * ((gp[s] - mc) - (xp[s] - mean_c) * sc);
  }
}

}  // namespace

template <typename T>
void batch_norm_stats(const T* x, T* mean, T* var, int64_t N, int64_t C, int64_t S) {
  if constexpr (std::is_same_v<T, float>) {
    if (use_fast_path<T>(S)) return stats_fast(x, mean, var, N, C, S);
  }
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

// Elementwise given the per-channel scale and shift: planes in memory order, split over the
// threads (a per-channel loop would jump between planes 100 KB apart).
template <typename T>
void batch_norm_fold(const T* mean, const T* var, const T* weight, const T* bias, int64_t C, double eps, T* scale,
                     T* shift) {
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = 1.0 / std::sqrt(double(var[c]) + eps);
    const double w = weight ? double(weight[c]) : 1.0, b = bias ? double(bias[c]) : 0.0;
    scale[c] = T(w * invstd);
    shift[c] = T(b - double(mean[c]) * w * invstd);
  }
}

template <typename T>
void batch_norm_forward(const T* x, const T* mean, const T* var, const T* weight, const T* bias, T* y, int64_t N,
                        int64_t C, int64_t S, double eps) {
  std::vector<T> scale(C), shift(C);
  batch_norm_fold(mean, var, weight, bias, C, eps, scale.data(), shift.data());
#pragma omp parallel for schedule(static) if (planes_worth_splitting(N, C, S))
  for (int64_t r = 0; r < N * C; ++r) {
    const T a = scale[r % C], b = shift[r % C];
    const T* p = x + r * S;
    T* q = y + r * S;
    for (int64_t s = 0; s < S; ++s) q[s] = p[s] * a + b;
  }
}

template <typename T>
void batch_norm_backward(const T* x, const T* dy, const T* mean, const T* var, const T* weight, T* dx, T* dweight,
                         T* dbias, int64_t N, int64_t C, int64_t S, double eps, bool batch_stats) {
  if constexpr (std::is_same_v<T, float>) {
    if (use_fast_path<T>(S))
      return backward_fast(x, dy, mean, var, weight, dx, dweight, dbias, N, C, S, eps, batch_stats);
  }
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
void batch_norm_update_running(T* running_mean, T* running_var, const T* mean, const T* var, int64_t C, int64_t count,
                               double momentum) {
  const double unbias = double(count) / double(count - 1);
  for (int64_t c = 0; c < C; ++c) {
    running_mean[c] = T((1 - momentum) * double(running_mean[c]) + momentum * double(mean[c]));
    running_var[c] = T((1 - momentum) * double(running_var[c]) + momentum * double(var[c]) * unbias);
  }
}

#define PW_INSTANTIATE(T)                                                                                              \
  template void batch_norm_stats<T>(const T*, T*, T*, int64_t, int64_t, int64_t);                                      \
  template void batch_norm_fold<T>(const T*, const T*, const T*, const T*, int64_t, double, T*, T*);                   \
  template void batch_norm_forward<T>(const T*, const T*, const T*, const T*, const T*, T*, int64_t, int64_t, int64_t, \
                                      double);                                                                         \
  template void batch_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, T*, T*, T*, int64_t, int64_t, \
                                       int64_t, double, bool);                                                         \
  template void batch_norm_update_running<T>(T*, T*, const T*, const T*, int64_t, int64_t, double);
PW_INSTANTIATE(float)
PW_INSTANTIATE(double)
#undef PW_INSTANTIATE

}  // namespace pw::kernels::cpu
