// CPU 2-D pooling: direct window loops, one plane per thread (see pool.h).
#include "kernels/cpu/pool.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

namespace pw::kernels::cpu {

namespace {
constexpr int64_t kParallelWork = 1 << 15;

// PyTorch's average-pool window along one axis: [start, end) clipped to the padded input,
// then to the input; `size` is the clipped-to-padding length (the count_include_pad divisor).
struct AvgWindow {
  int64_t start, end, size;
};
AvgWindow avg_window(int64_t o, int64_t stride, int64_t pad, int64_t k, int64_t in) {
  int64_t start = o * stride - pad;
  int64_t end = std::min(start + k, in + pad);
  AvgWindow w{start, end, end - start};
  w.start = std::max<int64_t>(w.start, 0);
  w.end = std::min(w.end, in);
  return w;
}

int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
int64_t adaptive_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

// The reference window: every (dilated) tap, bounds-checked, in row-major order. Strictly
// greater keeps the first of equal values; the first NaN wins and stays.
template <typename T>
void max_window(const Pool2dShape& s, const T* xp, int64_t oh, int64_t ow, T* y, int32_t* idx) {
  T best = -std::numeric_limits<T>::infinity();
  int64_t arg = -1;
  for (int64_t i = 0; i < s.kh; ++i) {
    const int64_t ih = oh * s.stride_h - s.pad_h + i * s.dilation_h;
    if (ih < 0 || ih >= s.H) continue;
    for (int64_t j = 0; j < s.kw; ++j) {
      const int64_t iw = ow * s.stride_w - s.pad_w + j * s.dilation_w;
      if (iw < 0 || iw >= s.W) continue;
      const T v = xp[ih * s.W + iw];
      if (arg < 0 || v > best || (std::isnan(v) && !std::isnan(best))) {
        best = v;
        arg = ih * s.W + iw;
      }
    }
  }
  *y = best;
  *idx = int32_t(arg);
}

// One plane through the reference windows only.
template <typename T>
void max_plane_reference(const Pool2dShape& s, const T* xp, T* yp, int32_t* ip) {
  for (int64_t oh = 0; oh < s.Ho; ++oh)
    for (int64_t ow = 0; ow < s.Wo; ++ow) max_window(s, xp, oh, ow, yp + oh * s.Wo + ow, ip + oh * s.Wo + ow);
}

typedef float Vec8 __attribute__((vector_size(32)));
typedef int32_t Vec8i __attribute__((vector_size(32)));

// Lane by lane, best = v and arg = index where v > best or v is the first NaN (max_window's
// rule). Vectors go by reference: by value they would change the calling convention between AVX
// and non-AVX builds (GCC's -Wpsabi warning when PW_NATIVE is off).
inline void take_if_greater(const Vec8& v, const Vec8i& index, Vec8& best, Vec8i& arg) {
  const Vec8i take = (v > best) | ((v != v) & (best == best));
  best = take ? v : best;
  arg = take ? index : arg;
}

// 2x2 windows with stride 2 (the commonest pooling), 8 outputs at a time in explicit vectors
// (GCC/Clang vector extensions): the compiler's own vectorization of the generic loop below
// spent most of its time in 64-bit index arithmetic and a scalar, branching remainder. Outputs
// [lo, hi) of one row, hi - lo >= 8; the last group of 8 overlaps the one before it instead of
// leaving a remainder (recomputing an output gives the same result). row0 + 2 * ow is the flat
// index of window ow's first element. The comparisons are max_window's, in its order.
void max_2x2_stride2_by_8(const float* xp, int64_t W, int64_t row0, int64_t lo, int64_t hi, float* y, int32_t* idx) {
  const Vec8i lane2 = {0, 2, 4, 6, 8, 10, 12, 14};
  for (int64_t ow = lo;; ow += 8) {
    if (ow + 8 > hi) ow = hi - 8;
    const int64_t base = row0 + 2 * ow;
    Vec8 t0, t1, b0, b1;  // top and bottom input rows, 16 values each
    std::memcpy(&t0, xp + base, sizeof t0);
    std::memcpy(&t1, xp + base + 8, sizeof t1);
    std::memcpy(&b0, xp + base + W, sizeof b0);
    std::memcpy(&b1, xp + base + W + 8, sizeof b1);
    const Vec8 a = __builtin_shufflevector(t0, t1, 0, 2, 4, 6, 8, 10, 12, 14);  // (0, 0)
    const Vec8 b = __builtin_shufflevector(t0, t1, 1, 3, 5, 7, 9, 11, 13, 15);  // (0, 1)
    const Vec8 c = __builtin_shufflevector(b0, b1, 0, 2, 4, 6, 8, 10, 12, 14);  // (1, 0)
    const Vec8 d = __builtin_shufflevector(b0, b1, 1, 3, 5, 7, 9, 11, 13, 15);  // (1, 1)
    const Vec8i first = int32_t(base) + lane2;
    Vec8 best = a;
    Vec8i arg = first;
    take_if_greater(b, first + 1, best, arg);
    take_if_greater(c, first + int32_t(W), best, arg);
    take_if_greater(d, first + int32_t(W + 1), best, arg);
    std::memcpy(y + ow, &best, sizeof best);
    std::memcpy(idx + ow, &arg, sizeof arg);
    if (ow + 8 >= hi) break;
  }
}

// 3x3 windows with stride 2 (AlexNet's and CaffeNet's pools) in the same way: per input row, the
// taps j = 0, 1 are the even and odd values of 16 loaded, and j = 2 the even values shifted by one,
// whose last (the 17th value) comes from a load that ends at it (a load past it could leave the
// plane). The compiler's vectorization of the generic loop ran at 37% of the triad bandwidth on
// AlexNet's conv1 output (bench_memory).
void max_3x3_stride2_by_8(const float* xp, int64_t W, int64_t row0, int64_t lo, int64_t hi, float* y, int32_t* idx) {
  const Vec8i lane2 = {0, 2, 4, 6, 8, 10, 12, 14};
  for (int64_t ow = lo;; ow += 8) {
    if (ow + 8 > hi) ow = hi - 8;
    const int64_t base = row0 + 2 * ow;
    const Vec8i first = int32_t(base) + lane2;
    Vec8 best;
    Vec8i arg;
    for (int i = 0; i < 3; ++i) {
      const float* r = xp + base + i * W;
      Vec8 t0, t1, t2;
      std::memcpy(&t0, r, sizeof t0);
      std::memcpy(&t1, r + 8, sizeof t1);
      std::memcpy(&t2, r + 9, sizeof t2);  // its last value is r[16]
      const Vec8 even = __builtin_shufflevector(t0, t1, 0, 2, 4, 6, 8, 10, 12, 14);
      const Vec8 odd = __builtin_shufflevector(t0, t1, 1, 3, 5, 7, 9, 11, 13, 15);
      const Vec8 shifted = __builtin_shufflevector(t0, t1, 2, 4, 6, 8, 10, 12, 14, 15);
      const Vec8 next = __builtin_shufflevector(shifted, t2, 0, 1, 2, 3, 4, 5, 6, 15);
      const Vec8i row = first + int32_t(i * W);
      if (i == 0) {
        best = even;
        arg = row;
      } else {
        take_if_greater(even, row, best, arg);
      }
      take_if_greater(odd, row + 1, best, arg);
      take_if_greater(next, row + 2, best, arg);
    }
    std::memcpy(y + ow, &best, sizeof best);
    std::memcpy(idx + ow, &arg, sizeof arg);
    if (ow + 8 >= hi) break;
  }
}

// The fast path for one plane: K x K windows with column stride S and no dilation. Windows
// wholly inside the input run the same comparisons in the same order as max_window, written as
// selects instead of branches and without bounds checks, so that the compiler vectorizes them
// across output columns (random data makes the branches unpredictable: the reference was ~5x
// slower). Border windows (padding, ceil mode's partial windows) run max_window.
template <int K, int S>
void max_plane_fast(const Pool2dShape& s, const float* __restrict xp, float* __restrict yp, int32_t* __restrict ip) {
  const int64_t W = s.W;
  // Output columns with 0 <= ow*S - pad_w and ow*S - pad_w + K <= W.
  const int64_t lo = std::min(s.Wo, (s.pad_w + S - 1) / S);
  const int64_t hi = W - K + s.pad_w < 0 ? 0 : std::min(s.Wo, (W - K + s.pad_w) / S + 1);
  for (int64_t oh = 0; oh < s.Ho; ++oh) {
    float* y = yp + oh * s.Wo;
    int32_t* id = ip + oh * s.Wo;
    const int64_t ih0 = oh * s.stride_h - s.pad_h;
    if (ih0 < 0 || ih0 + K > s.H || lo >= hi) {
      for (int64_t ow = 0; ow < s.Wo; ++ow) max_window(s, xp, oh, ow, y + ow, id + ow);
      continue;
    }
    for (int64_t ow = 0; ow < lo; ++ow) max_window(s, xp, oh, ow, y + ow, id + ow);
    const int64_t row0 = ih0 * W - s.pad_w;  // flat index of window (oh, 0)'s first element
    if constexpr ((K == 2 || K == 3) && S == 2) {
      if (hi - lo >= 8) {
        (K == 2 ? max_2x2_stride2_by_8 : max_3x3_stride2_by_8)(xp, W, row0, lo, hi, y, id);
        for (int64_t ow = hi; ow < s.Wo; ++ow) max_window(s, xp, oh, ow, y + ow, id + ow);
        continue;
      }
    }
    for (int64_t ow = lo; ow < hi; ++ow) {
      const int64_t base = row0 + ow * S;
      const float* win = xp + base;
      float best = win[0];
      int32_t arg = int32_t(base);
      for (int i = 0; i < K; ++i)
        for (int j = 0; j < K; ++j) {
          if (i == 0 && j == 0) continue;
          const float v = win[i * W + j];
          // v != v: v is NaN (no -ffast-math here, so this is exact).
          const bool take = v > best || (v != v && best == best);
          best = take ? v : best;
          arg = take ? int32_t(base + i * W + j) : arg;
        }
      y[ow] = best;
      id[ow] = arg;
    }
    for (int64_t ow = hi; ow < s.Wo; ++ow) max_window(s, xp, oh, ow, y + ow, id + ow);
  }
}

// Planes whose rows are too short for the 8-wide kernels above (Wo < 8: AlexNet's last pool,
// 13x13 -> 6x6) and whose windows all lie inside (no padding, no partial windows): 8 consecutive
// outputs of the plane at a time, across its rows, each lane's taps loaded one by one. first[q] is
// the flat index of output q's first element, the same for every plane. The generic loop on such
// planes took 0.4 us a plane (30 cycles an output: AlexNet's 4096 planes at batch 16 in 1.8 ms).
// Same comparisons, same order.
template <int K>
void max_plane_narrow(const int32_t* first, int64_t n, int64_t W, const float* xp, float* yp, int32_t* ip) {
  for (int64_t q = 0;; q += 8) {
    if (q + 8 > n) q = n - 8;
    Vec8i base;
    std::memcpy(&base, first + q, sizeof base);
    Vec8 best;
    for (int l = 0; l < 8; ++l) best[l] = xp[base[l]];
    Vec8i arg = base;
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < K; ++j) {
        if (i == 0 && j == 0) continue;
        const Vec8i at = base + int32_t(i * W + j);
        Vec8 v;
        for (int l = 0; l < 8; ++l) v[l] = xp[at[l]];
        take_if_greater(v, at, best, arg);
      }
    std::memcpy(yp + q, &best, sizeof best);
    std::memcpy(ip + q, &arg, sizeof arg);
    if (q + 8 >= n) break;
  }
}

using NarrowFn = void (*)(const int32_t*, int64_t, int64_t, const float*, float*, int32_t*);

// The narrow kernel for s and its table of first elements, or null where it does not apply.
NarrowFn max_plane_narrow_kernel(const Pool2dShape& s, std::vector<int32_t>& first) {
  const bool inside =
      s.pad_h == 0 && s.pad_w == 0 && (s.Ho - 1) * s.stride_h + s.kh <= s.H && (s.Wo - 1) * s.stride_w + s.kw <= s.W;
  if (s.Wo >= 8 || s.Ho * s.Wo < 8 || !inside || s.dilation_h != 1 || s.dilation_w != 1 || s.kh != s.kw ||
      (s.kh != 2 && s.kh != 3))
    return nullptr;
  first.resize(size_t(s.Ho * s.Wo));
  for (int64_t oh = 0; oh < s.Ho; ++oh)
    for (int64_t ow = 0; ow < s.Wo; ++ow)
      first[size_t(oh * s.Wo + ow)] = int32_t(oh * s.stride_h * s.W + ow * s.stride_w);
  return s.kh == 2 ? max_plane_narrow<2> : max_plane_narrow<3>;
}

using PlaneFn = void (*)(const Pool2dShape&, const float*, float*, int32_t*);

// The fast plane kernel for s, or null when s is not one of the specialized cases (square 2x2
// or 3x3 windows, column stride 1 to 3, no dilation).
PlaneFn max_plane_kernel(const Pool2dShape& s) {
  if (s.dilation_h != 1 || s.dilation_w != 1 || s.kh != s.kw) return nullptr;
  if (s.kh == 2) {
    if (s.stride_w == 1) return max_plane_fast<2, 1>;
    if (s.stride_w == 2) return max_plane_fast<2, 2>;
    if (s.stride_w == 3) return max_plane_fast<2, 3>;
  } else if (s.kh == 3) {
    if (s.stride_w == 1) return max_plane_fast<3, 1>;
    if (s.stride_w == 2) return max_plane_fast<3, 2>;
    if (s.stride_w == 3) return max_plane_fast<3, 3>;
  }
  return nullptr;
}

}  // namespace

