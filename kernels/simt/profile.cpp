// simt internals: simt-profile's recorder (profile.h explains what is measured). Each access of
// a profiled block is appended to a list; when the block ends, the list is sorted (stably) by
// warp and instruction, so that each lane's executions of an instruction stay in program order,
// and the k-th execution of each lane joins the warp's k-th request of that instruction. Each
// request is then measured (sectors, or shared-memory wavefronts) and added to its
// instruction's totals; the sectors of global requests also go into the launch's footprint.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "kernels/simt/check.h"
#include "kernels/simt/profile.h"
#include "kernels/simt/profile_record.h"

namespace pw::simt {

namespace {

struct Rec {
  uintptr_t addr;
  uint32_t bytes;
  int32_t site;  // index into Recorder::site_codes
  uint16_t thread;
  uint8_t shared;
  uint8_t how;
};

struct Recorder {
  std::atomic<bool> on{false};
  std::vector<ProfileLaunch> launches;
  ProfileLaunch* cur = nullptr;
  std::vector<Rec> recs;
  std::unordered_map<const void*, int32_t> site_index;  // code address -> index, per launch
  std::vector<const void*> site_codes;
  std::unordered_map<uint64_t, size_t> site_of;  // (site index, shared) -> index into cur->sites
  std::unordered_set<uint64_t> read_sectors, write_sectors;
  std::vector<std::vector<const Rec*>> requests;  // scratch of one instruction of one warp
  std::vector<uint64_t> scratch;
};

Recorder& recorder() {
  static Recorder* r = new Recorder;  // never destroyed: written at exit
  return *r;
}

thread_local double tl_next_flops = -1;

// The distinct 32-byte sectors of one global request, and its distinct bytes.
void measure_global(Recorder& r, const std::vector<const Rec*>& req, ProfileSite& s) {
  r.scratch.clear();
  for (const Rec* x : req)
    for (uintptr_t sec = x->addr >> 5; sec <= (x->addr + x->bytes - 1) >> 5; ++sec) r.scratch.push_back(sec);
  std::sort(r.scratch.begin(), r.scratch.end());
  r.scratch.erase(std::unique(r.scratch.begin(), r.scratch.end()), r.scratch.end());
  s.sectors += r.scratch.size();
  const bool write = req.front()->how & detail::kWrite, read = !write || (req.front()->how & detail::kRmw);
  for (uint64_t sec : r.scratch) {
    if (read) r.read_sectors.insert(sec);
    if (write) r.write_sectors.insert(sec);
  }
  // Distinct bytes: the lanes' byte ranges, merged.
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  ranges.reserve(req.size());
  for (const Rec* x : req) ranges.emplace_back(x->addr, x->addr + x->bytes);
  std::sort(ranges.begin(), ranges.end());
  uint64_t bytes = 0;
  uintptr_t end = 0;
  for (const auto& [lo, hi] : ranges) {
    const uintptr_t from = std::max(lo, end);
    if (hi > from) bytes += hi - from;
    end = std::max(end, hi);
  }
  s.ideal_sectors += (bytes + 31) / 32;
}

// Wavefronts of one shared request: the most distinct words any bank delivers.
void measure_shared(Recorder& r, const std::vector<const Rec*>& req, ProfileSite& s) {
  r.scratch.clear();
  for (const Rec* x : req)
    for (uintptr_t w = x->addr >> 2; w <= (x->addr + x->bytes - 1) >> 2; ++w) r.scratch.push_back(w);
  std::sort(r.scratch.begin(), r.scratch.end());
  r.scratch.erase(std::unique(r.scratch.begin(), r.scratch.end()), r.scratch.end());
  unsigned per_bank[32] = {};
  unsigned most = 0;
  for (uint64_t w : r.scratch) most = std::max(most, ++per_bank[w & 31]);
  s.wavefronts += most;
  s.ideal_wavefronts += (r.scratch.size() + 31) / 32;
}

ProfileSite& site_stats(Recorder& r, const Rec& x) {
  const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(x.site)) << 1) | x.shared;
  auto [it, fresh] = r.site_of.try_emplace(key, r.cur->sites.size());
  if (fresh) {
    ProfileSite s;
    s.code = r.site_codes[static_cast<size_t>(x.site)];
    s.space = x.shared ? ProfileSpace::shared : ProfileSpace::global;
    s.write = x.how & detail::kWrite;
    s.atomic = x.how & detail::kAtomic;
    r.cur->sites.push_back(s);
  }
  return r.cur->sites[it->second];
}

