// CPU implicit-GEMM forward convolution (see conv_implicit.h).
//
// Layout. The weight is transposed once per call into blocks of kBlock output channels,
// wt[block][k][kBlock] with k = (c * kh + i) * kw + j (zero past O). The image is copied into
// rows padded with pad_w zeros on each side, xp[c][ih][pad_w + iw]; rows outside the image are
// not stored: their taps are skipped (they would add zeros). Output position (oh, ow) and tap
// (c, i, j) read xp[c][oh * sh - ph + i][ow * sw + j].
//
// A tile is kPositions consecutive positions of one output row by kBlock channels: kPositions x
// kVecs vector accumulators (24 of AVX-512's 32 registers, 12 of AVX2's 16). Per tap it loads
// kVecs weight vectors and broadcasts kPositions image values: the ratio of the SGEMM's 12 x 32
// micro-kernel. The sums go to a [rows][Wo][kBlock] buffer, which the epilogue writes out
// transposed into the output planes.
//
// Work comes in tasks: a few output rows of one image by one block of output channels (below).
// Parallelism: images over the threads when there are at least as many as threads (each pads its
// own image and runs its tasks), else one image at a time with its tasks over the threads.
#include "kernels/cpu/conv_implicit.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/cpu/scratch.h"

#if defined(__x86_64__) && defined(__AVX512F__)
#define PW_IMPLICIT_LANES 16
#define PW_IMPLICIT_VECS 4
#elif defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#define PW_IMPLICIT_LANES 8
#define PW_IMPLICIT_VECS 2
#endif

namespace pw::kernels::cpu {

#ifdef PW_IMPLICIT_LANES

namespace {

constexpr int kLanes = PW_IMPLICIT_LANES, kVecs = PW_IMPLICIT_VECS, kPositions = 6;
constexpr int64_t kBlock = kLanes * kVecs;  // output channels of a tile
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));
// The same vector at any float's alignment and aliasing anything: loads and stores of memory.
typedef float VecU __attribute__((vector_size(kLanes * sizeof(float)), aligned(4), may_alias));

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The taps of one output row: for each tap (c, i, j) whose input row is inside, the padded row's
// element j and the offset of the tap's weights in a weight block. (Listed tap by tap, not
// (channel, kernel row) by kernel row: a loop of kw = 3 taps inside a loop over rows cost
// AlexNet's 3x3 layers a third of their time.)
struct Taps {
  const float** x;
  int64_t* weight;
  int64_t n = 0;
};

// Sums the tile of NP <= kPositions positions from padded column x0 (stride sw) over the taps of t
// into out[p][kBlock], or adds the sums to the ones there if accumulate. The loops over NP and
// kVecs unroll.
template <int NP>
void tile(const Taps& t, const float* wb, int64_t sw, int64_t x0, float* out, bool accumulate) {
  // Loaded and stored vector by vector: copied whole (memcpy) the arrays stayed in memory, and
  // every tap stored all 24 accumulators to the stack.
  Vec acc[NP][kVecs] = {};
  for (int64_t r = 0; r < t.n; ++r) {
    const float* xr = t.x[r] + x0;
    const float* wr = wb + t.weight[r];
    Vec w[kVecs];
#pragma GCC unroll 8
    for (int v = 0; v < kVecs; ++v) w[v] = *reinterpret_cast<const VecU*>(wr + v * kLanes);
#pragma GCC unroll 8
    for (int p = 0; p < NP; ++p) {
      const float xs = xr[p * sw];
#pragma GCC unroll 8
      for (int v = 0; v < kVecs; ++v) acc[p][v] += w[v] * xs;
    }
  }
#pragma GCC unroll 8
  for (int p = 0; p < NP; ++p)
#pragma GCC unroll 8
    for (int v = 0; v < kVecs; ++v) {
      VecU& o = *reinterpret_cast<VecU*>(out + p * kBlock + v * kLanes);
      o = accumulate ? o + acc[p][v] : acc[p][v];
    }
}

using TileFn = void (*)(const Taps&, const float*, int64_t, int64_t, float*, bool);
constexpr TileFn kTiles[kPositions + 1] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>};