// The f64 path (the gradient checks' reference) always runs the reference windows; f32 takes
// the fast path where it applies, with identical results (same comparisons, same order).
template <typename T>
void max_pool2d_forward(const Pool2dShape& s, const T* x, T* y, int32_t* idx) {
  PlaneFn fast = nullptr;
  NarrowFn narrow = nullptr;
  std::vector<int32_t> first;
  if constexpr (std::is_same_v<T, float>) {
    fast = max_plane_kernel(s);
    narrow = max_plane_narrow_kernel(s, first);
  }
  const int64_t work = s.planes * s.Ho * s.Wo * s.kh * s.kw;
#pragma omp parallel for schedule(static) if (work > kParallelWork && s.planes > 1)
  for (int64_t p = 0; p < s.planes; ++p) {
    const T* xp = x + p * s.H * s.W;
    T* yp = y + p * s.Ho * s.Wo;
    int32_t* ip = idx + p * s.Ho * s.Wo;
    if constexpr (std::is_same_v<T, float>) {
      if (narrow) {
        narrow(first.data(), s.Ho * s.Wo, s.W, xp, yp, ip);
        continue;
      }
      if (fast) {
        fast(s, xp, yp, ip);
        continue;
      }
    }
    max_plane_reference(s, xp, yp, ip);
  }
}