// One instruction of one warp: recs[begin, end), each lane's in program order.
void match_requests(Recorder& r, size_t begin, size_t end) {
  for (auto& q : r.requests) q.clear();
  unsigned count[32] = {};
  size_t used = 0;
  for (size_t i = begin; i < end; ++i) {
    const Rec& x = r.recs[i];
    const unsigned k = count[x.thread & 31]++;
    if (k >= r.requests.size()) r.requests.resize(k + 1);
    r.requests[k].push_back(&x);
    used = std::max<size_t>(used, k + 1);
  }
  ProfileSite& s = site_stats(r, r.recs[begin]);
  for (size_t k = 0; k < used; ++k) {
    const auto& req = r.requests[k];
    ++s.requests;
    s.lane_accesses += req.size();
    for (const Rec* x : req) s.bytes += x->bytes;
    if (s.space == ProfileSpace::shared)
      measure_shared(r, req, s);
    else
      measure_global(r, req, s);
  }
}

uint64_t group_key(const Rec& x) {
  return (static_cast<uint64_t>(x.thread >> 5) << 33) | (static_cast<uint64_t>(static_cast<uint32_t>(x.site)) << 1) |
         x.shared;
}

void flush_block(Recorder& r) {
  if (r.recs.empty()) return;
  std::stable_sort(r.recs.begin(), r.recs.end(),
                   [](const Rec& a, const Rec& b) { return group_key(a) < group_key(b); });
  size_t begin = 0;
  for (size_t i = 1; i <= r.recs.size(); ++i)
    if (i == r.recs.size() || group_key(r.recs[i]) != group_key(r.recs[begin])) {
      match_requests(r, begin, i);
      begin = i;
    }
  r.recs.clear();
}

}  // namespace

namespace {
// PW_SIMT_PROFILE and PW_SIMT_PROFILE_RESOURCES are read before profiling is first asked about
// or set (a ProfilePause before the first launch must not undo the variable).
void read_environment() {
  static std::once_flag once;
  std::call_once(once, detail::profile_from_environment);
}
}  // namespace

void set_profiling(bool on) {
  read_environment();
  recorder().on = on;
}
bool profiling() {
  read_environment();
  return recorder().on;
}
void profile_next_launch_flops(double flops) { tl_next_flops = flops; }

const std::vector<ProfileLaunch>& profile_launches() { return recorder().launches; }
void profile_reset() { recorder().launches.clear(); }

namespace detail {

void profile_turn_on() { recorder().on = true; }

void profile_launch_begin(const LaunchDesc& desc) {
  Recorder& r = recorder();
  ProfileLaunch l;
  l.name = desc.name ? desc.name : "";
  l.kernel = desc.kernel;
  l.file = desc.file ? desc.file : "";
  l.line = desc.line;
  l.grid = desc.grid;
  l.block = desc.block;
  l.dynamic_smem = desc.smem;
  l.flops = tl_next_flops;
  tl_next_flops = -1;
  r.launches.push_back(std::move(l));
  r.cur = &r.launches.back();
  r.recs.clear();
  r.site_index.clear();
  r.site_codes.clear();
  r.site_of.clear();
  r.read_sectors.clear();
  r.write_sectors.clear();
}

void profile_block_begin() { flush_block(recorder()); }

void profile_access(unsigned thread, uintptr_t a, size_t bytes, unsigned how, const void* site, bool shared) {
  Recorder& r = recorder();
  if (!r.cur || bytes == 0) return;
  auto [it, fresh] = r.site_index.try_emplace(site, static_cast<int32_t>(r.site_codes.size()));
  if (fresh) r.site_codes.push_back(site);
  r.recs.push_back({a, static_cast<uint32_t>(bytes), it->second, static_cast<uint16_t>(thread),
                    static_cast<uint8_t>(shared), static_cast<uint8_t>(how)});
}

void profile_launch_end(uint64_t hooks) {
  Recorder& r = recorder();
  if (!r.cur) return;
  flush_block(r);
  r.cur->hooks = hooks;
  r.cur->read_sectors = r.read_sectors.size();
  r.cur->write_sectors = r.write_sectors.size();
  r.cur = nullptr;
}

}  // namespace detail
}  // namespace pw::simt
