// CPU 2-D convolution: the direct reference loops and the im2col + GEMM path (see conv.h).
//
// The direct loops accumulate in double whatever T is, so the float reference is as exact as
// a float result can be. The im2col path costs one unfolded copy of an image's group
// (C/g*kh*kw*Ho*Wo elements) and spends nearly all its time in the GEMM, so it runs at a
// large fraction of the SGEMM's speed when Ho*Wo and O/g are both in the tens or more
// (every AlexNet/VGG layer); depthwise convs (O/g = 1) get no benefit from the GEMM.
#include "kernels/cpu/conv.h"

#include <omp.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/lane_sums.h"

namespace pw::kernels::cpu {

namespace {

// The GEMM for T: the fast kernel for float, the reference for double (as pw::detail::gemm).
void gemm_t(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
            float beta, float* C, int64_t ldc) {
  sgemm(ta, tb, M, N, K, 1.f, A, lda, B, ldb, beta, C, ldc);
}
void gemm_t(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B,
            int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_reference<double>(ta, tb, M, N, K, 1.0, A, lda, B, ldb, beta, C, ldc);
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }  // a >= 0, b > 0

// The output columns ow whose input column ow*stride + off lies in [0, W): [lo, hi). (Also
// used for rows, with the row stride, offset and height.)
void valid_columns(int64_t off, int64_t stride, int64_t W, int64_t Wo, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : std::min(Wo, ceil_div(-off, stride));
  hi = W - off <= 0 ? 0 : std::min(Wo, ceil_div(W - off, stride));
  hi = std::max(hi, lo);
}

// True when the input plane of a group already is its col matrix.
bool is_pointwise(const ConvGeometry& s) {
  return s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// Parallel regions cost microseconds: only split work worth more than that.
constexpr int64_t kParallelWork = 1 << 15;

}  // namespace

// ---------------------------------------------------------------- direct (reference)

template <typename T>
void conv2d_forward_direct(const ConvGeometry& s, const T* x, const T* w, const T* bias, T* y) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups;
  const int64_t work = s.N * s.O * s.Ho * s.Wo * Cg * s.kh * s.kw;
#pragma omp parallel for collapse(2) schedule(static) if (work > kParallelWork)
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t o = 0; o < s.O; ++o) {
      const int64_t g = o / Og;
      for (int64_t oh = 0; oh < s.Ho; ++oh)
        for (int64_t ow = 0; ow < s.Wo; ++ow) {
          double acc = bias ? double(bias[o]) : 0.0;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t i = 0; i < s.kh; ++i) {
              const int64_t ih = oh * s.stride_h - s.pad_h + i * s.dilation_h;
              if (ih < 0 || ih >= s.H) continue;
              for (int64_t j = 0; j < s.kw; ++j) {
                const int64_t iw = ow * s.stride_w - s.pad_w + j * s.dilation_w;
                if (iw < 0 || iw >= s.W) continue;
                acc += double(x[((n * s.C + g * Cg + c) * s.H + ih) * s.W + iw]) *
                       double(w[((o * Cg + c) * s.kh + i) * s.kw + j]);
              }
            }
          y[((n * s.O + o) * s.Ho + oh) * s.Wo + ow] = T(acc);
        }
    }
}

// Gather form: dx[n, c, ih, iw] sums dy[n, o, oh, ow] * w[o, c, i, j] over every (o, i, j)
// whose tap lands on (ih, iw), i.e. ih = oh*sh - ph + i*dh for an integer oh in range.
template <typename T>
void conv2d_backward_data_direct(const ConvGeometry& s, const T* dy, const T* w, T* dx) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups;
  const int64_t work = s.N * s.C * s.H * s.W * Og * s.kh * s.kw;
