// simt internals: the block's shared memory. Dynamic shared memory (PW_DYNAMIC_SMEM) ends
// exactly at an inaccessible guard page, so that a kernel reading or writing past the bytes
// its launch asked for -- an overrun, or a launch that forgot its `smem` argument -- faults at
// once (faults.cpp names the kernel, block and thread) instead of using an older, larger
// buffer. Both kinds of shared memory are poisoned with 0xFF at the start of every block, as
// fresh cudaMalloc memory is: a thread that reads shared memory before any thread of its block
// wrote it reads NaN / -1, not the previous block's values (CUDA leaves it undefined).
//
// Which static shared variables a block of a kernel may use is found from the symbol table
// (static_shared.cpp); this file poisons them in the calling worker's copy of the module's
// thread-local block, found from a probe variable whose offset the linker resolved
// (fiber_x86_64.S).
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "kernels/simt/block.h"
#include "kernels/simt/check.h"

extern "C" {
extern __thread char pw_simt_tls_probe;      // fiber_x86_64.S
extern const long pw_simt_tls_probe_dtpoff;  // its offset in the thread-local block
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
      if (m == MAP_FAILED) throw Error("simt: cannot map " + std::to_string(bytes) + " bytes of dynamic shared memory");
      map = static_cast<char*>(m);
      map_bytes = need;
      mprotect(guard(), page, PROT_NONE);
    }
    return guard() - bytes;
  }
};

}  // namespace

char* thread_local_block() {
  return reinterpret_cast<char*>(reinterpret_cast<uintptr_t>(&pw_simt_tls_probe) - pw_simt_tls_probe_dtpoff);
}

size_t thread_local_block_bytes() {
  static const size_t bytes = [] {
    size_t b = 0;
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* out) {
          for (int i = 0; i < info->dlpi_phnum; ++i)
            if (info->dlpi_phdr[i].p_type == PT_TLS) *static_cast<size_t*>(out) = info->dlpi_phdr[i].p_memsz;
          return 1;  // the first module is the executable
        },
        &b);
    return b;
  }();
  return bytes;
}

void prepare_shared_memory(BlockRun& r, size_t dynamic_bytes, const SharedRuns& runs) {
  static thread_local DynamicSmem dyn;
  // memcheck: red zones before and after, inside the mapping, so that the memory hooks see an
  // overrun (and fail the launch with its source line) before it could reach the guard page.
  const size_t red = (r.checks & check_memcheck) ? kSharedRedZone : 0;
  r.smem_map = dyn.place(dynamic_bytes + 2 * red);
  r.smem_base = r.smem_map + red;
  r.smem_bytes = dynamic_bytes;
  r.smem_guard = dyn.guard();
  r.smem_guard_end = r.smem_guard + page_bytes();
  // Not called for 0 bytes: glibc's memset then does a fully masked AVX-512 store at the
  // address, here the guard page, whose fault suppression costs ~0.3 µs per block.
  if (dynamic_bytes + red) std::memset(r.smem_map, 0xFF, dynamic_bytes + 2 * red);
  char* block = thread_local_block();
  for (const auto& [offset, bytes] : runs) std::memset(block + offset, 0xFF, bytes);
  drop_async_copies();  // cp.async copies the previous block left pending (kernels/simt/mma.h)
}

void* dynamic_shared_memory(size_t align, const char* type) {
  const BlockRun& r = current_block("dynamic shared memory");
  if (reinterpret_cast<uintptr_t>(r.smem_base) % align != 0)
    throw Error("simt: " + std::string(r.desc->name) + " uses its dynamic shared memory as " + type + " (alignment " +
                std::to_string(align) + "), but the launch gave " + std::to_string(r.smem_bytes) +
                " bytes, not a multiple of " + std::to_string(align) +
                ": simt ends dynamic shared memory exactly at a guard page, so its start is "
                "aligned only as far as its size is");
  return r.smem_base;
}

}  // namespace pw::simt::detail
