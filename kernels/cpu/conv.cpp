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
#include "kernels/cpu/scratch.h"

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

// op(W_g) of every group g as the GEMMs' A operand, W_g = w + g * Og * K stored [Og, K] and op
// its transpose or not. For float, where a group's weight serves several GEMMs (images or chunks
// of images), it is packed once per call, shared by the images and threads, instead of once per
// GEMM; where it serves one (batch 1) it stays unpacked (pack_a_operand, kernels/cpu/gemm.h). For
// double W itself (the reference GEMM).
template <typename T>
class WeightOperand {
 public:
  WeightOperand(const T* w, int64_t groups, int64_t Og, int64_t K, bool trans, int64_t uses)
      : w_(w), Og_(Og), K_(K), trans_(trans) {
    if constexpr (std::is_same_v<T, float>) {
      const int64_t M = trans ? K : Og, depth = trans ? Og : K, size = packed_a_floats(M, depth);
      float* buf = uses > 1 ? aligned_thread_scratch(kConvPackedWeights, size_t(groups * size)) : nullptr;
      for (int64_t g = 0; g < groups; ++g)
        packed_.push_back(pack_a_operand(trans, M, depth, w + g * Og * K, K, buf ? buf + g * size : nullptr));
    }
  }
  // C [rows of op(W_g), N] = op(W_g) B, B [cols of op(W_g), N] with rows ldb apart.
  void times(int64_t g, int64_t N, const T* B, int64_t ldb, T* C, int64_t ldc) const {
    if constexpr (std::is_same_v<T, float>)
      sgemm_packed(packed_[g], false, N, 1.f, B, ldb, 0.f, C, ldc);
    else
      gemm_t(trans_, false, trans_ ? K_ : Og_, N, trans_ ? Og_ : K_, w_ + g * Og_ * K_, K_, B, ldb, T(0), C, ldc);
  }

 private:
  const T* w_;
  int64_t Og_, K_;
  bool trans_;
  std::vector<PackedA> packed_;
};

// True when the input plane of a group already is its col matrix.
bool is_pointwise(const ConvGeometry& s) {
  return s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0;
}

// Parallel regions cost microseconds: only split work worth more than that.
constexpr int64_t kParallelWork = 1 << 15;

}  // namespace

// ---------------------------------------------------------------- direct (reference)

template <typename T>
void conv2d_forward_direct(const ConvGeometry& s, const T* x, const T* w, const ConvEpilogue<T>& ep, T* y) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups;
  const int64_t work = s.N * s.O * s.Ho * s.Wo * Cg * s.kh * s.kw;
