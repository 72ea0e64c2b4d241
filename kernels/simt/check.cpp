// simt internals: the shadow state of PW_SIMT_CHECK's memory checks -- memcheck, racecheck,
// initcheck -- fed by every load and store of a checked kernel (check_hooks.cpp).
//
// Addresses. An access to the running thread's own stack, or to the worker's (where the launch's
// parameters lie), costs two compares in the hook and is not checked. Anything else is found in
// a list of this launch's regions, sorted by address, behind a small cache: dynamic shared
// memory and (memcheck) its red zones, the kernel's static shared memory in the worker's
// thread-local block, the built-in variables, live, freed (quarantined) and pinned-host
// allocations, and the program's own segments (constants, __device__ variables: not checked).
// An address in none of them is memory a kernel cannot reach on a GPU: a host pointer.
//
// memcheck: an access must lie inside its region (else out of bounds, before or after, named
// relative to the nearest allocation within its red zone), not in a freed allocation (a
// quarantine keeps freed memory from reuse, runtime.cpp), and, where the compiler assumed
// natural alignment, be aligned (a float4 at a 4-byte offset faults on a GPU).
// initcheck: one shadow byte per byte says "written": for an allocation, by a kernel, a copy or
// a memset since its cudaMalloc (runtime.cpp keeps these); for shared memory, by a thread of
// the block. A read of an unwritten byte is reported.
// racecheck: one record per 4-byte word of the last write and of the first two threads that
// read it in the current barrier interval (record_read), each with its
// thread, barrier interval (a launch-wide serial, new at every block and __syncthreads), the
// thread's warp clock and the bytes of the word it touched. Two accesses of one block conflict
// when they touch a common byte, at least one is a plain (non-atomic) write, they fall in the
// same barrier interval, and neither thread is ordered before the other: same thread (program
// order), or lanes of one warp whose vector clocks say a warp collective of both lanes lies
// between them (clocks are merged at every collective, warp.cpp). Across blocks only plain
// writes to one word by two blocks of a launch are reported (nothing orders blocks). The
// result does not depend on the thread order: whichever access runs second sees the first.
#include <link.h>
#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

#include "kernels/simt/check_state.h"
#include "kernels/simt/profile_record.h"

namespace pw::simt::detail {

CheckState& check_state() {
  static CheckState* s = [] {
    auto* x = new CheckState;  // never destroyed: a late launch may still use it
    for (unsigned t = 0; t < kMaxBlockThreads; ++t) {
      std::fill(std::begin(x->vc[t]), std::end(x->vc[t]), 0u);
      x->vc[t][t % 32] = 1;  // own clocks start above what any other lane knows (0)
    }
    return x;
  }();
  return *s;
}

namespace {

WordCell* map_cells(size_t words, size_t* bytes) {
  *bytes = words * sizeof(WordCell);
  void* m = mmap(nullptr, *bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) throw Error("simt racecheck: cannot map " + std::to_string(*bytes) + " bytes of shadow");
  return static_cast<WordCell*>(m);  // zero pages: every record empty
}

void own_stack(CheckState& c) {  // the calling thread's stack, without its thread-local block
  static thread_local uintptr_t lo = 0, hi = 0;
  if (!hi) {
    pthread_attr_t attr;
    void* addr = nullptr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      pthread_attr_getstack(&attr, &addr, &size);
      pthread_attr_destroy(&attr);
    }
    lo = reinterpret_cast<uintptr_t>(addr);
    hi = lo + size;
    if (c.tls_lo > lo && c.tls_lo < hi) hi = c.tls_lo;  // glibc puts a thread's TLS above its stack
  }
  c.own_lo = lo;
  c.own_span = hi - lo;
}

void load_segments(CheckState& c) {
  c.segments.clear();
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        auto& v = *static_cast<std::vector<std::pair<uintptr_t, uintptr_t>>*>(out);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const auto& ph = info->dlpi_phdr[i];
          if (ph.p_type == PT_LOAD)
            v.emplace_back(info->dlpi_addr + ph.p_vaddr, info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
        }
        return 0;
      },
      &c.segments);
}

