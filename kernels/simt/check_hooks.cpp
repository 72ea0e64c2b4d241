// simt internals: the entry points of ThreadSanitizer's compiler instrumentation, implemented by
// simt instead of the ThreadSanitizer runtime (which is never linked). The checked kernels
// (pw_add_simt_kernels_checked, simt.cmake) are compiled with -fsanitize=thread, so GCC calls
// __tsan_read4(p) before a 4-byte load, __tsan_atomic32_fetch_add(p, v, order) instead of an
// atomic add, and so on; each hook hands the access to PW_SIMT_CHECK (check.cpp) when a checked
// kernel thread runs, and the atomic hooks perform their operation (sequentially consistent,
// whatever order was asked: a stronger order is always correct).
//
// The fast path, taken by every host-side access of the instrumented files and by every stack
// access of a kernel, is one thread-local load and two range compares. The hooks never throw:
// GCC declares them as functions that do not, so unwinding through their callers could end the
// program. A report is recorded instead (it fails the launch, check.cpp), and the thread that
// made it, and every thread of the launch at its next access, ends by a jump back into the
// scheduler (check_stop_thread), before the access: a misaligned float4 load would fault.
//
// The list below is what GCC 12 emits (nm -u on the checked objects shows the ones in use):
// plain, unaligned, volatile and range accesses, 1- to 8-byte atomics, fences, function
// entry/exit (turned off by --param=tsan-instrument-func-entry-exit=0, defined anyway), the
// vtable-pointer hooks and the module constructor's __tsan_init.
#include "kernels/simt/check.h"

namespace {

using pw::simt::detail::kAligned;
using pw::simt::detail::kAtomic;
using pw::simt::detail::kRmw;
using pw::simt::detail::kWrite;

inline void hook(const volatile void* p, size_t bytes, unsigned how, const void* site) {
  pw::simt::detail::CheckFast* c = pw::simt::detail::tl_check;
  if (__builtin_expect(c == nullptr, 1)) return;
  ++c->hooks;
  if (c->failed) pw::simt::detail::check_stop_thread();  // a report was made: no access after it
  const auto a = reinterpret_cast<uintptr_t>(p);
  if (a - c->stack_lo < c->stack_span || a - c->own_lo < c->own_span) return;
  pw::simt::detail::check_access(a, bytes, how, site);
  if (c->failed) pw::simt::detail::check_stop_thread();  // not even this one (it may fault)
}

}  // namespace

void pw::simt::detail::check_emulated_access(const void* p, size_t bytes, unsigned how, const void* site) {
  hook(p, bytes, how, site);
}

#define PW_SITE __builtin_return_address(0)

extern "C" {

void __tsan_init() {}
void __tsan_func_entry(void*) {}
void __tsan_func_exit() {}
void __tsan_vptr_update(void**, void*) {}
void __tsan_vptr_read(void**) {}

#define PW_SIMT_PLAIN(N)                                                                                      \
  void __tsan_read##N(void* p) { hook(p, N, N > 1 ? unsigned{kAligned} : 0u, PW_SITE); }                      \
  void __tsan_write##N(void* p) { hook(p, N, kWrite | (N > 1 ? unsigned{kAligned} : 0u), PW_SITE); }          \
  void __tsan_volatile_read##N(void* p) { hook(p, N, N > 1 ? unsigned{kAligned} : 0u, PW_SITE); }             \
  void __tsan_volatile_write##N(void* p) { hook(p, N, kWrite | (N > 1 ? unsigned{kAligned} : 0u), PW_SITE); } \
  void __tsan_unaligned_read##N(const void* p) { hook(p, N, 0, PW_SITE); }                                    \
  void __tsan_unaligned_write##N(void* p) { hook(p, N, kWrite, PW_SITE); }                                    \
  void __tsan_unaligned_volatile_read##N(const void* p) { hook(p, N, 0, PW_SITE); }                           \
  void __tsan_unaligned_volatile_write##N(void* p) { hook(p, N, kWrite, PW_SITE); }
PW_SIMT_PLAIN(1)
PW_SIMT_PLAIN(2)
PW_SIMT_PLAIN(4)
PW_SIMT_PLAIN(8)
PW_SIMT_PLAIN(16)
#undef PW_SIMT_PLAIN

void __tsan_read_range(void* p, unsigned long bytes) { hook(p, bytes, 0, PW_SITE); }
void __tsan_write_range(void* p, unsigned long bytes) { hook(p, bytes, kWrite, PW_SITE); }

void __tsan_atomic_thread_fence(int) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
void __tsan_atomic_signal_fence(int) { __atomic_signal_fence(__ATOMIC_SEQ_CST); }

#define PW_SIMT_RMW(N, T, OP, BUILTIN)                               \
  T __tsan_atomic##N##_##OP(volatile T* p, T v, int) {               \
    hook(p, sizeof(T), kWrite | kAtomic | kRmw | kAligned, PW_SITE); \
    return BUILTIN(const_cast<T*>(p), v, __ATOMIC_SEQ_CST);          \
  }
