// The caching allocator's blocks and segments: see block_pool.h.
#include "engine/device/block_pool.h"

#include <utility>
#include <vector>

namespace pw {

BlockPool::BlockPool(std::function<void*(size_t)> device_malloc, std::function<void(void*)> device_free,
                     bool whole_blocks)
    : malloc_(std::move(device_malloc)), free_(std::move(device_free)), whole_(whole_blocks) {}

size_t BlockPool::round_request(size_t bytes) {
  return bytes == 0 ? kAlignment : (bytes + kAlignment - 1) / kAlignment * kAlignment;
}

void BlockPool::insert_free(Block* b) {
  (b->small ? free_small_ : free_large_).insert({b->size, b->addr});
  stats_.bytes_cached += b->size;
}

void BlockPool::erase_free(Block* b) {
  (b->small ? free_small_ : free_large_).erase({b->size, b->addr});
  stats_.bytes_cached -= b->size;
}

BlockPool::Block* BlockPool::find_free(size_t size, bool small) {
  FreeSet& set = small ? free_small_ : free_large_;
  const auto it = set.lower_bound({size, 0});
  if (it == set.end() || (whole_ && it->first != size)) return nullptr;
  return blocks_.at(it->second);
}

BlockPool::~BlockPool() {
  for (auto& [addr, b] : blocks_) delete b;
}

BlockPool::Block* BlockPool::new_segment(size_t size, bool small) {
  const size_t bytes = whole_  ? size
                       : small ? kSegmentGranule
                               : (size + kSegmentGranule - 1) / kSegmentGranule * kSegmentGranule;
  void* p = malloc_(bytes);
  if (!p && release_cached() > 0) p = malloc_(bytes);  // out of memory: give the cache back, try again
  if (!p) return nullptr;
  auto* b = new Block{reinterpret_cast<uintptr_t>(p), bytes, true, small, nullptr, nullptr};
  blocks_[b->addr] = b;
  insert_free(b);
  stats_.segments++;
  stats_.device_mallocs++;
  return b;
}

// Cuts the first `size` bytes of free block b off for use when enough is left over to be worth
// keeping as a free block; returns the block to hand out (b, taken off the free set).
BlockPool::Block* BlockPool::split(Block* b, size_t size) {
  erase_free(b);
  const size_t rest = b->size - size;
  if (!whole_ && (b->small ? rest >= kAlignment : rest > kSmallRequest)) {
    auto* r = new Block{b->addr + size, rest, true, b->small, b, b->next};
    if (b->next) b->next->prev = r;
    b->next = r;
    b->size = size;
    blocks_[r->addr] = r;
    insert_free(r);
    stats_.splits++;
  }
  b->free = false;
  return b;
}

void* BlockPool::allocate(size_t bytes, size_t* size) {
  const size_t want = round_request(bytes);
  const bool small = want <= kSmallRequest;
  Block* b = find_free(want, small);
  if (b)
    stats_.cache_hits++;
  else
    b = new_segment(want, small);
  if (!b) return nullptr;
  b = split(b, want);
  stats_.bytes_in_use += b->size;
  if (size) *size = b->size;
  return reinterpret_cast<void*>(b->addr);
}

// Merges `absorbed` (free, right after b in its segment) into b.
void BlockPool::merge_into(Block* b, Block* absorbed) {
  b->size += absorbed->size;
  b->next = absorbed->next;
  if (absorbed->next) absorbed->next->prev = b;
  blocks_.erase(absorbed->addr);
  delete absorbed;
}

size_t BlockPool::deallocate(void* ptr) {
  Block* b = blocks_.at(reinterpret_cast<uintptr_t>(ptr));
  const size_t size = b->size;
  stats_.bytes_in_use -= size;
  b->free = true;
  if (b->next && b->next->free) {
    erase_free(b->next);
    merge_into(b, b->next);
  }
  if (b->prev && b->prev->free) {
    Block* p = b->prev;
    erase_free(p);
    merge_into(p, b);
    b = p;
  }
  insert_free(b);
  if (stats_.bytes_cached > limit_) release_segments(stats_.bytes_cached - limit_);
  return size;
}

// Gives back whole free segments (a free block with no neighbours), largest first, until `want`
// bytes went back or none is left.
size_t BlockPool::release_segments(size_t want) {
  std::vector<Block*> whole;
  for (const FreeSet* set : {&free_large_, &free_small_})
    for (auto it = set->rbegin(); it != set->rend(); ++it) {
      Block* b = blocks_.at(it->second);
      if (!b->prev && !b->next) whole.push_back(b);
    }
  size_t released = 0;
  for (Block* b : whole) {
    if (released >= want) break;
    erase_free(b);
    blocks_.erase(b->addr);
    free_(reinterpret_cast<void*>(b->addr));
    released += b->size;
    stats_.segments--;
    stats_.segments_released++;
    delete b;
  }
  return released;
}

size_t BlockPool::release_cached() { return release_segments(SIZE_MAX); }

void BlockPool::set_cache_limit(size_t bytes) {
  limit_ = bytes;
  if (stats_.bytes_cached > limit_) release_segments(stats_.bytes_cached - limit_);
}

}  // namespace pw