template <typename T>
void max_pool2d_backward(const Pool2dShape& s, const T* dy, const int32_t* idx, T* dx) {
#pragma omp parallel for schedule(static) if (s.planes * s.H * s.W > kParallelWork && s.planes > 1)
  for (int64_t p = 0; p < s.planes; ++p) {
    T* dxp = dx + p * s.H * s.W;
    const T* dyp = dy + p * s.Ho * s.Wo;
    const int32_t* ip = idx + p * s.Ho * s.Wo;
    std::fill(dxp, dxp + s.H * s.W, T(0));
    for (int64_t q = 0; q < s.Ho * s.Wo; ++q)
      if (ip[q] >= 0) dxp[ip[q]] += dyp[q];
  }
}

template <typename T>
void avg_pool2d_forward(const Pool2dShape& s, bool count_include_pad, const T* x, T* y) {
  const int64_t work = s.planes * s.Ho * s.Wo * s.kh * s.kw;
#pragma omp parallel for schedule(static) if (work > kParallelWork && s.planes > 1)
  for (int64_t p = 0; p < s.planes; ++p) {
    const T* xp = x + p * s.H * s.W;
    T* yp = y + p * s.Ho * s.Wo;
    for (int64_t oh = 0; oh < s.Ho; ++oh) {
      const AvgWindow wh = avg_window(oh, s.stride_h, s.pad_h, s.kh, s.H);
      for (int64_t ow = 0; ow < s.Wo; ++ow) {
        const AvgWindow ww = avg_window(ow, s.stride_w, s.pad_w, s.kw, s.W);
        const int64_t inside = (wh.end - wh.start) * (ww.end - ww.start);
        if (wh.start >= wh.end || ww.start >= ww.end) {
          yp[oh * s.Wo + ow] = T(0);
          continue;
        }
        double acc = 0;
        for (int64_t ih = wh.start; ih < wh.end; ++ih)
          for (int64_t iw = ww.start; iw < ww.end; ++iw) acc += xp[ih * s.W + iw];
        const int64_t divisor = count_include_pad ? wh.size * ww.size : inside;
        yp[oh * s.Wo + ow] = T(acc / double(divisor));
      }
    }
  }
}