#define PW_SIMT_ATOMICS(N, T)                                                                                      \
  T __tsan_atomic##N##_load(const volatile T* p, int) {                                                            \
    hook(p, sizeof(T), kAtomic | kAligned, PW_SITE);                                                               \
    return __atomic_load_n(const_cast<const T*>(p), __ATOMIC_SEQ_CST);                                             \
  }                                                                                                                \
  void __tsan_atomic##N##_store(volatile T* p, T v, int) {                                                         \
    hook(p, sizeof(T), kWrite | kAtomic | kAligned, PW_SITE);                                                      \
    __atomic_store_n(const_cast<T*>(p), v, __ATOMIC_SEQ_CST);                                                      \
  }                                                                                                                \
  PW_SIMT_RMW(N, T, exchange, __atomic_exchange_n)                                                                 \
  PW_SIMT_RMW(N, T, fetch_add, __atomic_fetch_add)                                                                 \
  PW_SIMT_RMW(N, T, fetch_sub, __atomic_fetch_sub)                                                                 \
  PW_SIMT_RMW(N, T, fetch_and, __atomic_fetch_and)                                                                 \
  PW_SIMT_RMW(N, T, fetch_or, __atomic_fetch_or)                                                                   \
  PW_SIMT_RMW(N, T, fetch_xor, __atomic_fetch_xor)                                                                 \
  PW_SIMT_RMW(N, T, fetch_nand, __atomic_fetch_nand)                                                               \
  int __tsan_atomic##N##_compare_exchange_strong(volatile T* p, T* expected, T v, int, int) {                      \
    hook(p, sizeof(T), kWrite | kAtomic | kRmw | kAligned, PW_SITE);                                               \
    return __atomic_compare_exchange_n(const_cast<T*>(p), expected, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST); \
  }                                                                                                                \
  int __tsan_atomic##N##_compare_exchange_weak(volatile T* p, T* expected, T v, int, int) {                        \
    hook(p, sizeof(T), kWrite | kAtomic | kRmw | kAligned, PW_SITE);                                               \
    return __atomic_compare_exchange_n(const_cast<T*>(p), expected, v, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);  \
  }                                                                                                                \
  T __tsan_atomic##N##_compare_exchange_val(volatile T* p, T expected, T v, int, int) {                            \
    hook(p, sizeof(T), kWrite | kAtomic | kRmw | kAligned, PW_SITE);                                               \
    __atomic_compare_exchange_n(const_cast<T*>(p), &expected, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);       \
    return expected;                                                                                               \
  }
PW_SIMT_ATOMICS(8, char)
PW_SIMT_ATOMICS(16, short)
PW_SIMT_ATOMICS(32, int)
PW_SIMT_ATOMICS(64, long)
#undef PW_SIMT_ATOMICS
#undef PW_SIMT_RMW

}  // extern "C"
