// simt internals: cp.async (kernels/simt/mma.h explains the semantics). Each thread of the block
// running on this worker has a list of uncommitted copies and a queue of committed groups; a
// copy holds the bytes it read from its source when it was issued, and its destination reads as
// poison until a cp_async_wait completes its group. A new block drops whatever the previous
// block's threads left pending (shared.cpp calls drop_async_copies()).
#include <cstring>
#include <deque>
#include <sstream>
#include <vector>

#include "kernels/simt/block.h"
#include "kernels/simt/check.h"

namespace pw::simt::detail {

namespace {

struct Copy {
  void* dst;
  int bytes;
  uint8_t data[16];
  const void* code;  // where the kernel issued it (PW_SIMT_CHECK reports)
};

struct ThreadCopies {
  std::vector<Copy> open;                // issued since the last commit
  std::deque<std::vector<Copy>> groups;  // committed, oldest first
};

struct AsyncCopies {
  std::vector<ThreadCopies> threads;
  bool any = false;  // something may be pending: a block that never uses cp.async pays nothing
};

AsyncCopies& async_copies() {
  static thread_local AsyncCopies s;
  return s;
}

ThreadCopies& thread_copies(const BlockRun& r) {
  AsyncCopies& s = async_copies();
  if (s.threads.size() < r.n) s.threads.resize(kMaxBlockThreads);
  s.any = true;
  return s.threads[r.cur];
}

std::string address(const void* p) {
  std::ostringstream os;
  os << p;
  return os.str();
}

[[noreturn]] void bad_copy(const BlockRun& r, int bytes, const Site& site, const std::string& why) {
  throw Error("simt: cp.async (" + std::to_string(bytes) + " bytes) at " + describe_site(site) + " in thread " +
              std::to_string(r.cur) + ": " + why);
}

void check_copy(const BlockRun& r, void* dst, const void* src, int bytes, int src_bytes, const Site& site) {
  if (bytes != 4 && bytes != 8 && bytes != 16) bad_copy(r, bytes, site, "the size must be 4, 8 or 16 bytes");
  if (src_bytes < 0 || src_bytes > bytes)
    bad_copy(r, bytes, site,
             "src_bytes = " + std::to_string(src_bytes) + " is outside [0, " + std::to_string(bytes) + "]");
  if (reinterpret_cast<uintptr_t>(dst) % unsigned(bytes) != 0)
    bad_copy(r, bytes, site, "the destination " + address(dst) + " is not aligned to the copy's size");
  if (src_bytes > 0 && reinterpret_cast<uintptr_t>(src) % unsigned(bytes) != 0)
    bad_copy(r, bytes, site, "the source " + address(src) + " is not aligned to the copy's size");
  const void* alloc = nullptr;
  size_t alloc_bytes = 0;
  if (allocation_below(dst, &alloc, &alloc_bytes) &&
      static_cast<const char*>(dst) < static_cast<const char*>(alloc) + alloc_bytes)
    bad_copy(r, bytes, site,
             "the destination " + address(dst) + " is in a cudaMalloc allocation; cp.async writes shared memory");
}

// The destinations written, each by the thread that issued it (what PW_SIMT_CHECK records).
void complete(const std::vector<Copy>& group) {
  for (const Copy& c : group) {
    check_emulated_access(c.dst, size_t(c.bytes), kWrite, c.code);
    std::memcpy(c.dst, c.data, size_t(c.bytes));
  }
}

}  // namespace

void cp_async(void* dst, const void* src, int bytes, int src_bytes, const Site& site) {
  const BlockRun& r = current_block("cp.async");
  check_copy(r, dst, src, bytes, src_bytes, site);
  Copy c{dst, bytes, {}, __builtin_return_address(0)};
  if (src_bytes > 0) check_emulated_access(src, size_t(src_bytes), 0, c.code);
  if (src_bytes > 0) std::memcpy(c.data, src, size_t(src_bytes));  // the rest stays zero (zero-fill)
  std::memset(dst, 0xFF, size_t(bytes));                           // in flight: undefined until waited for
  thread_copies(r).open.push_back(c);
}

void cp_async_commit(const Site&) {
  ThreadCopies& t = thread_copies(current_block("cp.async.commit_group"));
  t.groups.push_back(std::move(t.open));  // an empty group is allowed and completes at once
  t.open.clear();
}

void cp_async_wait(int newest_pending, const Site&) {
  ThreadCopies& t = thread_copies(current_block("cp.async.wait_group"));
  while (t.groups.size() > size_t(newest_pending)) {
    complete(t.groups.front());
    t.groups.pop_front();
  }
}

void drop_async_copies() {
  AsyncCopies& s = async_copies();
  if (!s.any) return;
  for (ThreadCopies& t : s.threads) {
    t.open.clear();
    t.groups.clear();
  }
  s.any = false;
}

}  // namespace pw::simt::detail