template <typename T>
void avg_pool2d_backward(const Pool2dShape& s, bool count_include_pad, const T* dy, T* dx) {
  const int64_t work = s.planes * s.Ho * s.Wo * s.kh * s.kw;
#pragma omp parallel for schedule(static) if (work > kParallelWork && s.planes > 1)
  for (int64_t p = 0; p < s.planes; ++p) {
    T* dxp = dx + p * s.H * s.W;
    const T* dyp = dy + p * s.Ho * s.Wo;
    std::fill(dxp, dxp + s.H * s.W, T(0));
    for (int64_t oh = 0; oh < s.Ho; ++oh) {
      const AvgWindow wh = avg_window(oh, s.stride_h, s.pad_h, s.kh, s.H);
      for (int64_t ow = 0; ow < s.Wo; ++ow) {
        const AvgWindow ww = avg_window(ow, s.stride_w, s.pad_w, s.kw, s.W);
        if (wh.start >= wh.end || ww.start >= ww.end) continue;
        const int64_t divisor = count_include_pad ? wh.size * ww.size : (wh.end - wh.start) * (ww.end - ww.start);
        const T g = T(double(dyp[oh * s.Wo + ow]) / double(divisor));
        for (int64_t ih = wh.start; ih < wh.end; ++ih)
          for (int64_t iw = ww.start; iw < ww.end; ++iw) dxp[ih * s.W + iw] += g;
      }
    }
  }
}

