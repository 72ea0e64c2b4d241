// simt internals: simt-profile's model of a launch's time on a GPU (gpu_specs.h), from what
// the recorder measured (profile.cpp) and what ptxas reports (load_kernel_resources).
//
// Three bounds, each a throughput limit, and the estimate is the largest:
// - DRAM: the launch's footprint (unique 32-byte sectors read plus unique sectors written)
//   over the memory bandwidth, as if every sector crossed DRAM exactly once (a floor: no cache
//   misses beyond the first touch, no write-back of partial sectors counted twice);
// - shared: its shared-memory wavefronts over one wavefront per SM per clock;
// - FLOP: its annotated FLOPs over the FP32 peak.
// The SM-local bounds (shared, FLOP) are quantized: blocks are spread evenly over the SMs, so
// the busiest SM runs ceil(blocks / SMs) of them, against blocks / SMs on average. The FLOP
// bound is also scaled by how many of an SM's four warp schedulers the resident warps can
// keep busy (fewer than four resident warps leave some idle). Occupancy (resident blocks per
// SM) comes from ptxas's registers and static shared memory with the launch's dynamic shared
// memory and block size; without a ptxas report for the kernel it is bounded by the threads
// and dynamic shared memory only, and says so. Latency, caches and instruction issue beyond
// FP32 are not modelled: this is an estimate, not a measurement.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "kernels/simt/check_report.h"
#include "kernels/simt/profile.h"
#include "kernels/simt/profile_record.h"
#include "kernels/simt/runtime.h"

namespace pw::simt {

namespace {

std::mutex& resources_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, KernelResources>& resources_table() {
  static auto* t = new std::map<std::string, KernelResources>;
  return *t;
}

std::string squeeze(const std::string& s) {
  std::string out;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c)))
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A signature as the table keys it: the cuda namespace, no "void " before a template's name
// (c++filt writes a template function's return type, not a plain function's).
std::string table_key(std::string s) {
  for (size_t at; (at = s.find("::simt::")) != std::string::npos;) s.replace(at, 8, "::cuda::");
  if (s.rfind("void ", 0) == 0) s.erase(0, 5);
  return s;
}

// The function of "file:line (function)" as describe_code writes it.
std::string function_of(const std::string& where) {
  const size_t at = where.find(" (");
  if (at == std::string::npos || where.back() != ')') return "";
  return where.substr(at + 2, where.size() - at - 3);
}

std::map<const void*, std::string>& signature_cache() {
  static auto* m = new std::map<const void*, std::string>;
  return *m;
}

}  // namespace

const GpuSpec& gpu_spec(const std::string& name) {
  std::string want = squeeze(name);
  if (want == "h100") want = "h100sxm";
  std::string known;
  for (const GpuSpec& g : gpu_specs()) {
    if (squeeze(g.name) == want) return g;
    known += std::string(known.empty() ? "" : ", ") + g.name;
  }
  throw Error("simt-profile: unknown GPU \"" + name + "\"; known: " + known);
}

void load_kernel_resources(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("simt-profile: cannot read the kernel resources table " + path);
  std::map<std::string, KernelResources> table;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::istringstream fields(line);
    std::string signature, regs, smem;
    if (!std::getline(fields, signature, '\t') || !std::getline(fields, regs, '\t') || !std::getline(fields, smem))
      throw Error("simt-profile: " + path + ":" + std::to_string(n) +
                  ": expected \"signature<TAB>registers<TAB>static shared bytes\"");
    table[table_key(signature)] = {std::stoi(regs), static_cast<size_t>(std::stoul(smem))};
  }
  const std::lock_guard<std::mutex> lock(resources_mutex());
  resources_table() = std::move(table);
}

namespace detail {
// The kernel's signature ("void pw::kernels::simt::k(float*)"), from its line information.
const std::string& kernel_signature(const void* kernel) {
  auto& cache = signature_cache();
  auto it = cache.find(kernel);
  if (it != cache.end()) return it->second;
  // describe_code takes return addresses (it looks one byte back): one past the entry.
  const auto where = describe_code({static_cast<const char*>(kernel) + 1});
  return cache[kernel] = function_of(where.front());
}
}  // namespace detail

namespace {

const KernelResources* resources_of(const ProfileLaunch& l) {
  const std::lock_guard<std::mutex> lock(resources_mutex());
  const auto& table = resources_table();
  if (table.empty()) return nullptr;
  auto it = table.find(table_key(detail::kernel_signature(l.kernel)));
  return it == table.end() ? nullptr : &it->second;
}

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// Resident blocks per SM; registers and static shared memory only when `res` is known.
int blocks_per_sm(const ProfileLaunch& l, const GpuSpec& g, const KernelResources* res) {
  const uint64_t threads = uint64_t{l.block.x} * l.block.y * l.block.z, warps = ceil_div(threads, 32);
  uint64_t n = std::min<uint64_t>(g.max_blocks_per_sm, g.max_threads_per_sm / (warps * 32));
  const size_t smem = l.dynamic_smem + (res ? res->static_smem : 0);
  if (smem > 0) {
    const uint64_t per_block =
        ceil_div(smem + g.shared_reserved_per_block, g.shared_granularity) * g.shared_granularity;
    n = std::min<uint64_t>(n, g.shared_bytes_per_sm / per_block);
  }
  if (res && res->registers > 0) {
    const uint64_t per_warp = ceil_div(uint64_t(res->registers) * 32, g.register_granularity) * g.register_granularity;
    n = std::min<uint64_t>(n, (g.registers_per_sm / per_warp) / warps);
  }
  return static_cast<int>(n);
}

}  // namespace

LaunchEstimate estimate_launch(const ProfileLaunch& l, const GpuSpec& g) {
  LaunchEstimate e;
  const KernelResources* res = resources_of(l);
  e.resources_known = res != nullptr;
  e.blocks_per_sm = blocks_per_sm(l, g, res);
  const uint64_t blocks = uint64_t{l.grid.x} * l.grid.y * l.grid.z;
  const uint64_t warps = ceil_div(uint64_t{l.block.x} * l.block.y * l.block.z, 32);
  e.waves = e.blocks_per_sm > 0 ? ceil_div(blocks, uint64_t(g.sms) * e.blocks_per_sm) : 0;
  const uint64_t busiest = ceil_div(blocks, g.sms);  // blocks on the busiest SM
  const double imbalance = double(busiest) * g.sms / double(blocks);
  const double resident_warps = double(std::min<uint64_t>(busiest, std::max(e.blocks_per_sm, 1)) * warps);
  const double schedulers = std::min(1.0, resident_warps / 4.0);
  uint64_t wavefronts = 0;
  for (const ProfileSite& s : l.sites) wavefronts += s.wavefronts;
  e.dram_s = double(l.read_sectors + l.write_sectors) * 32.0 / g.dram_bytes_per_s;
  e.shared_s = double(wavefronts) / (g.sms * g.clock_ghz * 1e9) * imbalance;
  e.flop_s = l.flops > 0 ? l.flops / g.fp32_flops_per_s * imbalance / schedulers : 0;
  e.total_s = std::max({e.dram_s, e.shared_s, e.flop_s});
  e.bound = e.total_s == e.flop_s && e.flop_s > 0       ? "FLOP"
            : e.total_s == e.shared_s && e.shared_s > 0 ? "shared"
                                                        : "DRAM";
  return e;
}

}  // namespace pw::simt
