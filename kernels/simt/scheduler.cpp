// simt internals: running one block -- the threads as plain calls until their first barrier,
// then as fibers; __syncthreads and its _count/_and/_or forms; deadlock reports.
//
// How a thread becomes a fiber without paying for it up front: the scheduler calls thread t
// as a plain function on the stack the scheduler itself runs on. If t returns, nothing else
// happens. If t reaches a barrier, the stack it runs on is handed to t for good (its frames
// stay where they are) and the scheduler carries on from a fresh pool stack, entered at
// scheduler_entry. All scheduler state lives in BlockRun, not in the abandoned frames, so the
// loop simply continues there. The first thread to do this keeps the worker's own stack (the
// "home" stack under run_block); when the block is over, the scheduler switches back to it
// and run_block returns normally.
//
// Order: the plain phase starts the threads in the schedule's order; afterwards the scheduler
// works in rounds, resuming every released thread in the schedule's order, until all have
// exited. A round that finds no thread ready is a deadlock.
//
// Failure: an exception in a thread (or a deadlock) is recorded; every suspended fiber is then
// resumed with `abort` set, so that its wait throws FiberUnwind and its destructors run, and
// the original exception leaves the launch from run_block.
#include <algorithm>
#include <csetjmp>
#include <cstring>
#include <map>
#include <sstream>

#include "kernels/simt/block.h"
#include "kernels/simt/check.h"

