// simt internals: the reports of PW_SIMT_CHECK's memory checks, and their text, with code
// addresses turned into source lines by addr2line. This runs once per failed launch, so a
// child process is cheap enough; the checked kernels carry line tables and inlining records
// (-g1, simt.cmake).
#include "kernels/simt/check_report.h"

#include "kernels/simt/check_state.h"

#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <utility>

namespace pw::simt::detail {

namespace {

struct Module {
  std::string path;
  uintptr_t bias = 0;  // load address of a position-independent module, else 0
};

// The executable's own path (addr2line must not be handed /proc/self/exe: that is itself).
std::string executable_path() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("/proc/self/exe");
}

bool module_of(uintptr_t addr, Module* out) {
  struct Query {
    uintptr_t addr;
    Module* out;
    bool found;
  } q{addr, out, false};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* p) {
        auto& q = *static_cast<Query*>(p);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const auto& ph = info->dlpi_phdr[i];
          if (ph.p_type != PT_LOAD || q.addr - (info->dlpi_addr + ph.p_vaddr) >= ph.p_memsz) continue;
          q.out->path = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : executable_path();
          q.out->bias = info->dlpi_addr;
          q.found = true;
          return 1;
        }
        return 0;
      },
      &q);
  return q.found;
}

// Frames that are not the kernel's own line: simt's headers (atomics, __ldg), the system's.
bool skipped(const std::string& file) {
  return file.find("/kernels/simt/") != std::string::npos || file.rfind("/usr/", 0) == 0;
}

// "dir/../x.cu:41 (f)" as "x.cu:41 (f)" with the path made lexically normal.
std::string frame_text(const std::pair<std::string, std::string>& f) {
  std::string where = f.second;
  if (const size_t d = where.find(" (discriminator"); d != std::string::npos) where.resize(d);
  const size_t colon = where.rfind(':');
  if (colon != std::string::npos)
    where = std::filesystem::path(where.substr(0, colon)).lexically_normal().string() + where.substr(colon);
  return where + " (" + f.first + ")";
}

// The innermost frame worth naming, from (function, file:line) pairs, innermost first, and up
// to two of the frames it is inlined into ("x.cuh:13 (load4), inlined in x.cu:250 (kernel)");
// "" when addr2line knew nothing.
std::string choose(const std::vector<std::pair<std::string, std::string>>& frames) {
  auto known = [](const std::pair<std::string, std::string>& f) { return f.second.rfind("??", 0) != 0; };
  size_t pick = frames.size();
  for (size_t i = 0; i < frames.size() && pick == frames.size(); ++i)
    if (known(frames[i]) && !skipped(frames[i].second)) pick = i;
  if (pick == frames.size()) return !frames.empty() && known(frames.front()) ? frame_text(frames.front()) : "";
  std::string text = frame_text(frames[pick]);
  int outer = 0;
  for (size_t i = pick + 1; i < frames.size() && outer < 2; ++i)
    if (known(frames[i]) && !skipped(frames[i].second)) {
      text += ", inlined in " + frame_text(frames[i]);
      ++outer;
    }
  return text;
}

std::vector<std::string> read_lines(FILE* p) {
  std::vector<std::string> lines;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) {
    std::string s(buf);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    lines.push_back(std::move(s));
  }
  return lines;
}

// addr2line -a prints each address, then (function, file:line) per inlined frame.
std::vector<std::string> run_addr2line(const std::string& path, const std::vector<uintptr_t>& offsets) {
  std::vector<std::string> out(offsets.size());
  if (path.find('\'') != std::string::npos) return out;
  std::string cmd = "addr2line -C -f -i -a -e '" + path + "'";
  for (uintptr_t o : offsets) {
    char buf[32];
    std::snprintf(buf, sizeof buf, " 0x%lx", static_cast<unsigned long>(o));
    cmd += buf;
  }
  cmd += " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  const std::vector<std::string> lines = read_lines(p);
  pclose(p);
  std::vector<std::vector<std::pair<std::string, std::string>>> frames;
  for (size_t i = 0; i < lines.size();) {
    if (lines[i].rfind("0x", 0) == 0) {
      frames.emplace_back();
      ++i;
    } else if (!frames.empty() && i + 1 < lines.size()) {
      frames.back().emplace_back(lines[i], lines[i + 1]);
      i += 2;
    } else {
      break;
    }
  }
  for (size_t a = 0; a < frames.size() && a < out.size(); ++a) out[a] = choose(frames[a]);
  return out;
}

std::string hex(uintptr_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(v));
  return buf;
}

}  // namespace

