// Float sums over one contiguous row with 16 independent partial sums (lanes), for the f32 fast
// paths of the reduction-heavy kernels (batch-norm statistics and backward, conv bias gradient).
//
// Why: a single running sum cannot be vectorized without reassociation (no -ffast-math here),
// and summing in double costs a conversion per element. Independent lanes vectorize, and each
// lane adds only n / 16 terms, so a row of n floats is summed with an error of about n / 16 float
// roundings at worst. Callers keep rows short (one image plane of one channel) and combine the
// row results in double, so the error does not grow with the batch.
//
// The lanes are two 8-float vectors of the GCC/Clang vector extension (plain arrays of lanes
// left GCC 12 spilling and shuffling, 5-8x slower). The order of every addition is fixed, so the
// results are the same on every run and every thread count.
#pragma once
#include <cstdint>
#include <cstring>

namespace pw::kernels::cpu::lanes {

typedef float Vec8 __attribute__((vector_size(32)));

// Vectors are passed by reference: by value they would change the calling convention between
// AVX and non-AVX builds, which GCC warns about (-Wpsabi) when PW_NATIVE is off.
inline void load(Vec8& v, const float* p) { std::memcpy(&v, p, sizeof v); }  // unaligned

// The 16 lanes of (lo, hi) and a scalar tail added in a fixed pairwise tree, in double.
inline double combine(const Vec8& lo, const Vec8& hi, float tail) {
  double half[8];
  for (int l = 0; l < 8; ++l) half[l] = double(lo[l]) + double(hi[l]);
  for (int w = 4; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) half[l] += half[l + w];
  return half[0] + double(tail);
}

// sum p[i].
inline double row_sum(const float* p, int64_t n) {
  Vec8 a = {}, b = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    Vec8 u, v;
    load(u, p + i);
    load(v, p + i + 8);
    a += u;
    b += v;
  }
  float t = 0;
  for (; i < n; ++i) t += p[i];
  return combine(a, b, t);
}

// sum (p[i] - c) and sum (p[i] - c)^2: the centred sums of a two-pass variance.
inline void row_centered_sums(const float* p, int64_t n, float c, double& sum_d, double& sum_d2) {
  const Vec8 cv = Vec8{} + c;
  Vec8 a1 = {}, b1 = {}, a2 = {}, b2 = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    Vec8 d, e;
    load(d, p + i);
    load(e, p + i + 8);
    d -= cv;
    e -= cv;
    a1 += d;
    b1 += e;
    a2 += d * d;
    b2 += e * e;
  }
  float t1 = 0, t2 = 0;
  for (; i < n; ++i) {
    const float d = p[i] - c;
    t1 += d;
    t2 += d * d;
  }
  sum_d = combine(a1, b1, t1);
  sum_d2 = combine(a2, b2, t2);
}

// sum g[i] and sum g[i] * (x[i] - c).
inline void row_grad_sums(const float* g, const float* x, int64_t n, float c, double& sum_g, double& sum_gx) {
  const Vec8 cv = Vec8{} + c;
  Vec8 a1 = {}, b1 = {}, a2 = {}, b2 = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    Vec8 g0, g1, x0, x1;
    load(g0, g + i);
    load(g1, g + i + 8);
    load(x0, x + i);
    load(x1, x + i + 8);
    a1 += g0;
    b1 += g1;
    a2 += g0 * (x0 - cv);
    b2 += g1 * (x1 - cv);
  }
  float t1 = 0, t2 = 0;
  for (; i < n; ++i) {
    t1 += g[i];
    t2 += g[i] * (x[i] - c);
  }
  sum_g = combine(a1, b1, t1);
  sum_gx = combine(a2, b2, t2);
}

}  // namespace pw::kernels::cpu::lanes
