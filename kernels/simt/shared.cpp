// simt internals: the block's shared memory. Dynamic shared memory (PW_DYNAMIC_SMEM) ends
// exactly at an inaccessible guard page, so that a kernel reading or writing past the bytes
// its launch asked for -- an overrun, or a launch that forgot its `smem` argument -- faults at
// once (faults.cpp names the kernel, block and thread) instead of using an older, larger
// buffer. Both kinds of shared memory are poisoned with 0xFF at the start of every block, as
// fresh cudaMalloc memory is: a thread that reads shared memory before any thread of its block
// wrote it reads NaN / -1, not the previous block's values (CUDA leaves it undefined).
//
// Static __shared__ variables are `static thread_local` variables placed (by the __shared__
// macro in simt.h) in one thread-local section, `pw_simt_shared`. The linker gathers the
// section of every kernel object into one range of the module's thread-local block and
// defines __start_/__stop_pw_simt_shared at its place in the thread-local template; the
// calling thread's copy lies at the same offset in its own block, which is found from a
// probe variable of that section whose offset in the block the linker also resolved
// (fiber_x86_64.S).
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "kernels/simt/block.h"

extern "C" {
// Defined by the linker for the section of that name (weak: a program with no static shared
// memory in its kernels has no such section).
extern char __start_pw_simt_shared[] __attribute__((weak));
extern char __stop_pw_simt_shared[] __attribute__((weak));
extern __thread char pw_simt_shared_probe;         // fiber_x86_64.S
extern const long pw_simt_shared_probe_dtpoff;      // its offset in the thread-local block
}

namespace pw::simt::detail {

namespace {

size_t page_bytes() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// The worker's dynamic shared memory: a mapping whose last page is the guard.
struct DynamicSmem {
  char* map = nullptr;
  size_t map_bytes = 0;
  ~DynamicSmem() {
    if (map) munmap(map, map_bytes);
  }
  char* guard() const { return map + map_bytes - page_bytes(); }
  // The start of `bytes` bytes that end at the guard page.
  char* place(size_t bytes) {
    const size_t page = page_bytes();
    const size_t need = (bytes + page - 1) / page * page + page;
    if (map_bytes < need) {
      if (map) munmap(map, map_bytes);
      map = nullptr;
      map_bytes = 0;
      void* m = mmap(nullptr, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED)
        throw Error("simt: cannot map " + std::to_string(bytes) + " bytes of dynamic shared memory");
      map = static_cast<char*>(m);
      map_bytes = need;
      mprotect(guard(), page, PROT_NONE);
    }
    return guard() - bytes;
  }
};

// Offset of the static shared section in the module's thread-local block, and its size
// (0 when the program has none).
struct StaticSection {
  size_t offset = 0, bytes = 0;
};

StaticSection find_static_section() {
  StaticSection s;
  const char* start = __start_pw_simt_shared;
  const char* stop = __stop_pw_simt_shared;
  if (!start || stop <= start) return s;
  struct Query {
    uintptr_t start;
    uintptr_t tls_begin = 0;
    bool found = false;
  } q{reinterpret_cast<uintptr_t>(__start_pw_simt_shared)};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto& q = *static_cast<Query*>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& ph = info->dlpi_phdr[i];
          const uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
          if (ph.p_type == PT_TLS && q.start >= begin && q.start < begin + ph.p_memsz) {
            q.tls_begin = begin;
            q.found = true;
            return 1;
          }
        }
        return 0;
      },
      &q);
  if (!q.found) throw Error("simt: cannot find the thread-local segment holding __shared__ variables");
  s.offset = q.start - q.tls_begin;
  s.bytes = static_cast<size_t>(__stop_pw_simt_shared - __start_pw_simt_shared);
  return s;
}

}  // namespace

void prepare_shared_memory(BlockRun& r, size_t dynamic_bytes) {
  static thread_local DynamicSmem dyn;
  static const StaticSection section = find_static_section();
  r.smem_base = dyn.place(dynamic_bytes);
  r.smem_bytes = dynamic_bytes;
  r.smem_guard = dyn.guard();
  r.smem_guard_end = r.smem_guard + page_bytes();
  std::memset(r.smem_base, 0xFF, dynamic_bytes);
  if (section.bytes) {
    char* block = &pw_simt_shared_probe - pw_simt_shared_probe_dtpoff;  // this thread's copy
    std::memset(block + section.offset, 0xFF, section.bytes);
  }
}

void* dynamic_shared_memory(size_t align, const char* type) {
  const BlockRun& r = current_block("dynamic shared memory");
  if (reinterpret_cast<uintptr_t>(r.smem_base) % align != 0)
    throw Error("simt: " + std::string(r.desc->name) + " uses its dynamic shared memory as " +
                type + " (alignment " + std::to_string(align) + "), but the launch gave " +
                std::to_string(r.smem_bytes) + " bytes, not a multiple of " +
                std::to_string(align) +
                ": simt ends dynamic shared memory exactly at a guard page, so its start is "
                "aligned only as far as its size is");
  return r.smem_base;
}

}  // namespace pw::simt::detail
