// CPU storage: 64-byte aligned so vector kernels may use aligned loads on fresh tensors.
#include "engine/storage.h"

#include <cstdlib>
#include <new>

namespace pw {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  PW_CHECK(device.is_cpu(), "storage: device ", device.str(), " is not available in this build");
  size_t rounded = (nbytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  data_ = std::aligned_alloc(64, rounded);
  PW_CHECK(data_ != nullptr, "storage: out of memory allocating ", nbytes, " bytes on ", device.str());
}

Storage::~Storage() { std::free(data_); }

}  // namespace pw
