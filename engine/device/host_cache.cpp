// The host block cache of cpu tensors (engine/device/host_cache.h).
#include "engine/device/host_cache.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/util/error.h"

#if defined(__SANITIZE_ADDRESS__)
#define PW_HOST_CACHE_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PW_HOST_CACHE_OFF 1
#endif
#endif

namespace pw::host_cache {
namespace {

struct Cache {
  std::mutex mu;
  std::map<size_t, std::vector<void*>> free_blocks;
  size_t cached = 0;
  int64_t hits = 0;
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: tensors in static storage may be freed late
  return *c;
}

// PW_HOST_CACHE_MB, read once; a value that is not a non-negative integer is an error.
size_t limit_bytes() {
#ifdef PW_HOST_CACHE_OFF
  return 0;
#else
  static const size_t limit = [] {
    const char* env = std::getenv("PW_HOST_CACHE_MB");
    if (!env || !*env) return size_t(2048) << 20;
    char* end = nullptr;
    const long long mb = std::strtoll(env, &end, 10);
    PW_CHECK(*end == '\0' && mb >= 0, "PW_HOST_CACHE_MB must be a number of megabytes (0: no cache), got '", env, "'");
    return size_t(mb) << 20;
  }();
  return limit;
#endif
}

}  // namespace

bool enabled() { return limit_bytes() > 0; }

size_t rounded_size(size_t bytes) {
  const size_t kSmall = 512, kLarge = size_t(1) << 20;
  if (bytes < kLarge) return bytes == 0 ? kSmall : (bytes + kSmall - 1) / kSmall * kSmall;
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

void* take(size_t rounded) {
  if (limit_bytes() == 0) return nullptr;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.free_blocks.find(rounded);
  if (it == c.free_blocks.end() || it->second.empty()) return nullptr;
  void* block = it->second.back();
  it->second.pop_back();
  c.cached -= rounded;
  c.hits++;
  return block;
}

bool put(void* block, size_t rounded) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  if (c.cached + rounded > limit_bytes()) return false;
  c.free_blocks[rounded].push_back(block);
  c.cached += rounded;
  return true;
}

void release() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& [size, blocks] : c.free_blocks)
    for (void* b : blocks) std::free(b);
  c.free_blocks.clear();
  c.cached = 0;
}

size_t bytes_cached() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.cached;
}

int64_t hits() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.hits;
}

}  // namespace pw::host_cache
