// The caching allocator of the GPU devices (cuda, simt): device memory comes in segments that
// are split into blocks and merged back when freed (engine/device/block_pool.h), and freed
// blocks are handed out again, so the training loop reaches a steady state with no cudaMalloc
// and no cudaFree (which waits for the device). Release policy: whole free segments go back to
// the device when it is out of memory, when the cached bytes pass the cache limit, and on
// empty_cache. cpu tensors' memory is cached too (engine/device/host_cache.h), so that a
// steady training step takes none from the system.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/dtype.h"

namespace pw {

struct AllocatorStats {
  size_t bytes_in_use = 0;  // handed out to tensors now
  size_t peak_bytes_in_use = 0;
  size_t bytes_cached = 0;     // freed by tensors, kept for reuse
  int64_t device_mallocs = 0;  // calls that reached cudaMalloc
  int64_t cache_hits = 0;
  int64_t segments = 0;           // cudaMalloc'd segments held now
  int64_t splits = 0;             // blocks cut from a larger free block
  int64_t segments_released = 0;  // segments given back (cudaFree) by the release policy
  size_t cache_limit = SIZE_MAX;  // see set_cache_limit
};

// Throws pw::Error (naming the device, the request, and what is in use and cached) when the
// device is out of memory even after the cache is released.
void* device_allocate(Device d, size_t bytes);
void device_deallocate(Device d, void* ptr, size_t bytes);
// Host memory of cpu tensors: 64-byte aligned, rounded and cached like device blocks (up to
// PW_HOST_CACHE_MB, engine/device/host_cache.h), counted in allocator_stats(Device::cpu())
// (device_mallocs: the blocks taken from the system). Throws pw::Error naming the request, what
// tensors hold on the cpu, and the address-space limit (ulimit -v) if one is set, after giving
// the cache back and trying once more.
void* host_allocate(size_t bytes);
void host_deallocate(void* ptr, size_t bytes);

// For out-of-memory messages: "tensors hold 1.2 MiB on the cpu (peak 3.4 MiB)[, N on simt ...]
// [; the address-space limit (ulimit -v) is 512 MiB]".
std::string memory_in_use_text();
std::string bytes_text(size_t bytes);  // "4.0 TiB (4398046511104 bytes)"

AllocatorStats allocator_stats(Device d);
void reset_peak_bytes(Device d);
void empty_cache(Device d);  // gives every segment with no block in use back to the device
// Cached bytes of GPU device d above which freeing a block gives whole free segments back to the
// device (each cudaFree waits for it). Default: no limit, or PW_GPU_CACHE_LIMIT_MIB. On simt
// with PW_SIMT_GUARD=1 or PW_SIMT_CHECK's memcheck, blocks are never split (each is its own
// cudaMalloc, so its guard page or red zone sits right after it).
void set_cache_limit(Device d, size_t bytes);

}  // namespace pw
