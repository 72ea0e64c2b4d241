// simt: the CUDA execution model on the CPU. A kernel file under kernels/cuda/ compiled by the
// host compiler sees this header (through kernels/cuda/compat.cuh) where nvcc's would see
// <cuda_runtime.h>: the built-in variables, the qualifiers, __syncthreads, the warp
// collectives, atomics, intrinsics, vector types and the runtime API. kernels/simt/README.md
// explains the model; in short:
//
// - The blocks of a launch are spread over worker threads; a block runs to completion on one
//   worker. The threads of a block run one after another as plain function calls until a
//   thread reaches its first barrier or warp collective; only then does it become a fiber
//   (its own stack, switched by kernels/simt/fiber_x86_64.S). Kernels without barriers pay no
//   switching at all.
// - threadIdx, blockIdx, blockDim and gridDim are thread_local variables of the worker that
//   the scheduler sets before it runs or resumes a thread, so kernels read them as in CUDA.
// - __shared__ is `static thread_local`: one copy per worker, and since a block runs to
//   completion on its worker before the worker starts another block, that copy is the
//   block's shared memory. Static and dynamic shared memory are poisoned with 0xFF at the
//   start of every block (CUDA leaves them undefined); dynamic shared memory (PW_DYNAMIC_SMEM)
//   ends at a guard page, so an overrun faults.
// - __syncthreads() releases when every live thread of the block waits at the same
//   __syncthreads; a thread that has returned stops counting. Warp collectives are per-warp
//   rendezvous of the lanes named in the mask. When no thread can move, the launch throws
//   pw::simt::Error listing where each thread waits (file:line and function).
//
// The macros below (__global__, __shared__, ...) are for kernel translation units only: this
// header must never be included by an engine header. Kernel code finds the names of
// namespace pw::simt through the using-directive in compat.cuh.
#pragma once
// Standard headers that spell __noinline__ as an attribute must be read before the macro
// of that name is defined below (their include guards then keep them from being re-read).
#include <math.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <source_location>
#include <type_traits>

#include "kernels/simt/intrinsics.h"
#include "kernels/simt/launch.h"
#include "kernels/simt/runtime.h"
#include "kernels/simt/types.h"

// ---- CUDA's qualifiers ----
#define __global__
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __grid_constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __align__(n) __attribute__((aligned(n)))
#define __launch_bounds__(...)
// Block-shared because a block runs to completion on one worker thread (see above). Each
// __shared__ variable is preceded by a one-byte marker, a static local of the same function
// (kept by `used`, named uniquely by __COUNTER__): simt finds the markers in the program's
// symbol table, takes every thread-local static of a function holding one for static shared
// memory, and poisons it at the start of every block (kernels/simt/shared.cpp).
#define PW_SIMT_CAT2(a, b) a##b
#define PW_SIMT_CAT(a, b) PW_SIMT_CAT2(a, b)
#define __shared__                                                                                                \
  [[maybe_unused]] static thread_local __attribute__((used)) char PW_SIMT_CAT(pw_simt_shared_mark_, __COUNTER__); \
  static thread_local

// A compiler barrier around every synchronization call: shared memory is re-read after it.
#define PW_SIMT_CLOBBER() __asm__ __volatile__("" ::: "memory")