// The adaptive windows of every output row and column, computed once per call (the integer
// divisions per output element cost more than the sums when the plane is small, as VGG's 2x2 ->
// 7x7 at 64 px input), with the work of the call for the parallel threshold.
struct AdaptiveWindows {
  std::vector<int64_t> h0, h1, w0, w1;
  int64_t work = 0;  // elements read and written over all planes
  explicit AdaptiveWindows(const Pool2dShape& s) : h0(s.Ho), h1(s.Ho), w0(s.Wo), w1(s.Wo) {
    int64_t taps_h = 0, taps_w = 0;
    for (int64_t o = 0; o < s.Ho; ++o)
      h0[o] = adaptive_start(o, s.H, s.Ho), h1[o] = adaptive_end(o, s.H, s.Ho), taps_h += h1[o] - h0[o];
    for (int64_t o = 0; o < s.Wo; ++o)
      w0[o] = adaptive_start(o, s.W, s.Wo), w1[o] = adaptive_end(o, s.W, s.Wo), taps_w += w1[o] - w0[o];
    work = s.planes * (taps_h * taps_w + s.H * s.W + s.Ho * s.Wo);
  }
};

template <typename T>
void adaptive_avg_pool2d_forward(const Pool2dShape& s, const T* x, T* y) {
  if (s.Ho == s.H && s.Wo == s.W) {  // every window is one element (AlexNet's 6x6 -> 6x6): a copy
    std::copy(x, x + s.planes * s.H * s.W, y);
    return;
  }
  const AdaptiveWindows a(s);
#pragma omp parallel for schedule(static) if (a.work > kParallelWork && s.planes > 1)
  for (int64_t p = 0; p < s.planes; ++p) {
    const T* xp = x + p * s.H * s.W;
    T* yp = y + p * s.Ho * s.Wo;
    for (int64_t oh = 0; oh < s.Ho; ++oh)
      for (int64_t ow = 0; ow < s.Wo; ++ow) {
        double acc = 0;
        for (int64_t ih = a.h0[oh]; ih < a.h1[oh]; ++ih)
          for (int64_t iw = a.w0[ow]; iw < a.w1[ow]; ++iw) acc += xp[ih * s.W + iw];
        yp[oh * s.Wo + ow] = T(acc / double((a.h1[oh] - a.h0[oh]) * (a.w1[ow] - a.w0[ow])));
      }
  }
}