void add_tls_regions(CheckState& c, const SharedRuns& runs) {
  const size_t words = ((c.tls_hi + 3) >> 2) - (c.tls_lo >> 2);
  if (c.tls_cells.size() < words) c.tls_cells.assign(words, WordCell{});
  if (c.tls_written.size() < c.tls_hi - c.tls_lo) c.tls_written.assign(c.tls_hi - c.tls_lo, 0);
  for (const auto& [offset, bytes] : runs) {
    const uintptr_t lo = c.tls_lo + offset;
    c.regions.push_back({lo, lo + bytes, RegionKind::static_shared, &c.tls_cells[(lo >> 2) - (c.tls_lo >> 2)],
                         &c.tls_written[lo - c.tls_lo], nullptr});
  }
  // The built-in variables are thread-local too (simt.h); kernels read them all the time.
  for (const void* v : {static_cast<const void*>(&threadIdx), static_cast<const void*>(&blockIdx),
                        static_cast<const void*>(&blockDim), static_cast<const void*>(&gridDim)}) {
    const auto lo = reinterpret_cast<uintptr_t>(v);
    c.regions.push_back({lo, lo + sizeof(uint3), RegionKind::ignore, nullptr, nullptr, nullptr});
  }
}

void add_dynamic_regions(CheckState& c, const BlockRun& r) {
  const auto map = reinterpret_cast<uintptr_t>(r.smem_map), base = reinterpret_cast<uintptr_t>(r.smem_base);
  const uintptr_t end = base + r.smem_bytes, guard = reinterpret_cast<uintptr_t>(r.smem_guard);
  if (map < base) c.regions.push_back({map, base, RegionKind::shared_under, nullptr, nullptr, nullptr});
  if (r.smem_bytes) {
    const size_t words = ((end + 3) >> 2) - (base >> 2);
    if (c.dyn_cells.size() < words) c.dyn_cells.assign(words, WordCell{});
    if (c.dyn_written.size() < r.smem_bytes) c.dyn_written.assign(r.smem_bytes, 0);
    c.regions.push_back({base, end, RegionKind::dynamic, c.dyn_cells.data(), c.dyn_written.data(), nullptr});
  }
  if (end < guard) c.regions.push_back({end, guard, RegionKind::shared_over, nullptr, nullptr, nullptr});
}

// Every region of this launch, for block `r` (dynamic shared memory stays put within a launch).
void build_regions(CheckState& c, const BlockRun& r, const SharedRuns& runs) {
  c.regions.clear();
  for (const DeviceRegion& d : c.device) {
    const RegionKind k = d.kind == DeviceRegionKind::live    ? RegionKind::global
                         : d.kind == DeviceRegionKind::freed ? RegionKind::freed
                                                             : RegionKind::host;
    CheckRegion g{d.lo, d.hi, k, nullptr, nullptr, d.shadow};
    if (d.shadow) {
      g.cells = d.shadow->cells;
      g.written = d.shadow->written.get();
    }
    c.regions.push_back(g);
  }
  add_dynamic_regions(c, r);
  add_tls_regions(c, runs);
  for (const auto& [lo, hi] : c.segments) c.regions.push_back({lo, hi, RegionKind::ignore, nullptr, nullptr, nullptr});
  std::sort(c.regions.begin(), c.regions.end(), [](const CheckRegion& a, const CheckRegion& b) { return a.lo < b.lo; });
  std::fill(std::begin(c.cache), std::end(c.cache), nullptr);
  c.regions_smem = r.smem_base;
  c.regions_smem_bytes = r.smem_bytes;
  c.regions_ready = true;
}

