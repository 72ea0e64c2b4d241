// simt internals: the fake CUDA runtime's memory side -- allocations (poisoned, optionally
// guarded, all registered so that copies can be range-checked), copies and memsets -- and the
// per-thread last error with its detailed message. Streams, events and the device: device.cpp.
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>

#include "kernels/simt/block.h"
#include "kernels/simt/check.h"
#include "kernels/simt/launch.h"  // before_stream_work

namespace pw::simt {

namespace {

constexpr unsigned char kPoison = 0xFF;  // a NaN in every float lane, -1 in every int

struct Allocation {
  size_t bytes;
  void* map;         // what to release: malloc'd block, or the guarded mapping
  size_t map_bytes;  // 0 unless guarded
  bool managed;
  detail::AllocShadow* shadow = nullptr;  // PW_SIMT_CHECK's, when checks were on at its cudaMalloc
};

// A freed allocation. Under memcheck its memory is kept (poisoned) in a quarantine until it is
// forgotten, so that a kernel using a stale pointer touches no other buffer and is reported.
struct Freed {
  size_t bytes;
  void* quarantined = nullptr;  // the block to release when forgotten; nullptr: released already
  detail::AllocShadow* shadow = nullptr;
};

// How many freed allocations are remembered, to name a stale pointer passed to a launch, and
// how many bytes of them memcheck keeps in quarantine at most.
constexpr size_t kFreedHistory = 1 << 14;
constexpr size_t kQuarantineBytes = size_t{256} << 20;
// memcheck's red zones before and after each allocation (out-of-bounds accesses land there).
constexpr size_t kRedZone = 256;

struct Registry {
  std::mutex m;
  std::map<uintptr_t, Allocation> device;  // by start address
  std::map<uintptr_t, size_t> host;        // cudaMallocHost: start -> bytes
  std::map<uintptr_t, Freed> freed;        // recently freed device allocations, by start
  std::deque<uintptr_t> freed_order;       // oldest first, to forget beyond kFreedHistory
  size_t quarantined_bytes = 0;
  uint64_t generation = 0;  // bumped at every change of the maps above (PW_SIMT_CHECK's snapshots)
  std::atomic<bool> guarded{false};
};

Registry& reg() {
  static Registry* r = [] {
    auto* x = new Registry;
    if (const char* v = std::getenv("PW_SIMT_GUARD"); v && *v && std::strcmp(v, "0") != 0) x->guarded = true;
    return x;
  }();
  return *r;
}

thread_local cudaError_t tl_last = cudaSuccess;
thread_local std::string tl_detail;

std::string ptr_str(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

// The allocation holding p, or nullptr. Caller holds reg().m.
const std::pair<const uintptr_t, Allocation>* lookup(const void* p) {
  auto& dev = reg().device;
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = dev.upper_bound(a);
  if (it == dev.begin()) return nullptr;
  --it;
  if (a >= it->first + std::max<size_t>(it->second.bytes, 1)) return nullptr;
  return &*it;
}

// "" when [p, p + bytes) lies in one live device allocation, else what is wrong.
std::string check_device(const char* api, const char* role, const void* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(reg().m);
  const auto* a = lookup(p);
  if (!a) return std::string(api) + ": the " + role + " " + ptr_str(p) + " is not inside a live cudaMalloc allocation";
  const size_t offset = reinterpret_cast<uintptr_t>(p) - a->first;
  if (offset + bytes > a->second.bytes)
    return std::string(api) + ": " + std::to_string(bytes) + " bytes at offset " + std::to_string(offset) + " of the " +
           role + ", a " + std::to_string(a->second.bytes) + "-byte allocation, run past its end by " +
           std::to_string(offset + bytes - a->second.bytes) + " bytes";
  return "";
}

// "" unless p is (non-managed) device memory where host memory was declared.
std::string check_host(const char* api, const char* role, const void* p) {
  std::lock_guard<std::mutex> lock(reg().m);
  const auto* a = lookup(p);
  if (!a || a->second.managed) return "";
  return std::string(api) + ": the " + role + " " + ptr_str(p) +
         " is declared host memory "
         "but lies in a " +
         std::to_string(a->second.bytes) +
         "-byte cudaMalloc allocation "
         "(wrong cudaMemcpyKind)";
}

// The range of `ranges` (start -> bytes) holding p, or end pointer of one. Caller holds reg().m.
const std::pair<const uintptr_t, size_t>* containing(const std::map<uintptr_t, size_t>& ranges, uintptr_t a) {
  auto it = ranges.upper_bound(a);
  if (it == ranges.begin()) return nullptr;
  --it;
  return a <= it->first + it->second ? &*it : nullptr;
}

// The freed allocation holding p (or ending at it), or nullptr. Caller holds reg().m.
const std::pair<const uintptr_t, Freed>* freed_containing(uintptr_t a) {
  auto it = reg().freed.upper_bound(a);
  if (it == reg().freed.begin()) return nullptr;
  --it;
  return a <= it->first + it->second.bytes ? &*it : nullptr;
}

void forget_freed(std::map<uintptr_t, Freed>::iterator it) {  // caller holds reg().m
  auto& r = reg();
  if (it->second.quarantined) {
    std::free(it->second.quarantined);
    r.quarantined_bytes -= it->second.bytes;
  }
  detail::alloc_shadow_delete(it->second.shadow);
  r.freed.erase(it);
  ++r.generation;
}

void remember_freed(uintptr_t start, Freed f) {  // caller holds reg().m
  auto& r = reg();
  if (auto old = r.freed.find(start); old != r.freed.end()) forget_freed(old);
  if (f.quarantined) r.quarantined_bytes += f.bytes;
  r.freed[start] = f;
  r.freed_order.push_back(start);
  while (r.freed_order.size() > kFreedHistory || (r.quarantined_bytes > kQuarantineBytes && r.freed_order.size() > 1)) {
    if (auto it = r.freed.find(r.freed_order.front()); it != r.freed.end()) forget_freed(it);
    r.freed_order.pop_front();
  }
  ++r.generation;
}

bool is_device(const void* p) {
  std::lock_guard<std::mutex> lock(reg().m);
  return lookup(p) != nullptr;
}

// Validates both sides of a copy (dspan / sspan bytes reached on each side) by `kind`.
std::string check_copy(const char* api, void* dst, size_t dspan, const void* src, size_t sspan, cudaMemcpyKind kind) {
  bool dst_dev = false, src_dev = false;
  switch (kind) {
    case cudaMemcpyHostToHost: break;
    case cudaMemcpyHostToDevice: dst_dev = true; break;
    case cudaMemcpyDeviceToHost: src_dev = true; break;
    case cudaMemcpyDeviceToDevice: dst_dev = src_dev = true; break;
    case cudaMemcpyDefault:
      dst_dev = is_device(dst);
      src_dev = is_device(src);
      break;
    default: return std::string(api) + ": invalid cudaMemcpyKind " + std::to_string(int(kind));
  }
  std::string e = dst_dev ? check_device(api, "destination", dst, dspan) : check_host(api, "destination", dst);
  if (e.empty()) e = src_dev ? check_device(api, "source", src, sspan) : check_host(api, "source", src);
  return e;
}

bool is_pinned(const void* p) {
  std::lock_guard<std::mutex> lock(reg().m);
  return containing(reg().host, reinterpret_cast<uintptr_t>(p)) != nullptr;
}

// Counts a copy that may make the host wait on a GPU (runtime.h, sync_count): every synchronous
// copy but device-to-device; an asynchronous one unless it is device-to-device or its host side
// is pinned (from pageable memory the driver "may sync with the stream" to stage it).
void note_copy_sync(const char* api, void* dst, const void* src, cudaMemcpyKind kind, bool async) {
  if (kind == cudaMemcpyDefault) {
    const bool d = is_device(dst), s = is_device(src);
    kind = d && s ? cudaMemcpyDeviceToDevice
           : d    ? cudaMemcpyHostToDevice
           : s    ? cudaMemcpyDeviceToHost
                  : cudaMemcpyHostToHost;
  }
  if (kind == cudaMemcpyDeviceToDevice) return;
  if (async &&
      ((kind == cudaMemcpyHostToDevice && is_pinned(src)) || (kind == cudaMemcpyDeviceToHost && is_pinned(dst))))
    return;
  if (kind > cudaMemcpyDeviceToHost) return;  // an invalid kind: the copy fails
  static const char* const names[] = {"HostToHost", "HostToDevice", "DeviceToHost"};
  detail::note_host_sync((std::string(api) + " " + names[kind]).c_str());
}

size_t page_size() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

// initcheck: the bytes a copy or memset put into device memory are written, or, copied from
// device memory, as written as their source was.
void note_written(void* dst, const void* src, size_t bytes) {
  if (!(checks() & check_initcheck)) return;
  std::lock_guard<std::mutex> lock(reg().m);
  const auto* d = lookup(dst);
  if (!d || !d->second.shadow) return;
  const size_t doff = reinterpret_cast<uintptr_t>(dst) - d->first;
  bytes = std::min(bytes, d->second.bytes - doff);
  const auto* s = src ? lookup(src) : nullptr;
  if (s && s->second.shadow)
    detail::alloc_shadow_copy(d->second.shadow, doff, s->second.shadow, reinterpret_cast<uintptr_t>(src) - s->first,
                              bytes);
  else
    detail::alloc_shadow_written(d->second.shadow, doff, bytes);
}

cudaError_t allocate(void** ptr, size_t bytes, bool managed, const char* api) {
  if (!ptr) return detail::fail(cudaErrorInvalidValue, std::string(api) + ": null result pointer");
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  Allocation a{bytes, nullptr, 0, managed};
  void* p = nullptr;
  const unsigned c = checks();
  if (reg().guarded) {  // end the buffer at a page boundary, followed by a PROT_NONE page
    const size_t page = page_size(), padded = (bytes + 15) / 16 * 16;
    const size_t len = (padded + page - 1) / page * page + page;
    void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m != MAP_FAILED) {
      mprotect(static_cast<char*>(m) + len - page, page, PROT_NONE);
      p = static_cast<char*>(m) + len - page - padded;
      a.map = m;
      a.map_bytes = len;
    }
  } else {
    const size_t red = (c & check_memcheck) ? kRedZone : 0;  // memcheck: red zones on both sides
    a.map = std::aligned_alloc(256, (bytes + 255) / 256 * 256 + 2 * red);
    if (a.map) {
      p = static_cast<char*>(a.map) + red;
      if (red) std::memset(a.map, kPoison, (bytes + 255) / 256 * 256 + 2 * red);
    }
  }
  if (!p)
    return detail::fail(cudaErrorMemoryAllocation,
                        std::string(api) + ": out of memory allocating " + std::to_string(bytes) + " bytes");
  std::memset(p, kPoison, bytes);
  if (c & (check_initcheck | check_racecheck)) a.shadow = detail::alloc_shadow_new(bytes, /*written=*/false);
  {
    std::lock_guard<std::mutex> lock(reg().m);
    reg().device[reinterpret_cast<uintptr_t>(p)] = a;
    if (auto it = reg().freed.find(reinterpret_cast<uintptr_t>(p)); it != reg().freed.end())
      forget_freed(it);  // its start is live again
    ++reg().generation;
  }
  *ptr = p;
  return cudaSuccess;
}

}  // namespace

// ---- errors ----
namespace detail {
cudaError_t fail(cudaError_t code, std::string detail) {
  tl_last = code;
  tl_detail = std::move(detail);
  return code;
}
}  // namespace detail
cudaError_t cudaGetLastError() {
  const cudaError_t e = tl_last;
  tl_last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() { return tl_last; }
const std::string& last_error_detail() { return tl_detail; }

const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    // clang-format off
#define PW_SIMT_NAME(x) \
  case x: return #x;
    PW_SIMT_NAME(cudaSuccess)
    PW_SIMT_NAME(cudaErrorInvalidValue)
    PW_SIMT_NAME(cudaErrorMemoryAllocation)
    PW_SIMT_NAME(cudaErrorInvalidConfiguration)
    PW_SIMT_NAME(cudaErrorInvalidMemcpyDirection)
    PW_SIMT_NAME(cudaErrorInvalidDeviceFunction)
    PW_SIMT_NAME(cudaErrorNoDevice)
    PW_SIMT_NAME(cudaErrorInvalidDevice)
    PW_SIMT_NAME(cudaErrorInvalidResourceHandle)
    PW_SIMT_NAME(cudaErrorNotReady)
    PW_SIMT_NAME(cudaErrorIllegalAddress)
    PW_SIMT_NAME(cudaErrorLaunchOutOfResources)
    PW_SIMT_NAME(cudaErrorLaunchFailure)
    PW_SIMT_NAME(cudaErrorNotSupported)
    PW_SIMT_NAME(cudaErrorUnknown)
#undef PW_SIMT_NAME
    // clang-format on
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    default: return "unknown error";
  }
}

