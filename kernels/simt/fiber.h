// simt internals: fiber stacks and the context switch (kernels/simt/fiber_x86_64.S).
// A Stack is a mapping with an inaccessible guard page at its low end, so that running off
// the bottom of a fiber's stack faults (and is reported by kernels/simt/faults.cpp) instead
// of writing into the next stack. Stacks are pooled per worker thread and reused across
// blocks and launches; only the pages a fiber touched are ever backed by memory.
#pragma once
#include <cstddef>
#include <vector>

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

}  // namespace pw::simt::detail