#pragma omp parallel for collapse(2) schedule(static) if (work > kParallelWork)
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t c = 0; c < s.C; ++c) {
      const int64_t g = c / Cg, cg = c % Cg;
      for (int64_t ih = 0; ih < s.H; ++ih)
        for (int64_t iw = 0; iw < s.W; ++iw) {
          double acc = 0.0;
          for (int64_t og = 0; og < Og; ++og) {
            const int64_t o = g * Og + og;
            for (int64_t i = 0; i < s.kh; ++i) {
              const int64_t th = ih + s.pad_h - i * s.dilation_h;  // = oh * stride_h
              if (th < 0 || th % s.stride_h != 0) continue;
              const int64_t oh = th / s.stride_h;
              if (oh >= s.Ho) continue;
              for (int64_t j = 0; j < s.kw; ++j) {
                const int64_t tw = iw + s.pad_w - j * s.dilation_w;
                if (tw < 0 || tw % s.stride_w != 0) continue;
                const int64_t ow = tw / s.stride_w;
                if (ow >= s.Wo) continue;
                acc += double(dy[((n * s.O + o) * s.Ho + oh) * s.Wo + ow]) *
                       double(w[((o * Cg + cg) * s.kh + i) * s.kw + j]);
              }
            }
          }
          dx[((n * s.C + c) * s.H + ih) * s.W + iw] = T(acc);
        }
    }
}

template <typename T>
void conv2d_backward_weight_direct(const ConvGeometry& s, const T* x, const T* dy, T* dw) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups;
  const int64_t work = s.O * Cg * s.kh * s.kw * s.N * s.Ho * s.Wo;
#pragma omp parallel for collapse(2) schedule(static) if (work > kParallelWork)
  for (int64_t o = 0; o < s.O; ++o)
    for (int64_t c = 0; c < Cg; ++c) {
      const int64_t g = o / Og;
      for (int64_t i = 0; i < s.kh; ++i)
        for (int64_t j = 0; j < s.kw; ++j) {
          double acc = 0.0;
          for (int64_t n = 0; n < s.N; ++n)
            for (int64_t oh = 0; oh < s.Ho; ++oh) {
              const int64_t ih = oh * s.stride_h - s.pad_h + i * s.dilation_h;
              if (ih < 0 || ih >= s.H) continue;
              for (int64_t ow = 0; ow < s.Wo; ++ow) {
                const int64_t iw = ow * s.stride_w - s.pad_w + j * s.dilation_w;
                if (iw < 0 || iw >= s.W) continue;
                acc += double(dy[((n * s.O + o) * s.Ho + oh) * s.Wo + ow]) *
                       double(x[((n * s.C + g * Cg + c) * s.H + ih) * s.W + iw]);
              }
            }
          dw[((o * Cg + c) * s.kh + i) * s.kw + j] = T(acc);
        }
    }
}

// The f64 path (and any T) sums in double element by element; f32 sums each image's plane in
// float lanes and the planes in double (kernels/cpu/lane_sums.h): about 4x faster, with the
// error of a plane-sized float sum, not a batch-sized one. Deterministic either way.
template <typename T>
void conv2d_backward_bias(const ConvGeometry& s, const T* dy, T* db) {
  const int64_t P = s.Ho * s.Wo;
#pragma omp parallel for schedule(static) if (s.N * s.O * P > kParallelWork)
  for (int64_t o = 0; o < s.O; ++o) {
    double acc = 0.0;
    for (int64_t n = 0; n < s.N; ++n) {
      const T* row = dy + (n * s.O + o) * P;
      if constexpr (std::is_same_v<T, float>)
        acc += lanes::row_sum(row, P);
      else
        for (int64_t p = 0; p < P; ++p) acc += row[p];
    }
    db[o] = T(acc);
  }
}

// ---------------------------------------------------------------- im2col / col2im

// im2col and col2im run inside the per-image parallel loop of the drivers below, so they only
// open a parallel region of their own when called from outside one (a nested region would be a
// team of one, at a fork's cost). Rows are Wo values long (a few tens in small networks), and
// per-row memset/memcpy calls and bounds tests dominated. Now each (c, i, j) block first finds
// the output rows and columns whose input lies inside; im2col copies that part with plain
// loops, as one contiguous run when both strides are 1 and Wo == W ("same" convolutions: the
// block is then the input plane shifted), and zeroes the rest; col2im adds over the same part.
// Measured on conv2 of fmnist-cnn (32 channels, 14x14, 3x3 pad 1): im2col ~3x faster.