// ---- memory ----
cudaError_t cudaMalloc(void** ptr, size_t bytes) { return allocate(ptr, bytes, false, "cudaMalloc"); }
cudaError_t cudaMallocManaged(void** ptr, size_t bytes, unsigned int) {
  return allocate(ptr, bytes, true, "cudaMallocManaged");
}

cudaError_t cudaFree(void* ptr) {
  if (!ptr) return cudaSuccess;
  detail::note_host_sync("cudaFree");
  detail::finish_all_streams();  // cudaFree waits for the device: no queued copy touches it after
  Allocation a;
  {
    std::lock_guard<std::mutex> lock(reg().m);
    auto it = reg().device.find(reinterpret_cast<uintptr_t>(ptr));
    if (it == reg().device.end()) {
      const auto* in = lookup(ptr);
      return detail::fail(cudaErrorInvalidValue, "cudaFree: " + ptr_str(ptr) +
                                                     (in ? " lies inside a " + std::to_string(in->second.bytes) +
                                                               "-byte allocation but is not its start"
                                                         : " is not a live cudaMalloc allocation (freed twice?)"));
    }
    a = it->second;
    reg().device.erase(it);
    // memcheck keeps the memory (poisoned) in quarantine: a later access is a use after free.
    const bool quarantine = !a.map_bytes && (checks() & check_memcheck);
    if (!a.map_bytes) std::memset(ptr, kPoison, a.bytes);  // a stale pointer reads NaN until reuse
    remember_freed(reinterpret_cast<uintptr_t>(ptr),
                   Freed{a.bytes, quarantine ? a.map : nullptr, quarantine ? a.shadow : nullptr});
    if (quarantine) return cudaSuccess;
  }
  detail::alloc_shadow_delete(a.shadow);
  if (a.map_bytes)
    munmap(a.map, a.map_bytes);  // guarded: any later access faults
  else
    std::free(a.map);
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** ptr, size_t bytes) {
  if (!ptr) return detail::fail(cudaErrorInvalidValue, "cudaMallocHost: null result pointer");
  *ptr = std::aligned_alloc(256, std::max<size_t>(256, (bytes + 255) / 256 * 256));
  if (!*ptr) return detail::fail(cudaErrorMemoryAllocation, "cudaMallocHost: out of memory");
  std::lock_guard<std::mutex> lock(reg().m);
  reg().host[reinterpret_cast<uintptr_t>(*ptr)] = bytes;
  ++reg().generation;
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) {
  if (!ptr) return cudaSuccess;
  detail::note_host_sync("cudaFreeHost");
  detail::finish_all_streams();
  {
    std::lock_guard<std::mutex> lock(reg().m);
    if (!reg().host.erase(reinterpret_cast<uintptr_t>(ptr)))
      return detail::fail(cudaErrorInvalidValue, "cudaFreeHost: " + ptr_str(ptr) + " is not from cudaMallocHost");
    ++reg().generation;
  }
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  struct sysinfo si {};
  sysinfo(&si);
  if (free_bytes) *free_bytes = static_cast<size_t>(si.freeram) * si.mem_unit;
  if (total_bytes) *total_bytes = static_cast<size_t>(si.totalram) * si.mem_unit;
  return cudaSuccess;
}