namespace pw::simt::detail {

namespace {

thread_local BlockRun* tl_run = nullptr;

struct FiberUnwind {};  // thrown into a suspended fiber to unwind it when its block fails

// The random schedule's order for the current round: a Fisher-Yates shuffle keyed by
// (seed, block, round), so it does not depend on which worker runs the block.
void shuffle_order(BlockRun& r) {
  for (unsigned i = 0; i < r.n; ++i) r.order[i] = static_cast<uint16_t>(i);
  uint64_t s = mix64(r.seed ^ mix64(r.block_linear * 0x100000001B3ull + r.round));
  for (unsigned i = r.n; i > 1; --i) {
    s = mix64(s);
    std::swap(r.order[i - 1], r.order[s % i]);
  }
}

unsigned thread_at(const BlockRun& r, unsigned pos) {
  switch (r.schedule) {
    case Schedule::forward: return pos;
    case Schedule::reverse: return r.n - 1 - pos;
    case Schedule::random: return r.order[pos];
  }
  return pos;
}

void set_thread_builtins(const BlockRun& r, unsigned t) {
  const unsigned dx = r.block_dim.x, dy = r.block_dim.y;
  if (dx == r.n)
    threadIdx = uint3{t, 0, 0};  // 1-D blocks: no divisions
  else
    threadIdx = uint3{t % dx, (t / dx) % dy, t / (dx * dy)};
}

// Releases the barrier when every live thread waits at the same __syncthreads. Threads waiting
// at different ones (a barrier in divergent code) are left waiting: the scheduler's round
// then finds nothing to run and reports the deadlock with both sites.
void maybe_release_barrier(BlockRun& r) {
  if (r.at_barrier == 0 || r.at_barrier != r.live || r.error) return;
  const ThreadRec* first = nullptr;
  unsigned count = 0;
  for (unsigned t = 0; t < r.n; ++t) {
    const ThreadRec& th = r.th[t];
    if (r.state[t] != ThreadState::waiting || !th.at_barrier) continue;
    if (!first)
      first = &th;
    else if (!same_site(first->site, th.site))
      return;
    count += th.pred != 0;
  }
  uint64_t result = 0;
  switch (first->barrier_op) {
    case BarrierOp::sync: result = 0; break;
    case BarrierOp::count: result = count; break;
    case BarrierOp::all: result = count == r.at_barrier; break;
    case BarrierOp::any: result = count != 0; break;
  }
  for (unsigned t = 0; t < r.n; ++t) {
    ThreadRec& th = r.th[t];
    if (r.state[t] != ThreadState::waiting || !th.at_barrier) continue;
    th.at_barrier = false;
    th.result = result;
    r.state[t] = ThreadState::ready;
  }
  r.at_barrier = 0;
  r.barrier_lead = -1;
  if (r.checks) check_barrier_released(r);
}

void run_thread(BlockRun& r, unsigned t);
void fiber_rounds(BlockRun& r);

// The scheduler loop, on whichever stack the scheduler runs on now.
void schedule_loop(BlockRun& r) {
  while (r.next_plain < r.n) {
    run_thread(r, thread_at(r, r.next_plain++));
    if (r.finished) return;  // the home stack, handed back at the end of the block
  }
  fiber_rounds(r);
}

// Back to the home stack for good: its owner has exited and is parked at the end of
// run_thread, or (when the block failed) waits and is resumed with `abort` to unwind.
[[noreturn]] void finish_to_home(BlockRun& r) {
  r.finished = true;
  ThreadRec& home = r.th[r.home_owner];
  if (r.state[r.home_owner] != ThreadState::done) home.abort = true;
  r.cur = static_cast<unsigned>(r.home_owner);
  switch_context(nullptr, home.sp, r.home, /*for_good=*/true);  // this scheduler stack is done
  __builtin_unreachable();
}

void resume(BlockRun& r, unsigned t) {
  ThreadRec& th = r.th[t];
  r.cur = t;
  set_thread_builtins(r, t);
  r.state[t] = ThreadState::running;
  switch_context(&r.sched_sp, th.sp, th.stack ? bounds_of(th.stack) : r.home);
  if (r.state[t] == ThreadState::done && th.stack) {  // its frames are dead: reuse the stack
    stack_pool().release(th.stack);
    th.stack = nullptr;
  }
}

void unwind_fibers(BlockRun& r) {
  for (unsigned t = 0; t < r.n; ++t) {
    if (!r.fiber[t] || r.state[t] == ThreadState::done || static_cast<int>(t) == r.home_owner) continue;
    r.th[t].abort = true;
    resume(r, t);
  }
}

// The entry of every fresh scheduler stack (see the header comment).
[[noreturn]] void scheduler_entry(void* arg) {
  BlockRun& r = *static_cast<BlockRun*>(arg);
  const StackBounds from = enter_fresh_context();
  if (!r.th[r.cur].stack) r.home = from;  // entered from the worker's own stack
  {
    std::exception_ptr err;
    try {
      schedule_loop(r);
    } catch (...) {
      err = std::current_exception();
    }
    if (err && !r.error) r.error = err;
  }
  if (r.error) unwind_fibers(r);
  finish_to_home(r);
}

void become_fiber(BlockRun& r, ThreadRec& me) {
  r.fiber[r.cur] = true;
  me.abort = false;
  me.stack = r.sched_stack;  // the stack this thread runs on becomes its own
  if (!r.sched_stack) r.home_owner = static_cast<int>(r.cur);
  Stack* s = stack_pool().acquire();
  r.sched_stack = s;
  switch_context(&me.sp, prepare_stack(s, &scheduler_entry, &r), bounds_of(s));
}

// Runs the kernel for thread r.cur; an exception it throws ends up in `err`.
void invoke(BlockRun& r, std::exception_ptr& err) {
  try {
    r.desc->invoke(r.desc->pack);
  } catch (const FiberUnwind&) {
  } catch (...) {
    err = std::current_exception();  // not rethrown inside the handler: we may switch stacks
  }
}

// The same under PW_SIMT_CHECK: once a check has reported, a thread stops at its next memory
// access (before the access: it may be the misaligned load that would fault) by a jump back
// here from the hook (check_stop_thread), as though it had returned. Its frames are abandoned;
// kernels hold nothing that needs destroying.
void invoke_checked(BlockRun& r, std::exception_ptr& err) {
  std::jmp_buf stop;
  r.th[r.cur].stop = &stop;
  if (setjmp(stop) == 0) {
    check_thread_enter(r);
    invoke(r, err);
  }
  tl_check = nullptr;
}

void run_thread(BlockRun& r, unsigned t) {
  r.cur = t;
  set_thread_builtins(r, t);
  r.state[t] = ThreadState::running;
  std::exception_ptr err;
  if (r.checks)
    invoke_checked(r, err);
  else
    invoke(r, err);
  r.state[t] = ThreadState::done;
  --r.live;
  if (!r.fiber[t]) {  // a plain call: the scheduler below us on this stack carries on
    if (err) std::rethrow_exception(err);
    if (r.at_barrier) maybe_release_barrier(r);  // the common case pays two compares
    if (r.at_warp) lane_exited(r, t);
    return;
  }
  ThreadRec& th = r.th[t];
  if (err && !r.error) r.error = err;
  err = nullptr;           // this frame may never return (its context ends below): drop its reference now
  if (r.finished) return;  // the home owner unwinding at the end of a failed block
  maybe_release_barrier(r);
  if (r.at_warp && !r.error) {
    try {
      lane_exited(r, t);
    } catch (...) {
      r.error = std::current_exception();  // e.g. lanes that disagree on the operation
    }
  }
  // Park. Only the home stack is ever resumed here; any other thread's context is over.
  switch_context(&th.sp, r.sched_sp, bounds_of(r.sched_stack),
                 /*for_good=*/static_cast<int>(t) != r.home_owner);
}

std::string deadlock_report(const BlockRun& r) {
  std::ostringstream os;
  os << "simt: deadlock in block (" << r.block_idx.x << "," << r.block_idx.y << "," << r.block_idx.z << ") of "
     << r.desc->name << " with blockDim (" << r.block_dim.x << "," << r.block_dim.y << "," << r.block_dim.z
     << "): no thread can continue. "
     << "Threads (numbered x + y*blockDim.x + z*blockDim.x*blockDim.y) wait at:\n"
     << describe_threads(r)
     << "(a __syncthreads reached by only part of the block, or a warp collective whose mask "
        "names a lane that never arrives, can never complete)";
  return os.str();
}

void fiber_rounds(BlockRun& r) {
  while (r.live > 0) {
    ++r.round;
    if (r.schedule == Schedule::random) shuffle_order(r);
    bool progressed = false;
    for (unsigned pos = 0; pos < r.n; ++pos) {
      const unsigned t = thread_at(r, pos);
      if (r.state[t] != ThreadState::ready) continue;
      resume(r, t);
      progressed = true;
      if (r.error) return;
    }
    if (!progressed) throw Error(deadlock_report(r));
  }
}

std::string thread_ranges(const std::vector<unsigned>& ts) {
  std::ostringstream os;
  for (size_t i = 0; i < ts.size();) {
    size_t j = i;
    while (j + 1 < ts.size() && ts[j + 1] == ts[j] + 1) ++j;
    if (i) os << ", ";
    os << ts[i];
    if (j > i) os << "-" << ts[j];
    i = j + 1;
  }
  return os.str();
}

// synccheck: a thread arriving at a __syncthreads other than the one its block already waits at
// (a barrier in divergent code) is reported at once, with both sites. Without synccheck the
// block runs on until no thread can move, and the deadlock report lists every wait site.
void synccheck_barrier(BlockRun& r, const Site& site) {
  if (r.at_barrier == 0 || r.barrier_lead < 0) {
    r.barrier_lead = static_cast<int>(r.cur);
    return;
  }
  const unsigned lead = static_cast<unsigned>(r.barrier_lead);
  if (same_site(r.th[lead].site, site)) return;
  std::ostringstream os;  // (not a chain of std::string +: GCC 12 warns falsely on it at -O3)
  os << "simt synccheck: divergent __syncthreads in " << r.desc->name << ", block " << block_coords(r) << ": thread "
     << thread_coords(r, r.cur) << " arrives at " << describe_site(site) << " while thread " << thread_coords(r, lead)
     << " waits at " << describe_site(r.th[lead].site)
     << " (every thread of a block must reach the same __syncthreads; one in code that only part of the block runs "
        "hangs or misbehaves on a GPU)";
  throw Error(os.str());
}

}  // namespace

std::string describe_threads(const BlockRun& r) {
  std::map<std::string, std::vector<unsigned>> groups;  // what a thread does -> threads
  for (unsigned t = 0; t < r.n; ++t) groups[describe_thread(r, t)].push_back(t);
  std::vector<std::pair<unsigned, std::string>> lines;
  for (const auto& [what, ts] : groups)
    lines.emplace_back(ts.front(),
                       "  thread" + std::string(ts.size() > 1 ? "s " : " ") + thread_ranges(ts) + ": " + what + "\n");
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& line : lines) out += line.second;
  return out;
}

