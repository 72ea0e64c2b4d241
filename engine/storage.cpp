// Storage: CPU memory is 64-byte aligned so vector kernels may use aligned loads on fresh
// tensors; GPU memory (cuda, simt) comes from the device's caching allocator.
#include "engine/storage.h"

#include <cstdlib>
#include <new>

#include "engine/device/allocator.h"

namespace pw {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.is_cpu()) {
    data_ = host_allocate(nbytes);
  } else {
    data_ = device_allocate(device, nbytes);
  }
}

Storage::~Storage() {
  if (device_.is_cpu()) {
    host_deallocate(data_, nbytes_);
  } else {
    device_deallocate(device_, data_, nbytes_);
  }
}

}  // namespace pw