namespace {
cudaError_t copy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  if (std::string e = check_copy("cudaMemcpy", dst, bytes, src, bytes, kind); !e.empty())
    return detail::fail(kind > cudaMemcpyDefault ? cudaErrorInvalidMemcpyDirection : cudaErrorInvalidValue, e);
  std::memmove(dst, src, bytes);
  note_written(dst, src, bytes);
  return cudaSuccess;
}

// An asynchronous copy on a created stream is queued (streams.cpp) unless CUDA has it done
// before the call returns: into pageable host memory, or between host buffers. A pageable
// source is staged now, as the driver stages it; a pinned one is read when the copy runs.
cudaError_t copy_async(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (std::string e = check_copy("cudaMemcpyAsync", dst, bytes, src, bytes, kind); !e.empty())
    return detail::fail(kind > cudaMemcpyDefault ? cudaErrorInvalidMemcpyDirection : cudaErrorInvalidValue, e);
  const bool dst_dev = is_device(dst), src_dev = is_device(src);
  if (!dst_dev && (!src_dev || !is_pinned(dst))) {  // done when the call returns
    if (cudaError_t e = detail::stream_submit(stream, "cudaMemcpyAsync", [] {})) return e;
    detail::before_stream_work(stream);
    return copy(dst, src, bytes, kind);
  }
  std::shared_ptr<std::vector<char>> staged;
  if (stream && !src_dev && !is_pinned(src))
    staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src), static_cast<const char*>(src) + bytes);
  return detail::stream_submit(stream, "cudaMemcpyAsync", [=] {
    std::memmove(dst, staged ? staged->data() : src, bytes);
    note_written(dst, staged ? nullptr : src, bytes);
  });
}
}  // namespace
cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  note_copy_sync("cudaMemcpy", dst, src, kind, false);
  detail::before_stream_work(nullptr);
  return copy(dst, src, bytes, kind);
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  note_copy_sync("cudaMemcpyAsync", dst, src, kind, true);
  return copy_async(dst, src, bytes, kind, stream);
}

