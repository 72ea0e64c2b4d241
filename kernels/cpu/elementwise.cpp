// Elementwise kernels. The contiguous same-shape case is a flat loop the compiler vectorizes;
// broadcasting walks the outer dimensions and keeps the innermost one tight.
#include "kernels/cpu/elementwise.h"

#include <cmath>
#include <cstdlib>

namespace pw::kernels::cpu {

namespace {
constexpr int64_t kParallelGrain = 1 << 15;

template <typename T, typename F>
void map(const T* x, T* y, int64_t n, F f) {
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}
}  // namespace

template <typename T>
void unary(UnaryOp op, const T* x, T* y, int64_t n, T p) {
  switch (op) {
    case UnaryOp::neg: map(x, y, n, [](T v) { return -v; }); break;
    case UnaryOp::exp: map(x, y, n, [](T v) { return std::exp(v); }); break;
    case UnaryOp::log: map(x, y, n, [](T v) { return std::log(v); }); break;
    case UnaryOp::sqrt: map(x, y, n, [](T v) { return std::sqrt(v); }); break;
    case UnaryOp::pow: map(x, y, n, [p](T v) { return std::pow(v, p); }); break;
    case UnaryOp::sigmoid: map(x, y, n, [](T v) { return T(1) / (T(1) + std::exp(-v)); }); break;
    case UnaryOp::tanh: map(x, y, n, [](T v) { return std::tanh(v); }); break;
    case UnaryOp::relu: map(x, y, n, [](T v) { return v > T(0) ? v : T(0); }); break;
    case UnaryOp::abs: map(x, y, n, [](T v) { return std::abs(v); }); break;
    case UnaryOp::add_scalar: map(x, y, n, [p](T v) { return v + p; }); break;
    case UnaryOp::mul_scalar: map(x, y, n, [p](T v) { return v * p; }); break;
    case UnaryOp::rsub_scalar: map(x, y, n, [p](T v) { return p - v; }); break;
    case UnaryOp::rdiv_scalar: map(x, y, n, [p](T v) { return p / v; }); break;
    case UnaryOp::sign: map(x, y, n, [](T v) { return T((v > T(0)) - (v < T(0))); }); break;
    case UnaryOp::min_scalar: map(x, y, n, [p](T v) { return v > p ? p : v; }); break;  // NaN stays NaN
    case UnaryOp::le_scalar: map(x, y, n, [p](T v) { return v <= p ? T(1) : T(0); }); break;
  }
}

namespace {
template <typename T, typename F>
void broadcast(const T* a, const int64_t* as, const T* b, const int64_t* bs, T* out, const int64_t* shape, int ndim,
               F f) {
  int64_t n = 1;
  for (int d = 0; d < ndim; ++d) n *= shape[d];
  if (n == 0) return;
  if (ndim == 0) {
    out[0] = f(a[0], b[0]);
    return;
  }
  int64_t inner = shape[ndim - 1], ia = as[ndim - 1], ib = bs[ndim - 1];
  int64_t rows = n / inner;
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    int64_t oa = 0, ob = 0, rem = r;
    for (int d = ndim - 2; d >= 0; --d) {
      int64_t i = rem % shape[d];
      rem /= shape[d];
      oa += i * as[d];
      ob += i * bs[d];
    }
    const T* pa = a + oa;
    const T* pb = b + ob;
    T* po = out + r * inner;
    if (ia == 1 && ib == 1) {
      for (int64_t i = 0; i < inner; ++i) po[i] = f(pa[i], pb[i]);
    } else if (ia == 1 && ib == 0) {
      T vb = pb[0];
      for (int64_t i = 0; i < inner; ++i) po[i] = f(pa[i], vb);
    } else if (ia == 0 && ib == 1) {
      T va = pa[0];
      for (int64_t i = 0; i < inner; ++i) po[i] = f(va, pb[i]);
    } else {
      for (int64_t i = 0; i < inner; ++i) po[i] = f(pa[i * ia], pb[i * ib]);
    }
  }
}
}  // namespace

template <typename T>
void binary(BinaryOp op, const T* a, const int64_t* as, const T* b, const int64_t* bs, T* out, const int64_t* shape,
            int ndim) {
  switch (op) {
    case BinaryOp::add: broadcast(a, as, b, bs, out, shape, ndim, [](T x, T y) { return x + y; }); break;
    case BinaryOp::sub: broadcast(a, as, b, bs, out, shape, ndim, [](T x, T y) { return x - y; }); break;
    case BinaryOp::mul: broadcast(a, as, b, bs, out, shape, ndim, [](T x, T y) { return x * y; }); break;
    case BinaryOp::div: broadcast(a, as, b, bs, out, shape, ndim, [](T x, T y) { return x / y; }); break;
  }
}

template <typename T>
void relu_backward(int rule, const T* y, const T* g, T* dx, int64_t n) {
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    bool pass_x = y[i] > T(0), pass_g = g[i] > T(0);
    bool pass = rule == 0 ? pass_x : rule == 1 ? pass_g : (pass_x && pass_g);
    dx[i] = pass ? g[i] : T(0);
  }
}

#define PW_INST(T)                                                                                                \
  template void unary<T>(UnaryOp, const T*, T*, int64_t, T);                                                      \
  template void binary<T>(BinaryOp, const T*, const int64_t*, const T*, const int64_t*, T*, const int64_t*, int); \
  template void relu_backward<T>(int, const T*, const T*, T*, int64_t);
PW_INST(float)
PW_INST(double)
#undef PW_INST

}  // namespace pw::kernels::cpu
