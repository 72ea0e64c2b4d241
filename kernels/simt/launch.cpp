// simt internals: simt's settings (workers, schedule, stack size) and the worker pool that
// spreads the blocks of a launch over threads. The launching thread works too, so a launch
// with one worker runs entirely on the caller. Launches are serialized (one at a time,
// whatever the host thread), and each returns when all its blocks have finished.
#include <algorithm>
#include <atomic>
#include <bit>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kernels/simt/block.h"
#include "kernels/simt/check.h"
#include "kernels/simt/profile.h"
#include "kernels/simt/profile_record.h"  // kCheckProfile

namespace pw::simt {

namespace {

struct Settings {
  std::atomic<int> workers{0};  // 0: hardware threads
  std::atomic<Schedule> schedule{Schedule::forward};
  std::atomic<uint64_t> seed{0};
  std::atomic<size_t> stack_bytes{64 * 1024};
  std::atomic<unsigned> checks{0};
};

// PW_SIMT_SCHEDULE=forward|reverse|random:SEED, PW_SIMT_WORKERS=N, PW_SIMT_STACK_KIB=K,
// PW_SIMT_CHECK=memcheck,racecheck,...
// Built in a unique_ptr: a bad variable throws (and the next call tries again) without leaking.
Settings& settings() {
  static Settings* s = [] {
    auto st = std::make_unique<Settings>();
    if (const char* v = std::getenv("PW_SIMT_SCHEDULE"); v && *v) {
      const std::string e = v;
      if (e == "forward")
        st->schedule = Schedule::forward;
      else if (e == "reverse")
        st->schedule = Schedule::reverse;
      else if (e == "random")
        st->schedule = Schedule::random;
      else if (e.rfind("random:", 0) == 0) {
        st->schedule = Schedule::random;
        st->seed = std::strtoull(e.c_str() + 7, nullptr, 10);
      } else {
        throw Error("PW_SIMT_SCHEDULE=" + e + ": expected forward, reverse, random or random:SEED");
      }
    }
    if (const char* v = std::getenv("PW_SIMT_WORKERS"); v && *v) st->workers = std::atoi(v);
    if (const char* v = std::getenv("PW_SIMT_STACK_KIB"); v && *v) {
      const long kib = std::atol(v);
      if (kib < 16) throw Error(std::string("PW_SIMT_STACK_KIB=") + v + ": expected at least 16");
      st->stack_bytes = static_cast<size_t>(kib) * 1024;
    }
    if (const char* v = std::getenv("PW_SIMT_CHECK"); v && *v) st->checks = parse_checks(v);
    return st.release();  // never destroyed: workers may read it during static teardown
  }();
  return *s;
}

thread_local int tl_worker = -1;
thread_local bool tl_in_launch = false;

struct Job {
  const detail::LaunchDesc* desc = nullptr;
  const detail::SharedRuns* static_shared = nullptr;
  uint64_t blocks = 0, chunk = 1;
  Schedule schedule = Schedule::forward;
  uint64_t seed = 0;
  unsigned checks = 0;  // PW_SIMT_CHECK: then the launching thread is the only worker
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;
};

// The block that the i-th claim of a launch runs: i under the forward schedule, the grid
// backwards under reverse, and under random a permutation drawn from the seed (a 4-round
// Feistel network on the smallest even number of bits covering the grid, cycle-walked back
// into it), so that a kernel whose result depends on the order of its blocks shows it.
uint64_t block_at(const Job& job, uint64_t i) {
  switch (job.schedule) {
    case Schedule::forward: return i;
    case Schedule::reverse: return job.blocks - 1 - i;
    case Schedule::random: break;
  }
  const unsigned half = (static_cast<unsigned>(std::bit_width(job.blocks - 1)) + 1) / 2;
  const uint64_t mask = (uint64_t{1} << half) - 1;
  uint64_t x = i;
  do {
    uint64_t left = x >> half, right = x & mask;
    for (uint64_t round = 0; round < 4; ++round) {
      const uint64_t f = detail::mix64(right ^ detail::mix64(job.seed * 4 + round + 0x5851F42D4C957F2Dull)) & mask;
      const uint64_t next = left ^ f;
      left = right;
      right = next;
    }
    x = (left << half) | right;
  } while (x >= job.blocks);
  return x;
}

void work_on(Job& job, int worker) {
  static thread_local std::unique_ptr<detail::BlockRun> run = std::make_unique<detail::BlockRun>();
  detail::prepare_fault_handling();
  tl_worker = worker;
  tl_in_launch = true;
  detail::watch_worker(worker, run.get());
  while (!job.failed.load(std::memory_order_relaxed)) {
    const uint64_t begin = job.next.fetch_add(job.chunk, std::memory_order_relaxed);
    if (begin >= job.blocks) break;
    const uint64_t end = std::min(job.blocks, begin + job.chunk);
    for (uint64_t b = begin; b < end && !job.failed.load(std::memory_order_relaxed); ++b) {
      try {
        detail::run_block(*run, *job.desc, *job.static_shared, block_at(job, b), job.schedule, job.seed, job.checks);
      } catch (...) {
        std::lock_guard<std::mutex> lock(job.error_mutex);
        if (!job.error) job.error = std::current_exception();
        job.failed = true;
      }
    }
  }
  detail::watch_worker(worker, nullptr);
  tl_in_launch = false;
  tl_worker = -1;
}

// Helper threads sleep until a launch opens slots; a helper that wakes after the caller has
// finished the launch finds it closed and goes back to sleep.
class WorkerPool {
 public:
  ~WorkerPool() { resize(0); }