// dst[b][k][kBlock] = src[(b * kBlock + o) * n + k] for the rows < O of src [O, n], zero past O:
// a weight [O, K] into blocks of output channels, or an image's dy [O, Ho * Wo]. Written in
// order, read across kBlock rows of src at once (their lines stay in L1 from one k to the next);
// written across instead, a store every 256 bytes, it took longer than AlexNet's conv3 at batch 1.
void to_channel_blocks(const float* src, int64_t O, int64_t n, float* dst) {
  const int64_t blocks = ceil_div(O, kBlock);
#pragma omp parallel for schedule(static) if (O * n > (1 << 16) && !omp_in_parallel())
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t channels = std::min(kBlock, O - b * kBlock);
    const float* from = src + b * kBlock * n;
    float* to = dst + b * n * kBlock;
    for (int64_t k = 0; k < n; ++k, to += kBlock) {
      for (int64_t o = 0; o < channels; ++o) to[o] = from[o * n + k];
      for (int64_t o = channels; o < kBlock; ++o) to[o] = 0.f;
    }
  }
}

// Row ih of channel c of image x, padded: xp[(c * H + ih) * Wp + pad_w + iw].
void pad_row(const ConvGeometry& s, const float* x, int64_t row, float* xp) {
  const int64_t Wp = s.W + 2 * s.pad_w;
  float* d = xp + row * Wp;
  std::fill(d, d + s.pad_w, 0.f);
  std::copy(x + row * s.W, x + (row + 1) * s.W, d + s.pad_w);
  std::fill(d + s.pad_w + s.W, d + Wp, 0.f);
}

// Floats of a padded image, rounded up to whole 64-byte lines.
int64_t padded_image_floats(const ConvGeometry& s) { return ceil_div(s.C * s.H * (s.W + 2 * s.pad_w), 16) * 16; }

// Every row of image n, padded, on the calling thread.
void pad_image(const ConvGeometry& s, const float* x, int64_t n, float* xp) {
  for (int64_t r = 0; r < s.C * s.H; ++r) pad_row(s, x + n * s.C * s.H * s.W, r, xp);
}

// The taps of output row oh from channels [c0, c1) whose input row is inside.
Taps taps_of_row(const ConvGeometry& s, const float* xp, int64_t oh, int64_t c0, int64_t c1, const float** x,
                 int64_t* weight) {
  const int64_t Wp = s.W + 2 * s.pad_w;
  Taps t{x, weight, 0};
  for (int64_t c = c0; c < c1; ++c)
    for (int64_t i = 0; i < s.kh; ++i) {
      const int64_t ih = oh * s.stride_h - s.pad_h + i;
      if (ih < 0 || ih >= s.H) continue;
      for (int64_t j = 0; j < s.kw; ++j, ++t.n) {
        t.x[t.n] = xp + (c * s.H + ih) * Wp + j;
        t.weight[t.n] = ((c * s.kh + i) * s.kw + j) * kBlock;
      }
    }
  return t;
}

// A task: output rows [oh0, oh1) of one image, one block of output channels.
//
// Its channels are taken kTapBlock taps at a time. A block's weights (128 taps x 64 channels,
// 32 KiB) stay in L1 across every row and tile of the task; each block's sums are added to the
// rows' sums [rows][Wo][kBlock] (sums of at most 128 products added up block by block: as one
// running sum, AlexNet's data gradient of conv2, 4,800 products, was 7 times as far from the f64
// reference as im2col's).
// Unblocked, a tile read all the weights of its channel block from L2 (AlexNet's conv3: 442 KB
// for 5 positions) and ran at a third of the machine's peak.
constexpr int64_t kTapBlock = 128;
constexpr int64_t kSumsBytes = 256 << 10;  // a task's sums, in L2

struct Task {
  int64_t n, oh0, oh1, b;
};

int64_t channels_per_block(const ConvGeometry& s) { return std::max<int64_t>(1, kTapBlock / (s.kh * s.kw)); }

struct TaskBuffers {
  const float** x;
  int64_t* weight;
  float* sums;  // [rows][Wo][kBlock]
  float* line;  // one output row
};