namespace {
// f(c) for c in [0, C): over the threads when the work is large and no parallel region is open,
// else in a plain loop (an `if` clause would still enter the OpenMP runtime for a team of one).
template <typename F>
void for_each_channel(int64_t C, int64_t work, F f) {
  if (work > kParallelWork && C > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < C; ++c) f(c);
  } else {
    for (int64_t c = 0; c < C; ++c) f(c);
  }
}
}  // namespace

template <typename T>
void im2col(const T* x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
            int64_t pw, int64_t dh, int64_t dw, int64_t Ho, int64_t Wo, T* col) {
  const int64_t P = Ho * Wo;
  const bool contiguous_rows = sh == 1 && sw == 1 && Wo == W;
  for_each_channel(C, C * kh * kw * P, [&](int64_t c) {
    for (int64_t i = 0; i < kh; ++i) {
      const int64_t off_h = i * dh - ph;
      int64_t oh_lo, oh_hi;  // output rows whose input row is inside
      valid_columns(off_h, sh, H, Ho, oh_lo, oh_hi);
      for (int64_t j = 0; j < kw; ++j) {
        T* row = col + ((c * kh + i) * kw + j) * P;
        const int64_t off_w = j * dw - pw;
        int64_t lo, hi;
        valid_columns(off_w, sw, W, Wo, lo, hi);
        if (contiguous_rows && lo < hi && oh_lo < oh_hi) {
          // Unit strides and Wo == W: the block is the plane shifted by (off_h, off_w), so the
          // inside part is one contiguous copy from the first inside element to the last; the
          // columns it wraps into, and the rows outside, are then zeroed. Bit-identical to the
          // row-by-row copy below, and a long vectorized copy instead of Ho short ones.
          const int64_t first = oh_lo * Wo + lo, last = (oh_hi - 1) * Wo + hi;
          const T* src = x + c * H * W + (oh_lo + off_h) * W + lo + off_w;
          std::fill(row, row + first, T(0));
          for (int64_t q = 0; q < last - first; ++q) row[first + q] = src[q];
          std::fill(row + last, row + P, T(0));
          // The border columns of the inside rows (a strided store per column, a few columns).
          for (int64_t ow = 0; ow < lo; ++ow)
            for (int64_t oh = oh_lo + 1; oh < oh_hi; ++oh) row[oh * Wo + ow] = T(0);
          for (int64_t ow = hi; ow < Wo; ++ow)
            for (int64_t oh = oh_lo; oh + 1 < oh_hi; ++oh) row[oh * Wo + ow] = T(0);
          continue;
        }
        if (oh_lo > 0 || oh_hi < Ho || lo > 0 || hi < Wo) std::fill(row, row + P, T(0));
        if (lo >= hi) continue;
        const int64_t n = hi - lo;
        for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
          // x and col never overlap: restrict spares each short row a run-time overlap check.
          T* __restrict r = row + oh * Wo + lo;
          const T* __restrict src = x + (c * H + oh * sh + off_h) * W + lo * sw + off_w;
          if (sw == 1)
            for (int64_t k = 0; k < n; ++k) r[k] = src[k];
          else
            for (int64_t k = 0; k < n; ++k) r[k] = src[k * sw];
        }
      }
    }
  });
}

template <typename T>
void col2im(const T* col, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
            int64_t pw, int64_t dh, int64_t dw, int64_t Ho, int64_t Wo, T* x) {
  const int64_t P = Ho * Wo;
  // Each channel's rows of col add only into that channel's plane: channels are independent.
  for_each_channel(C, C * kh * kw * P, [&](int64_t c) {
    for (int64_t i = 0; i < kh; ++i) {
      const int64_t off_h = i * dh - ph;
      int64_t oh_lo, oh_hi;
      valid_columns(off_h, sh, H, Ho, oh_lo, oh_hi);
      for (int64_t j = 0; j < kw; ++j) {
        const T* row = col + ((c * kh + i) * kw + j) * P;
        const int64_t off_w = j * dw - pw;
        int64_t lo, hi;
        valid_columns(off_w, sw, W, Wo, lo, hi);
        if (lo >= hi) continue;
        const int64_t n = hi - lo;
        for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
          // col and x never overlap: restrict spares each short row a run-time overlap check.
          const T* __restrict r = row + oh * Wo + lo;
          T* __restrict dst = x + (c * H + oh * sh + off_h) * W + lo * sw + off_w;
          if (sw == 1)
            for (int64_t k = 0; k < n; ++k) dst[k] += r[k];
          else
            for (int64_t k = 0; k < n; ++k) dst[k * sw] += r[k];
        }
      }
    }
  });
}

