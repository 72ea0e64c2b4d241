// The caching allocator of the GPU devices (cuda, simt): freed blocks are kept in size bins
// and handed out again, so the training loop reaches a steady state with no cudaMalloc.
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/dtype.h"

namespace pw {

struct AllocatorStats {
  size_t bytes_in_use = 0;     // handed out to tensors now
  size_t peak_bytes_in_use = 0;
  size_t bytes_cached = 0;     // freed by tensors, kept for reuse
  int64_t device_mallocs = 0;  // calls that reached cudaMalloc
  int64_t cache_hits = 0;
};

// Throws pw::Error (naming the device, the request, and what is in use and cached) when the
// device is out of memory even after the cache is released.
void* device_allocate(Device d, size_t bytes);
void device_deallocate(Device d, void* ptr, size_t bytes);
AllocatorStats allocator_stats(Device d);
void reset_peak_bytes(Device d);
void empty_cache(Device d);  // gives every cached block back to the device

}  // namespace pw
