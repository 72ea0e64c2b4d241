// simt internals: simt-profile's report -- JSON with every launch and instruction, and a
// Markdown table of the launches that cost most (estimated) and of their costliest source
// lines -- and PW_SIMT_PROFILE's set-up. Code addresses become "file:line (function)" only
// here, through addr2line (check_report.cpp's describe_code), once per report. The runtime
// sits below the engine, so this writes its small JSON itself (strings escaped, numbers in %g).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <unordered_map>

#include "kernels/simt/check_report.h"
#include "kernels/simt/profile.h"
#include "kernels/simt/profile_record.h"
#include "kernels/simt/runtime.h"

namespace pw::simt {

namespace {

std::string num(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Paths relative to the project's root: the directory above kernels/ in the launches' files
// (absolute, from the launch sites; the same root the line information names).
std::string short_path(std::string s) {
  for (const ProfileLaunch& l : profile_launches()) {
    const size_t at = l.file.rfind("kernels/");
    if (at == std::string::npos || at == 0) continue;
    const std::string root = l.file.substr(0, at);
    for (size_t p; (p = s.find(root)) != std::string::npos;) s.erase(p, root.size());
    break;
  }
  return s;
}

// "x.cu:41 (f(int)), inlined in y.cu:9 (g)" without the functions: "x.cu:41, inlined in y.cu:9".
std::string without_functions(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ' ' && i + 1 < s.size() && s[i + 1] == '(' && i > 0 &&
        std::isdigit(static_cast<unsigned char>(s[i - 1]))) {
      int depth = 0;
      size_t j = i + 1;
      for (; j < s.size(); ++j) {
        depth += s[j] == '(' ? 1 : s[j] == ')' ? -1 : 0;
        if (depth == 0) break;
      }
      i = j;
      continue;
    }
    out += s[i];
  }
  return out;
}

// The kernel as its signature names it, short: "sgemm_v5_warptile<WarpTileShape<64, 64, 32,
// 32, 4>, false, true>" (no namespaces, return type or parameters); the launch's name without it.
std::string kernel_name(const ProfileLaunch& l) {
  std::string s = detail::kernel_signature(l.kernel);
  if (s.empty()) return l.name;
  for (const char* ns : {"pw::kernels::simt::", "(anonymous namespace)::", "gemm_tiles::", "pw::kernels::"})
    for (size_t at; (at = s.find(ns)) != std::string::npos;) s.erase(at, std::strlen(ns));
  if (s.rfind("void ", 0) == 0) s.erase(0, 5);
  int depth = 0;  // the parameter list: the last top-level '('
  size_t params = std::string::npos;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<') ++depth;
    if (s[i] == '>') --depth;
    if (s[i] == '(' && depth == 0) params = i;
  }
  if (params != std::string::npos) s.resize(params);
  return s;
}

std::string dims(dim3 d) { return num(d.x) + "x" + num(d.y) + "x" + num(d.z); }

// Every instruction's "file:line (function)", resolved in one pass.
std::unordered_map<const void*, std::string> resolve_sites() {
  std::vector<const void*> codes;
  for (const ProfileLaunch& l : profile_launches())
    for (const ProfileSite& s : l.sites) codes.push_back(s.code);
  std::sort(codes.begin(), codes.end());
  codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
  const std::vector<std::string> text = detail::describe_code(codes);
  std::unordered_map<const void*, std::string> out;
  for (size_t i = 0; i < codes.size(); ++i) out[codes[i]] = short_path(text[i]);
  return out;
}

std::string launch_site(const ProfileLaunch& l) {
  return l.file.empty() ? std::string("?") : short_path(l.file) + ":" + std::to_string(l.line);
}

std::string site_json(const ProfileSite& s, const std::string& where) {
  std::ostringstream os;
  os << "{\"line\": " << quoted(where) << ", \"space\": \"" << (s.space == ProfileSpace::shared ? "shared" : "global")
     << "\", \"write\": " << (s.write ? "true" : "false") << ", \"atomic\": " << (s.atomic ? "true" : "false")
     << ", \"requests\": " << s.requests << ", \"lane_accesses\": " << s.lane_accesses << ", \"bytes\": " << s.bytes
     << ", \"sectors\": " << s.sectors << ", \"ideal_sectors\": " << s.ideal_sectors
     << ", \"wavefronts\": " << s.wavefronts << ", \"ideal_wavefronts\": " << s.ideal_wavefronts << "}";
  return os.str();
}