// ---------------------------------------------------------------- im2col + GEMM
//
// Parallelism: when there are at least as many (image, group) pairs as threads, the pairs are
// spread over the threads and each runs its im2col and a single-threaded GEMM on its own column
// buffer (sgemm runs on the calling thread inside a parallel region). That avoids a fork/join
// per small per-image GEMM, which dominated small-image training. Otherwise (batch 1, say) the
// pairs run in order and the GEMM threads itself.

namespace {
bool parallel_over_images(const ConvGeometry& s) {
  const int threads = omp_get_max_threads();
  return threads > 1 && s.N * s.groups >= threads && !omp_in_parallel();
}

// Runs one(t, col) for every (image, group) pair t, each thread with its own column buffer of
// col_size elements: over the threads when parallel_over_images, else in order.
template <typename T, typename F>
void for_each_image_group(const ConvGeometry& s, int64_t col_size, F&& one) {
  const int64_t tasks = s.N * s.groups;
  if (parallel_over_images(s)) {
    // Every buffer is allocated before the parallel region: out of memory there is an exception
    // the caller sees (thrown inside a region it would end the program).
    const int nthreads = omp_get_max_threads();
    std::vector<std::vector<T>> cols(nthreads, std::vector<T>(col_size));
#pragma omp parallel num_threads(nthreads)
    {
      T* col = cols[omp_get_thread_num()].data();
#pragma omp for schedule(static)
      for (int64_t t = 0; t < tasks; ++t) one(t, col);
    }
  } else {
    std::vector<T> col(col_size);
    for (int64_t t = 0; t < tasks; ++t) one(t, col.data());
  }
}
}  // namespace

template <typename T>
void conv2d_forward_im2col(const ConvGeometry& s, const T* x, const T* w, const T* bias, T* y) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups;
  const int64_t K = Cg * s.kh * s.kw, P = s.Ho * s.Wo;
  const bool pointwise = is_pointwise(s);
  auto one = [&](int64_t t, T* col) {
    const int64_t n = t / s.groups, g = t % s.groups;
    const T* xg = x + (n * s.C + g * Cg) * s.H * s.W;
    const T* B = xg;
    if (!pointwise) {
      im2col(xg, Cg, s.H, s.W, s.kh, s.kw, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h, s.dilation_w, s.Ho,
             s.Wo, col);
      B = col;
    }
    T* yg = y + (n * s.O + g * Og) * P;
    gemm_t(false, false, Og, P, K, w + g * Og * K, K, B, P, T(0), yg, P);
    if (bias)
      for (int64_t o = 0; o < Og; ++o) {
        T* row = yg + o * P;
        const T b = bias[g * Og + o];
        for (int64_t p = 0; p < P; ++p) row[p] += b;
      }
  };
  for_each_image_group<T>(s, pointwise ? 0 : K * P, one);
}

template <typename T>
void conv2d_backward_data_im2col(const ConvGeometry& s, const T* dy, const T* w, T* dx) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups;
  const int64_t K = Cg * s.kh * s.kw, P = s.Ho * s.Wo, HW = s.H * s.W;
  const bool pointwise = is_pointwise(s);
  auto one = [&](int64_t t, T* col) {
    const int64_t n = t / s.groups, g = t % s.groups;
    const T* dyg = dy + (n * s.O + g * Og) * P;
    T* dxg = dx + (n * s.C + g * Cg) * HW;
    // W_g is stored [Og, K]; W_g^T @ dY_g is [K, P].
    if (pointwise) {
      gemm_t(true, false, K, P, Og, w + g * Og * K, K, dyg, P, T(0), dxg, P);
      return;
    }
    gemm_t(true, false, K, P, Og, w + g * Og * K, K, dyg, P, T(0), col, P);
    std::fill(dxg, dxg + Cg * HW, T(0));
    col2im(col, Cg, s.H, s.W, s.kh, s.kw, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h, s.dilation_w, s.Ho,
           s.Wo, dxg);
  };
  for_each_image_group<T>(s, pointwise ? 0 : K * P, one);
}

