// CPU im2col and col2im (kernels/cpu/conv.h): the unfolding of the im2col + GEMM convolution.
#include <omp.h>

#include <algorithm>

#include "kernels/cpu/conv.h"

namespace pw::kernels::cpu {

namespace {
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }  // a >= 0, b > 0

// The output columns ow whose input column ow*stride + off lies in [0, W): [lo, hi). (Also
// used for rows, with the row stride, offset and height.)
void valid_columns(int64_t off, int64_t stride, int64_t W, int64_t Wo, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : std::min(Wo, ceil_div(-off, stride));
  hi = W - off <= 0 ? 0 : std::min(Wo, ceil_div(W - off, stride));
  hi = std::max(hi, lo);
}

// Parallel regions cost microseconds: only split work worth more than that.
constexpr int64_t kParallelWork = 1 << 15;
}  // namespace

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

// Strided columns (sw > 1, AlexNet's conv1: 11x11, stride 4): output column ow of tap j reads
// input column ow * sw + j * dw - pw, a gather with stride sw for each of the kw taps. Split into
// its sw phases (phase r holds columns r, r + sw, ...), an input row is read once and every tap's
// columns become one contiguous run of a phase: channel c's part of col, row by row of the output.
constexpr int64_t kMaxPhasedRow = 4096;  // wider rows take the strided loop below

namespace {

// Tap j's inside output columns [lo[j], hi[j]) and where its run starts in the phases: the same
// for every channel, kernel row and output row, so found once per call (on the stack: im2col runs
// inside the convolution's parallel regions).
constexpr int64_t kMaxPhasedTaps = 64;  // wider kernels take the strided loop below
struct PhasedTaps {
  int64_t lo[kMaxPhasedTaps], hi[kMaxPhasedTaps], start[kMaxPhasedTaps];
  PhasedTaps(int64_t W, int64_t kw, int64_t sw, int64_t pw, int64_t dw, int64_t Wo) {
    const int64_t phase_len = ceil_div(W, sw);
    for (int64_t j = 0; j < kw; ++j) {
      const int64_t off_w = j * dw - pw;
      valid_columns(off_w, sw, W, Wo, lo[j], hi[j]);
      const int64_t first = lo[j] * sw + off_w;  // the first inside input column (when lo < hi)
      start[j] = lo[j] < hi[j] ? (first % sw) * phase_len + first / sw : 0;
    }
  }
};

// One kernel row i of channel c: the kw rows of col at (c * kh + i) * kw. (A unit of work is a
// (channel, kernel row) pair, not a channel: AlexNet's conv1 has 3 channels, which two threads
// split 2 : 1, and 33 such pairs.)
template <typename T>
void im2col_phased_row(const T* x, int64_t c, int64_t i, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh,
                       int64_t sw, int64_t ph, int64_t dh, int64_t Ho, int64_t Wo, const PhasedTaps& taps, T* col,
                       int64_t ld) {
  const int64_t P = Ho * Wo, phase_len = ceil_div(W, sw);
  T phases[kMaxPhasedRow];  // phase r at phases + r * phase_len
  const int64_t off_h = i * dh - ph;
  int64_t oh_lo, oh_hi;
  valid_columns(off_h, sh, H, Ho, oh_lo, oh_hi);
  for (int64_t j = 0; j < kw; ++j)  // rows and columns outside the input are zero
    if (oh_lo > 0 || oh_hi < Ho || taps.lo[j] > 0 || taps.hi[j] < Wo)
      std::fill(col + ((c * kh + i) * kw + j) * ld, col + ((c * kh + i) * kw + j) * ld + P, T(0));
  for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
    const T* __restrict src = x + (c * H + oh * sh + off_h) * W;
    for (int64_t r = 0; r < sw; ++r)
      for (int64_t q = 0; r + q * sw < W; ++q) phases[r * phase_len + q] = src[r + q * sw];
    for (int64_t j = 0; j < kw; ++j) {
      const T* __restrict run = phases + taps.start[j];
      T* __restrict out = col + ((c * kh + i) * kw + j) * ld + oh * Wo + taps.lo[j];
      for (int64_t k = 0; k < taps.hi[j] - taps.lo[j]; ++k) out[k] = run[k];
    }
  }
}

}  // namespace

template <typename T>
void im2col_ld(const T* x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
               int64_t pw, int64_t dh, int64_t dw, int64_t Ho, int64_t Wo, T* col, int64_t ld) {
  const int64_t P = Ho * Wo;
  const bool contiguous_rows = sh == 1 && sw == 1 && Wo == W;
  if (sw > 1 && sw * ceil_div(W, sw) <= kMaxPhasedRow && kw <= kMaxPhasedTaps) {
    const PhasedTaps taps(W, kw, sw, pw, dw, Wo);
    for_each_channel(C * kh, C * kh * kw * P, [&](int64_t ci) {
      im2col_phased_row(x, ci / kh, ci % kh, H, W, kh, kw, sh, sw, ph, dh, Ho, Wo, taps, col, ld);
    });
    return;
  }
  for_each_channel(C, C * kh * kw * P, [&](int64_t c) {
    for (int64_t i = 0; i < kh; ++i) {
      const int64_t off_h = i * dh - ph;
      int64_t oh_lo, oh_hi;  // output rows whose input row is inside
      valid_columns(off_h, sh, H, Ho, oh_lo, oh_hi);
      for (int64_t j = 0; j < kw; ++j) {
        T* row = col + ((c * kh + i) * kw + j) * ld;
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
void col2im_ld(const T* col, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
               int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t Ho, int64_t Wo, T* x, int64_t ld) {
  const int64_t P = Ho * Wo;
  // Each channel's rows of col add only into that channel's plane: channels are independent.
  for_each_channel(C, C * kh * kw * P, [&](int64_t c) {
    for (int64_t i = 0; i < kh; ++i) {
      const int64_t off_h = i * dh - ph;
      int64_t oh_lo, oh_hi;
      valid_columns(off_h, sh, H, Ho, oh_lo, oh_hi);
      for (int64_t j = 0; j < kw; ++j) {
        const T* row = col + ((c * kh + i) * kw + j) * ld;
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

template <typename T>
void im2col(const T* x, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
            int64_t pw, int64_t dh, int64_t dw, int64_t Ho, int64_t Wo, T* col) {
  im2col_ld(x, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, col, Ho * Wo);
}

template <typename T>
void col2im(const T* col, int64_t C, int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
            int64_t pw, int64_t dh, int64_t dw, int64_t Ho, int64_t Wo, T* x) {
  col2im_ld(col, C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo, x, Ho * Wo);
}

#define PW_INSTANTIATE_IM2COL(T)                                                                                     \
  template void im2col<T>(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, \
                          int64_t, int64_t, int64_t, int64_t, T*);                                                   \
  template void col2im<T>(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, \
                          int64_t, int64_t, int64_t, int64_t, T*);                                                   \
  template void im2col_ld<T>(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,       \
                             int64_t, int64_t, int64_t, int64_t, int64_t, T*, int64_t);                              \
  template void col2im_ld<T>(const T*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,       \
                             int64_t, int64_t, int64_t, int64_t, int64_t, T*, int64_t);

PW_INSTANTIATE_IM2COL(float)
PW_INSTANTIATE_IM2COL(double)
#undef PW_INSTANTIATE_IM2COL

}  // namespace pw::kernels::cpu