void run_task(const ConvGeometry& s, const float* xp, const float* wt, int64_t K, const ConvEpilogue<float>& ep,
              float* y, const Task& task, const TaskBuffers& buf) {
  const float* wb = wt + task.b * K * kBlock;
  const int64_t kc = channels_per_block(s), row_floats = s.Wo * kBlock;
  // A row in tiles of as even sizes as kPositions allows (13: 5, 4, 4, not 6, 6, 1: a tile of one
  // position loads as many weights as one of six).
  const int64_t tiles = ceil_div(s.Wo, kPositions);
  for (int64_t c0 = 0; c0 < s.C; c0 += kc)
    for (int64_t oh = task.oh0; oh < task.oh1; ++oh) {
      const Taps t = taps_of_row(s, xp, oh, c0, std::min(s.C, c0 + kc), buf.x, buf.weight);
      float* sums = buf.sums + (oh - task.oh0) * row_floats;
      for (int64_t q = 0, ow = 0; q < tiles; ++q) {
        const int64_t np = (s.Wo + q) / tiles;  // sizes differ by at most one and add up to Wo
        kTiles[np](t, wb, s.stride_w, ow * s.stride_w, sums + ow * kBlock, c0 > 0);
        ow += np;
      }
    }
  const int64_t P = s.Ho * s.Wo, channels = std::min(kBlock, s.O - task.b * kBlock);
  for (int64_t oh = task.oh0; oh < task.oh1; ++oh) {
    const float* sums = buf.sums + (oh - task.oh0) * row_floats;
    for (int64_t o = 0; o < channels; ++o) {
      const int64_t og = task.b * kBlock + o;
      float* dst = y + (task.n * s.O + og) * P + oh * s.Wo;
      float* line = ep.empty() ? dst : buf.line;
      for (int64_t ow = 0; ow < s.Wo; ++ow) line[ow] = sums[ow * kBlock + o];
      if (!ep.empty()) epilogue_row(ep, og, line, dst, s.Wo);
    }
  }
}

// Output rows per task: as many as keep the sums within kSumsBytes, and, where there are fewer
// images than threads, few enough to give each thread about 8 tasks (AlexNet's conv2 at batch 1
// in 9 tasks split 5 : 4 over two threads; in 18, 1.07x faster).
int64_t rows_per_task(const ConvGeometry& s, int64_t blocks, int nthreads) {
  int64_t rows = std::clamp<int64_t>(kSumsBytes / (s.Wo * kBlock * int64_t(sizeof(float))), 1, s.Ho);
  if (s.N < nthreads) rows = std::min(rows, std::max<int64_t>(1, s.Ho * blocks / (8 * nthreads)));
  return rows;
}

// The forward pass with the weight already in channel blocks, wt [blocks][K][kBlock].
void forward_blocks(const ConvGeometry& s, const float* x, const float* wt, const ConvEpilogue<float>& ep, float* y) {
  const int64_t K = s.C * s.kh * s.kw, blocks = ceil_div(s.O, kBlock), taps = channels_per_block(s) * s.kh * s.kw;
  const int nthreads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const bool over_images = s.N >= nthreads;
  const int64_t rows = rows_per_task(s, blocks, nthreads), chunks = ceil_div(s.Ho, rows);
  const int64_t image = padded_image_floats(s);
  const int64_t own = ceil_div(rows * s.Wo * kBlock + s.Wo, 16) * 16;  // a thread's sums and line
  // Every buffer is taken before the parallel regions (an exception inside one would end the program).
  float* mem =
      aligned_thread_scratch(kConvTasks, size_t(over_images ? nthreads * (image + own) : image + nthreads * own));
  std::vector<const float*> row_lists(size_t(nthreads * taps));
  std::vector<int64_t> weight_lists(size_t(nthreads * taps));
  auto buffers = [&](int t, float* at) {
    return TaskBuffers{row_lists.data() + t * taps, weight_lists.data() + t * taps, at, at + rows * s.Wo * kBlock};
  };
  auto task = [&](int64_t n, int64_t q) {  // q: chunk of rows and channel block
    const int64_t chunk = q / blocks;
    return Task{n, chunk * rows, std::min(s.Ho, (chunk + 1) * rows), q % blocks};
  };
  if (over_images) {  // images over the threads, each padded by its thread
#pragma omp parallel for schedule(static) num_threads(nthreads) if (nthreads > 1)
    for (int64_t n = 0; n < s.N; ++n) {
      const int t = omp_get_thread_num();
      float* xp = mem + t * (image + own);
      const TaskBuffers buf = buffers(t, xp + image);
      pad_image(s, x, n, xp);
      for (int64_t q = 0; q < chunks * blocks; ++q) run_task(s, xp, wt, K, ep, y, task(n, q), buf);
    }
    return;
  }
  // Fewer images than threads: one at a time, its tasks over the threads.
  for (int64_t n = 0; n < s.N; ++n) {
#pragma omp parallel num_threads(nthreads)
    {
#pragma omp for schedule(static)
      for (int64_t r = 0; r < s.C * s.H; ++r) pad_row(s, x + n * s.C * s.H * s.W, r, mem);
      const int t = omp_get_thread_num();
      const TaskBuffers buf = buffers(t, mem + image + t * own);
#pragma omp for schedule(static)
      for (int64_t q = 0; q < chunks * blocks; ++q) run_task(s, mem, wt, K, ep, y, task(n, q), buf);
    }
  }
}

}  // namespace

