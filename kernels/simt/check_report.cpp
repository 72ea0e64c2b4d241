// simt internals: the text of a PW_SIMT_CHECK report, and code addresses turned into source
// lines by addr2line. This runs once per failed launch, so a child process is cheap enough;
// the checked kernels carry line tables and inlining records (-g1, simt.cmake).
#include "kernels/simt/check_report.h"

#include <link.h>
#include <unistd.h>

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

}  // namespace pw::simt::detail