template <typename T>
void adaptive_avg_pool2d_backward(const Pool2dShape& s, const T* dy, T* dx) {
  if (s.Ho == s.H && s.Wo == s.W) {  // the same values as below (up to the sign of a zero)
    std::copy(dy, dy + s.planes * s.H * s.W, dx);
    return;
  }
  const AdaptiveWindows a(s);
#pragma omp parallel for schedule(static) if (a.work > kParallelWork && s.planes > 1)
  for (int64_t p = 0; p < s.planes; ++p) {
    T* dxp = dx + p * s.H * s.W;
    const T* dyp = dy + p * s.Ho * s.Wo;
    std::fill(dxp, dxp + s.H * s.W, T(0));
    for (int64_t oh = 0; oh < s.Ho; ++oh)
      for (int64_t ow = 0; ow < s.Wo; ++ow) {
        const T g = T(double(dyp[oh * s.Wo + ow]) / double((a.h1[oh] - a.h0[oh]) * (a.w1[ow] - a.w0[ow])));
        for (int64_t ih = a.h0[oh]; ih < a.h1[oh]; ++ih)
          for (int64_t iw = a.w0[ow]; iw < a.w1[ow]; ++iw) dxp[ih * s.W + iw] += g;
      }
  }
}

#define PW_INSTANTIATE_POOL(T)                                                            \
  template void max_pool2d_forward<T>(const Pool2dShape&, const T*, T*, int32_t*);        \
  template void max_pool2d_backward<T>(const Pool2dShape&, const T*, const int32_t*, T*); \
  template void avg_pool2d_forward<T>(const Pool2dShape&, bool, const T*, T*);            \
  template void avg_pool2d_backward<T>(const Pool2dShape&, bool, const T*, T*);           \
  template void adaptive_avg_pool2d_forward<T>(const Pool2dShape&, const T*, T*);         \
  template void adaptive_avg_pool2d_backward<T>(const Pool2dShape&, const T*, T*);

PW_INSTANTIATE_POOL(float)
PW_INSTANTIATE_POOL(double)
#undef PW_INSTANTIATE_POOL

}  // namespace pw::kernels::cpu