namespace {
cudaError_t copy_2d(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                    cudaMemcpyKind kind) {
  if (width == 0 || height == 0) return cudaSuccess;
  if (width > dpitch || width > spitch)
    return detail::fail(cudaErrorInvalidValue, "cudaMemcpy2D: width " + std::to_string(width) + " exceeds a pitch (" +
                                                   std::to_string(dpitch) + ", " + std::to_string(spitch) + ")");
  // Both spans end at (height - 1) * pitch + width: check each side's whole span.
  const size_t dspan = (height - 1) * dpitch + width, sspan = (height - 1) * spitch + width;
  if (std::string e = check_copy("cudaMemcpy2D", dst, dspan, src, sspan, kind); !e.empty())
    return detail::fail(kind > cudaMemcpyDefault ? cudaErrorInvalidMemcpyDirection : cudaErrorInvalidValue, e);
  for (size_t r = 0; r < height; ++r) {
    std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
    note_written(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
  }
  return cudaSuccess;
}
}  // namespace
cudaError_t cudaMemcpy2D(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                         cudaMemcpyKind kind) {
  note_copy_sync("cudaMemcpy2D", dst, src, kind, false);
  detail::before_stream_work(nullptr);
  return copy_2d(dst, dpitch, src, spitch, width, height, kind);
}
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream) {
  note_copy_sync("cudaMemcpy2DAsync", dst, src, kind, true);
  // Done at once, after the stream's queued work (CUDA allows it: "might be synchronous").
  if (cudaError_t e = detail::stream_submit(stream, "cudaMemcpy2DAsync", [] {})) return e;
  detail::before_stream_work(stream);
  return copy_2d(dst, dpitch, src, spitch, width, height, kind);
}

