// simt internals: the state behind PW_SIMT_CHECK's memory checks, shared by check.cpp (the
// shadow and the checks of each access) and check_report.cpp (the reports' text): the
// racecheck records, the regions of a launch, and the single checker of checked launches.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kernels/simt/check.h"
#include "kernels/simt/check_report.h"

namespace pw::simt::detail {

// One access in racecheck's shadow (16 bytes).
struct AccessRec {
  uint32_t serial = 0;  // its barrier interval; 0: none
  uint32_t clock = 0;   // the thread's own warp clock then
  int32_t site = 0;     // code address, relative to site_anchor()
  uint16_t thread = 0;  // in the block
  uint8_t flags = 0;    // kWrite, kAtomic
  uint8_t mask = 0;     // bytes of the word touched
};
struct WordCell {  // one 4-byte word
  AccessRec w, r1, r2;
};

inline uintptr_t site_anchor() { return reinterpret_cast<uintptr_t>(&check_access); }
inline int32_t site_code(const void* site) {
  const intptr_t d = static_cast<intptr_t>(reinterpret_cast<uintptr_t>(site) - site_anchor());
  return d > INT32_MIN && d <= INT32_MAX ? static_cast<int32_t>(d) : INT32_MIN;
}
inline const void* site_of(int32_t code) {
  return code == INT32_MIN ? nullptr : reinterpret_cast<const void*>(site_anchor() + static_cast<intptr_t>(code));
}

struct AllocShadow {
  size_t bytes = 0;
  std::unique_ptr<uint8_t[]> written;  // initcheck, one per byte; null: not tracked
  WordCell* cells = nullptr;           // racecheck, mapped at the first checked access
  size_t cell_bytes = 0;
};

enum class RegionKind : uint8_t { ignore, global, freed, host, dynamic, static_shared, shared_under, shared_over };

struct CheckRegion {
  uintptr_t lo = 0, hi = 0;
  RegionKind kind = RegionKind::ignore;
  WordCell* cells = nullptr;   // racecheck: the word holding lo first
  uint8_t* written = nullptr;  // initcheck: the byte at lo first; null: not tracked
  AllocShadow* shadow = nullptr;
};

constexpr size_t kCacheSlots = 64;

// The checker of the (single) worker of a checked launch: launches are serialized and a checked
// launch runs its blocks on the launching thread, so one state serves every launch.
struct CheckState : CheckFast {
  unsigned checks = 0;
  const LaunchDesc* desc = nullptr;
  BlockRun* run = nullptr;
  uint32_t next_serial = 1, launch_serial = 0, block_serial = 0, serial = 0;
  std::vector<DeviceRegion> device;
  uint64_t device_generation = ~uint64_t{0};
  std::vector<CheckRegion> regions;  // sorted, disjoint
  CheckRegion* cache[kCacheSlots] = {};
  std::vector<std::pair<uintptr_t, uintptr_t>> segments;  // the program's own (not checked)
  uintptr_t tls_lo = 0, tls_hi = 0;
  std::vector<WordCell> dyn_cells, tls_cells;
  std::vector<uint8_t> dyn_written, tls_written;
  const char* regions_smem = nullptr;  // the dynamic shared memory the regions were built for
  size_t regions_smem_bytes = 0;
  bool regions_ready = false;
  uint32_t vc[kMaxBlockThreads][32];  // per thread: its view of its warp's lanes' clocks
  CheckReport report;
  bool has_report = false;
};

CheckState& check_state();

// ---- reports (check_report.cpp): each fails the launch; the thread stops at once ----
std::string describe_region(const CheckRegion& g, uintptr_t a);
void report_memcheck(CheckState& c, const std::string& what, uintptr_t a, size_t n, unsigned how, const void* site);
// An access to no region of the launch (out of bounds near an allocation, or a host pointer).
void report_unknown(CheckState& c, uintptr_t a, size_t n, unsigned how, const void* site);
// An access to a region that is wrong in itself (freed, a red zone), or runs out of its region.
void report_region(CheckState& c, const CheckRegion& g, uintptr_t a, size_t n, unsigned how, const void* site);
void report_uninitialized(CheckState& c, const CheckRegion& g, uintptr_t a, size_t n, unsigned how, const void* site);
// Returns false (the caller stops checking the access).
bool report_race(CheckState& c, const CheckRegion& g, uintptr_t word, const AccessRec& now, const AccessRec& prev,
                 bool cross_block);

}  // namespace pw::simt::detail