CheckRegion* find_region(CheckState& c, uintptr_t a) {
  CheckRegion*& slot = c.cache[(a >> 12) % kCacheSlots];
  if (slot && a - slot->lo < slot->hi - slot->lo) return slot;
  auto it = std::upper_bound(c.regions.begin(), c.regions.end(), a,
                             [](uintptr_t x, const CheckRegion& g) { return x < g.lo; });
  if (it == c.regions.begin()) return nullptr;
  --it;
  if (a >= it->hi) return nullptr;
  slot = &*it;
  return slot;
}

}  // namespace

AllocShadow* alloc_shadow_new(size_t bytes, bool written) {
  auto* s = new AllocShadow;
  s->bytes = bytes;
  if (checks() & check_initcheck) {
    s->written.reset(new uint8_t[bytes]);
    std::memset(s->written.get(), written ? 1 : 0, bytes);
  }
  return s;
}
void alloc_shadow_delete(AllocShadow* s) {
  if (!s) return;
  if (s->cells) munmap(s->cells, s->cell_bytes);
  delete s;
}
void alloc_shadow_written(AllocShadow* s, size_t offset, size_t bytes) {
  if (s && s->written && offset < s->bytes)
    std::memset(s->written.get() + offset, 1, std::min(bytes, s->bytes - offset));
}
void alloc_shadow_copy(AllocShadow* dst, size_t dst_offset, const AllocShadow* src, size_t src_offset, size_t bytes) {
  if (!dst || !dst->written || dst_offset >= dst->bytes) return;
  bytes = std::min(bytes, dst->bytes - dst_offset);
  if (!src->written || src_offset >= src->bytes) return alloc_shadow_written(dst, dst_offset, bytes);
  const size_t n = std::min(bytes, src->bytes - src_offset);
  std::memmove(dst->written.get() + dst_offset, src->written.get() + src_offset, n);
}

// ---- the checks of one access ----
namespace {

bool ordered(const CheckState& c, const AccessRec& e, unsigned t) {
  if (e.thread == t) return true;
  if ((e.thread >> 5) != (t >> 5)) return false;
  return e.clock <= c.vc[t][e.thread & 31];
}

// The read slots keep, per barrier interval, the first two threads that read the word (a
// thread's own later reads replace its record only when its clock or bytes changed): most
// reads then only compare, which matters because every input element is read by many threads.
void record_read(const CheckState& c, WordCell& cell, const AccessRec& now) {
  for (AccessRec* slot : {&cell.r1, &cell.r2}) {
    if (slot->serial == c.serial && slot->thread == now.thread) {
      if (slot->clock != now.clock || (slot->mask & now.mask) != now.mask || slot->flags != now.flags) *slot = now;
      return;
    }
  }
  if (cell.r1.serial != c.serial)
    cell.r1 = now;
  else if (cell.r2.serial != c.serial)
    cell.r2 = now;
}

// One word: conflicts with its records, then the access becomes one. False when reported.
bool race_word(CheckState& c, const CheckRegion& g, WordCell& cell, const AccessRec& now, uintptr_t word) {
  const bool write = now.flags & kWrite, plain = !(now.flags & kAtomic);
  const AccessRec& w = cell.w;
  if (w.serial && (w.mask & now.mask)) {
    const bool w_plain = !(w.flags & kAtomic);
    if (w.serial == c.serial) {
      if ((w_plain || (write && plain)) && !ordered(c, w, now.thread)) return report_race(c, g, word, now, w, false);
    } else if (write && plain && w_plain && g.kind == RegionKind::global && w.serial >= c.launch_serial &&
               w.serial < c.block_serial) {
      return report_race(c, g, word, now, w, true);
    }
  }
  if (!write) {
    record_read(c, cell, now);
    return true;
  }
  if (plain)
    for (const AccessRec* rd : {&cell.r1, &cell.r2})
      if (rd->serial == c.serial && (rd->mask & now.mask) && !ordered(c, *rd, now.thread))
        return report_race(c, g, word, now, *rd, false);
  cell.w = now;
  return true;
}

void race_access(CheckState& c, CheckRegion& g, uintptr_t a, size_t n, unsigned how, const void* site) {
  if (!g.cells) {  // an allocation's records are mapped at its first checked access
    if (!g.shadow) return;
    if (!g.shadow->cells) g.shadow->cells = map_cells(((g.hi + 3) >> 2) - (g.lo >> 2), &g.shadow->cell_bytes);
    g.cells = g.shadow->cells;
  }
  const unsigned t = c.run->cur;
  AccessRec now;
  now.serial = c.serial;
  now.clock = c.vc[t][t & 31];
  now.site = site_code(site);
  now.thread = static_cast<uint16_t>(t);
  now.flags = static_cast<uint8_t>(how & (kWrite | kAtomic));
  const uintptr_t first = a >> 2, last = (a + n - 1) >> 2, base = g.lo >> 2;
  for (uintptr_t w = first; w <= last; ++w) {
    const uintptr_t lo = std::max(a, w << 2) - (w << 2), hi = std::min(a + n, (w << 2) + 4) - (w << 2);
    now.mask = static_cast<uint8_t>(((1u << hi) - 1) & ~((1u << lo) - 1));
    if (!race_word(c, g, g.cells[w - base], now, w << 2)) return;
  }
}

bool init_access(CheckState& c, const CheckRegion& g, uintptr_t a, size_t n, unsigned how, const void* site) {
  uint8_t* flags = g.written + (a - g.lo);
  if (!(how & kWrite) || (how & kRmw)) {
    for (size_t i = 0; i < n; ++i)
      if (!flags[i]) {
        report_uninitialized(c, g, a, n, how, site);
        return false;
      }
  }
  if (how & kWrite) std::memset(flags, 1, n);
  return true;
}

}  // namespace