#pragma omp parallel for collapse(2) schedule(static) if (work > kParallelWork)
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t o = 0; o < s.O; ++o) {
      const int64_t g = o / Og;
      for (int64_t oh = 0; oh < s.Ho; ++oh)
        for (int64_t ow = 0; ow < s.Wo; ++ow) {
          double acc = ep.bias ? double(ep.bias[o]) : 0.0;
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
          y[((n * s.O + o) * s.Ho + oh) * s.Wo + ow] = ep.finish(o, T(acc));
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

// ---------------------------------------------------------------- im2col + GEMM
//
// Image chunks. A GEMM per image re-packs the weight for every image and, in the weight gradient,
// reads and writes the whole dW per image; where an image's output plane is small (VGG's last
// layers at 64 px: 4x4 or 8x8 positions; AlexNet's conv3-5: 13x13) that traffic outgrew the
// arithmetic (perf: VGG-11's 512->512 layers at 4x4 ran at 12 GFLOP/s on one core). So images
// are taken G at a time, G = ceil(kChunkColumns / (Ho*Wo)) (at most N; 1 for large planes): their
// col matrices sit side by side in one [K, G*Ho*Wo] matrix (im2col_ld), and one GEMM does the
// chunk. Forward writes a [O/g, G*Ho*Wo] block that is then copied (with the bias) into the images'
// planes; the data gradient gathers dY the same way. A 1x1 stride-1 unpadded conv keeps G = 1,
// its input plane being its col matrix.
//
// Parallelism: when there are at least as many (chunk, group) tasks as threads, they are spread
// over the threads and each runs single-threaded GEMMs on its own buffers (sgemm runs on the
// calling thread inside a parallel region), which avoids a fork/join per small GEMM. Otherwise
// (batch 1, say) the tasks run in order and the GEMM threads itself.

namespace {
constexpr int64_t kChunkColumns = 512;

struct Chunks {
  int64_t G = 1, count = 1;  // images per chunk, chunks
  int64_t images(int64_t c, int64_t N) const { return std::min(G, N - c * G); }
};

Chunks plan_chunks(const ConvGeometry& s) {
  Chunks c;
  const int64_t P = s.Ho * s.Wo;
  if (!is_pointwise(s) && P > 0) c.G = std::clamp<int64_t>(ceil_div(kChunkColumns, P), 1, s.N);
  c.count = ceil_div(s.N, c.G);
  return c;
}

bool parallel_over_tasks(int64_t tasks) {
  const int threads = omp_get_max_threads();
  return threads > 1 && tasks >= threads && !omp_in_parallel();
}

// Runs one(t, buf) for every task t in [0, tasks), each thread with its own buffer of `size`
// elements: over the threads when parallel_over_tasks, else in order. Buffers are allocated
// before the parallel region: out of memory there is an exception the caller sees (thrown
// inside a region it would end the program).
template <typename T, typename F>
void for_each_task(int64_t tasks, int64_t size, F&& one) {
  if (parallel_over_tasks(tasks)) {
    const int nthreads = omp_get_max_threads();
    T* bufs = thread_scratch<T>(kConvTasks, size_t(nthreads) * size_t(size));
#pragma omp parallel num_threads(nthreads)
    {
      T* buf = bufs + omp_get_thread_num() * size;
#pragma omp for schedule(static)
      for (int64_t t = 0; t < tasks; ++t) one(t, buf);
    }
  } else {
    T* buf = thread_scratch<T>(kConvTasks, size_t(size));
    for (int64_t t = 0; t < tasks; ++t) one(t, buf);
  }
}

// im2col of images n0 .. n0+count-1 (group g's channels) into col [K, count*P], row stride ld.
template <typename T>
void unfold_chunk(const ConvGeometry& s, const T* x, int64_t n0, int64_t count, int64_t g, T* col, int64_t ld) {
  const int64_t Cg = s.C / s.groups, P = s.Ho * s.Wo;
  for (int64_t i = 0; i < count; ++i)
    im2col_ld(x + ((n0 + i) * s.C + g * Cg) * s.H * s.W, Cg, s.H, s.W, s.kh, s.kw, s.stride_h, s.stride_w, s.pad_h,
              s.pad_w, s.dilation_h, s.dilation_w, s.Ho, s.Wo, col + i * P, ld);
}

// A chunk's [Og, count*P] block and the images' planes of group g in a [N, O, P] tensor:
// scatter_block writes the block's epilogue (bias and the rest, channel g*Og + o) to the planes,
// gather_block copies the planes in.
template <typename T>
void scatter_block(const ConvGeometry& s, int64_t n0, int64_t count, int64_t g, const T* block,
                   const ConvEpilogue<T>& ep, T* planes) {
  const int64_t Og = s.O / s.groups, P = s.Ho * s.Wo, ld = count * P;
  for (int64_t i = 0; i < count; ++i)
    for (int64_t o = 0; o < Og; ++o)
      epilogue_row(ep, g * Og + o, block + o * ld + i * P, planes + ((n0 + i) * s.O + g * Og + o) * P, P);
}

template <typename T>
void gather_block(const ConvGeometry& s, int64_t n0, int64_t count, int64_t g, const T* planes, T* block) {
  const int64_t Og = s.O / s.groups, P = s.Ho * s.Wo, ld = count * P;
  for (int64_t i = 0; i < count; ++i)
    for (int64_t o = 0; o < Og; ++o) {
      const T* p = planes + ((n0 + i) * s.O + g * Og + o) * P;
      std::copy(p, p + P, block + o * ld + i * P);
    }
}
}  // namespace

template <typename T>
void conv2d_forward_im2col(const ConvGeometry& s, const T* x, const T* w, const ConvEpilogue<T>& ep, T* y) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups;
  const int64_t K = Cg * s.kh * s.kw, P = s.Ho * s.Wo;
  const bool pointwise = is_pointwise(s);
  const Chunks ch = plan_chunks(s);
  const WeightOperand<T> W(w, s.groups, Og, K, false, ch.count);
  auto one = [&](int64_t t, T* buf) {
    const int64_t c = t / s.groups, g = t % s.groups, n0 = c * ch.G, count = ch.images(c, s.N), ld = count * P;
    if (ch.G == 1) {  // straight into the image's planes
      const T* B = x + (n0 * s.C + g * Cg) * s.H * s.W;
      if (!pointwise) unfold_chunk(s, x, n0, 1, g, buf, P), B = buf;
      T* yg = y + (n0 * s.O + g * Og) * P;
      W.times(g, P, B, P, yg, P);
      if (!ep.empty())
        for (int64_t o = 0; o < Og; ++o) epilogue_row(ep, g * Og + o, yg + o * P, yg + o * P, P);
      return;
    }
    T* col = buf;
    T* out = buf + K * ch.G * P;
    unfold_chunk(s, x, n0, count, g, col, ld);
    W.times(g, ld, col, ld, out, ld);
    scatter_block(s, n0, count, g, out, ep, y);
  };
  const int64_t size = pointwise ? 0 : ch.G == 1 ? K * P : (K + Og) * ch.G * P;
  for_each_task<T>(ch.count * s.groups, size, one);
}

template <typename T>
void conv2d_backward_data_im2col(const ConvGeometry& s, const T* dy, const T* w, T* dx) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups;
  const int64_t K = Cg * s.kh * s.kw, P = s.Ho * s.Wo, HW = s.H * s.W;
  const bool pointwise = is_pointwise(s);
  const Chunks ch = plan_chunks(s);
  const WeightOperand<T> Wt(w, s.groups, Og, K, true, ch.count);  // W_g stored [Og, K]; W_g^T dY_g: [K, count*P]
  auto one = [&](int64_t t, T* buf) {
    const int64_t c = t / s.groups, g = t % s.groups, n0 = c * ch.G, count = ch.images(c, s.N), ld = count * P;
    if (pointwise) {
      Wt.times(g, P, dy + (n0 * s.O + g * Og) * P, P, dx + (n0 * s.C + g * Cg) * HW, P);
      return;
    }
    T* col = buf;
    const T* dyg = dy + (n0 * s.O + g * Og) * P;
    if (ch.G > 1) {
      T* gathered = buf + K * ch.G * P;
      gather_block(s, n0, count, g, dy, gathered);
      dyg = gathered;
    }
    Wt.times(g, ld, dyg, ld, col, ld);
    for (int64_t i = 0; i < count; ++i) {
      T* dxg = dx + ((n0 + i) * s.C + g * Cg) * HW;
      std::fill(dxg, dxg + Cg * HW, T(0));
      col2im_ld(col + i * P, Cg, s.H, s.W, s.kh, s.kw, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h,
                s.dilation_w, s.Ho, s.Wo, dxg, ld);
    }
  };
  const int64_t size = pointwise ? 0 : ch.G == 1 ? K * P : (K + Og) * ch.G * P;
  for_each_task<T>(ch.count * s.groups, size, one);
}