namespace pw::simt {

// ---- built-in variables: set by the scheduler for the thread it runs ----
inline thread_local constinit uint3 threadIdx{0, 0, 0};
inline thread_local constinit uint3 blockIdx{0, 0, 0};
inline thread_local constinit dim3 blockDim{1, 1, 1};
inline thread_local constinit dim3 gridDim{1, 1, 1};
inline constexpr int warpSize = 32;

namespace detail {
#ifdef __cpp_lib_source_location
using Site = std::source_location;
#else
// clang before 15 with libstdc++ has no std::source_location (the fuzzing build, tools/fuzz.sh,
// uses Debian's clang 14): the members simt uses, from the builtins older compilers have.
struct Site {
  static constexpr Site current(const char* file = __builtin_FILE(), const char* function = __builtin_FUNCTION(),
                                unsigned line = __builtin_LINE(), unsigned column = __builtin_COLUMN()) noexcept {
    return Site{file, function, line, column};
  }
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return function_; }
  constexpr unsigned line() const noexcept { return line_; }
  constexpr unsigned column() const noexcept { return column_; }
  const char *file_ = "", *function_ = "";
  unsigned line_ = 0, column_ = 0;
};
#endif
enum class WarpOp : uint8_t {
  syncwarp,
  shfl_idx,
  shfl_up,
  shfl_down,
  shfl_xor,
  ballot,
  any,
  all,
  match_any,
  match_all,
  reduce_add,
  reduce_min_s,
  reduce_min_u,
  reduce_max_s,
  reduce_max_u,
  reduce_and,
  reduce_or,
  reduce_xor,
};
enum class BarrierOp : uint8_t { sync, count, all, any };
// Both suspend the calling thread until the rendezvous completes (see scheduler.cpp).
int block_barrier(BarrierOp op, int pred, const Site& site);
uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t value, unsigned bytes, int arg, int width,
                         const Site& site);
unsigned active_mask();
// The block's dynamic shared memory, checked to be aligned for `type` (PW_DYNAMIC_SMEM).
void* dynamic_shared_memory(size_t align, const char* type);
[[noreturn]] void trap(const Site& site);

template <class T>
inline uint64_t to_bits(T v) {
  static_assert(std::is_trivially_copyable_v<T> && sizeof(T) <= 8,
                "simt: warp collectives take values of at most 8 bytes, as in CUDA");
  uint64_t b = 0;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}
template <class T>
inline T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}
template <class T>
inline T warp_value(WarpOp op, unsigned mask, T var, int arg, int width, const Site& site) {
  PW_SIMT_CLOBBER();
  const T r = from_bits<T>(warp_collective(op, mask, to_bits(var), sizeof(T), arg, width, site));
  PW_SIMT_CLOBBER();
  return r;
}
}  // namespace detail

// ---- block barriers ----
inline void __syncthreads(detail::Site site = detail::Site::current()) {
  PW_SIMT_CLOBBER();
  detail::block_barrier(detail::BarrierOp::sync, 1, site);
  PW_SIMT_CLOBBER();
}
inline int __syncthreads_count(int pred, detail::Site site = detail::Site::current()) {
  PW_SIMT_CLOBBER();
  const int r = detail::block_barrier(detail::BarrierOp::count, pred, site);
  PW_SIMT_CLOBBER();
  return r;
}
inline int __syncthreads_and(int pred, detail::Site site = detail::Site::current()) {
  PW_SIMT_CLOBBER();
  const int r = detail::block_barrier(detail::BarrierOp::all, pred, site);
  PW_SIMT_CLOBBER();
  return r;
}
inline int __syncthreads_or(int pred, detail::Site site = detail::Site::current()) {
  PW_SIMT_CLOBBER();
  const int r = detail::block_barrier(detail::BarrierOp::any, pred, site);
  PW_SIMT_CLOBBER();
  return r;
}

