// Storage: one reference-counted, aligned allocation that tensors (and their views) share.
#pragma once
#include <cstddef>
#include <cstdint>
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
  // Counts in-place writes (fill_, copy_, optimizer steps, initializers). Autograd records the
  // version of every op input and refuses to run a backward whose inputs were modified since.
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  uint64_t version_ = 0;
  Device device_;
};

}  // namespace pw