template <typename T>
void conv2d_backward_weight_im2col(const ConvGeometry& s, const T* x, const T* dy, T* dw) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups;
  const int64_t K = Cg * s.kh * s.kw, P = s.Ho * s.Wo;
  std::fill(dw, dw + s.O * K, T(0));
  const bool pointwise = is_pointwise(s);
  // dW_g [Og, K] += dY_g [Og, P] @ col^T [P, K], summed over images.
  auto one = [&](int64_t t, T* col, T* acc) {
    const int64_t n = t / s.groups, g = t % s.groups;
    const T* xg = x + (n * s.C + g * Cg) * s.H * s.W;
    const T* B = xg;
    if (!pointwise) {
      im2col(xg, Cg, s.H, s.W, s.kh, s.kw, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h, s.dilation_w, s.Ho,
             s.Wo, col);
      B = col;
    }
    gemm_t(false, true, Og, K, P, dy + (n * s.O + g * Og) * P, P, B, P, T(1), acc + g * Og * K, K);
  };
  const int64_t tasks = s.N * s.groups;
  if (parallel_over_images(s)) {
    // Each thread sums its (statically assigned) images into a private dW; the private sums are
    // then added in thread order, so the result is the same on every run with this many threads.
    // The buffers are allocated before the region (see for_each_image_group).
    const int nthreads = omp_get_max_threads();
    std::vector<std::vector<T>> acc(nthreads, std::vector<T>(s.O * K, T(0)));
    std::vector<std::vector<T>> cols(nthreads, std::vector<T>(pointwise ? 0 : K * P));
#pragma omp parallel num_threads(nthreads)
    {
      const int tid = omp_get_thread_num();
#pragma omp for schedule(static)
      for (int64_t t = 0; t < tasks; ++t) one(t, cols[tid].data(), acc[tid].data());
#pragma omp for schedule(static)
      for (int64_t i = 0; i < s.O * K; ++i) {
        T sum = T(0);
        for (int t = 0; t < nthreads; ++t) sum += acc[t][i];
        dw[i] = sum;
      }
    }
  } else {
    std::vector<T> col(pointwise ? 0 : K * P);
    for (int64_t t = 0; t < tasks; ++t) one(t, col.data(), dw);
  }
}

#define PW_INSTANTIATE_CONV(T)                                                                                       \
  template void conv2d_forward_direct<T>(const ConvGeometry&, const T*, const T*, const T*, T*);                     \
  template void conv2d_backward_data_direct<T>(const ConvGeometry&, const T*, const T*, T*);                         \
  template void conv2d_backward_weight_direct<T>(const ConvGeometry&, const T*, const T*, T*);                       \
  template void conv2d_forward_im2col<T>(const ConvGeometry&, const T*, const T*, const T*, T*);                     \
  template void conv2d_backward_data_im2col<T>(const ConvGeometry&, const T*, const T*, T*);                         \
  template void conv2d_backward_weight_im2col<T>(const ConvGeometry&, const T*, const T*, T*);                       \
  template void conv2d_backward_bias<T>(const ConvGeometry&, const T*, T*);                                          \
  template void im2col<T>(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, \
                          int64_t, int64_t, int64_t, int64_t, T*);                                                   \
  template void col2im<T>(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, \
                          int64_t, int64_t, int64_t, int64_t, T*);

PW_INSTANTIATE_CONV(float)
PW_INSTANTIATE_CONV(double)
#undef PW_INSTANTIATE_CONV

}  // namespace pw::kernels::cpu
