// simt internals: the watchdog (PW_SIMT_TIMEOUT, set_timeout). A kernel in which a thread
// spins waiting for another thread of its block, or for another block, never finishes on
// simt: the threads of a block run one at a time and switch only at barriers and warp
// collectives, so the thread being waited for never runs. Deadlocks at barriers are found by
// the scheduler; this finds the rest. A thread started with the first launch after a timeout
// is set checks every launch's age; when one runs past the limit it writes what each worker
// is doing (kernel, block, the thread running, every other thread's wait site) to stderr and
// ends the process with status 124, as timeout(1) does. The workers are stuck, so the report
// reads their block records without their cooperation.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "kernels/simt/block.h"

namespace pw::simt {

namespace {

constexpr int kWatchedWorkers = 256;  // workers beyond this are not in the report

struct Watch {
  std::atomic<double> limit_s{0.0};
  std::atomic<int64_t> started_ns{0};  // the running launch's start, 0 when none
  std::atomic<const detail::LaunchDesc*> launch{nullptr};
  std::atomic<detail::BlockRun*> running[kWatchedWorkers];
  std::once_flag thread_started;
};

// PW_SIMT_TIMEOUT=SECONDS. Built once; a bad value throws (and the next call tries again).
Watch& watch() {
  static Watch* w = [] {
    auto x = std::make_unique<Watch>();
    if (const char* v = std::getenv("PW_SIMT_TIMEOUT"); v && *v) {
      char* end = nullptr;
      const double s = std::strtod(v, &end);
      if (*end || !(s >= 0))
        throw Error(std::string("PW_SIMT_TIMEOUT=") + v + ": expected a number of seconds (0: off)");
      x->limit_s = s;
    }
    return x.release();  // never destroyed: the watchdog thread reads it until the end
  }();
  return *w;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string report(const Watch& w, double age_s) {
  std::ostringstream os;
  const detail::LaunchDesc* d = w.launch.load();
  os << "simt: PW_SIMT_TIMEOUT: the launch of " << (d ? d->name : "?") << " has run for " << age_s
     << " s, more than the limit of " << w.limit_s.load()
     << " s. A thread that spins waiting for another thread or block never yields on simt. "
        "What each worker is doing:\n";
  for (int i = 0; i < kWatchedWorkers; ++i) {
    const detail::BlockRun* r = w.running[i].load();
    if (!r || !r->desc) continue;
    const unsigned t = r->cur, dx = r->block_dim.x, dy = r->block_dim.y;
    os << "worker " << i << ": block (" << r->block_idx.x << "," << r->block_idx.y << "," << r->block_idx.z
       << "), running thread (" << t % dx << "," << t / dx % dy << "," << t / (dx * dy) << ") = thread " << t
       << " (not at a barrier or warp collective: an "
       << "endless loop or a spin-wait?); its block's threads:\n"
       << detail::describe_threads(*r);
  }
  return os.str();
}

void watchdog_loop() {
  Watch& w = watch();
  while (true) {
    const double limit = w.limit_s.load();
    const auto step = std::chrono::duration<double>(limit > 0 ? std::min(0.1, limit / 4) : 0.1);
    std::this_thread::sleep_for(step);
    const int64_t started = w.started_ns.load();
    if (limit <= 0 || started == 0) continue;
    const double age = static_cast<double>(now_ns() - started) * 1e-9;
    if (age <= limit) continue;
    const std::string msg = report(w, age);
    ssize_t ignored = write(2, msg.data(), msg.size());
    (void)ignored;
    std::_Exit(124);
  }
}

}  // namespace

void set_timeout(double seconds) {
  if (!(seconds >= 0)) throw Error("simt::set_timeout: " + std::to_string(seconds) + " s; expected >= 0 (0: off)");
  watch().limit_s = seconds;
}
double timeout() { return watch().limit_s; }

namespace detail {

void watch_launch(const LaunchDesc* desc) {
  Watch& w = watch();
  if (!desc) {
    w.started_ns = 0;
    return;
  }
  if (w.limit_s.load(std::memory_order_relaxed) <= 0) return;
  std::call_once(w.thread_started, [] { std::thread(watchdog_loop).detach(); });
  w.launch = desc;
  w.started_ns = now_ns();
}

void watch_worker(int worker, BlockRun* run) {
  if (worker >= 0 && worker < kWatchedWorkers) watch().running[worker].store(run, std::memory_order_relaxed);
}

}  // namespace detail
}  // namespace pw::simt