namespace {
// The checks' own code is not the kernel's: what it calls (say, a std::string member whose
// instrumented copy the linker kept) must not come back here.
struct Suspend {
  CheckFast* saved = tl_check;
  Suspend() { tl_check = nullptr; }
  ~Suspend() { tl_check = saved; }
};
}  // namespace

void check_access(uintptr_t a, size_t n, unsigned how, const void* site) {
  CheckState& c = *static_cast<CheckState*>(tl_check);  // the hooks call only while it is set
  const Suspend suspend;
  if (n == 0) return;
  CheckRegion* g = find_region(c, a);
  if ((c.checks & kCheckProfile) && g &&
      (g->kind == RegionKind::global || g->kind == RegionKind::dynamic || g->kind == RegionKind::static_shared))
    profile_access(c.run->cur, a, n, how, site, g->kind != RegionKind::global);
  const bool memcheck = c.checks & check_memcheck;
  if (!g) {
    if (memcheck) report_unknown(c, a, n, how, site);
    return;
  }
  if (g->kind == RegionKind::ignore) return;
  if (g->kind == RegionKind::freed || g->kind == RegionKind::shared_under || g->kind == RegionKind::shared_over) {
    if (memcheck) report_region(c, *g, a, n, how, site);
    return;
  }
  if (memcheck && (how & kAligned) && n > 1 && (a & (n - 1)))
    return report_memcheck(c,
                           "misaligned access: the address is " + std::to_string(a & (n - 1)) +
                               " bytes past a multiple of " + std::to_string(n) + " (" + describe_region(*g, a) +
                               "; a GPU faults on it: accesses of 2, 4, 8 and 16 bytes must be naturally aligned)",
                           a, n, how, site);
  if (a + n > g->hi) {
    if (memcheck) return report_region(c, *g, a, n, how, site);
    n = g->hi - a;
  }
  if ((c.checks & check_initcheck) && g->written && !init_access(c, *g, a, n, how, site)) return;
  if ((c.checks & check_racecheck) && g->kind != RegionKind::host) race_access(c, *g, a, n, how, site);
}

void check_stop_thread() {
  CheckState& c = *static_cast<CheckState*>(tl_check);
  tl_check = nullptr;
  std::longjmp(*static_cast<std::jmp_buf*>(c.run->th[c.run->cur].stop), 1);
}