BlockRun* current_block_or_null() { return tl_run; }

BlockRun& current_block(const char* what) {
  if (!tl_run) throw Error(std::string("simt: ") + what + " called outside a running kernel");
  return *tl_run;
}

namespace {
// "(x,y,z)" (an ostringstream: a chain of std::string + makes GCC 12 warn falsely at -O3).
std::string coords(unsigned x, unsigned y, unsigned z) {
  std::ostringstream os;
  os << "(" << x << "," << y << "," << z << ")";
  return os.str();
}
}  // namespace

std::string thread_coords(const BlockRun& r, unsigned t) {
  const unsigned dx = r.block_dim.x, dy = r.block_dim.y;
  return coords(t % dx, t / dx % dy, t / (dx * dy));
}

std::string block_coords(const BlockRun& r) { return coords(r.block_idx.x, r.block_idx.y, r.block_idx.z); }

std::string describe_site(const Site& site) {
  std::ostringstream os;
  os << site.file_name() << ":" << site.line() << " (" << site.function_name() << ")";
  return os.str();
}

void suspend_current(BlockRun& r) {
  ThreadRec& me = r.th[r.cur];
  if (!r.fiber[r.cur])
    become_fiber(r, me);
  else
    switch_context(&me.sp, r.sched_sp, bounds_of(r.sched_stack));
  if (me.abort) throw FiberUnwind{};
}

