// Storage: one reference-counted, aligned allocation that tensors (and their views) share.
#pragma once
#include <cstddef>
#include <memory>

#include "engine/dtype.h"

namespace pw {

class Storage {
 public:
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
};

}  // namespace pw
