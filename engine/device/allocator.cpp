// Caching allocator: one BlockPool per GPU device (block_pool.h) behind its device's lock,
// with the simt poisoning of reused blocks; host memory of cpu tensors is counted here too, and
// cached by size (engine/device/host_cache.h).
#include "engine/device/allocator.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/device/block_pool.h"
#include "engine/device/gpu.h"
#include "engine/device/host_cache.h"
#include "kernels/simt/profile.h"  // simt::ProfilePause (macro-free)
#include "kernels/simt/runtime.h"  // the checks that want whole blocks

namespace pw {

namespace {

struct DevicePool {
  std::mutex mu;
  std::unique_ptr<BlockPool> blocks;  // made at the first allocation
  size_t peak = 0;
};

DevicePool& pool(Device d) {
  // Never destroyed: tensors in static storage may be freed after this function's statics.
  static DevicePool(*pools)[8] = new DevicePool[3][8];
  PW_CHECK(d.index >= 0 && d.index < 8, "allocator: device index ", d.index, " out of range");
  return pools[(int)d.type][d.index];
}

size_t cache_limit_from_environment() {
  const char* v = std::getenv("PW_GPU_CACHE_LIMIT_MIB");
  if (!v || !*v) return SIZE_MAX;
  char* end = nullptr;
  const unsigned long long mib = std::strtoull(v, &end, 10);
  PW_CHECK(end && *end == 0, "PW_GPU_CACHE_LIMIT_MIB: expected a whole number of MiB, got '", v, "'");
  return (size_t)mib << 20;
}

// simt's guard pages and memcheck's red zones sit after each cudaMalloc: with them on (at the
// device's first allocation), every block is a cudaMalloc of its own.
bool simt_checks_want_whole_blocks() { return simt::guarded_allocations() || (simt::checks() & simt::check_memcheck); }

// The pool of d, made on first use. Caller holds p.mu.
BlockPool& blocks_of(Device d, DevicePool& p) {
  if (p.blocks) return *p.blocks;
  const bool whole = d.type == DeviceType::simt && simt_checks_want_whole_blocks();
  p.blocks = std::make_unique<BlockPool>(
      [d](size_t bytes) { return on_gpu(d, [&](auto tag) { return device_malloc(tag, bytes); }); },
      [d](void* ptr) { on_gpu(d, [&](auto tag) { device_free(tag, ptr); }); }, whole);
  p.blocks->set_cache_limit(cache_limit_from_environment());
  return *p.blocks;
}

// Host counters: atomics, since cpu tensors are made on every thread and never cached.
struct HostCounters {
  std::atomic<size_t> in_use{0}, peak{0};
  std::atomic<int64_t> mallocs{0};
};
HostCounters& host() {
  static HostCounters* counters = new HostCounters;  // never destroyed, as the pools
  return *counters;
}

std::string address_space_limit_text() {
  rlimit lim{};
  if (getrlimit(RLIMIT_AS, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return "";
  return "; the address-space limit (ulimit -v) is " + bytes_text((size_t)lim.rlim_cur);
}

}  // namespace

std::string bytes_text(size_t bytes) {
  const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = (double)bytes;
  int u = 0;
  while (v >= 1024 && u < 6) v /= 1024, ++u;
  char text[64];
  if (u == 0)
    std::snprintf(text, sizeof text, "%zu bytes", bytes);
  else
    std::snprintf(text, sizeof text, "%.1f %s (%zu bytes)", v, units[u], bytes);
  return text;
}

std::string memory_in_use_text() {
  std::string s = "tensors hold " + bytes_text(host().in_use) + " on the cpu (peak " + bytes_text(host().peak) + ")";
  for (DeviceType t : {DeviceType::simt, DeviceType::cuda})
    for (int i = 0; i < 8; ++i) {
      const AllocatorStats st = allocator_stats({t, i});
      if (st.peak_bytes_in_use == 0 && st.bytes_cached == 0) continue;
      s += ", " + bytes_text(st.bytes_in_use) + " on " + Device{t, i}.str() + " (peak " +
           bytes_text(st.peak_bytes_in_use) + ", " + bytes_text(st.bytes_cached) + " cached)";
    }
  return s + address_space_limit_text();
}

void* host_allocate(size_t bytes) {
  PW_CHECK(bytes <= SIZE_MAX - (size_t(1) << 20), "out of memory on the cpu: asked for ", bytes_text(bytes), "; ",
           memory_in_use_text());
  const size_t rounded = host_cache::rounded_size(bytes);
  HostCounters& h = host();
  void* p = host_cache::take(rounded);
  if (!p) {
    p = std::aligned_alloc(64, rounded);
    if (!p && host_cache::bytes_cached() > 0) {  // give the cache back and try once more
      host_cache::release();
      p = std::aligned_alloc(64, rounded);
    }
    PW_CHECK(p != nullptr, "out of memory on the cpu: asked for ", bytes_text(bytes), "; ", memory_in_use_text());
    h.mallocs++;
  }
  const size_t now = h.in_use += rounded;
  size_t peak = h.peak.load();
  while (now > peak && !h.peak.compare_exchange_weak(peak, now)) {
  }
  return p;
}

void host_deallocate(void* ptr, size_t bytes) {
  if (!ptr) return;
  const size_t rounded = host_cache::rounded_size(bytes);
  if (!host_cache::put(ptr, rounded)) std::free(ptr);
  host().in_use -= rounded;
}

void* device_allocate(Device d, size_t bytes) {
  PW_CHECK(is_gpu(d), "allocator: ", d.str(), " is not a GPU device");
  DevicePool& p = pool(d);
  std::lock_guard<std::mutex> lock(p.mu);
  BlockPool& blocks = blocks_of(d, p);
  const int64_t mallocs = blocks.stats().device_mallocs;
  size_t size = 0;
  void* ptr = blocks.allocate(bytes, &size);
  PW_CHECK(ptr != nullptr, "out of memory on ", d.str(), ": asked for ", bytes_text(bytes), " with ",
           bytes_text(blocks.stats().bytes_in_use), " in use by tensors there (peak ", bytes_text(p.peak),
           "; the cache was given back first)");
  // simt is the checking device: reused memory is poisoned again, as fresh memory is, so a
  // kernel that reads elements nobody wrote fails there too (not work a GPU does: kept out of
  // simt-profile).
  if (d.type == DeviceType::simt && blocks.stats().device_mallocs == mallocs) {
    const simt::ProfilePause not_profiled;
    on_gpu(d, [&](auto tag) { fill(tag, ptr, kernels::ElemType::i32, (int64_t)(size / 4), -1.0); });
  }
  p.peak = std::max(p.peak, blocks.stats().bytes_in_use);
  return ptr;
}

void device_deallocate(Device d, void* ptr, size_t) {
  if (!ptr) return;
  DevicePool& p = pool(d);
  std::lock_guard<std::mutex> lock(p.mu);
  blocks_of(d, p).deallocate(ptr);
}

AllocatorStats allocator_stats(Device d) {
  if (d.is_cpu()) {
    AllocatorStats s;
    s.bytes_in_use = host().in_use;
    s.peak_bytes_in_use = host().peak;
    s.device_mallocs = host().mallocs;
    s.bytes_cached = host_cache::bytes_cached();
    s.cache_hits = host_cache::hits();
    return s;
  }
  DevicePool& p = pool(d);
  std::lock_guard<std::mutex> lock(p.mu);
  AllocatorStats s;
  if (!p.blocks) return s;
  const BlockPool::Stats& b = p.blocks->stats();
  s.bytes_in_use = b.bytes_in_use;
  s.peak_bytes_in_use = p.peak;
  s.bytes_cached = b.bytes_cached;
  s.device_mallocs = b.device_mallocs;
  s.cache_hits = b.cache_hits;
  s.segments = b.segments;
  s.splits = b.splits;
  s.segments_released = b.segments_released;
  s.cache_limit = p.blocks->cache_limit();
  return s;
}

void reset_peak_bytes(Device d) {
  if (d.is_cpu()) {
    host().peak = host().in_use.load();
    return;
  }
  DevicePool& p = pool(d);
  std::lock_guard<std::mutex> lock(p.mu);
  p.peak = p.blocks ? p.blocks->stats().bytes_in_use : 0;
}

void empty_cache(Device d) {
  if (d.is_cpu()) {
    host_cache::release();
    return;
  }
  DevicePool& p = pool(d);
  std::lock_guard<std::mutex> lock(p.mu);
  if (p.blocks) p.blocks->release_cached();
}

void set_cache_limit(Device d, size_t bytes) {
  PW_CHECK(is_gpu(d), "allocator: ", d.str(), " is not a GPU device");
  DevicePool& p = pool(d);
  std::lock_guard<std::mutex> lock(p.mu);
  blocks_of(d, p).set_cache_limit(bytes);
}

}  // namespace pw