bool implicit_conv_supported(const ConvGeometry& s) { return s.groups == 1 && s.dilation_h == 1 && s.dilation_w == 1; }

void conv2d_forward_implicit(const ConvGeometry& s, const float* x, const float* w, const ConvEpilogue<float>& ep,
                             float* y) {
  const int64_t K = s.C * s.kh * s.kw;
  float* wt = aligned_thread_scratch(kConvImplicitWeights, size_t(ceil_div(s.O, kBlock) * K * kBlock));
  to_channel_blocks(w, s.O, K, wt);
  forward_blocks(s, x, wt, ep, y);
}

// ---------------------------------------------------------------- the weight gradient
//
// dW[o][(c, i, j)] = the sum over images and output positions of dy[o][oh][ow] x[c][oh * sh - ph
// + i][ow * sw + j]. A tile is kPositions consecutive taps (c, i, j..j+5) by kBlock channels, in
// registers across every position of an image: per position it loads kVecs vectors of dy (dy
// transposed to [position][kBlock]) and broadcasts six consecutive values of a padded input row.
// The tile's sums continue from the ones of the images before; each thread sums its images in
// its own copy, the copies are added in thread order (the same bits on every run with as many
// threads). With fewer images than threads, the threads split the tiles of each image instead.

namespace {

// Adds rows output rows of one image to out[t][kBlock] for taps t < NT of one (c, i): xb is the
// padded input row of the first (at column j0), the next ones row_step floats apart; dyt its dy.
// Each row is summed in registers, then added to out: sums of Wo terms added up row by row, not
// one running sum of every position of the batch (AlexNet's conv1 at batch 3: an error of 2.6e-6
// of the largest weight gradient against im2col's 3.2e-7; by rows, at batch 16: 5.5e-7 against
// 3.5e-7).
template <int NT>
void weight_tile(const float* xb, int64_t row_step, int64_t rows, const float* dyt, int64_t Wo, int64_t sw,
                 float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = xb + r * row_step;
    const float* d = dyt + r * Wo * kBlock;
    Vec acc[NT][kVecs] = {};
    for (int64_t ow = 0; ow < Wo; ++ow, d += kBlock) {
      Vec g[kVecs];
#pragma GCC unroll 8
      for (int v = 0; v < kVecs; ++v) g[v] = *reinterpret_cast<const VecU*>(d + v * kLanes);
#pragma GCC unroll 8
      for (int t = 0; t < NT; ++t) {
        const float xs = xr[ow * sw + t];
#pragma GCC unroll 8
        for (int v = 0; v < kVecs; ++v) acc[t][v] += g[v] * xs;
      }
    }
#pragma GCC unroll 8
    for (int t = 0; t < NT; ++t)
#pragma GCC unroll 8
      for (int v = 0; v < kVecs; ++v) *reinterpret_cast<VecU*>(out + t * kBlock + v * kLanes) += acc[t][v];
  }
}

using WeightTileFn = void (*)(const float*, int64_t, int64_t, const float*, int64_t, int64_t, float*);
constexpr WeightTileFn kWeightTiles[kPositions + 1] = {nullptr,        weight_tile<1>, weight_tile<2>, weight_tile<3>,
                                                       weight_tile<4>, weight_tile<5>, weight_tile<6>};

// The tiles of one image: (channel block, channel, kernel row, group of kernel columns), each
// adding that image's positions to its taps' sums in dwt [blocks][K][kBlock].
struct WeightTiles {
  int64_t per_row, count;  // tiles of one (c, i) and of the image
};

WeightTiles weight_tiles(const ConvGeometry& s) {
  const int64_t per_row = ceil_div(s.kw, kPositions);
  return {per_row, ceil_div(s.O, kBlock) * s.C * s.kh * per_row};
}