// ---- events ----
void check_launch_begin(const LaunchDesc& desc, unsigned checks) {
  CheckState& c = check_state();
  c.checks = checks;
  c.desc = &desc;
  c.failed = false;
  c.hooks = 0;
  c.has_report = false;
  c.report = {};
  c.launch_serial = c.next_serial;
  c.tls_lo = reinterpret_cast<uintptr_t>(thread_local_block());
  c.tls_hi = c.tls_lo + thread_local_block_bytes();
  own_stack(c);
  device_regions(c.device, &c.device_generation);
  if (c.segments.empty()) load_segments(c);
  c.regions_ready = false;
  if (checks & kCheckProfile) profile_launch_begin(desc);
}

namespace {
// Memory checks asked for, but the kernel made no access the hooks saw: it was not built
// checked. Said once per process, on stderr (the launch itself is fine).
void warn_unchecked(const CheckState& c) {
  static std::atomic<bool> said{false};
  if (c.hooks || !(c.checks & (check_memcheck | check_racecheck | check_initcheck)) || said.exchange(true)) return;
  std::fprintf(stderr,
               "simt: PW_SIMT_CHECK=%s: the kernel %s was not built checked (pw_add_simt_kernels_checked in "
               "kernels/simt/simt.cmake), so its loads and stores are not checked; only synccheck and the "
               "allocation checks apply to it\n",
               checks_text(c.checks).c_str(), c.desc->name);
}
}  // namespace

std::exception_ptr check_launch_end(std::exception_ptr error) {
  CheckState& c = check_state();
  c.run = nullptr;
  if (c.checks & kCheckProfile) profile_launch_end(c.hooks);
  warn_unchecked(c);
  if (!c.has_report) return error;
  c.has_report = false;
  return std::make_exception_ptr(Error(format_report(c.report)));
}

void check_block_begin(BlockRun& r, const SharedRuns& runs) {
  CheckState& c = check_state();
  c.run = &r;
  if (c.checks & kCheckProfile) profile_block_begin();
  c.block_serial = c.serial = c.next_serial++;
  if (!c.regions_ready || c.regions_smem != r.smem_base || c.regions_smem_bytes != r.smem_bytes)
    build_regions(c, r, runs);
  if (r.smem_bytes) std::memset(c.dyn_written.data(), 0, r.smem_bytes);  // nothing of the block written yet
  for (const auto& [offset, bytes] : runs)
    if (offset + bytes <= c.tls_written.size()) std::memset(&c.tls_written[offset], 0, bytes);
}

void check_thread_enter(BlockRun& r) {
  CheckState& c = check_state();
  const auto sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  c.stack_lo = c.own_lo;
  c.stack_span = c.own_span;
  for (const Stack* s : {r.fiber[r.cur] ? r.th[r.cur].stack : nullptr, r.sched_stack}) {
    const StackBounds b = bounds_of(s);
    const auto lo = reinterpret_cast<uintptr_t>(b.bottom);
    if (s && sp - lo < b.size) {
      c.stack_lo = lo;
      c.stack_span = b.size;
      break;
    }
  }
  tl_check = &c;
}

void check_barrier_released(BlockRun&) {
  CheckState& c = check_state();
  c.serial = c.next_serial++;
}

void check_warp_joined(BlockRun& r, unsigned base, unsigned group) {
  CheckState& c = check_state();
  uint32_t merged[32] = {};
  for (unsigned g = group; g; g &= g - 1) {
    const uint32_t* v = c.vc[base + static_cast<unsigned>(std::countr_zero(g))];
    for (unsigned k = 0; k < 32; ++k) merged[k] = std::max(merged[k], v[k]);
  }
  for (unsigned g = group; g; g &= g - 1) {
    const unsigned lane = static_cast<unsigned>(std::countr_zero(g));
    std::copy(std::begin(merged), std::end(merged), c.vc[base + lane]);
    c.vc[base + lane][lane] = merged[lane] + 1;  // what the lane does next is after the meeting
  }
  (void)r;
}

}  // namespace pw::simt::detail
