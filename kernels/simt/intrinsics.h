// simt: the CUDA device functions kernels use that are not synchronization -- math
// intrinsics, bit manipulation, type punning, cached loads, memory fences and atomics.
// Included by simt.h; everything is in namespace pw::simt.
//
// The fast-math intrinsics (__expf, __logf, __fdividef, ...) are computed with the precise
// host functions: simt is a correctness tool, so a kernel that is only right because of an
// intrinsic's extra error on the GPU will not be caught here, and one whose tolerance is too
// tight for the GPU's intrinsics needs its GPU run. The standard C math functions (expf,
// fmaxf, fminf, sqrtf, ...) come from <math.h> in the global namespace, as in CUDA.
//
// Atomics go through std::atomic_ref, so they are atomic across the worker threads that run
// different blocks at once. They use acquire-release order (on x86 every locked instruction
// is a full barrier anyway), which makes the usual "last block finishes the reduction"
// pattern with __threadfence() correct here too.
#pragma once
#include <math.h>

#include <atomic>
#include <bit>
#include <cstdint>
#include <type_traits>

namespace pw::simt {

// ---- math ----
inline float __expf(float x) { return ::expf(x); }
inline float __exp10f(float x) { return ::powf(10.0f, x); }
inline float __logf(float x) { return ::logf(x); }
inline float __log2f(float x) { return ::log2f(x); }
inline float __log10f(float x) { return ::log10f(x); }
inline float __sinf(float x) { return ::sinf(x); }
inline float __cosf(float x) { return ::cosf(x); }
inline float __tanf(float x) { return ::tanf(x); }
inline void __sincosf(float x, float* s, float* c) {
  *s = ::sinf(x);
  *c = ::cosf(x);
}
inline float __powf(float x, float y) { return ::powf(x, y); }
inline float __fdividef(float a, float b) { return a / b; }
inline float fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return ::sqrtf(x); }
inline float __frsqrt_rn(float x) { return 1.0f / ::sqrtf(x); }
inline float rsqrtf(float x) { return 1.0f / ::sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / ::sqrt(x); }
inline float rcbrtf(float x) { return 1.0f / ::cbrtf(x); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float __fmaf_rn(float a, float b, float c) { return ::fmaf(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return ::fma(a, b, c); }
inline float normcdff(float x) { return 0.5f * ::erfcf(-x * 0.70710678118654752f); }
inline double normcdf(double x) { return 0.5 * ::erfc(-x * 0.70710678118654752); }
// Clamp to [0, 1]; NaN becomes 0, as on the GPU.
inline float __saturatef(float x) { return x >= 1.0f ? 1.0f : (x > 0.0f ? x : 0.0f); }

// CUDA's min/max overloads for every pair of arithmetic types, with the usual promotions.
template <class A, class B>
requires std::is_arithmetic_v<A> && std::is_arithmetic_v<B>
inline std::common_type_t<A, B> min(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(b) < static_cast<C>(a) ? static_cast<C>(b) : static_cast<C>(a);
}
template <class A, class B>
requires std::is_arithmetic_v<A> && std::is_arithmetic_v<B>
inline std::common_type_t<A, B> max(A a, B b) {
  using C = std::common_type_t<A, B>;
  return static_cast<C>(a) < static_cast<C>(b) ? static_cast<C>(b) : static_cast<C>(a);
}
inline unsigned int umin(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int umax(unsigned int a, unsigned int b) { return a < b ? b : a; }

// ---- conversions and type punning ----
inline int __float_as_int(float x) { return std::bit_cast<int>(x); }
inline unsigned int __float_as_uint(float x) { return std::bit_cast<unsigned int>(x); }
inline float __int_as_float(int x) { return std::bit_cast<float>(x); }
inline float __uint_as_float(unsigned int x) { return std::bit_cast<float>(x); }
inline long long __double_as_longlong(double x) { return std::bit_cast<long long>(x); }
inline double __longlong_as_double(long long x) { return std::bit_cast<double>(x); }
inline int __float2int_rn(float x) { return static_cast<int>(::nearbyintf(x)); }
inline int __float2int_rz(float x) { return static_cast<int>(::truncf(x)); }
inline int __float2int_rd(float x) { return static_cast<int>(::floorf(x)); }
inline int __float2int_ru(float x) { return static_cast<int>(::ceilf(x)); }
inline unsigned int __float2uint_rn(float x) { return static_cast<unsigned int>(::nearbyintf(x)); }
inline long long __float2ll_rn(float x) { return static_cast<long long>(::nearbyintf(x)); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
inline float __uint2float_rn(unsigned int x) { return static_cast<float>(x); }
inline float __double2float_rn(double x) { return static_cast<float>(x); }

// ---- bits ----
inline int __popc(unsigned int x) { return std::popcount(x); }
inline int __popcll(unsigned long long x) { return std::popcount(x); }
inline int __clz(int x) { return std::countl_zero(static_cast<unsigned int>(x)); }
inline int __clzll(long long x) { return std::countl_zero(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return x == 0 ? 0 : std::countr_zero(static_cast<unsigned int>(x)) + 1; }
inline int __ffsll(long long x) { return x == 0 ? 0 : std::countr_zero(static_cast<unsigned long long>(x)) + 1; }
inline unsigned int __brev(unsigned int x) {
  unsigned int r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
inline unsigned long long __brevll(unsigned long long x) {
  return (static_cast<unsigned long long>(__brev(static_cast<unsigned int>(x))) << 32) |
         __brev(static_cast<unsigned int>(x >> 32));
}
inline int __mulhi(int a, int b) { return static_cast<int>((static_cast<long long>(a) * b) >> 32); }
inline unsigned int __umulhi(unsigned int a, unsigned int b) {
  return static_cast<unsigned int>((static_cast<unsigned long long>(a) * b) >> 32);
}
inline int __mul24(int a, int b) {
  return static_cast<int>(static_cast<unsigned int>((a << 8) >> 8) * static_cast<unsigned int>((b << 8) >> 8));
}
inline unsigned int __umul24(unsigned int a, unsigned int b) { return (a & 0xFFFFFFu) * (b & 0xFFFFFFu); }
inline unsigned int __byte_perm(unsigned int x, unsigned int y, unsigned int s) {
  const unsigned long long v = (static_cast<unsigned long long>(y) << 32) | x;
  unsigned int r = 0;
  for (int i = 0; i < 4; ++i) r |= static_cast<unsigned int>((v >> (8 * ((s >> (4 * i)) & 7))) & 0xFF) << (8 * i);
  return r;
}
inline unsigned int __funnelshift_l(unsigned int lo, unsigned int hi, unsigned int shift) {
  const unsigned long long v = (static_cast<unsigned long long>(hi) << 32) | lo;
  return static_cast<unsigned int>((v << (shift & 31)) >> 32);
}
inline unsigned int __funnelshift_r(unsigned int lo, unsigned int hi, unsigned int shift) {
  const unsigned long long v = (static_cast<unsigned long long>(hi) << 32) | lo;
  return static_cast<unsigned int>(v >> (shift & 31));
}

// ---- loads and stores with cache hints: plain accesses on the CPU ----
template <class T>
inline T __ldg(const T* p) {
  return *p;
}
template <class T>
inline T __ldca(const T* p) {
  return *p;
}
template <class T>
inline T __ldcg(const T* p) {
  return *p;
}
template <class T>
inline T __ldcs(const T* p) {
  return *p;
}
template <class T>
inline T __ldlu(const T* p) {
  return *p;
}
template <class T>
inline T __ldcv(const T* p) {
  return *p;
}
template <class T>
inline void __stwb(T* p, T v) {
  *p = v;
}
template <class T>
inline void __stcg(T* p, T v) {
  *p = v;
}
template <class T>
inline void __stcs(T* p, T v) {
  *p = v;
}
template <class T>
inline void __stwt(T* p, T v) {
  *p = v;
}

// ---- fences and clocks ----
// The threads of one block share a worker thread, so a compiler barrier orders them; blocks
// on different workers need a real fence.
inline void __threadfence_block() { std::atomic_signal_fence(std::memory_order_seq_cst); }
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_system() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline long long clock64() { return static_cast<long long>(__builtin_ia32_rdtsc()); }
inline void __nanosleep(unsigned int) {}

// ---- atomics ----
namespace detail {
constexpr auto kAtomicOrder = std::memory_order_acq_rel;
template <class T, class F>
inline T atomic_update(T* p, F f) {  // CAS loop: *p = f(old); returns old
  std::atomic_ref<T> ref(*p);
  T old = ref.load(std::memory_order_relaxed);
  while (!ref.compare_exchange_weak(old, f(old), kAtomicOrder, std::memory_order_relaxed)) {
  }
  return old;
}
}  // namespace detail

#define PW_SIMT_ATOMIC_RMW(NAME, T, OP) \
  inline T NAME(T* p, T v) { return std::atomic_ref<T>(*p).OP(v, detail::kAtomicOrder); }
PW_SIMT_ATOMIC_RMW(atomicAdd, int, fetch_add)
PW_SIMT_ATOMIC_RMW(atomicAdd, unsigned int, fetch_add)
PW_SIMT_ATOMIC_RMW(atomicAdd, unsigned long long, fetch_add)
PW_SIMT_ATOMIC_RMW(atomicAdd, float, fetch_add)
PW_SIMT_ATOMIC_RMW(atomicAdd, double, fetch_add)
PW_SIMT_ATOMIC_RMW(atomicSub, int, fetch_sub)
PW_SIMT_ATOMIC_RMW(atomicSub, unsigned int, fetch_sub)
PW_SIMT_ATOMIC_RMW(atomicAnd, int, fetch_and)
PW_SIMT_ATOMIC_RMW(atomicAnd, unsigned int, fetch_and)
PW_SIMT_ATOMIC_RMW(atomicAnd, unsigned long long, fetch_and)
PW_SIMT_ATOMIC_RMW(atomicOr, int, fetch_or)
PW_SIMT_ATOMIC_RMW(atomicOr, unsigned int, fetch_or)
PW_SIMT_ATOMIC_RMW(atomicOr, unsigned long long, fetch_or)
PW_SIMT_ATOMIC_RMW(atomicXor, int, fetch_xor)
PW_SIMT_ATOMIC_RMW(atomicXor, unsigned int, fetch_xor)
PW_SIMT_ATOMIC_RMW(atomicXor, unsigned long long, fetch_xor)
PW_SIMT_ATOMIC_RMW(atomicExch, int, exchange)
PW_SIMT_ATOMIC_RMW(atomicExch, unsigned int, exchange)
PW_SIMT_ATOMIC_RMW(atomicExch, unsigned long long, exchange)
PW_SIMT_ATOMIC_RMW(atomicExch, float, exchange)
#undef PW_SIMT_ATOMIC_RMW

#define PW_SIMT_ATOMIC_MINMAX(T)                                         \
  inline T atomicMax(T* p, T v) {                                        \
    return detail::atomic_update(p, [v](T o) { return o < v ? v : o; }); \
  }                                                                      \
  inline T atomicMin(T* p, T v) {                                        \
    return detail::atomic_update(p, [v](T o) { return v < o ? v : o; }); \
  }
PW_SIMT_ATOMIC_MINMAX(int)
PW_SIMT_ATOMIC_MINMAX(unsigned int)
PW_SIMT_ATOMIC_MINMAX(long long)
PW_SIMT_ATOMIC_MINMAX(unsigned long long)
#undef PW_SIMT_ATOMIC_MINMAX

#define PW_SIMT_ATOMIC_CAS(T)                                                                                    \
  inline T atomicCAS(T* p, T compare, T v) {                                                                     \
    std::atomic_ref<T>(*p).compare_exchange_strong(compare, v, detail::kAtomicOrder, std::memory_order_relaxed); \
    return compare; /* the old value, whether or not it was replaced */                                          \
  }
PW_SIMT_ATOMIC_CAS(int)
PW_SIMT_ATOMIC_CAS(unsigned int)
PW_SIMT_ATOMIC_CAS(unsigned long long)
#undef PW_SIMT_ATOMIC_CAS

// ((old >= v) ? 0 : old + 1) and (((old == 0) || (old > v)) ? v : old - 1), as in CUDA.
inline unsigned int atomicInc(unsigned int* p, unsigned int v) {
  return detail::atomic_update(p, [v](unsigned int o) { return o >= v ? 0u : o + 1u; });
}
inline unsigned int atomicDec(unsigned int* p, unsigned int v) {
  return detail::atomic_update(p, [v](unsigned int o) { return (o == 0 || o > v) ? v : o - 1u; });
}

}  // namespace pw::simt