cudaError_t cudaMemset(void* ptr, int value, size_t bytes) { return cudaMemsetAsync(ptr, value, bytes, nullptr); }
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream) {
  if (bytes == 0) return cudaSuccess;
  if (std::string e = check_device("cudaMemset", "destination", ptr, bytes); !e.empty())
    return detail::fail(cudaErrorInvalidValue, e);
  return detail::stream_submit(stream, "cudaMemsetAsync", [=] {
    std::memset(ptr, value, bytes);
    note_written(ptr, nullptr, bytes);
  });
}

namespace detail {
cudaError_t copy_symbol(void* symbol, size_t symbol_bytes, size_t offset, void* dst, const void* src, size_t bytes,
                        const char* what) {
  (void)symbol;
  note_host_sync(what);  // synchronous, as cudaMemcpy
  before_stream_work(nullptr);
  if (offset + bytes > symbol_bytes)
    return fail(cudaErrorInvalidValue, std::string(what) + ": " + std::to_string(bytes) + " bytes at offset " +
                                           std::to_string(offset) + " run past the end of a " +
                                           std::to_string(symbol_bytes) + "-byte symbol");
  std::memmove(dst, src, bytes);
  return cudaSuccess;
}
}  // namespace detail

bool find_allocation(const void* ptr, const void** base, size_t* bytes) {
  std::unique_lock<std::mutex> lock(reg().m, std::try_to_lock);  // also called by the fault handler
  if (!lock.owns_lock()) return false;
  const auto* a = lookup(ptr);
  if (!a) return false;
  if (base) *base = reinterpret_cast<const void*>(a->first);
  if (bytes) *bytes = a->second.bytes;
  return true;
}

