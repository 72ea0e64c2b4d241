// The host side of the caching allocator (engine/device/allocator.h): blocks that cpu tensors
// free are kept in per-size lists and handed out again, so that a training step in its steady
// state takes no memory from the system. Without it every step's large temporaries (activations,
// gradients, im2col buffers) were fresh mmap'd pages: a page fault per 4 KiB, which perf showed
// as 10-15% of AlexNet's training step on one thread (exc_page_fault, memcg charging, page
// clearing).
//
// Sizes are rounded as the device pools round them (512 bytes below 1 MiB, 1 MiB above). At most
// PW_HOST_CACHE_MB megabytes (default 2048; 0 turns the cache off) are kept; a block that would
// exceed that is freed instead. Builds with AddressSanitizer keep nothing, so that a use after
// free is still caught.
#pragma once
#include <cstddef>
#include <cstdint>

namespace pw::host_cache {

bool enabled();  // false with PW_HOST_CACHE_MB=0 and under AddressSanitizer
size_t rounded_size(size_t bytes);
void* take(size_t rounded);             // a cached block of exactly this size, or nullptr
bool put(void* block, size_t rounded);  // false: not kept (the caller frees it)
void release();                         // frees every cached block
size_t bytes_cached();
int64_t hits();

}  // namespace pw::host_cache
