// Helpers for the simt tests: a cudaMalloc'd buffer with upload/download, and a guard that
// restores simt's schedule and worker count when a test changes them.
#pragma once
#include <cstddef>
#include <vector>

#include "kernels/cuda/compat.cuh"

namespace pw::simt::testing {

template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t n) : n_(n) { PW_CUDA_CHECK(cudaMalloc(&p_, n * sizeof(T))); }
  explicit DeviceBuffer(const std::vector<T>& v) : DeviceBuffer(v.size()) { upload(v); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { cudaFree(p_); }
  T* get() const { return p_; }
  size_t size() const { return n_; }
  void upload(const std::vector<T>& v) {
    PW_CUDA_CHECK(cudaMemcpy(p_, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> v(n_);
    PW_CUDA_CHECK(cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return v;
  }

 private:
  T* p_ = nullptr;
  size_t n_;
};

class SettingsGuard {
 public:
  SettingsGuard() : schedule_(schedule()), seed_(schedule_seed()), workers_(workers()) {}
  ~SettingsGuard() {
    set_schedule(schedule_, seed_);
    set_workers(workers_);
  }

 private:
  Schedule schedule_;
  uint64_t seed_;
  int workers_;
};

// The three orders every kernel test runs under.
inline const std::vector<std::pair<Schedule, uint64_t>>& all_schedules() {
  static const std::vector<std::pair<Schedule, uint64_t>> s = {
      {Schedule::forward, 0}, {Schedule::reverse, 0}, {Schedule::random, 12345}};
  return s;
}

}  // namespace pw::simt::testing
