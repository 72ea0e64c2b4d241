// simt internals: fiber stacks (mmap with a guard page, pooled per worker) and the initial
// frame that makes a fresh stack's first switch enter a C++ function.
#include "kernels/simt/fiber.h"

#include <sys/mman.h>
#include <unistd.h>
#include <xmmintrin.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "kernels/simt/runtime.h"

#if PW_SIMT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace pw::simt::detail {

namespace {
size_t page_size() {
  static const size_t p = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

// Under ASan: clears the poison that frames abandoned on a stack left in its shadow (a fiber
// whose context ended for good never returns through its frames), before the stack is started
// again or unmapped (stale poison would fall on whatever is mapped there next).
void unpoison(const Stack* s) {
#if PW_SIMT_ASAN
  __asan_unpoison_memory_region(s->guard_end(), static_cast<size_t>(s->top() - s->guard_end()));
#else
  (void)s;
#endif
}
}  // namespace

char* Stack::guard_end() const { return map + page_size(); }

StackPool::~StackPool() {
  for (Stack* s : all_) {
    unpoison(s);
    munmap(s->map, s->map_bytes);
    delete s;
  }
}

Stack* StackPool::acquire() {
  const size_t want = stack_size();
  while (!free_.empty()) {
    Stack* s = free_.back();
    free_.pop_back();
    if (s->usable_bytes == want) return s;
    unpoison(s);
    munmap(s->map, s->map_bytes);  // the stack size was changed since this one was made
    all_.erase(std::find(all_.begin(), all_.end(), s));
    delete s;
  }
  const size_t page = page_size();
  const size_t usable = (want + page - 1) / page * page;
  const size_t bytes = usable + page;
  void* m =
      mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (m == MAP_FAILED)
    throw Error("simt: cannot map a " + std::to_string(bytes) + "-byte fiber stack: " + std::strerror(errno));
  if (mprotect(m, page, PROT_NONE) != 0) {
    munmap(m, bytes);
    throw Error(std::string("simt: cannot protect a fiber stack's guard page: ") + std::strerror(errno));
  }
  auto* s = new Stack{static_cast<char*>(m), bytes, want};
  all_.push_back(s);
  return s;
}

bool StackPool::in_guard(const void* addr) const {
  const char* a = static_cast<const char*>(addr);
  for (const Stack* s : all_)
    if (a >= s->map && a < s->guard_end()) return true;
  return false;
}

namespace {
thread_local const StackPool* tl_pool = nullptr;
}

StackPool& stack_pool() {
  static thread_local StackPool pool;
  tl_pool = &pool;
  return pool;
}

const StackPool* stack_pool_if_any() { return tl_pool; }

void* prepare_stack(Stack* s, void (*entry)(void*), void* arg) {
  // The frame pw_simt_switch pops, from the new stack pointer upwards: MXCSR and the x87
  // control word (16 bytes), r15, r14, r13 = arg, r12 = entry, rbx, rbp, and the return
  // address pw_simt_trampoline. The top is 16-byte aligned, so after the `ret` rsp is
  // aligned and the trampoline's call enters `entry` with the ABI's alignment.
  unpoison(s);
  auto* top = reinterpret_cast<uint64_t*>(reinterpret_cast<uintptr_t>(s->top()) & ~uintptr_t{15});
  uint64_t* sp = top - 9;
  uint32_t mxcsr = _mm_getcsr();
  uint16_t fpucw = 0;
  __asm__ __volatile__("fnstcw %0" : "=m"(fpucw));
  std::memset(sp, 0, 9 * sizeof(uint64_t));
  std::memcpy(sp, &mxcsr, sizeof mxcsr);
  std::memcpy(reinterpret_cast<char*>(sp) + 4, &fpucw, sizeof fpucw);
  sp[2] = 0;                                                // r15
  sp[3] = 0;                                                // r14
  sp[4] = reinterpret_cast<uint64_t>(arg);                  // r13
  sp[5] = reinterpret_cast<uint64_t>(entry);                // r12
  sp[6] = 0;                                                // rbx
  sp[7] = 0;                                                // rbp
  sp[8] = reinterpret_cast<uint64_t>(&pw_simt_trampoline);  // return address
  return sp;
}

#if PW_SIMT_ASAN
// Not instrumented: `fake_stack` and `unused` must lie on the real stack (an instrumented frame
// may live on the fake stack, which start_switch takes away or frees).
__attribute__((no_sanitize_address, noinline)) void switch_context(void** save_sp, void* load_sp, StackBounds to,
                                                                   bool for_good) {
  void* fake_stack = nullptr;
  void* unused = nullptr;
  __sanitizer_start_switch_fiber(for_good ? nullptr : &fake_stack, to.bottom, to.size);
  pw_simt_switch(for_good ? &unused : save_sp, load_sp);
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);  // resumed: our fake stack back
}

__attribute__((no_sanitize_address, noinline)) StackBounds enter_fresh_context() {
  const void* bottom = nullptr;
  size_t size = 0;
  __sanitizer_finish_switch_fiber(nullptr, &bottom, &size);
  return {bottom, size};
}
#endif

}  // namespace pw::simt::detail
