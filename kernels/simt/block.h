// simt internals: the state of the block a worker is running -- one record per thread of the
// block (its fiber context, what it waits for) and the scheduler's own context -- shared by
// scheduler.cpp (barriers, fibers, deadlocks), warp.cpp (warp collectives) and launch.cpp.
#pragma once
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "kernels/simt/fiber.h"
#include "kernels/simt/simt.h"

namespace pw::simt::detail {

inline constexpr unsigned kMaxBlockThreads = 1024;

// Static shared memory that a block may use: [offset, offset + bytes) runs in the module's
// thread-local block (static_shared.cpp). Computed per kernel; valid during its launch.
using SharedRuns = std::vector<std::pair<size_t, size_t>>;

inline uint64_t mix64(uint64_t x) {  // splitmix64 finalizer
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

enum class ThreadState : uint8_t { not_started, running, waiting, ready, done };

// What the scheduler knows about a thread beyond its state. Only threads that wait (and so
// become fibers) ever touch theirs: a block without barriers writes none of these.
struct ThreadRec {
  void* sp = nullptr;       // saved context while suspended (fibers only)
  Stack* stack = nullptr;   // the pool stack holding its frames; nullptr: the worker's own
  bool abort = false;       // resumed only to unwind (the block failed)
  bool at_barrier = false;  // waits at __syncthreads*, else at a warp collective
  BarrierOp barrier_op = BarrierOp::sync;
  WarpOp warp_op = WarpOp::syncwarp;
  unsigned mask = 0;  // warp collective: its mask, argument, width and value
  int arg = 0;
  int width = 32;
  unsigned bytes = 0;
  int pred = 0;  // __syncthreads_count/and/or predicate
  uint64_t value = 0;
  uint64_t result = 0;   // what the rendezvous hands back
  Site site;             // where it waits
  void* stop = nullptr;  // PW_SIMT_CHECK: the std::jmp_buf that ends the thread (scheduler.cpp)
};

struct BlockRun {
  const LaunchDesc* desc = nullptr;
  unsigned n = 0;  // threads in the block
  dim3 block_dim, grid_dim;
  uint3 block_idx{0, 0, 0};
  uint64_t block_linear = 0;
  Schedule schedule = Schedule::forward;
  uint64_t seed = 0;
  uint32_t round = 0;                   // 0 for the plain phase, then one per fiber round
  ThreadState state[kMaxBlockThreads];  // reset for every block: n bytes
  bool fiber[kMaxBlockThreads];         // has been suspended at least once
  ThreadRec th[kMaxBlockThreads];
  uint16_t order[kMaxBlockThreads];  // the random schedule's order for this round
  unsigned next_plain = 0;           // position in the order of the next thread not yet started
  unsigned cur = 0;                  // the thread running now
  unsigned live = 0;                 // threads not yet exited
  unsigned at_barrier = 0;           // live threads waiting at __syncthreads*
  unsigned at_warp = 0;              // threads waiting at warp collectives
  void* sched_sp = nullptr;          // the scheduler's context while a fiber runs
  Stack* sched_stack = nullptr;      // the stack the scheduler runs on; nullptr: the worker's own
  int home_owner = -1;               // the thread whose frames sit on the worker's own stack
  StackBounds home;                  // the worker's own stack (known under ASan only: fiber.h)
  bool finished = false;
  std::exception_ptr error;   // the first failure of a thread of this block
  char* smem_base = nullptr;  // dynamic shared memory: smem_bytes that end at smem_guard
  size_t smem_bytes = 0;
  char* smem_map = nullptr;          // memcheck: its red zone before it starts here (else smem_base)
  unsigned checks = 0;               // PW_SIMT_CHECK bits of this launch
  int barrier_lead = -1;             // synccheck: the first thread waiting at the current __syncthreads
  const char* smem_guard = nullptr;  // the guard page: [smem_guard, smem_guard_end)
  const char* smem_guard_end = nullptr;
};

// The block the calling worker is running; throws when called outside a kernel.
BlockRun& current_block(const char* what);
// Whether the calling thread is running a simt kernel (also read by the fault handler).
BlockRun* current_block_or_null();

// Runs block `linear` of the launch to completion on the calling worker; throws on failure.
void run_block(BlockRun& run, const LaunchDesc& desc, const SharedRuns& static_shared, uint64_t linear,
               Schedule schedule, uint64_t seed, unsigned checks);

// Thread t has exited: completes the warp collectives its warp-mates wait at, now that it
// has left their groups (PTX: *_sync waits for the non-exited lanes of the mask only).
void lane_exited(BlockRun& run, unsigned t);

// Suspends the running thread until the scheduler resumes it (its rendezvous completed).
void suspend_current(BlockRun& run);

inline bool same_site(const Site& a, const Site& b) {
  return a.line() == b.line() && a.column() == b.column() &&
         (a.file_name() == b.file_name() || std::strcmp(a.file_name(), b.file_name()) == 0);
}

// "file:line (function)" of a wait site, and a thread's block-local description.
std::string describe_site(const Site& site);
std::string describe_thread(const BlockRun& run, unsigned t);
// "(x,y,z)" of thread t of the block, and of the block in its grid.
std::string thread_coords(const BlockRun& run, unsigned t);
std::string block_coords(const BlockRun& run);
// Every thread of the block, grouped by what it does ("  threads 0-31: __syncthreads at ...").
std::string describe_threads(const BlockRun& run);

// Sets the last error of this host thread with its detailed message; returns `code`.
cudaError_t fail(cudaError_t code, std::string detail);
// Streams (streams.cpp). Work given to `stream`: validated by the caller, then run now (the null
// stream, after the queued work of every blocking stream) or queued on the stream; an error
// for a stream that is not live.
cudaError_t stream_submit(cudaStream_t stream, const char* api, std::function<void()> op);
// Runs all queued work of every stream (cudaDeviceSynchronize, cudaFree).
void finish_all_streams();
// Counts a call that, on a GPU, makes the host wait for the device (sync_count.cpp).
void note_host_sync(const char* what);
// Per-kernel dynamic shared memory limit (cudaFuncSetAttribute), bytes.
size_t max_dynamic_smem(const void* kernel);
const SharedRuns& static_shared_runs(const void* kernel);
// Places the block's dynamic shared memory (`dynamic_bytes`, ending at a guard page) and
// poisons it and the static shared memory `runs` of the calling worker (shared.cpp).
void prepare_shared_memory(BlockRun& run, size_t dynamic_bytes, const SharedRuns& runs);
// The calling thread's copy of the program's thread-local block, where static shared memory
// lies (the offsets of SharedRuns apply to it), and the block's size in bytes.
char* thread_local_block();
size_t thread_local_block_bytes();
// The live allocation starting at or below `addr` (for the fault handler: never blocks).
bool allocation_below(const void* addr, const void** base, size_t* bytes);
// The watchdog (watchdog.cpp): a launch starts (desc) or ends (nullptr); the block record a
// worker runs its blocks in, while it works on a launch (nullptr when it stops).
void watch_launch(const LaunchDesc* desc);
void watch_worker(int worker, BlockRun* run);
// Installs the fault handler and this thread's alternate signal stack (once per thread).
void prepare_fault_handling();

}  // namespace pw::simt::detail