namespace detail {
void check_pointer_argument(const char* kernel, size_t index, const void* p) {
  if (!p) return;  // kernels take null for "absent"
  const auto a = reinterpret_cast<uintptr_t>(p);
  std::string why;
  {
    std::lock_guard<std::mutex> lock(reg().m);
    auto& dev = reg().device;
    auto it = dev.upper_bound(a);
    if (it != dev.begin() && a <= std::prev(it)->first + std::prev(it)->second.bytes) return;
    if (containing(reg().host, a)) return;  // pinned host memory is mapped for the device
    if (const auto* f = freed_containing(a))
      why = "it points into a " + std::to_string(f->second.bytes) + "-byte cudaMalloc allocation at " +
            ptr_str(reinterpret_cast<const void*>(f->first)) + " that has been freed (cudaFree)";
    else
      why = "it is not inside any live cudaMalloc allocation: a host pointer?";
  }
  throw Error("simt launch of " + std::string(kernel) + ": pointer argument " + std::to_string(index) + " (" +
              ptr_str(p) + ") is not device memory: " + why);
}

void device_regions(std::vector<DeviceRegion>& out, uint64_t* generation) {
  std::lock_guard<std::mutex> lock(reg().m);
  auto& r = reg();
  if (*generation == r.generation) return;
  out.clear();
  for (auto& [start, a] : r.device) {
    // An allocation older than the checks: its history is unknown, so initcheck takes it as written.
    if (!a.shadow) a.shadow = alloc_shadow_new(a.bytes, /*written=*/true);
    out.push_back({start, start + a.bytes, DeviceRegionKind::live, a.shadow});
  }
  for (const auto& [start, f] : r.freed)
    if (f.quarantined) out.push_back({start, start + f.bytes, DeviceRegionKind::freed, nullptr});
  for (const auto& [start, bytes] : r.host)
    if (bytes) out.push_back({start, start + bytes, DeviceRegionKind::host, nullptr});
  std::sort(out.begin(), out.end(), [](const DeviceRegion& a, const DeviceRegion& b) { return a.lo < b.lo; });
  *generation = r.generation;
}

bool allocation_below(const void* addr, const void** base, size_t* bytes) {
  std::unique_lock<std::mutex> lock(reg().m, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  auto it = reg().device.upper_bound(reinterpret_cast<uintptr_t>(addr));
  if (it == reg().device.begin()) return false;
  --it;
  *base = reinterpret_cast<const void*>(it->first);
  *bytes = it->second.bytes;
  return true;
}
}  // namespace detail

void set_guarded_allocations(bool on) { reg().guarded = on; }
bool guarded_allocations() { return reg().guarded; }

}  // namespace pw::simt
