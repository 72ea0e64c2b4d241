// Resize kernels. Source indices and weights depend only on the output row or column, so they
// are tabulated once per call; the planes (N*C) then run in parallel. The backward scatters
// within a plane only, so threads never write the same element.
#include "kernels/cpu/resize.h"

#include <omp.h>

#include <algorithm>
#include <vector>

namespace pw::kernels::cpu {

namespace {
bool parallel_worth_it(int64_t planes, int64_t work) { return planes > 1 && work > (1 << 14); }

std::vector<int64_t> nearest_table(int64_t in, int64_t out) {
  std::vector<int64_t> t(out);
  for (int64_t d = 0; d < out; ++d) t[d] = resize_nearest_source(d, in, out);
  return t;
}

std::vector<LinearTap> linear_table(int64_t in, int64_t out, bool align_corners) {
  std::vector<LinearTap> t(out);
  for (int64_t d = 0; d < out; ++d) t[d] = resize_linear_source(d, in, out, align_corners);
  return t;
}
}  // namespace

template <typename T>
void resize_nearest_forward(const T* x, T* y, int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                            int64_t out_w) {
  const std::vector<int64_t> rows = nearest_table(in_h, out_h), cols = nearest_table(in_w, out_w);
#pragma omp parallel for schedule(static) if (parallel_worth_it(planes, planes * out_h * out_w))
  for (int64_t p = 0; p < planes; ++p) {
    const T* xp = x + p * in_h * in_w;
    T* yp = y + p * out_h * out_w;
    for (int64_t oh = 0; oh < out_h; ++oh) {
      const T* src_row = xp + rows[oh] * in_w;
      for (int64_t ow = 0; ow < out_w; ++ow) yp[oh * out_w + ow] = src_row[cols[ow]];
    }
  }
}

template <typename T>
void resize_nearest_backward(const T* dy, T* dx, int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                             int64_t out_w) {
  const std::vector<int64_t> rows = nearest_table(in_h, out_h), cols = nearest_table(in_w, out_w);
#pragma omp parallel for schedule(static) if (parallel_worth_it(planes, planes * out_h * out_w))
  for (int64_t p = 0; p < planes; ++p) {
    const T* gp = dy + p * out_h * out_w;
    T* dp = dx + p * in_h * in_w;
    std::fill(dp, dp + in_h * in_w, T(0));
    for (int64_t oh = 0; oh < out_h; ++oh) {
      T* dst_row = dp + rows[oh] * in_w;
      for (int64_t ow = 0; ow < out_w; ++ow) dst_row[cols[ow]] += gp[oh * out_w + ow];
    }
  }
}

template <typename T>
void resize_bilinear_forward(const T* x, T* y, int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w,
                             bool align_corners) {
  const std::vector<LinearTap> rows = linear_table(in_h, out_h, align_corners);
  const std::vector<LinearTap> cols = linear_table(in_w, out_w, align_corners);
#pragma omp parallel for schedule(static) if (parallel_worth_it(planes, planes * out_h * out_w))
  for (int64_t p = 0; p < planes; ++p) {
    const T* xp = x + p * in_h * in_w;
    T* yp = y + p * out_h * out_w;
    for (int64_t oh = 0; oh < out_h; ++oh) {
      const LinearTap& r = rows[oh];
      const T* top = xp + r.i0 * in_w;
      const T* bottom = xp + r.i1 * in_w;
      for (int64_t ow = 0; ow < out_w; ++ow) {
        const LinearTap& c = cols[ow];
        const double v = r.w0 * (c.w0 * double(top[c.i0]) + c.w1 * double(top[c.i1])) +
                         r.w1 * (c.w0 * double(bottom[c.i0]) + c.w1 * double(bottom[c.i1]));
        yp[oh * out_w + ow] = T(v);
      }
    }
  }
}

template <typename T>
void resize_bilinear_backward(const T* dy, T* dx, int64_t planes, int64_t in_h, int64_t in_w, int64_t out_h,
                              int64_t out_w, bool align_corners) {
  const std::vector<LinearTap> rows = linear_table(in_h, out_h, align_corners);
  const std::vector<LinearTap> cols = linear_table(in_w, out_w, align_corners);
  // One plane of double sums per thread, allocated before the region (out of memory is then an
  // exception the caller sees, not the end of the program).
  std::vector<double> planes_acc(size_t(omp_get_max_threads()) * size_t(in_h * in_w));
#pragma omp parallel for schedule(static) if (parallel_worth_it(planes, planes * out_h * out_w))
  for (int64_t p = 0; p < planes; ++p) {
    const T* gp = dy + p * out_h * out_w;
    T* dp = dx + p * in_h * in_w;
    // Accumulate the plane in double, then round once.
    double* acc = planes_acc.data() + size_t(omp_get_thread_num()) * size_t(in_h * in_w);
    std::fill(acc, acc + in_h * in_w, 0.0);
    for (int64_t oh = 0; oh < out_h; ++oh) {
      const LinearTap& r = rows[oh];
      double* top = acc + r.i0 * in_w;
      double* bottom = acc + r.i1 * in_w;
      for (int64_t ow = 0; ow < out_w; ++ow) {
        const LinearTap& c = cols[ow];
        const double g = double(gp[oh * out_w + ow]);
        top[c.i0] += r.w0 * c.w0 * g;
        top[c.i1] += r.w0 * c.w1 * g;
        bottom[c.i0] += r.w1 * c.w0 * g;
        bottom[c.i1] += r.w1 * c.w1 * g;
      }
    }
    for (int64_t k = 0; k < in_h * in_w; ++k) dp[k] = T(acc[k]);
  }
}

#define PW_INSTANTIATE(T)                                                                                    \
  template void resize_nearest_forward<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t);        \
  template void resize_nearest_backward<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t);       \
  template void resize_bilinear_forward<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, bool); \
  template void resize_bilinear_backward<T>(const T*, T*, int64_t, int64_t, int64_t, int64_t, int64_t, bool);
PW_INSTANTIATE(float)
PW_INSTANTIATE(double)
#undef PW_INSTANTIATE

}  // namespace pw::kernels::cpu
