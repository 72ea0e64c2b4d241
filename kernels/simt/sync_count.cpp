// simt internals: the count of host synchronizations (runtime.h, sync_count), kept per call.
#include <map>
#include <mutex>
#include <string>

#include "kernels/simt/block.h"

namespace pw::simt {

namespace {
struct SyncCounts {
  std::mutex m;
  uint64_t total = 0;
  std::map<std::string, uint64_t> by_call;
};
SyncCounts& counts() {
  static SyncCounts* c = new SyncCounts;  // never destroyed: calls may come from static destructors
  return *c;
}
}  // namespace

namespace detail {
void note_host_sync(const char* what) {
  SyncCounts& c = counts();
  std::lock_guard<std::mutex> lock(c.m);
  ++c.total;
  ++c.by_call[what];
}
}  // namespace detail

uint64_t sync_count() {
  SyncCounts& c = counts();
  std::lock_guard<std::mutex> lock(c.m);
  return c.total;
}

std::string sync_counts_text() {
  SyncCounts& c = counts();
  std::lock_guard<std::mutex> lock(c.m);
  std::string s;
  for (const auto& [call, n] : c.by_call) s += (s.empty() ? "" : ", ") + call + ": " + std::to_string(n);
  return s.empty() ? "none" : s;
}

}  // namespace pw::simt