std::vector<std::string> describe_code(const std::vector<const void*>& code) {
  std::vector<std::string> out(code.size());
  std::map<std::string, std::vector<size_t>> by_module;
  std::vector<Module> modules(code.size());
  for (size_t i = 0; i < code.size(); ++i)
    if (code[i] && module_of(reinterpret_cast<uintptr_t>(code[i]), &modules[i]))
      by_module[modules[i].path].push_back(i);
  for (const auto& [path, indices] : by_module) {
    std::vector<uintptr_t> offsets;
    for (size_t i : indices)  // a return address: the call is the instruction before it
      offsets.push_back(reinterpret_cast<uintptr_t>(code[i]) - 1 - modules[i].bias);
    const std::vector<std::string> found = run_addr2line(path, offsets);
    for (size_t k = 0; k < indices.size(); ++k)
      out[indices[k]] = found[k].empty()
                            ? path + "+" + hex(offsets[k]) + " (no line information; is addr2line installed?)"
                            : found[k];
  }
  for (size_t i = 0; i < code.size(); ++i)
    if (out[i].empty()) out[i] = code[i] ? "code at " + hex(reinterpret_cast<uintptr_t>(code[i])) : "an unknown site";
  return out;
}

std::string format_report(const CheckReport& report) {
  std::vector<const void*> code;
  for (const auto& line : report.lines)
    if (line.code) code.push_back(line.code);
  const std::vector<std::string> where = describe_code(code);
  std::string text = report.head;
  size_t next = 0;
  for (const auto& line : report.lines) {
    text += "\n  " + line.text + " at ";
    if (line.code)
      text += where[next++];
    else if (line.file)
      text += std::string(line.file) + ":" + std::to_string(line.line);
    else
      text += "an unknown site";
  }
  return text;
}

// ---- the reports of the checks (check_state.h) ----
namespace {

const char* access_word(unsigned how) {
  if (how & kRmw) return "atomic read-modify-write";
  if (how & kAtomic) return how & kWrite ? "atomic write" : "atomic read";
  return how & kWrite ? "write" : "read";
}

std::string hex_address(uintptr_t a) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(a));
  return buf;
}

}  // namespace

std::string describe_region(const CheckRegion& g, uintptr_t a) {
  const std::string at = "byte " + std::to_string(a - g.lo) + " of ";
  switch (g.kind) {
    case RegionKind::dynamic: return at + "the " + std::to_string(g.hi - g.lo) + " bytes of dynamic shared memory";
    case RegionKind::static_shared:
      return at + "a " + std::to_string(g.hi - g.lo) + "-byte run of static shared memory (__shared__ variables)";
    case RegionKind::host: return at + "a " + std::to_string(g.hi - g.lo) + "-byte cudaMallocHost allocation";
    default:
      return at + "a " + std::to_string(g.hi - g.lo) + "-byte cudaMalloc allocation at " + hex_address(g.lo) +
             " (global memory)";
  }
}

namespace {

// The first report of a launch fails it: every thread stops at its next access (check_hooks.cpp)
// and the launch throws the report (check_launch_end). The hooks themselves cannot throw: the
// compiler takes them for calls that never do.
void fail(CheckState& c, CheckReport report) {
  c.failed = true;
  if (c.has_report) return;
  c.report = std::move(report);
  c.has_report = true;
  if (c.run && !c.run->error) c.run->error = std::make_exception_ptr(Error("simt: a PW_SIMT_CHECK report"));
}

std::string who(const CheckState& c) {
  const BlockRun& r = *c.run;
  return std::string(c.desc->name) + ", block " + block_coords(r) + ", thread " + thread_coords(r, r.cur);
}

CheckReport single_access_report(const CheckState& c, std::string head, const void* site) {
  CheckReport rep;
  rep.head = std::move(head);
  rep.lines.push_back({"the access", site, nullptr, 0});
  rep.lines.push_back({"in the launch", nullptr, c.desc->file, c.desc->line});
  return rep;
}

}  // namespace

void report_memcheck(CheckState& c, const std::string& what, uintptr_t a, size_t n, unsigned how, const void* site) {
  fail(c, single_access_report(c,
                               "simt memcheck: " + what + " in " + who(c) + ": a " + std::to_string(n) + "-byte " +
                                   access_word(how) + " at " + hex_address(a),
                               site));
}