std::string estimate_json(const ProfileLaunch& l, const GpuSpec& g) {
  const LaunchEstimate e = estimate_launch(l, g);
  std::ostringstream os;
  os << "{\"gpu\": " << quoted(g.name) << ", \"total_s\": " << num(e.total_s) << ", \"dram_s\": " << num(e.dram_s)
     << ", \"shared_s\": " << num(e.shared_s) << ", \"flop_s\": " << num(e.flop_s) << ", \"bound\": \"" << e.bound
     << "\", \"blocks_per_sm\": " << e.blocks_per_sm << ", \"waves\": " << e.waves << ", \"occupancy_from\": "
     << quoted(e.resources_known ? "ptxas registers and shared memory"
                                 : "threads and dynamic shared memory only (no ptxas "
                                   "report for this kernel)")
     << "}";
  return os.str();
}

std::string launch_json(const ProfileLaunch& l, const std::unordered_map<const void*, std::string>& where) {
  std::ostringstream os;
  os << "{\"kernel\": " << quoted(l.name) << ", \"function\": " << quoted(detail::kernel_signature(l.kernel))
     << ", \"launch_site\": " << quoted(launch_site(l)) << ", \"grid\": [" << l.grid.x << ", " << l.grid.y << ", "
     << l.grid.z << "], \"block\": [" << l.block.x << ", " << l.block.y << ", " << l.block.z
     << "], \"dynamic_smem\": " << l.dynamic_smem << ", \"flops\": " << (l.flops >= 0 ? num(l.flops) : "null")
     << ", \"instrumented\": " << (l.hooks ? "true" : "false") << ", \"read_sectors\": " << l.read_sectors
     << ", \"write_sectors\": " << l.write_sectors
     << ", \"dram_floor_bytes\": " << (l.read_sectors + l.write_sectors) * 32 << ", \"estimates\": [";
  for (size_t i = 0; i < gpu_specs().size(); ++i) os << (i ? ", " : "") << estimate_json(l, gpu_specs()[i]);
  os << "], \"sites\": [";
  for (size_t i = 0; i < l.sites.size(); ++i)
    os << (i ? ",\n    " : "\n    ") << site_json(l.sites[i], where.at(l.sites[i].code));
  os << "]}";
  return os.str();
}

}  // namespace

std::string profile_json() {
  const auto where = resolve_sites();
  std::ostringstream os;
  os << "{\"note\": \"simt-profile: counts measured on simt; times are estimates from public GPU specifications "
        "(kernels/simt/gpu_specs.h), not measurements\",\n \"gpus\": [";
  for (size_t i = 0; i < gpu_specs().size(); ++i) {
    const GpuSpec& g = gpu_specs()[i];
    os << (i ? ", " : "") << "{\"name\": " << quoted(g.name) << ", \"sms\": " << g.sms
       << ", \"clock_ghz\": " << num(g.clock_ghz) << ", \"dram_bytes_per_s\": " << num(g.dram_bytes_per_s)
       << ", \"fp32_flops_per_s\": " << num(g.fp32_flops_per_s) << ", \"source\": " << quoted(g.source) << "}";
  }
  os << "],\n \"launches\": [";
  const auto& launches = profile_launches();
  for (size_t i = 0; i < launches.size(); ++i) os << (i ? ",\n  " : "\n  ") << launch_json(launches[i], where);
  os << "]}\n";
  return os.str();
}

