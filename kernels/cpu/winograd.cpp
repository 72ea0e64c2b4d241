// CPU Winograd convolution F(4x4, 3x3): see winograd.h for the method and its accuracy.
//
// Data layout, per chunk of images (the chunk keeps the transformed buffers near the cache):
//   U[xi][o][c]     the transformed weights, 36 x O x C, computed once per call;
//   V[xi][c][tile]  the transformed input, tiles numbered (image, tile row, tile column);
//   M[xi][o][tile]  = U[xi] @ V[xi], 36 SGEMMs of O x T x C, spread over the threads with
//                   one single-threaded SGEMM each (sgemm runs on the calling thread inside a
//                   parallel region), so the weights are read once per chunk;
//   y               = A^T M A per tile, cropped at the bottom and right edges.
// The transforms work on up to kLanes neighbouring tiles of one tile row at a time, with the
// tile index innermost, so every arithmetic loop is a unit-stride loop the compiler
// vectorizes (-march=native); only gathering a tile row's inputs and scattering its outputs
// touch stride-4 data.
#include "kernels/cpu/winograd.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/scratch.h"

namespace pw::kernels::cpu {

namespace {

constexpr int64_t kTile = 4;     // outputs per tile side
constexpr int64_t kPoints = 36;  // transform points: a 6x6 tile
constexpr int kLanes = 16;       // tiles of a tile row transformed together
// V and M of one chunk of images stay under this many bytes where one image allows it.
constexpr int64_t kChunkBytes = int64_t(8) << 20;
// Parallel regions cost microseconds: only split work worth more than that.
constexpr int64_t kParallelWork = 1 << 15;

// One convolution as the core computes it. The padding may be negative (backward-data of a
// convolution padded by more than 2 crops dy): inputs outside [0, H) x [0, W) read as zero.
struct Problem {
  int64_t N, C, H, W;  // input
  int64_t O, Ho, Wo;   // output
  int64_t pad_h, pad_w;
  int64_t tiles_h() const { return (Ho + kTile - 1) / kTile; }
  int64_t tiles_w() const { return (Wo + kTile - 1) / kTile; }
};

// The distance between the 36 planes of U, V or M for planes of n floats: n rounded up to an
// odd number of 64-byte lines, so that the 36 values of one tile fall in different cache sets
// (with power-of-two planes, as 64 channels x 256 tiles, they all shared one).
int64_t plane_stride(int64_t n) {
  const int64_t lines = (n + 15) / 16;
  return (lines % 2 == 0 ? lines + 1 : lines) * 16;
}

// ---- the 1-D transforms on L tiles at once: in[i * is + t] -> out[k * os + t], t < L ----

// B^T for F(4, 3) with points 0, -1, 1, -2, 2, infinity: 6 inputs -> 6 transform points.
void input_1d(const float* __restrict in, int64_t is, float* __restrict out, int64_t os, int L) {
  for (int t = 0; t < L; ++t) {
    const float d0 = in[t], d1 = in[is + t], d2 = in[2 * is + t], d3 = in[3 * is + t], d4 = in[4 * is + t],
                d5 = in[5 * is + t];
    out[t] = 4.f * d0 - 5.f * d2 + d4;
    out[os + t] = -4.f * (d1 + d2) + d3 + d4;
    out[2 * os + t] = 4.f * (d1 - d2) - d3 + d4;
    out[3 * os + t] = 2.f * (d3 - d1) - d2 + d4;
    out[4 * os + t] = 2.f * (d1 - d3) - d2 + d4;
    out[5 * os + t] = 4.f * d1 - 5.f * d3 + d5;
  }
}

// A^T: 6 transform points -> 4 outputs.
void output_1d(const float* __restrict in, int64_t is, float* __restrict out, int64_t os, int L) {
  for (int t = 0; t < L; ++t) {
    const float m0 = in[t], m1 = in[is + t], m2 = in[2 * is + t], m3 = in[3 * is + t], m4 = in[4 * is + t],
                m5 = in[5 * is + t];
    const float s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
    out[t] = m0 + s12 + s34;
    out[os + t] = d12 + 2.f * d34;
    out[2 * os + t] = s12 + 4.f * s34;
    out[3 * os + t] = d12 + 8.f * d34 + m5;
  }
}

// G: a 3-tap filter -> 6 transform points, on L filters at once (in[i * is + t] ->
// out[k * os + t]), in double: products with the double reciprocals are exact far below f32's
// rounding, and a division per element made the 512 x 512 transform several times slower.
void filter_lanes(const double* __restrict in, int64_t is, double* __restrict out, int64_t os, int L) {
  constexpr double k4 = 1.0 / 4, k6 = 1.0 / 6, k12 = 1.0 / 12, k24 = 1.0 / 24;
  for (int t = 0; t < L; ++t) {
    const double g0 = in[t], g1 = in[is + t], g2 = in[2 * is + t];
    const double even = g0 + g2, even24 = g0 * k24 + g2 * k6;
    out[t] = g0 * k4;
    out[os + t] = -(even + g1) * k6;
    out[2 * os + t] = -(even - g1) * k6;
    out[3 * os + t] = even24 + g1 * k12;
    out[4 * os + t] = even24 - g1 * k12;
    out[5 * os + t] = g2;
  }
}

// ---- the three steps ----

// U[xi][o][c] = G g G^T for every filter g = w[o][c] (w is [O, C, 3, 3]), U's 36 planes
// `plane` floats apart, each O x C. kLanes filters of a row of U at a time, so that each of
// the 36 planes gets a contiguous run.
void transform_weights(const float* w, int64_t O, int64_t C, float* U, int64_t plane) {
  const int64_t blocks = (C + kLanes - 1) / kLanes;
#pragma omp parallel for collapse(2) schedule(static) if (O * C * 324 > kParallelWork)
  for (int64_t o = 0; o < O; ++o)
    for (int64_t cb = 0; cb < blocks; ++cb) {
      const int64_t c0 = cb * kLanes;
      const int L = int(std::min<int64_t>(kLanes, C - c0));
      double g[9 * kLanes], rows[18 * kLanes], u[36 * kLanes];  // g[i][j], (G g)[k][j], U[k][l]
      const float* src = w + (o * C + c0) * 9;
      for (int t = 0; t < L; ++t)
        for (int64_t q = 0; q < 9; ++q) g[q * kLanes + t] = src[t * 9 + q];
      // Down the columns: g[i][j] -> rows[k][j]; then along the rows: rows[k][j] -> u[k][l].
      for (int64_t j = 0; j < 3; ++j) filter_lanes(g + j * kLanes, 3 * kLanes, rows + j * kLanes, 3 * kLanes, L);
      for (int64_t k = 0; k < 6; ++k) filter_lanes(rows + k * 3 * kLanes, kLanes, u + k * 6 * kLanes, kLanes, L);
      for (int64_t xi = 0; xi < kPoints; ++xi)
        for (int t = 0; t < L; ++t) U[xi * plane + o * C + c0 + t] = float(u[xi * kLanes + t]);
    }
}

// wt[c][o] = w[o][c] rotated by 180 degrees (w is [O, C, 3, 3]): the weights of the
// convolution that backward-data is. In blocks of kLanes x kLanes filters: the filters of a
// column of w lie O * 36 bytes apart, and reading them one by one (with a multiple of 4 KiB
// in that stride, they share a few cache sets) made the transform 5x slower.
void flip_transpose(const float* w, int64_t O, int64_t C, float* wt) {
  const int64_t ob = (O + kLanes - 1) / kLanes, cb = (C + kLanes - 1) / kLanes;
#pragma omp parallel for collapse(2) schedule(static) if (O * C * 9 > kParallelWork)
  for (int64_t b = 0; b < ob; ++b)
    for (int64_t d = 0; d < cb; ++d) {
      const int64_t o1 = std::min(O, (b + 1) * kLanes), c1 = std::min(C, (d + 1) * kLanes);
      for (int64_t c = d * kLanes; c < c1; ++c)
        for (int64_t o = b * kLanes; o < o1; ++o) {
          const float* src = w + (o * C + c) * 9;
          float* dst = wt + (c * O + o) * 9;
          for (int64_t q = 0; q < 9; ++q) dst[q] = src[8 - q];
        }
    }
}

// Gathers the 6x6 inputs of tiles [tw0, tw0 + L) of tile row th of one channel plane x into
// d[(i * 6 + j) * kLanes + t], zero outside the plane.
void gather_tiles(const Problem& p, const float* x, int64_t th, int64_t tw0, int L, float* d) {
  const int64_t col0 = tw0 * kTile - p.pad_w;  // the input column of tile tw0's j = 0
  const bool inside = col0 >= 0 && col0 + (L - 1) * kTile + 5 < p.W;
  for (int64_t i = 0; i < 6; ++i) {
    const int64_t ih = th * kTile - p.pad_h + i;
    float* di = d + i * 6 * kLanes;
    if (ih < 0 || ih >= p.H) {
      std::fill(di, di + 6 * kLanes, 0.f);
      continue;
    }
    const float* row = x + ih * p.W;
    for (int64_t j = 0; j < 6; ++j)
      if (inside) {
        for (int t = 0; t < L; ++t) di[j * kLanes + t] = row[col0 + t * kTile + j];
      } else {
        for (int t = 0; t < L; ++t) {
          const int64_t iw = col0 + t * kTile + j;
          di[j * kLanes + t] = iw >= 0 && iw < p.W ? row[iw] : 0.f;
        }
      }
  }
}

// V[xi][c][tile] for the nc images at x (tiles numbered from the first of them), T tiles.
// V's planes are vs apart.
void transform_input(const Problem& p, const float* x, int64_t nc, int64_t T, float* V, int64_t vs) {
  const int64_t TH = p.tiles_h(), TW = p.tiles_w();
#pragma omp parallel for collapse(3) schedule(static) if (p.C * T * kPoints * 8 > kParallelWork)
  for (int64_t n = 0; n < nc; ++n)
    for (int64_t c = 0; c < p.C; ++c)
      for (int64_t th = 0; th < TH; ++th) {
        alignas(64) float d[kPoints * kLanes], rows[kPoints * kLanes];
        const float* plane = x + (n * p.C + c) * p.H * p.W;
        for (int64_t tw0 = 0; tw0 < TW; tw0 += kLanes) {
          const int L = int(std::min<int64_t>(kLanes, TW - tw0));
          gather_tiles(p, plane, th, tw0, L, d);
          // Along i (down the tile): d[i][j] -> rows[k][j]; then along j: rows[k][j] -> V[k][l].
          for (int64_t j = 0; j < 6; ++j) input_1d(d + j * kLanes, 6 * kLanes, rows + j * kLanes, 6 * kLanes, L);
          float* out = V + c * T + (n * TH + th) * TW + tw0;
          for (int64_t k = 0; k < 6; ++k) input_1d(rows + k * 6 * kLanes, kLanes, out + k * 6 * vs, vs, L);
        }
      }
}

// U's 36 planes as the GEMMs' A operands: with more than one chunk packed once for all the chunks
// of a call (each chunk's sgemm packed them again: AlexNet's conv3-5 at batch 16 run in 3-4
// chunks); with one, left unpacked (pack_a_operand, kernels/cpu/gemm.h).
std::vector<PackedA> packed_planes(const Problem& p, const float* U, int64_t us, int64_t chunks) {
  const int64_t size = packed_a_floats(p.O, p.C);
  float* buf = chunks > 1 ? aligned_thread_scratch(kWinogradPackedU, size_t(kPoints * size)) : nullptr;
  std::vector<PackedA> a(kPoints);
#pragma omp parallel for schedule(static) if (buf && kPoints * size > kParallelWork)
  for (int64_t xi = 0; xi < kPoints; ++xi)
    a[xi] = pack_a_operand(false, p.O, p.C, U + xi * us, p.C, buf ? buf + xi * size : nullptr);
  return a;
}

// M[xi] = U[xi] @ V[xi] for the 36 points, one single-threaded SGEMM per point and thread.
void multiply(const Problem& p, const std::vector<PackedA>& U, const float* V, int64_t vs, int64_t T, float* M,
              int64_t ms) {
#pragma omp parallel for schedule(static) if (p.O * p.C * T > kParallelWork)
  for (int64_t xi = 0; xi < kPoints; ++xi) sgemm_packed(U[xi], false, T, 1.f, V + xi * vs, T, 0.f, M + xi * ms, T);
}

// y (nc images) = the epilogue (bias, ...) of A^T M A per tile, cropped to Ho x Wo. M's planes
// are ms apart.
void transform_output(const Problem& p, const float* M, int64_t ms, int64_t nc, int64_t T,
                      const ConvEpilogue<float>& ep, float* y) {
  const int64_t TH = p.tiles_h(), TW = p.tiles_w();
#pragma omp parallel for collapse(3) schedule(static) if (p.O * T * kPoints * 4 > kParallelWork)
  for (int64_t n = 0; n < nc; ++n)
    for (int64_t o = 0; o < p.O; ++o)
      for (int64_t th = 0; th < TH; ++th) {
        alignas(64) float rows[24 * kLanes], out[16 * kLanes];
        float* plane = y + (n * p.O + o) * p.Ho * p.Wo;
        const float b = ep.bias ? ep.bias[o] : 0.f;
        for (int64_t tw0 = 0; tw0 < TW; tw0 += kLanes) {
          const int L = int(std::min<int64_t>(kLanes, TW - tw0));
          const float* m = M + o * T + (n * TH + th) * TW + tw0;
          // Along l: M[k][l] -> rows[k][b]; then along k: rows[k][b] -> out[a][b].
          for (int64_t k = 0; k < 6; ++k) output_1d(m + k * 6 * ms, ms, rows + k * 4 * kLanes, kLanes, L);
          for (int64_t bcol = 0; bcol < 4; ++bcol)
            output_1d(rows + bcol * kLanes, 4 * kLanes, out + bcol * kLanes, 4 * kLanes, L);
          for (int64_t a = 0; a < kTile && th * kTile + a < p.Ho; ++a) {
            float* row = plane + (th * kTile + a) * p.Wo;
            for (int t = 0; t < L; ++t)
              for (int64_t bcol = 0; bcol < kTile; ++bcol) {
                const int64_t ow = (tw0 + t) * kTile + bcol;
                if (ow < p.Wo) row[ow] = ep.finish(o, out[(a * 4 + bcol) * kLanes + t] + b);
              }
          }
        }
      }
}

// The images per chunk: as many as keep V and M under kChunkBytes (at least one), evened out
// over the chunks (7 + 1 images made the last GEMMs needlessly thin).
int64_t images_per_chunk(const Problem& p) {
  const int64_t per_image = kPoints * (p.C + p.O) * p.tiles_h() * p.tiles_w() * int64_t(sizeof(float));
  const int64_t most = std::clamp<int64_t>(kChunkBytes / per_image, 1, p.N);
  const int64_t chunks = (p.N + most - 1) / most;
  return (p.N + chunks - 1) / chunks;
}

// Scratch (kernels/cpu/scratch.h): U alone is 36 MiB for a 512 x 512 layer, and a fresh
// allocation would pay its page faults (they showed in a profile of that layer) and a
// std::vector's zeroing on every call.
// y = the epilogue of the convolution of x with the transformed weights U (planes us apart),
// chunk by chunk.
void winograd_core(const Problem& p, const float* x, const float* U, int64_t us, const ConvEpilogue<float>& ep,
                   float* y) {
  const int64_t per_image = p.tiles_h() * p.tiles_w(), chunk = images_per_chunk(p);
  const int64_t vs = plane_stride(p.C * chunk * per_image), ms = plane_stride(p.O * chunk * per_image);
  // Allocated before any parallel region: out of memory is an exception the caller sees.
  float* V = thread_scratch<float>(kWinogradV, size_t(kPoints * vs));
  float* M = thread_scratch<float>(kWinogradM, size_t(kPoints * ms));
  const std::vector<PackedA> planes = packed_planes(p, U, us, (p.N + chunk - 1) / chunk);
  for (int64_t n0 = 0; n0 < p.N; n0 += chunk) {
    const int64_t nc = std::min(chunk, p.N - n0), T = nc * per_image;
    transform_input(p, x + n0 * p.C * p.H * p.W, nc, T, V, vs);
    multiply(p, planes, V, vs, T, M, ms);
    transform_output(p, M, ms, nc, T, ep, y + n0 * p.O * p.Ho * p.Wo);
  }
}

// The transformed weights w [O, C, 3, 3] (see transform_weights), planes `stride` apart, in
// the calling thread's scratch slot 0.
struct Weights {
  const float* U;
  int64_t stride;
};
Weights transformed(const float* w, int64_t O, int64_t C) {
  const int64_t stride = plane_stride(O * C);
  float* U = thread_scratch<float>(kWinogradU, size_t(kPoints * stride));
  transform_weights(w, O, C, U, stride);
  return {U, stride};
}

}  // namespace

bool winograd_supported(const ConvGeometry& s) {
  return s.kh == 3 && s.kw == 3 && s.stride_h == 1 && s.stride_w == 1 && s.dilation_h == 1 && s.dilation_w == 1 &&
         s.groups == 1;
}

void conv2d_forward_winograd(const ConvGeometry& s, const float* x, const float* w, const ConvEpilogue<float>& ep,
                             float* y) {
  const Weights u = transformed(w, s.O, s.C);
  winograd_core({s.N, s.C, s.H, s.W, s.O, s.Ho, s.Wo, s.pad_h, s.pad_w}, x, u.U, u.stride, ep, y);
}

void conv2d_backward_data_winograd(const ConvGeometry& s, const float* dy, const float* w, float* dx) {
  float* wt = thread_scratch<float>(kWinogradFlipped, size_t(s.C * s.O * 9));
  flip_transpose(w, s.O, s.C, wt);
  const Weights u = transformed(wt, s.C, s.O);
  // dy [N, O, Ho, Wo] in, dx [N, C, H, W] out: the padding 2 - pad gives back H x W.
  winograd_core({s.N, s.O, s.Ho, s.Wo, s.C, s.H, s.W, 2 - s.pad_h, 2 - s.pad_w}, dy, u.U, u.stride, {}, dx);
}

}  // namespace pw::kernels::cpu