// An access to no region of the launch.
void report_unknown(CheckState& c, uintptr_t a, size_t n, unsigned how, const void* site) {
  if (a >= c.tls_lo && a < c.tls_hi)
    return report_memcheck(c,
                           "out-of-bounds static shared memory access (the thread-local block, outside every "
                           "__shared__ variable of the kernel: an index past the end of a __shared__ array?)",
                           a, n, how, site);
  auto above = std::upper_bound(c.device.begin(), c.device.end(), a,
                                [](uintptr_t x, const DeviceRegion& d) { return x < d.lo; });
  if (above != c.device.end() && above->lo - a <= kSharedRedZone)
    return report_memcheck(c,
                           "out-of-bounds access: " + std::to_string(above->lo - a) + " bytes before the start of a " +
                               std::to_string(above->hi - above->lo) + "-byte cudaMalloc allocation at " +
                               hex_address(above->lo),
                           a, n, how, site);
  if (above != c.device.begin() && a - std::prev(above)->hi <= kSharedRedZone) {
    const DeviceRegion& below = *std::prev(above);
    return report_memcheck(c,
                           "out-of-bounds access: " + std::to_string(a - below.hi) + " bytes past the end of a " +
                               std::to_string(below.hi - below.lo) + "-byte cudaMalloc allocation at " +
                               hex_address(below.lo),
                           a, n, how, site);
  }
  report_memcheck(c,
                  "access to memory that is not device memory (not in any live cudaMalloc allocation, shared memory "
                  "or the thread's stack: a host pointer?)",
                  a, n, how, site);
}

// An access to a region that is wrong in itself (freed, a red zone), or runs out of its region.
void report_region(CheckState& c, const CheckRegion& g, uintptr_t a, size_t n, unsigned how, const void* site) {
  switch (g.kind) {
    case RegionKind::freed:
      return report_memcheck(c,
                             "use after free: the address lies in a " + std::to_string(g.hi - g.lo) +
                                 "-byte cudaMalloc allocation at " + hex_address(g.lo) +
                                 " that has been freed (cudaFree)",
                             a, n, how, site);
    case RegionKind::shared_under:
      return report_memcheck(c,
                             "dynamic shared memory underrun: " + std::to_string(g.hi - a) +
                                 " bytes before the start of the dynamic shared memory",
                             a, n, how, site);
    case RegionKind::shared_over:
      return report_memcheck(c,
                             "dynamic shared memory overrun: " + std::to_string(a - g.lo) +
                                 " bytes past the end of the " + std::to_string(c.run->smem_bytes) +
                                 " bytes of dynamic shared memory the launch asked for",
                             a, n, how, site);
    default:
      return report_memcheck(c,
                             "out-of-bounds access: it runs " + std::to_string(a + n - g.hi) +
                                 " bytes past the end of " + describe_region(g, a),
                             a, n, how, site);
  }
}

void report_uninitialized(CheckState& c, const CheckRegion& g, uintptr_t a, size_t n, unsigned how, const void* site) {
  const bool shared = g.kind == RegionKind::dynamic || g.kind == RegionKind::static_shared;
  fail(c, single_access_report(c,
                               "simt initcheck: uninitialized " + std::string(access_word(how)) + " in " + who(c) +
                                   ": " + std::to_string(n) + " bytes at " + describe_region(g, a) + ", which " +
                                   (shared ? "no thread of this block has written"
                                           : "nothing has written since its cudaMalloc (no "
                                             "kernel, cudaMemcpy or cudaMemset)"),
                               site));
}

namespace {
const char* hazard(unsigned now_flags, unsigned prev_flags) {
  if (now_flags & kWrite) return prev_flags & kWrite ? "write-after-write hazard" : "write-after-read hazard";
  return "read-after-write hazard";
}
}  // namespace

bool report_race(CheckState& c, const CheckRegion& g, uintptr_t word, const AccessRec& now, const AccessRec& prev,
                 bool cross_block) {
  const BlockRun& r = *c.run;
  CheckReport rep;
  rep.head = "simt racecheck: " + std::string(hazard(now.flags, prev.flags)) + " in " + c.desc->name + ", block " +
             block_coords(r) + ", on " + describe_region(g, word) + " (the 4-byte word there): " +
             (cross_block ? "two blocks of one launch write it (nothing orders blocks)"
                          : "two threads in one barrier interval, with no __syncthreads between them and no warp "
                            "collective of both lanes");
  auto verb = [](const AccessRec& x, bool past) {
    const bool atomic = x.flags & kAtomic, write = x.flags & kWrite;
    return std::string(atomic ? "atomically " : "") + (write ? (past ? "wrote" : "writes") : (past ? "read" : "reads"));
  };
  rep.lines.push_back(
      {"thread " + thread_coords(r, now.thread) + " " + verb(now, false), site_of(now.site), nullptr, 0});
  rep.lines.push_back({(cross_block ? "thread " + thread_coords(r, prev.thread) + " of an earlier block "
                                    : "thread " + thread_coords(r, prev.thread) + " ") +
                           verb(prev, true),
                       site_of(prev.site), nullptr, 0});
  fail(c, std::move(rep));
  return false;
}

}  // namespace pw::simt::detail