template <typename T>
void conv2d_backward_weight_im2col(const ConvGeometry& s, const T* x, const T* dy, T* dw) {
  const int64_t Cg = s.C / s.groups, Og = s.O / s.groups;
  const int64_t K = Cg * s.kh * s.kw, P = s.Ho * s.Wo;
  std::fill(dw, dw + s.O * K, T(0));
  const bool pointwise = is_pointwise(s);
  const Chunks ch = plan_chunks(s);
  // dW_g [Og, K] += dY_g [Og, count*P] @ col^T [count*P, K], summed over chunks.
  auto one = [&](int64_t t, T* buf, T* acc) {
    const int64_t c = t / s.groups, g = t % s.groups, n0 = c * ch.G, count = ch.images(c, s.N), ld = count * P;
    const T* B = x + (n0 * s.C + g * Cg) * s.H * s.W;
    const T* dyg = dy + (n0 * s.O + g * Og) * P;
    if (!pointwise) unfold_chunk(s, x, n0, count, g, buf, ld), B = buf;
    if (ch.G > 1) {
      T* gathered = buf + K * ch.G * P;
      gather_block(s, n0, count, g, dy, gathered);
      dyg = gathered;
    }
    gemm_t(false, true, Og, K, ld, dyg, ld, B, ld, T(1), acc + g * Og * K, K);
  };
  const int64_t tasks = ch.count * s.groups;
  const int64_t size = pointwise ? 0 : ch.G == 1 ? K * P : (K + Og) * ch.G * P;
  if (parallel_over_tasks(tasks)) {
    // Each thread sums its (statically assigned) chunks into a private dW; the private sums are
    // then added in thread order, so the result is the same on every run with this many threads.
    // The buffers are taken before the region (see for_each_task).
    const int nthreads = omp_get_max_threads();
    const int64_t OK = s.O * K;
    T* acc = thread_scratch<T>(kConvWeightSums, size_t(nthreads) * size_t(OK));
    T* bufs = thread_scratch<T>(kConvTasks, size_t(nthreads) * size_t(size));
#pragma omp parallel num_threads(nthreads)
    {
      const int tid = omp_get_thread_num();
      std::fill(acc + tid * OK, acc + (tid + 1) * OK, T(0));
#pragma omp for schedule(static)
      for (int64_t t = 0; t < tasks; ++t) one(t, bufs + tid * size, acc + tid * OK);
#pragma omp for schedule(static)
      for (int64_t i = 0; i < OK; ++i) {
        T sum = T(0);
        for (int t = 0; t < nthreads; ++t) sum += acc[t * OK + i];
        dw[i] = sum;
      }
    }
  } else {
    T* buf = thread_scratch<T>(kConvTasks, size_t(size));
    for (int64_t t = 0; t < tasks; ++t) one(t, buf, dw);
  }
}

#define PW_INSTANTIATE_CONV(T)                                                                                 \
  template void conv2d_forward_direct<T>(const ConvGeometry&, const T*, const T*, const ConvEpilogue<T>&, T*); \
  template void conv2d_backward_data_direct<T>(const ConvGeometry&, const T*, const T*, T*);                   \
  template void conv2d_backward_weight_direct<T>(const ConvGeometry&, const T*, const T*, T*);                 \
  template void conv2d_forward_im2col<T>(const ConvGeometry&, const T*, const T*, const ConvEpilogue<T>&, T*); \
  template void conv2d_backward_data_im2col<T>(const ConvGeometry&, const T*, const T*, T*);                   \
  template void conv2d_backward_weight_im2col<T>(const ConvGeometry&, const T*, const T*, T*);                 \
  template void conv2d_backward_bias<T>(const ConvGeometry&, const T*, T*);

PW_INSTANTIATE_CONV(float)
PW_INSTANTIATE_CONV(double)
#undef PW_INSTANTIATE_CONV

}  // namespace pw::kernels::cpu