void run_weight_tile(const ConvGeometry& s, const WeightTiles& wt, int64_t q, const float* xp, const float* dyt,
                     float* dwt) {
  const int64_t K = s.C * s.kh * s.kw, P = s.Ho * s.Wo, Wp = s.W + 2 * s.pad_w;
  const int64_t g = q % wt.per_row, ci = q / wt.per_row % (s.C * s.kh), b = q / (wt.per_row * s.C * s.kh);
  const int64_t c = ci / s.kh, i = ci % s.kh;
  const int64_t j0 = s.kw * g / wt.per_row, nt = s.kw * (g + 1) / wt.per_row - j0;  // even groups
  // Output rows whose input row oh * sh - ph + i is inside.
  const int64_t off = i - s.pad_h;
  const int64_t oh0 = off >= 0 ? 0 : ceil_div(-off, s.stride_h);
  const int64_t oh1 = std::min(s.Ho, s.H - off <= 0 ? 0 : ceil_div(s.H - off, s.stride_h));
  if (oh0 >= oh1) return;
  const float* xb = xp + (c * s.H + oh0 * s.stride_h + off) * Wp + j0;
  kWeightTiles[nt](xb, s.stride_h * Wp, oh1 - oh0, dyt + (b * P + oh0 * s.Wo) * kBlock, s.Wo, s.stride_w,
                   dwt + (b * K + ci * s.kw + j0) * kBlock);
}

// dw[o][k] = the sum over the copies of dwt[t][b][k][o % kBlock], in copy order.
void sum_weight_copies(const ConvGeometry& s, const float* dwt, int copies, float* dw) {
  const int64_t K = s.C * s.kh * s.kw, copy = ceil_div(s.O, kBlock) * K * kBlock;
#pragma omp parallel for schedule(static) if (s.O * K > (1 << 16) && !omp_in_parallel())
  for (int64_t o = 0; o < s.O; ++o) {
    const float* from = dwt + (o / kBlock) * K * kBlock + o % kBlock;
    for (int64_t k = 0; k < K; ++k) {
      float sum = from[k * kBlock];
      for (int t = 1; t < copies; ++t) sum += from[t * copy + k * kBlock];
      dw[o * K + k] = sum;
    }
  }
}

}  // namespace

void conv2d_backward_weight_implicit(const ConvGeometry& s, const float* x, const float* dy, float* dw) {
  const int64_t K = s.C * s.kh * s.kw, P = s.Ho * s.Wo, blocks = ceil_div(s.O, kBlock);
  const WeightTiles wt = weight_tiles(s);
  const int nthreads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const bool over_images = s.N >= nthreads;
  const int copies = over_images ? nthreads : 1;
  const int64_t image = padded_image_floats(s), dyt = blocks * P * kBlock;
  const int64_t copy = blocks * K * kBlock;
  // Every buffer is taken before the parallel regions (an exception inside one would end the program).
  float* sums = aligned_thread_scratch(kConvWeightSums, size_t(copies * copy));
  float* mem = aligned_thread_scratch(kConvTasks, size_t((over_images ? nthreads : 1) * (image + dyt)));
  std::fill(sums, sums + copies * copy, 0.f);
  auto prepare = [&](int64_t n, float* xp, float* dyt_n) {  // serial: the caller splits work
    pad_image(s, x, n, xp);
    to_channel_blocks(dy + n * s.O * P, s.O, P, dyt_n);
  };
  if (over_images) {
#pragma omp parallel for schedule(static) num_threads(nthreads) if (nthreads > 1)
    for (int64_t n = 0; n < s.N; ++n) {
      const int t = omp_get_thread_num();
      float* xp = mem + t * (image + dyt);
      prepare(n, xp, xp + image);
      for (int64_t q = 0; q < wt.count; ++q) run_weight_tile(s, wt, q, xp, xp + image, sums + t * copy);
    }
  } else {
    for (int64_t n = 0; n < s.N; ++n) {
#pragma omp parallel num_threads(nthreads)
      {
#pragma omp for schedule(static)
        for (int64_t r = 0; r < s.C * s.H; ++r) pad_row(s, x + n * s.C * s.H * s.W, r, mem);
#pragma omp single
        to_channel_blocks(dy + n * s.O * P, s.O, P, mem + image);
#pragma omp for schedule(static)
        for (int64_t q = 0; q < wt.count; ++q) run_weight_tile(s, wt, q, mem, mem + image, sums);
      }
    }
  }
  sum_weight_copies(s, sums, copies, dw);
}

#else  // no AVX2 or AVX-512 in this build

bool implicit_conv_supported(const ConvGeometry&) { return false; }

void conv2d_forward_implicit(const ConvGeometry&, const float*, const float*, const ConvEpilogue<float>&, float*) {}

void conv2d_backward_weight_implicit(const ConvGeometry&, const float*, const float*, float*) {}

#endif

}  // namespace pw::kernels::cpu