  void resize(int helpers) {
    {
      std::lock_guard<std::mutex> lock(m_);
      if (static_cast<int>(threads_.size()) == helpers) return;
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    stop_ = false;
    for (int i = 0; i < helpers; ++i) threads_.emplace_back([this, i] { loop(i + 1); });
  }

  void run(Job& job) {
    // A checked launch keeps one worker: its shadow state is then never shared between threads.
    const int helpers = job.checks ? 0 : static_cast<int>(std::min<uint64_t>(threads_.size(), job.blocks - 1));
    if (helpers > 0) {
      std::lock_guard<std::mutex> lock(m_);
      job_ = &job;
      slots_ = helpers;
      ++generation_;
    }
    if (helpers > 0) wake_.notify_all();
    work_on(job, 0);
    if (helpers > 0) {
      std::unique_lock<std::mutex> lock(m_);
      slots_ = 0;  // closed: late helpers stay out
      done_.wait(lock, [this] { return active_ == 0; });
      job_ = nullptr;
    }
  }

 private:
  void loop(int index) {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(m_);
    while (true) {
      wake_.wait(lock, [&] { return stop_ || (generation_ != seen && slots_ > 0); });
      if (stop_) return;
      seen = generation_;
      Job* job = job_;
      --slots_;
      ++active_;
      lock.unlock();
      work_on(*job, index);
      lock.lock();
      if (--active_ == 0) done_.notify_all();
    }
  }

  std::mutex m_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  Job* job_ = nullptr;
  uint64_t generation_ = 0;
  int slots_ = 0, active_ = 0;
  bool stop_ = false;
};

std::mutex& launch_mutex() {
  static std::mutex m;
  return m;
}

WorkerPool& pool() {
  static WorkerPool* p = new WorkerPool;  // never destroyed: helpers may outlive static teardown
  return *p;
}

}  // namespace

void set_schedule(Schedule s, uint64_t seed) {
  settings().schedule = s;
  settings().seed = seed;
}
Schedule schedule() { return settings().schedule; }
uint64_t schedule_seed() { return settings().seed; }

void set_workers(int n) {
  if (n < 0) throw Error("simt::set_workers: " + std::to_string(n) + " workers; expected >= 0");
  settings().workers = n;
}
int workers() {
  const int n = settings().workers;
  return n > 0 ? n : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

void set_stack_size(size_t bytes) {
  if (bytes < 16 * 1024)
    throw Error("simt::set_stack_size: " + std::to_string(bytes) + " bytes; expected at least 16 KiB");
  settings().stack_bytes = bytes;
}
size_t stack_size() { return settings().stack_bytes; }

int current_worker() { return tl_in_launch ? tl_worker : -1; }

void set_checks(unsigned c) {
  if (c & ~unsigned{check_all})
    throw Error("simt::set_checks: " + std::to_string(c) + " has bits beyond check_all (" +
                std::to_string(unsigned{check_all}) + ")");
  settings().checks = c;
}
unsigned checks() { return settings().checks; }

namespace {
constexpr std::pair<const char*, Check> kCheckNames[] = {{"memcheck", check_memcheck},
                                                         {"racecheck", check_racecheck},
                                                         {"initcheck", check_initcheck},
                                                         {"synccheck", check_synccheck}};
}

std::string checks_text(unsigned c) {
  std::string out;
  for (const auto& [name, bit] : kCheckNames)
    if (c & bit) {
      if (!out.empty()) out += ',';
      out += name;
    }
  return out;
}

unsigned parse_checks(const std::string& text) {
  unsigned c = 0;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t end = std::min(text.find(',', at), text.size());
    const std::string word = text.substr(at, end - at);
    at = end + 1;
    if (word.empty() || word == "none" || word == "0") continue;
    if (word == "all") {
      c |= check_all;
      continue;
    }
    const auto* it =
        std::find_if(std::begin(kCheckNames), std::end(kCheckNames), [&](const auto& n) { return word == n.first; });
    if (it == std::end(kCheckNames)) {
      std::ostringstream os;  // (not a chain of std::string +: GCC 12 warns falsely on it at -O3)
      os << "PW_SIMT_CHECK=" << text << ": unknown check \"" << word
         << "\"; expected a comma-separated list of memcheck, racecheck, initcheck, synccheck, or all";
      throw Error(os.str());
    }
    c |= it->second;
  }
  return c;
}

namespace detail {

void launch_kernel(const LaunchDesc& desc) {
  if (tl_in_launch) throw Error("simt: a kernel launched another kernel (dynamic parallelism is not supported)");
  const dim3 b = desc.block, g = desc.grid;
  const uint64_t threads = uint64_t{b.x} * b.y * b.z;
  auto dims = [](dim3 d) {
    std::ostringstream os;
    os << "(" << d.x << "," << d.y << "," << d.z << ")";
    return os.str();
  };
  if (b.x == 0 || b.y == 0 || b.z == 0 || b.x > 1024 || b.y > 1024 || b.z > 64 || threads > 1024) {
    fail(cudaErrorInvalidConfiguration, "simt launch: block " + dims(b) + " has " + std::to_string(threads) +
                                            " threads; expected 1 to 1024 (x, y <= 1024, z <= 64)");
    return;
  }
  if (g.x == 0 || g.y == 0 || g.z == 0 || g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535) {
    fail(cudaErrorInvalidConfiguration,
         "simt launch: grid " + dims(g) + " is empty or too large (x <= 2^31-1, y, z <= 65535)");
    return;
  }
  const size_t limit = max_dynamic_smem(desc.kernel);
  if (desc.smem > limit) {
    fail(cudaErrorInvalidValue,
         "simt launch: " + std::to_string(desc.smem) +
             " bytes of dynamic shared memory exceed "
             "this kernel's limit of " +
             std::to_string(limit) +
             " (raise it with cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, n))");
    return;
  }
  std::lock_guard<std::mutex> lock(launch_mutex());
  const int n_workers = workers();
  Job job;
  job.desc = &desc;
  job.static_shared = &static_shared_runs(desc.kernel);
  job.blocks = uint64_t{g.x} * g.y * g.z;
  // Chunks keep the shared counter cold for big grids while leaving ~8 chunks per worker.
  job.chunk = std::max<uint64_t>(1, job.blocks / (uint64_t(n_workers) * 8));
  job.schedule = schedule();
  job.seed = schedule_seed();
  job.checks = checks();
  if (profiling()) job.checks |= detail::kCheckProfile;  // profiled like a checked launch: one worker
  pool().resize(n_workers - 1);
  if (job.checks) check_launch_begin(desc, job.checks);
  watch_launch(&desc);
  pool().run(job);
  watch_launch(nullptr);
  if (job.checks) job.error = check_launch_end(job.error);
  if (job.error) std::rethrow_exception(job.error);
}

}  // namespace detail
}  // namespace pw::simt
