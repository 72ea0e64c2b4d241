// Caching allocator: blocks are rounded up (512 B below 1 MiB, 1 MiB above) and kept, once
// freed, in per-size free lists of their device. A request first looks in its size's list,
// then asks the device; if the device is out of memory, the cache is given back and the
// request tried once more before it fails. Host memory of cpu tensors is counted here too, and
// cached the same way (engine/device/host_cache.h).
#include "engine/device/allocator.h"

#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "engine/device/gpu.h"
#include "engine/device/host_cache.h"
#include "kernels/simt/profile.h"  // simt::ProfilePause (macro-free)

namespace pw {

namespace {

struct DevicePool {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_blocks;
  AllocatorStats stats;
};

DevicePool& pool(Device d) {
  // Never destroyed: tensors in static storage may be freed after this function's statics.
  static DevicePool(*pools)[8] = new DevicePool[3][8];
  PW_CHECK(d.index >= 0 && d.index < 8, "allocator: device index ", d.index, " out of range");
  return pools[(int)d.type][d.index];
}

size_t round_size(size_t bytes) {
  const size_t kSmall = 512, kLarge = 1 << 20;
  if (bytes < kLarge) return (bytes + kSmall - 1) / kSmall * kSmall + (bytes == 0 ? kSmall : 0);
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

void release_cache(Device d, DevicePool& p) {
  for (auto& [size, blocks] : p.free_blocks)
    for (void* b : blocks) {
      on_gpu(d, [&](auto tag) { device_free(tag, b); });
      p.stats.bytes_cached -= size;
    }
  p.free_blocks.clear();
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
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(p.mu);
  void* ptr = nullptr;
  auto it = p.free_blocks.find(size);
  if (it != p.free_blocks.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
    p.stats.bytes_cached -= size;
    p.stats.cache_hits++;
    // simt is the checking device: reused memory is poisoned again, as fresh memory is, so
    // a kernel that reads elements nobody wrote fails there too (not work a GPU does: kept
    // out of simt-profile).
    if (d.type == DeviceType::simt) {
      const simt::ProfilePause not_profiled;
      on_gpu(d, [&](auto tag) { fill(tag, ptr, kernels::ElemType::i32, (int64_t)(size / 4), -1.0); });
    }
  } else {
    ptr = on_gpu(d, [&](auto tag) { return device_malloc(tag, size); });
    if (!ptr && p.stats.bytes_cached > 0) {
      release_cache(d, p);
      ptr = on_gpu(d, [&](auto tag) { return device_malloc(tag, size); });
    }
    PW_CHECK(ptr != nullptr, "out of memory on ", d.str(), ": asked for ", bytes_text(bytes), " with ",
             bytes_text(p.stats.bytes_in_use), " in use by tensors there (peak ", bytes_text(p.stats.peak_bytes_in_use),
             "; the cache was given back first)");
    p.stats.device_mallocs++;
  }
  p.stats.bytes_in_use += size;
  if (p.stats.bytes_in_use > p.stats.peak_bytes_in_use) p.stats.peak_bytes_in_use = p.stats.bytes_in_use;
  return ptr;
}

void device_deallocate(Device d, void* ptr, size_t bytes) {
  if (!ptr) return;
  DevicePool& p = pool(d);
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(p.mu);
  p.free_blocks[size].push_back(ptr);
  p.stats.bytes_in_use -= size;
  p.stats.bytes_cached += size;
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
  return p.stats;
}

void reset_peak_bytes(Device d) {
  if (d.is_cpu()) {
    host().peak = host().in_use.load();
    return;
  }
  DevicePool& p = pool(d);
  std::lock_guard<std::mutex> lock(p.mu);
  p.stats.peak_bytes_in_use = p.stats.bytes_in_use;
}

void empty_cache(Device d) {
  if (d.is_cpu()) {
    host_cache::release();
    return;
  }
  DevicePool& p = pool(d);
  std::lock_guard<std::mutex> lock(p.mu);
  release_cache(d, p);
}

}  // namespace pw
