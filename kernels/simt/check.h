// simt internals: PW_SIMT_CHECK (kernels/simt/README.md, "Checks"). The kernels of a checked
// build (pw_add_simt_kernels_checked in simt.cmake) are compiled with ThreadSanitizer's
// instrumentation, whose calls (__tsan_read4, __tsan_atomic32_fetch_add, ...) simt implements
// itself (check_hooks.cpp) instead of linking ThreadSanitizer: every load and store of kernel
// code reaches check_access, which classifies the address (the thread's own stack, dynamic or
// static shared memory, a live or freed cudaMalloc allocation, or nothing a kernel may touch)
// and keeps the shadow state of memcheck, racecheck and initcheck (check.cpp). synccheck lives
// beside the barriers and collectives it checks (scheduler.cpp, warp.cpp).
//
// The scheduler tells the checker where a launch, a block, a barrier interval and a warp
// collective begin; the fake runtime tells it about allocations, copies and frees.
#pragma once
#include <cstddef>
#include <cstdint>
#include <exception>

#include "kernels/simt/block.h"

namespace pw::simt::detail {

// How an access reaches memory (the `how` of check_access).
enum AccessBits : unsigned {
  kWrite = 1,    // a store (or the store of a read-modify-write)
  kAtomic = 2,   // an atomic operation
  kRmw = 4,      // an atomic read-modify-write: reads, then writes
  kAligned = 8,  // the compiler assumed natural alignment (a GPU faults when it is wrong)
};

// What the memory hooks read first, on every access: the ranges they skip without a lookup.
struct CheckFast {
  uintptr_t stack_lo = 0, stack_span = 0;  // the running thread's stack
  uintptr_t own_lo = 0, own_span = 0;      // the worker's own stack (the launch's parameters lie there)
  bool failed = false;                     // a report was made: the launch fails, checking stops
  uint64_t hooks = 0;                      // calls of the memory hooks in this launch (0: not built checked)
};
// Non-null exactly while kernel code of a checked block runs on this thread: the scheduler
// sets it when it starts or resumes a thread, and runtime code called from a kernel (a barrier,
// a collective) pauses it, so that only the kernel's own accesses are checked.
inline thread_local constinit CheckFast* tl_check = nullptr;

// An access of `bytes` at `addr` by the running kernel thread, from the code at `site`.
void check_access(uintptr_t addr, size_t bytes, unsigned how, const void* site);
// An access that runtime code makes for the running kernel thread while it emulates one of the
// thread's instructions (cp.async reads its source when issued and writes its destination when
// waited for; ldmatrix reads each lane's row): checked as the kernel's own accesses are, from
// `site`, a code address in the kernel. Nothing when the thread is not checked.
void check_emulated_access(const void* p, size_t bytes, unsigned how, const void* site);
// After a report, ends the running kernel thread at once (a jump back to the scheduler).
[[noreturn]] void check_stop_thread();

// ---- events from the scheduler (only called when the launch has checks) ----
void check_launch_begin(const LaunchDesc& desc, unsigned checks);
// The error the launch throws: a check's report when there is one, else `error`.
std::exception_ptr check_launch_end(std::exception_ptr error);
void check_block_begin(BlockRun& r, const SharedRuns& static_shared);
// The running thread r.cur enters (or re-enters) kernel code: sets tl_check and its stack.
void check_thread_enter(BlockRun& r);
void check_barrier_released(BlockRun& r);                            // a new barrier interval
void check_warp_joined(BlockRun& r, unsigned base, unsigned group);  // lanes met at a collective

// Runtime code called from a kernel: its own accesses are not the kernel's.
class CheckPause {
 public:
  CheckPause() : saved_(tl_check) { tl_check = nullptr; }
  ~CheckPause() {
    if (saved_) check_thread_enter(current_block("a checked kernel"));  // resumed: maybe another stack
  }
  CheckPause(const CheckPause&) = delete;
  CheckPause& operator=(const CheckPause&) = delete;

 private:
  CheckFast* saved_;
};

// ---- allocations (runtime.cpp), when checks are on ----
// The shadow of one cudaMalloc allocation: which bytes were written (initcheck) and, mapped at
// the first checked access, racecheck's per-word records.
struct AllocShadow;
AllocShadow* alloc_shadow_new(size_t bytes, bool written);
void alloc_shadow_delete(AllocShadow* s);
void alloc_shadow_written(AllocShadow* s, size_t offset, size_t bytes);
void alloc_shadow_copy(AllocShadow* dst, size_t dst_offset, const AllocShadow* src, size_t src_offset, size_t bytes);

// What a kernel may address in global memory, from the runtime's registry.
enum class DeviceRegionKind : uint8_t { live, freed, host };
struct DeviceRegion {
  uintptr_t lo, hi;
  DeviceRegionKind kind;
  AllocShadow* shadow;  // live allocations only
};
// Fills `out` (sorted by address) unless the registry is unchanged since `*generation`.
void device_regions(std::vector<DeviceRegion>& out, uint64_t* generation);
// Dynamic shared memory's red zones (bytes before and after it) in a memcheck launch.
inline constexpr size_t kSharedRedZone = 256;

}  // namespace pw::simt::detail
