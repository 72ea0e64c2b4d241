// simt internals: fiber stacks and the context switch (kernels/simt/fiber_x86_64.S).
// A Stack is a mapping with an inaccessible guard page at its low end, so that running off
// the bottom of a fiber's stack faults (and is reported by kernels/simt/faults.cpp) instead
// of writing into the next stack. Stacks are pooled per worker thread and reused across
// blocks and launches; only the pages a fiber touched are ever backed by memory.
//
// Every switch goes through switch_context, which announces it to AddressSanitizer when the
// build has it (see "AddressSanitizer" below); without ASan it is exactly pw_simt_switch.
#pragma once
#include <cstddef>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define PW_SIMT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PW_SIMT_ASAN 1
#endif
#endif
#ifndef PW_SIMT_ASAN
#define PW_SIMT_ASAN 0
#endif

extern "C" void pw_simt_switch(void** save_sp, void* load_sp);
extern "C" void pw_simt_trampoline();

namespace pw::simt::detail {

struct Stack {
  char* map = nullptr;  // the whole mapping: guard page, then the usable stack
  size_t map_bytes = 0;
  size_t usable_bytes = 0;
  char* guard_end() const;  // first byte above the guard page
  char* top() const { return map + map_bytes; }
};

class StackPool {
 public:
  StackPool() = default;
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;
  ~StackPool();
  // A stack of the current stack_size(); stacks of an older size are unmapped when met.
  Stack* acquire();
  void release(Stack* s) { free_.push_back(s); }
  // Whether `addr` lies in the guard page of one of this pool's stacks (for the fault
  // handler: no allocation, no locks).
  bool in_guard(const void* addr) const;

 private:
  std::vector<Stack*> free_;
  std::vector<Stack*> all_;
};

// The stack pool of the calling worker thread, and (for the fault handler, which must not
// create it) the same or nullptr when this thread has none yet.
StackPool& stack_pool();
const StackPool* stack_pool_if_any();

// Prepares `s` so that pw_simt_switch(&x, returned_sp) starts entry(arg) on it, with the
// caller's current floating-point control words.
void* prepare_stack(Stack* s, void (*entry)(void*), void* arg);

// ---- AddressSanitizer ----
// ASan keeps, per thread, the bounds of the stack it runs on (to tell stack from heap, and to
// unpoison the stack when an exception is thrown) and a "fake stack" for the frames it moves
// off the real stack to catch use after return. A fiber switch must tell it both:
//   __sanitizer_start_switch_fiber(&save, bottom, size)  before: where the next context's stack
//       lies; the running context's fake stack goes to `save` (or, with nullptr, is freed: the
//       context never runs again);
//   __sanitizer_finish_switch_fiber(save, &old_bottom, &old_size)  after, in the resumed context:
//       its own fake stack back (nullptr for a fresh context), and the stack it came from.
// The fake stack is saved in a local of switch_context: the context that saved it resumes in
// that same frame, which is not instrumented, so the local lies on the real stack.

// Where a context's stack lies (for ASan: the usable part of a pool stack, or the worker's own).
struct StackBounds {
  const void* bottom = nullptr;  // lowest address
  size_t size = 0;
};
inline StackBounds bounds_of(const Stack* s) {
  return s ? StackBounds{s->guard_end(), static_cast<size_t>(s->top() - s->guard_end())} : StackBounds{};
}

#if PW_SIMT_ASAN
// Saves the running context in *save_sp (a dummy when `for_good`: it is never resumed) and
// resumes the one at `load_sp`, which runs on `to`. `for_good`: the running context is over
// (its fake stack is freed).
void switch_context(void** save_sp, void* load_sp, StackBounds to, bool for_good = false);
// The first call on a fresh stack: completes the switch that started it. Returns the stack it
// came from (the worker's own stack, the first time in a block, is learnt this way).
StackBounds enter_fresh_context();
#else
inline void switch_context(void** save_sp, void* load_sp, StackBounds, bool for_good = false) {
  void* unused = nullptr;
  pw_simt_switch(for_good ? &unused : save_sp, load_sp);
}
inline StackBounds enter_fresh_context() { return {}; }
#endif

}  // namespace pw::simt::detail
