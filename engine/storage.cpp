// Storage: CPU memory is 64-byte aligned so vector kernels may use aligned loads on fresh
// tensors; GPU memory (cuda, simt) comes from the device's caching allocator.
#include "engine/storage.h"

#include <cstdlib>
#include <new>

#include "engine/device/allocator.h"

namespace pw {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.is_cpu()) {
    size_t rounded = (nbytes + 63) / 64 * 64;
    if (rounded == 0) rounded = 64;
    data_ = std::aligned_alloc(64, rounded);
    PW_CHECK(data_ != nullptr, "storage: out of memory allocating ", nbytes, " bytes on the cpu");
  } else {
    data_ = device_allocate(device, nbytes);
  }
}

Storage::~Storage() {
  if (device_.is_cpu()) std::free(data_);
  else device_deallocate(device_, data_, nbytes_);
}

}  // namespace pw
