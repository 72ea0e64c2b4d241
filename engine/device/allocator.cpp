// Caching allocator: blocks are rounded up (512 B below 1 MiB, 1 MiB above) and kept, once
// freed, in per-size free lists of their device. A request first looks in its size's list,
// then asks the device; if the device is out of memory, the cache is given back and the
// request tried once more before it fails.
#include "engine/device/allocator.h"

#include <map>
#include <mutex>
#include <vector>

#include "engine/device/gpu.h"

namespace pw {

namespace {

struct DevicePool {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_blocks;
  AllocatorStats stats;
};

DevicePool& pool(Device d) {
  // Never destroyed: tensors in static storage may be freed after this function's statics.
  static DevicePool (*pools)[8] = new DevicePool[3][8];
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

}  // namespace

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
    // a kernel that reads elements nobody wrote fails there too.
    if (d.type == DeviceType::simt)
      on_gpu(d, [&](auto tag) { fill(tag, ptr, kernels::ElemType::i32, (int64_t)(size / 4), -1.0); });
  } else {
    ptr = on_gpu(d, [&](auto tag) { return device_malloc(tag, size); });
    if (!ptr && p.stats.bytes_cached > 0) {
      release_cache(d, p);
      ptr = on_gpu(d, [&](auto tag) { return device_malloc(tag, size); });
    }
    PW_CHECK(ptr != nullptr, "out of memory on ", d.str(), ": asked for ", bytes, " bytes with ",
             p.stats.bytes_in_use, " bytes in use by tensors (peak ", p.stats.peak_bytes_in_use, ")");
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
  DevicePool& p = pool(d);
  std::lock_guard<std::mutex> lock(p.mu);
  return p.stats;
}

void reset_peak_bytes(Device d) {
  DevicePool& p = pool(d);
  std::lock_guard<std::mutex> lock(p.mu);
  p.stats.peak_bytes_in_use = p.stats.bytes_in_use;
}

void empty_cache(Device d) {
  DevicePool& p = pool(d);
  std::lock_guard<std::mutex> lock(p.mu);
  release_cache(d, p);
}

}  // namespace pw
