// The caching allocator's bookkeeping, apart from any device (engine/device/allocator.h uses one
// per GPU device): memory comes from the device in segments, is handed out in blocks cut from
// them (best fit, the rest split off as a free block), and is merged with free neighbours when
// freed; a segment with no block in use is given back to the device only under the release
// policy -- when the device is out of memory, when the cached bytes pass a limit, or on request.
//
// Two kinds of segment, so that small tensors do not fragment large blocks: requests up to
// kSmallRequest come from 2 MiB segments, split down to 512-byte blocks; larger ones from
// segments of their size rounded up to 2 MiB, split only when more than kSmallRequest is left.
// Not thread-safe (the allocator holds its device's lock). Blocks carry no stream: every block
// of the engine is used on the compute stream (the legacy default stream), in its order, so a
// freed block may be handed out again at once; nothing else may write one (the uploads of
// engine/device/upload.h copy into their own staging buffers for that reason).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>

namespace pw {

class BlockPool {
 public:
  static constexpr size_t kAlignment = 512;
  static constexpr size_t kSmallRequest = size_t{1} << 20;
  static constexpr size_t kSegmentGranule = size_t{2} << 20;

  struct Stats {
    size_t bytes_in_use = 0;  // in blocks handed out (rounded sizes)
    size_t bytes_cached = 0;  // in free blocks, kept for reuse
    int64_t segments = 0;     // held from the device now
    int64_t device_mallocs = 0, cache_hits = 0, splits = 0, segments_released = 0;
  };

  // device_malloc returns nullptr when the device is out of memory. whole_blocks: every block is
  // a segment of its own, of the rounded request's size, handed out again only for that size
  // (for simt's guard pages and red zones, which sit after each cudaMalloc).
  BlockPool(std::function<void*(size_t)> device_malloc, std::function<void(void*)> device_free,
            bool whole_blocks = false);
  // Segments are not given back (the device may be gone at exit); the pool's own records of its
  // blocks are freed.
  ~BlockPool();
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  // A block of at least `bytes` (its size: *size), or nullptr when the device has no memory even
  // after the cache was given back.
  void* allocate(size_t bytes, size_t* size);
  // Frees a block from allocate; returns its size. Then applies the cache limit.
  size_t deallocate(void* ptr);
  // Gives back every segment with no block in use; returns the bytes given back.
  size_t release_cached();
  // Cached bytes above which freeing gives back whole free segments (SIZE_MAX: never).
  void set_cache_limit(size_t bytes);
  size_t cache_limit() const { return limit_; }
  const Stats& stats() const { return stats_; }

  static size_t round_request(size_t bytes);

 private:
  struct Block {
    uintptr_t addr = 0;
    size_t size = 0;
    bool free = true;
    bool small = false;
    Block* prev = nullptr;  // neighbours in the same segment
    Block* next = nullptr;
  };
  using FreeSet = std::set<std::pair<size_t, uintptr_t>>;  // (size, addr): best fit by lower_bound

  Block* find_free(size_t size, bool small);
  Block* new_segment(size_t size, bool small);
  Block* split(Block* b, size_t size);
  void merge_into(Block* b, Block* absorbed);
  void insert_free(Block* b);
  void erase_free(Block* b);
  size_t release_segments(size_t want);

  std::function<void*(size_t)> malloc_;
  std::function<void(void*)> free_;
  std::unordered_map<uintptr_t, Block*> blocks_;  // every block, by address
  FreeSet free_small_, free_large_;
  bool whole_;
  size_t limit_ = SIZE_MAX;
  Stats stats_;
};

}  // namespace pw