// ---- warp collectives: the lanes of `mask` (the caller's own bit must be set) meet ----
// A source lane outside the group (not in the mask, exited, or beyond the block's last thread)
// gives the poison value 0xFF.. (undefined in CUDA). Bits for lanes past the end of a partial
// last warp are ignored; lanes of the mask that have exited are not waited for (PTX).
inline void __syncwarp(unsigned mask = 0xffffffffu, detail::Site site = detail::Site::current()) {
  PW_SIMT_CLOBBER();
  detail::warp_collective(detail::WarpOp::syncwarp, mask, 0, 0, 0, warpSize, site);
  PW_SIMT_CLOBBER();
}
template <class T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize,
                     detail::Site site = detail::Site::current()) {
  return detail::warp_value(detail::WarpOp::shfl_idx, mask, var, src_lane, width, site);
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                        detail::Site site = detail::Site::current()) {
  return detail::warp_value(detail::WarpOp::shfl_up, mask, var, static_cast<int>(delta), width, site);
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                          detail::Site site = detail::Site::current()) {
  return detail::warp_value(detail::WarpOp::shfl_down, mask, var, static_cast<int>(delta), width, site);
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize,
                         detail::Site site = detail::Site::current()) {
  return detail::warp_value(detail::WarpOp::shfl_xor, mask, var, lane_mask, width, site);
}
inline unsigned __ballot_sync(unsigned mask, int pred, detail::Site site = detail::Site::current()) {
  return detail::warp_value(detail::WarpOp::ballot, mask, pred != 0 ? 1u : 0u, 0, warpSize, site);
}
inline int __any_sync(unsigned mask, int pred, detail::Site site = detail::Site::current()) {
  return static_cast<int>(detail::warp_value(detail::WarpOp::any, mask, pred != 0 ? 1u : 0u, 0, warpSize, site));
}
inline int __all_sync(unsigned mask, int pred, detail::Site site = detail::Site::current()) {
  return static_cast<int>(detail::warp_value(detail::WarpOp::all, mask, pred != 0 ? 1u : 0u, 0, warpSize, site));
}
template <class T>
inline unsigned __match_any_sync(unsigned mask, T value, detail::Site site = detail::Site::current()) {
  return static_cast<unsigned>(
      detail::warp_collective(detail::WarpOp::match_any, mask, detail::to_bits(value), sizeof(T), 0, warpSize, site));
}
template <class T>
inline unsigned __match_all_sync(unsigned mask, T value, int* pred, detail::Site site = detail::Site::current()) {
  const uint64_t r =
      detail::warp_collective(detail::WarpOp::match_all, mask, detail::to_bits(value), sizeof(T), 0, warpSize, site);
  *pred = static_cast<int>(r >> 32);
  return static_cast<unsigned>(r);
}
#define PW_SIMT_WARP_REDUCE(NAME, T, OP)                                               \
  inline T NAME(unsigned mask, T value, detail::Site site = detail::Site::current()) { \
    return detail::warp_value(detail::WarpOp::OP, mask, value, 0, warpSize, site);     \
  }
PW_SIMT_WARP_REDUCE(__reduce_add_sync, int, reduce_add)
PW_SIMT_WARP_REDUCE(__reduce_add_sync, unsigned, reduce_add)
PW_SIMT_WARP_REDUCE(__reduce_min_sync, int, reduce_min_s)
PW_SIMT_WARP_REDUCE(__reduce_min_sync, unsigned, reduce_min_u)
PW_SIMT_WARP_REDUCE(__reduce_max_sync, int, reduce_max_s)
PW_SIMT_WARP_REDUCE(__reduce_max_sync, unsigned, reduce_max_u)
PW_SIMT_WARP_REDUCE(__reduce_and_sync, unsigned, reduce_and)
PW_SIMT_WARP_REDUCE(__reduce_or_sync, unsigned, reduce_or)
PW_SIMT_WARP_REDUCE(__reduce_xor_sync, unsigned, reduce_xor)
#undef PW_SIMT_WARP_REDUCE

// The lanes of the caller's warp that have not exited. (On a GPU: the lanes converged with the
// caller right now; simt threads never run in lockstep, so it reports every live lane.)
inline unsigned __activemask() { return detail::active_mask(); }

// Stops the launch with a pw::simt::Error naming the site (a GPU kernel would fault).
[[noreturn]] inline void __trap(detail::Site site = detail::Site::current()) { detail::trap(site); }

}  // namespace pw::simt

// The tensor-core instructions (mma.sync, ldmatrix, cp.async) and the TF32/BF16 conversions.
#include "kernels/simt/mma.h"
