// simt internals: where the static shared memory of a kernel lies. Static __shared__
// variables are `static thread_local` locals of kernel functions. The __shared__ macro
// (simt.h) declares a marker before each, a one-byte static local named pw_simt_shared_mark_N,
// kept by `used`. At the first launch, simt reads the executable's symbol table
// (/proc/self/exe): every thread-local symbol whose name begins like a marker's, up to the
// entity ("_ZZ<function>E"), is a static local of a function that declares static shared
// memory -- in kernel code, where CUDA allows no other static locals, static shared memory.
// The function itself is the symbol "_Z<function>", whose address tells which kernel a launch
// runs.
//
// Poisoning every static shared variable of the program at each block costs: the engine's
// kernels hold about 220 KB of it (every GEMM variant's tiles). A block of kernel K can only
// use K's own variables and those of device functions it calls, so a launch of K poisons K's
// variables and those of every function not known to be a kernel (device functions, and
// kernels not launched yet: a superset, recomputed as more kernels become known).
//
// Limits: the kernels must be linked into the executable (not a shared library) and the
// executable must keep its symbol table (not stripped); namespace-scope __shared__ variables
// are not found. Then static shared memory is not poisoned (it keeps the previous block's).
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "kernels/simt/block.h"

namespace pw::simt::detail {

namespace {

struct Variable {
  size_t function;  // index into Table::functions
  size_t offset, bytes;
};

struct Table {
  std::vector<std::string> functions;  // "_ZZ<function>E" of each function holding some
  std::vector<uintptr_t> address;      // its run-time address, 0 when not found
  std::vector<bool> launched;          // a kernel seen at a launch
  std::vector<Variable> variables;
  uint64_t generation = 0;  // bumped whenever `launched` grows
  std::unordered_map<const void*, std::pair<uint64_t, SharedRuns>> per_kernel;
};

// "_ZZ<function>E" of a marker's name, or "" when `name` is no marker.
std::string_view marker_prefix(std::string_view name) {
  const size_t at = name.find("pw_simt_shared_mark_");
  if (name.substr(0, 3) != "_ZZ" || at == std::string_view::npos) return {};
  size_t j = at;
  while (j > 0 && name[j - 1] >= '0' && name[j - 1] <= '9') --j;  // the length of the name
  return j > 0 && name[j - 1] == 'E' ? name.substr(0, j) : std::string_view{};
}

uintptr_t load_bias() {  // of the executable (0 unless position-independent)
  uintptr_t bias = 0;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        *static_cast<uintptr_t*>(out) = info->dlpi_addr;
        return 1;  // the first module is the executable
      },
      &bias);
  return bias;
}

// Fills `t` from the symbol table of an ELF image in memory.
void read_symbols(const char* image, size_t size, Table& t) {
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(image);
  if (size < sizeof(Elf64_Ehdr) || std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shoff + eh->e_shnum * sizeof(Elf64_Shdr) > size)
    return;
  const auto* sh = reinterpret_cast<const Elf64_Shdr*>(image + eh->e_shoff);
  for (unsigned i = 0; i < eh->e_shnum; ++i) {
    if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum) continue;
    const Elf64_Shdr& str = sh[sh[i].sh_link];
    if (sh[i].sh_offset + sh[i].sh_size > size || str.sh_offset + str.sh_size > size) continue;
    const auto* sym = reinterpret_cast<const Elf64_Sym*>(image + sh[i].sh_offset);
    const size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
    auto name = [&](size_t k) { return std::string_view(image + str.sh_offset + sym[k].st_name); };
    std::unordered_map<std::string_view, size_t> index;  // "_ZZ<function>E" -> function
    for (size_t k = 0; k < n; ++k)                       // the markers: which functions hold static shared memory
      if (ELF64_ST_TYPE(sym[k].st_info) == STT_TLS && sym[k].st_name < str.sh_size)
        if (auto p = marker_prefix(name(k)); !p.empty() && !index.count(p)) {
          index.emplace(p, t.functions.size());
          t.functions.emplace_back(p);
        }
    t.address.assign(t.functions.size(), 0);
    t.launched.assign(t.functions.size(), false);
    const uintptr_t bias = load_bias();
    for (size_t k = 0; k < n; ++k) {
      if (sym[k].st_name >= str.sh_size || sym[k].st_size == 0) continue;
      const std::string_view nm = name(k);
      const int type = ELF64_ST_TYPE(sym[k].st_info);
      if (type == STT_FUNC && nm.substr(0, 2) == "_Z") {
        const std::string local = "_ZZ" + std::string(nm.substr(2)) + "E";
        if (auto it = index.find(local); it != index.end()) t.address[it->second] = bias + sym[k].st_value;
      } else if (type == STT_TLS && nm.substr(0, 3) == "_ZZ" && marker_prefix(nm).empty()) {
        for (const auto& [prefix, f] : index)
          if (nm.substr(0, prefix.size()) == prefix) {
            t.variables.push_back({f, sym[k].st_value, sym[k].st_size});
            break;
          }
      }
    }
  }
}

Table& table() {
  static Table* t = [] {
    auto* x = new Table;  // never destroyed: workers may read it during static teardown
    const int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return x;
    struct stat st {};
    void* map = fstat(fd, &st) == 0 ? mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED) return x;
    read_symbols(static_cast<const char*>(map), static_cast<size_t>(st.st_size), *x);
    munmap(map, st.st_size);
    return x;
  }();
  return *t;
}

SharedRuns runs_for(const Table& t, size_t own) {
  SharedRuns runs;
  for (const Variable& v : t.variables)
    if (v.function == own || !t.launched[v.function]) runs.emplace_back(v.offset, v.bytes);
  std::sort(runs.begin(), runs.end());
  SharedRuns merged;
  for (const auto& [offset, bytes] : runs) {
    if (!merged.empty() && offset <= merged.back().first + merged.back().second)
      merged.back().second = std::max(merged.back().second, offset + bytes - merged.back().first);
    else
      merged.emplace_back(offset, bytes);
  }
  return merged;
}

}  // namespace

const SharedRuns& static_shared_runs(const void* kernel) {
  static std::mutex m;
  std::lock_guard<std::mutex> lock(m);
  Table& t = table();
  auto [it, fresh] = t.per_kernel.try_emplace(kernel);
  size_t own = t.functions.size();
  for (size_t f = 0; f < t.functions.size(); ++f)
    if (t.address[f] == reinterpret_cast<uintptr_t>(kernel)) own = f;
  if (fresh && own < t.functions.size() && !t.launched[own]) {
    t.launched[own] = true;
    ++t.generation;
  }
  if (fresh || it->second.first != t.generation) it->second = {t.generation, runs_for(t, own)};
  return it->second.second;
}

}  // namespace pw::simt::detail