int block_barrier(BarrierOp op, int pred, const Site& site) {
  const CheckPause pause;
  BlockRun& r = current_block("__syncthreads");
  if (r.checks & check_synccheck) synccheck_barrier(r, site);
  ThreadRec& me = r.th[r.cur];
  r.state[r.cur] = ThreadState::waiting;
  me.at_barrier = true;
  me.barrier_op = op;
  me.pred = pred;
  me.site = site;
  ++r.at_barrier;
  maybe_release_barrier(r);
  suspend_current(r);
  return static_cast<int>(me.result);
}

void run_block(BlockRun& r, const LaunchDesc& desc, const SharedRuns& static_shared, uint64_t linear, Schedule schedule,
               uint64_t seed, unsigned checks) {
  r.desc = &desc;
  r.block_dim = desc.block;
  r.grid_dim = desc.grid;
  r.n = desc.block.x * desc.block.y * desc.block.z;
  r.block_linear = linear;
  r.block_idx =
      uint3{static_cast<unsigned>(linear % desc.grid.x), static_cast<unsigned>(linear / desc.grid.x % desc.grid.y),
            static_cast<unsigned>(linear / (uint64_t{desc.grid.x} * desc.grid.y))};
  r.schedule = schedule;
  r.seed = seed;
  r.round = 0;
  r.next_plain = 0;
  r.cur = 0;
  r.live = r.n;
  r.at_barrier = 0;
  r.at_warp = 0;
  r.sched_sp = nullptr;
  r.sched_stack = nullptr;
  r.home_owner = -1;
  r.finished = false;
  r.error = nullptr;
  r.checks = checks;
  r.barrier_lead = -1;
  std::memset(r.state, static_cast<int>(ThreadState::not_started), r.n);
  std::memset(r.fiber, 0, r.n);
  if (schedule == Schedule::random) shuffle_order(r);
  blockIdx = r.block_idx;
  blockDim = r.block_dim;
  gridDim = r.grid_dim;
  prepare_shared_memory(r, desc.smem, static_shared);
  if (checks) check_block_begin(r, static_shared);

  tl_run = &r;
  std::exception_ptr err;
  try {
    schedule_loop(r);
  } catch (...) {
    err = std::current_exception();  // a plain thread failed before any thread was a fiber
  }
  tl_run = nullptr;
  tl_check = nullptr;
  if (r.sched_stack) stack_pool().release(r.sched_stack);
  r.sched_stack = nullptr;
  for (unsigned t = 0; t < r.n; ++t)  // normally released already; not after a failure
    if (r.fiber[t] && r.th[t].stack) {
      stack_pool().release(r.th[t].stack);
      r.th[t].stack = nullptr;
    }
  if (!err) err = r.error;
  if (err) std::rethrow_exception(err);
}

}  // namespace pw::simt::detail
