// The caching allocator's blocks and segments (engine/device/block_pool.h), on a fake device
// whose memory is host memory with a capacity: splitting, merging, best fit, the two kinds of
// segment, and the release policy (out of memory, cache limit, on request).
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "engine/device/block_pool.h"

using pw::BlockPool;

namespace {

constexpr size_t kMiB = size_t{1} << 20;

struct FakeDevice {
  size_t capacity = SIZE_MAX, used = 0;
  std::map<void*, size_t> live;
  int mallocs = 0, frees = 0;
  BlockPool pool(bool whole = false) {
    return BlockPool([this](size_t n) { return malloc(n); }, [this](void* p) { free(p); }, whole);
  }
  void* malloc(size_t n) {
    if (used + n > capacity) return nullptr;
    void* p = std::aligned_alloc(4096, (n + 4095) / 4096 * 4096);  // a size aligned_alloc accepts
    live[p] = n;
    used += n;
    ++mallocs;
    return p;
  }
  void free(void* p) {
    used -= live.at(p);
    live.erase(p);
    std::free(p);
    ++frees;
  }
  ~FakeDevice() {
    for (auto& [p, n] : live) std::free(p);
  }
};

char* at(void* p) { return static_cast<char*>(p); }

}  // namespace

TEST(BlockPool, SmallBlocksAreCutFromOneSegment) {
  FakeDevice dev;
  BlockPool pool = dev.pool();
  size_t sa = 0, sb = 0;
  void* a = pool.allocate(1000, &sa);
  void* b = pool.allocate(3000, &sb);
  EXPECT_EQ(sa, 1024u);
  EXPECT_EQ(sb, 3072u);
  EXPECT_EQ(dev.mallocs, 1);
  EXPECT_EQ(dev.live.begin()->second, BlockPool::kSegmentGranule);
  EXPECT_EQ(at(b), at(a) + 1024);
  EXPECT_EQ(pool.stats().splits, 2);
  EXPECT_EQ(pool.stats().bytes_in_use, 4096u);
  EXPECT_EQ(pool.stats().bytes_cached, BlockPool::kSegmentGranule - 4096);
  pool.deallocate(a);
  pool.deallocate(b);
  EXPECT_EQ(pool.stats().bytes_cached, BlockPool::kSegmentGranule);
}

TEST(BlockPool, FreedNeighboursMergeAndTheBestFitIsTaken) {
  FakeDevice dev;
  BlockPool pool = dev.pool();
  void* a = pool.allocate(4096, nullptr);
  void* b = pool.allocate(4096, nullptr);
  void* c = pool.allocate(65536, nullptr);
  void* d = pool.allocate(512, nullptr);  // keeps c's block from merging with the segment's rest
  pool.deallocate(b);
  pool.deallocate(a);  // a and b merge into one 8 KiB block
  pool.deallocate(c);  // 64 KiB, apart from the 8 KiB block (d lies between c and the rest)
  size_t size = 0;
  EXPECT_EQ(pool.allocate(8192, &size), a);  // the merged block fits exactly
  EXPECT_EQ(size, 8192u);
  EXPECT_EQ(pool.allocate(60000, nullptr), c);  // the 64 KiB block is the best fit, not the rest
  EXPECT_EQ(dev.mallocs, 1);
  (void)d;
}

TEST(BlockPool, LargeRequestsHaveTheirOwnSegmentsSplitOnlyWhenMuchIsLeft) {
  FakeDevice dev;
  BlockPool pool = dev.pool();
  size_t size = 0;
  void* big = pool.allocate(3 * kMiB, &size);
  EXPECT_EQ(size, 4 * kMiB);  // 1 MiB left: not worth a block of its own
  EXPECT_EQ(dev.live.at(big), 4 * kMiB);
  pool.deallocate(big);
  void* part = pool.allocate(2 * kMiB - 4096, &size);  // 2 MiB + 4 KiB left: split
  EXPECT_EQ(part, big);
  EXPECT_EQ(size, 2 * kMiB - 4096);
  EXPECT_EQ(pool.stats().splits, 1);
  void* small = pool.allocate(100, nullptr);  // never from a large segment
  EXPECT_EQ(dev.mallocs, 2);
  EXPECT_NE(dev.live.count(small), 0u);
}

TEST(BlockPool, TheCacheLimitGivesBackWholeFreeSegmentsOnly) {
  FakeDevice dev;
  BlockPool pool = dev.pool();
  pool.set_cache_limit(0);
  void* a = pool.allocate(1000, nullptr);
  void* b = pool.allocate(1000, nullptr);
  pool.deallocate(a);  // b still uses the segment: nothing goes back
  EXPECT_EQ(dev.frees, 0);
  pool.deallocate(b);
  EXPECT_EQ(dev.frees, 1);
  EXPECT_EQ(pool.stats().segments, 0);
  EXPECT_EQ(pool.stats().segments_released, 1);
  EXPECT_EQ(pool.stats().bytes_cached, 0u);
}

TEST(BlockPool, OutOfMemoryGivesTheCacheBackAndTriesAgain) {
  FakeDevice dev;
  dev.capacity = 6 * kMiB;
  BlockPool pool = dev.pool();
  pool.deallocate(pool.allocate(1000, nullptr));  // a cached 2 MiB segment
  void* big = pool.allocate(5 * kMiB, nullptr);   // 6 MiB do not fit beside it
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(dev.frees, 1);
  EXPECT_EQ(pool.allocate(2 * kMiB, nullptr), nullptr);  // really out of memory
  EXPECT_EQ(pool.release_cached(), 0u);
}

TEST(BlockPool, WholeBlocksAreSegmentsOfTheirOwnReusedForTheirSizeOnly) {
  FakeDevice dev;
  BlockPool pool = dev.pool(/*whole=*/true);
  void* a = pool.allocate(1000, nullptr);
  void* b = pool.allocate(1000, nullptr);
  EXPECT_EQ(dev.mallocs, 2);
  EXPECT_EQ(dev.live.at(a), 1024u);
  pool.deallocate(a);
  EXPECT_NE(pool.allocate(512, nullptr), a);  // a smaller request does not take a's block
  EXPECT_EQ(pool.allocate(1024, nullptr), a);
  EXPECT_EQ(pool.stats().splits, 0);
  (void)b;
}