// ---- the table ----
namespace {

struct Group {  // identical launches: one kernel, launch site and shape
  const ProfileLaunch* first = nullptr;
  int launches = 0;
  double time[2] = {0, 0}, dram_s = 0, shared_s = 0, flop_s = 0, flops = 0;
  uint64_t floor_bytes = 0, g_req = 0, sectors = 0, ideal_sectors = 0, s_req = 0, wavefronts = 0, ideal_wf = 0;
  LaunchEstimate est;
};

struct LineCost {
  std::string where, kernel;
  const ProfileSite* first = nullptr;
  uint64_t requests = 0, units = 0, ideal = 0;  // sectors or wavefronts
  double cost_s = 0, floor_s = 0;
};

std::string group_key(const ProfileLaunch& l) {
  return kernel_name(l) + "|" + launch_site(l) + "|" + dims(l.grid) + "|" + dims(l.block) + "|" + num(l.dynamic_smem) +
         "|" + num(l.flops);
}

void add_launch(Group& g, const ProfileLaunch& l) {
  if (!g.first) g.first = &l;
  ++g.launches;
  for (size_t i = 0; i < 2 && i < gpu_specs().size(); ++i) g.time[i] += estimate_launch(l, gpu_specs()[i]).total_s;
  g.est = estimate_launch(l, gpu_specs()[0]);
  g.dram_s += g.est.dram_s;
  g.shared_s += g.est.shared_s;
  g.flop_s += g.est.flop_s;
  g.flops += std::max(0.0, l.flops);
  g.floor_bytes += (l.read_sectors + l.write_sectors) * 32;
  for (const ProfileSite& s : l.sites) {
    if (s.space == ProfileSpace::global) {
      g.g_req += s.requests;
      g.sectors += s.sectors;
      g.ideal_sectors += s.ideal_sectors;
    } else {
      g.s_req += s.requests;
      g.wavefronts += s.wavefronts;
      g.ideal_wf += s.ideal_wavefronts;
    }
  }
}

std::string ratio(uint64_t a, uint64_t requests) { return requests ? num(double(a) / double(requests)) : "-"; }

std::string group_row(size_t rank, const Group& g) {
  const ProfileLaunch& l = *g.first;
  const char* bound = g.flop_s >= std::max(g.dram_s, g.shared_s) && g.flop_s > 0 ? "FLOP"
                      : g.shared_s > g.dram_s                                    ? "shared"
                                                                                 : "DRAM";
  std::ostringstream os;
  os << "| " << rank << " | `" << kernel_name(l) << "` | " << launch_site(l) << " | " << g.launches << " | "
     << dims(l.grid) << " x " << dims(l.block) << " | " << num(g.time[0] * 1e6) << " | " << num(g.time[1] * 1e6)
     << " | " << bound << " | " << num(double(g.floor_bytes) / 1024) << " KiB | " << ratio(g.sectors, g.g_req) << " ("
     << ratio(g.ideal_sectors, g.g_req) << ") | " << ratio(g.wavefronts, g.s_req) << " (" << ratio(g.ideal_wf, g.s_req)
     << ") | " << (l.flops >= 0 ? num(g.flops / 1e9) : std::string("not annotated")) << " | "
     << (g.est.resources_known ? num(g.est.blocks_per_sm) : num(g.est.blocks_per_sm) + " (no ptxas report)") << " |\n";
  return os.str();
}

std::vector<LineCost> line_costs(const std::unordered_map<const void*, std::string>& where) {
  const GpuSpec& gpu = gpu_specs()[0];
  std::map<std::string, LineCost> by_line;
  for (const ProfileLaunch& l : profile_launches())
    for (const ProfileSite& s : l.sites) {
      const bool shared = s.space == ProfileSpace::shared;
      const std::string line = without_functions(where.at(s.code)), kernel = kernel_name(l);
      LineCost& c = by_line[kernel + "|" + line + (shared ? "|s" : "|g") + (s.write ? "w" : "r")];
      if (!c.first) c = {line, kernel, &s};
      c.requests += s.requests;
      c.units += shared ? s.wavefronts : s.sectors;
      c.ideal += shared ? s.ideal_wavefronts : s.ideal_sectors;
      const double unit_s = shared ? 1.0 / (gpu.sms * gpu.clock_ghz * 1e9) : 32.0 / gpu.dram_bytes_per_s;
      c.cost_s += double(shared ? s.wavefronts : s.sectors) * unit_s;
      c.floor_s += double(shared ? s.ideal_wavefronts : s.ideal_sectors) * unit_s;
    }
  std::vector<LineCost> out;
  for (auto& [key, c] : by_line) out.push_back(c);
  std::sort(out.begin(), out.end(), [](const LineCost& a, const LineCost& b) { return a.cost_s > b.cost_s; });
  return out;
}

std::string line_row(size_t rank, const LineCost& c) {
  const bool shared = c.first->space == ProfileSpace::shared;
  std::ostringstream os;
  os << "| " << rank << " | " << c.where << " | `" << c.kernel << "` | " << (shared ? "shared" : "global") << " "
     << (c.first->atomic  ? "atomic"
         : c.first->write ? "store"
                          : "load")
     << " | " << c.requests << " | " << ratio(c.units, c.requests) << (shared ? " wavefronts" : " sectors") << " ("
     << ratio(c.ideal, c.requests) << ") | " << num(c.cost_s * 1e6) << " (" << num(c.floor_s * 1e6) << ") |\n";
  return os.str();
}

}  // namespace

