// simt internals: turning a crash inside a kernel into a message that says what happened.
// A SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT while a simt block runs is reported on stderr
// with the kernel, block and thread, and named when simt knows its cause: a fiber stack
// overflow (the fault hit a stack's guard page), an overrun of the launch's dynamic shared
// memory (the guard page after it), with guarded allocations an access past the end of a
// cudaMalloc buffer, an integer division by zero, an abort (a failed assert). The handler then
// puts the previous disposition back and returns, so the fault repeats and ends the process
// as it would have (or reaches the program's own handler); a signal that was sent rather than
// caused by an instruction is raised again. It runs on an alternate signal stack, since an
// overflowed fiber has no stack left to run it on.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "kernels/simt/block.h"

namespace pw::simt::detail {

namespace {

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
struct sigaction g_previous[NSIG];

// Async-signal-safe output: hand-made number formatting into a buffer on the signal stack,
// written with one write(2), so that reports from threads that fault together (two blocks on
// two workers) come out whole, one line each, not interleaved.
class Line {
 public:
  void put(const char* s) {
    while (*s && n_ < sizeof(buf_)) buf_[n_++] = *s++;
  }
  void num(uint64_t v, int base = 10) {
    char buf[32];
    int i = 31;
    buf[i] = 0;
    do {
      buf[--i] = "0123456789abcdef"[v % base];
      v /= base;
    } while (v);
    if (base == 16) {
      buf[--i] = 'x';
      buf[--i] = '0';
    }
    put(buf + i);
  }
  void xyz(unsigned x, unsigned y, unsigned z) {
    put("(");
    num(x);
    put(",");
    num(y);
    put(",");
    num(z);
    put(")");
  }
  void write_out() const {
    ssize_t ignored = write(2, buf_, n_);
    (void)ignored;
  }

 private:
  char buf_[1024];
  size_t n_ = 0;
};

// The cause of a SIGSEGV or SIGBUS, when simt knows it.
void explain_memory_fault(Line& o, const BlockRun& r, const void* addr) {
  const StackPool* pool = stack_pool_if_any();
  const char* a = static_cast<const char*>(addr);
  const void* base = nullptr;
  size_t bytes = 0;
  if (pool && pool->in_guard(addr)) {
    o.put("simt: fiber stack overflow: a thread of a simt kernel used more than ");
    o.num(stack_size() / 1024);
    o.put(
        " KiB of stack (deep recursion or large local arrays?); raise the limit with "
        "PW_SIMT_STACK_KIB=<KiB> or pw::simt::set_stack_size(bytes).");
  } else if (r.smem_guard && a >= r.smem_guard && a < r.smem_guard_end) {
    o.put("simt: dynamic shared memory overrun: an access ");
    o.num(static_cast<uint64_t>(a - r.smem_guard));
    o.put(" bytes past the end of the ");
    o.num(r.smem_bytes);
    o.put(" bytes of dynamic shared memory the launch asked for");
    if (r.smem_bytes == 0) o.put(" (none: did the launch forget its smem argument?)");
    o.put(".");
  } else if (allocation_below(addr, &base, &bytes) && a >= static_cast<const char*>(base) + bytes) {
    o.put("simt: out-of-bounds access at ");
    o.num(reinterpret_cast<uintptr_t>(addr), 16);
    o.put(", ");
    o.num(static_cast<uint64_t>(a - static_cast<const char*>(base) - bytes));
    o.put(" bytes past the end of a ");
    o.num(bytes);
    o.put("-byte cudaMalloc allocation at ");
    o.num(reinterpret_cast<uintptr_t>(base), 16);
    o.put(".");
  } else {
    o.put("simt: segmentation fault at ");
    o.num(reinterpret_cast<uintptr_t>(addr), 16);
    o.put(" in a simt kernel (run with PW_SIMT_GUARD=1 to catch reads past the end of buffers).");
  }
}

void explain(Line& o, int sig, const siginfo_t* info, const BlockRun& r) {
  switch (sig) {
    case SIGSEGV:
    case SIGBUS: explain_memory_fault(o, r, info->si_addr); break;
    case SIGFPE:
      o.put(info->si_code == FPE_INTDIV   ? "simt: SIGFPE (integer division by zero)"
            : info->si_code == FPE_INTOVF ? "simt: SIGFPE (integer overflow: INT_MIN / -1?)"
                                          : "simt: SIGFPE (arithmetic exception)");
      o.put(" in a simt kernel (a GPU does not trap here, but the result is undefined).");
      break;
    case SIGILL: o.put("simt: SIGILL (illegal instruction) in a simt kernel."); break;
    default: o.put("simt: SIGABRT (abort() or a failed assert) in a simt kernel."); break;
  }
}

void on_fault(int sig, siginfo_t* info, void*) {
  if (const BlockRun* r = current_block_or_null()) {
    const unsigned t = r->cur, dx = r->block_dim.x, dy = r->block_dim.y;
    Line o;
    explain(o, sig, info, *r);
    o.put(" Kernel ");
    o.put(r->desc && r->desc->name ? r->desc->name : "?");
    o.put(", block ");
    o.xyz(r->block_idx.x, r->block_idx.y, r->block_idx.z);
    o.put(", thread ");
    o.xyz(t % dx, t / dx % dy, t / (dx * dy));
    o.put(".\n");
    o.write_out();
  }
  sigaction(sig, &g_previous[sig], nullptr);  // the fault repeats under the previous disposition
  if (info->si_code <= 0) raise(sig);         // sent (kill, raise, abort), not caused: send it again
}

struct AltStack {
  void* mem = nullptr;
  ~AltStack() {
    if (!mem) return;
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    sigaltstack(&off, nullptr);
    std::free(mem);
  }
};

}  // namespace

void prepare_fault_handling() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = &on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (int sig : kSignals) sigaction(sig, &sa, &g_previous[sig]);
  });
  static thread_local AltStack alt;
  static thread_local bool done = false;
  if (done) return;
  done = true;
  stack_t current{};
  if (sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE)) return;  // keep theirs
  constexpr size_t kBytes = 64 * 1024;
  alt.mem = std::malloc(kBytes);
  if (!alt.mem) return;
  stack_t ss{};
  ss.ss_sp = alt.mem;
  ss.ss_size = kBytes;
  sigaltstack(&ss, nullptr);
}

}  // namespace pw::simt::detail
