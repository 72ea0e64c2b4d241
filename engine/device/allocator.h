// The caching allocator of the devices: freed blocks are kept in size bins and handed out again,
// so the training loop reaches a steady state with no cudaMalloc (GPU) and no malloc (cpu).
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
void empty_cache(Device d);  // gives every cached block back to the device

}  // namespace pw