std::string profile_table(size_t top_launches, size_t top_lines) {
  std::map<std::string, Group> groups;
  for (const ProfileLaunch& l : profile_launches()) add_launch(groups[group_key(l)], l);
  std::vector<const Group*> order;
  for (const auto& [key, g] : groups) order.push_back(&g);
  std::sort(order.begin(), order.end(), [](const Group* a, const Group* b) { return a->time[0] > b->time[0]; });
  const GpuSpec& gpu = gpu_specs()[0];
  std::ostringstream os;
  os << "simt-profile: " << profile_launches().size() << " launches. Counts are measured on simt; times are "
     << "estimates (max of DRAM footprint, shared wavefronts, FLOPs; kernels/simt/README.md), not measurements.\n\n"
     << "| # | kernel | launch site | launches | grid x block | " << gpu.name << " est. µs | "
     << (gpu_specs().size() > 1 ? gpu_specs()[1].name : "-") << " est. µs | bound (" << gpu.name
     << ") | DRAM floor | global sectors/request (ideal) | shared wavefronts/request (ideal) | GFLOP | blocks/SM |\n"
     << "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  double total[2] = {0, 0};
  for (const Group* g : order) total[0] += g->time[0], total[1] += g->time[1];
  for (size_t i = 0; i < order.size() && i < top_launches; ++i) os << group_row(i + 1, *order[i]);
  os << "\nAll " << order.size() << " kinds of launch together: " << num(total[0] * 1e6) << " µs on " << gpu.name;
  if (gpu_specs().size() > 1) os << ", " << num(total[1] * 1e6) << " µs on " << gpu_specs()[1].name;
  os << " (estimated, launch overheads not included).\n\n"
     << "Costliest source lines: global lines at one DRAM transfer per sector, shared lines at one wavefront per "
        "SM-clock, on "
     << gpu.name << "; in parentheses the same at the ideal count (the floor).\n\n"
     << "| # | source line | kernel | access | requests | per request (ideal) | µs (floor) |\n"
     << "|---|---|---|---|---|---|---|\n";
  const std::vector<LineCost> lines = line_costs(resolve_sites());
  for (size_t i = 0; i < lines.size() && i < top_lines; ++i) os << line_row(i + 1, lines[i]);
  return os.str();
}

void profile_write(const std::string& path) {
  std::ofstream json(path), table(path + ".md");
  json << profile_json();
  table << profile_table();
  if (!json || !table) throw Error("simt-profile: cannot write " + path + " and " + path + ".md");
}

namespace detail {

void profile_from_environment() {
  static std::string path;  // written at exit
  if (const char* v = std::getenv("PW_SIMT_PROFILE_RESOURCES"); v && *v) load_kernel_resources(v);
  const char* v = std::getenv("PW_SIMT_PROFILE");
  if (!v || !*v || !path.empty()) return;
  path = v;
  profile_turn_on();
  std::atexit([] {
    try {
      profile_write(path);
      std::fprintf(stderr, "simt-profile: %zu launches written to %s and %s.md\n", profile_launches().size(),
                   path.c_str(), path.c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
    }
  });
}

}  // namespace detail
}  // namespace pw::simt
