// simt internals: the fake CUDA runtime's device -- the one device "patchwork simt" with its
// properties, cudaDeviceSynchronize, and per-kernel attributes. Streams and events: streams.cpp.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include "kernels/simt/block.h"

namespace pw::simt {

namespace {
struct DeviceState {
  std::mutex m;
  std::unordered_map<const void*, size_t> smem_limit;  // cudaFuncSetAttribute
};
DeviceState& dev() {
  static DeviceState* d = new DeviceState;
  return *d;
}
std::string ptr_str(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}
}  // namespace

// ---- device ----
cudaError_t cudaDeviceSynchronize() {
  detail::note_host_sync("cudaDeviceSynchronize");
  detail::finish_all_streams();
  return cudaSuccess;
}
cudaError_t cudaDeviceReset() { return cudaSuccess; }  // allocations stay: nothing is lost
cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return detail::fail(cudaErrorInvalidValue, "cudaGetDeviceCount: null result pointer");
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (device != 0)
    return detail::fail(cudaErrorInvalidDevice,
                        "cudaSetDevice(" + std::to_string(device) + "): simt has one device, 0");
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  if (!device) return detail::fail(cudaErrorInvalidValue, "cudaGetDevice: null result pointer");
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (!p) return detail::fail(cudaErrorInvalidValue, "cudaGetDeviceProperties: null result pointer");
  if (device != 0)
    return detail::fail(cudaErrorInvalidDevice,
                        "cudaGetDeviceProperties(" + std::to_string(device) + "): simt has one device, 0");
  *p = cudaDeviceProp{};
  std::snprintf(p->name, sizeof p->name, "%s", "patchwork simt");
  size_t free_bytes = 0;
  cudaMemGetInfo(&free_bytes, &p->totalGlobalMem);
  p->sharedMemPerBlock = 48 * 1024;
  p->sharedMemPerBlockOptin = 227 * 1024;
  p->sharedMemPerMultiprocessor = 228 * 1024;
  p->regsPerBlock = 65536;
  p->warpSize = 32;
  p->maxThreadsPerBlock = 1024;
  p->maxThreadsDim[0] = 1024;
  p->maxThreadsDim[1] = 1024;
  p->maxThreadsDim[2] = 64;
  p->maxGridSize[0] = 0x7fffffff;
  p->maxGridSize[1] = 65535;
  p->maxGridSize[2] = 65535;
  p->maxThreadsPerMultiProcessor = 2048;
  p->multiProcessorCount = workers();
  p->totalConstMem = 64 * 1024;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  cudaDeviceProp p;
  if (!value) return detail::fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: null result pointer");
  if (cudaError_t e = cudaGetDeviceProperties(&p, device)) return e;
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(p.sharedMemPerBlock); break;
    case cudaDevAttrWarpSize: *value = p.warpSize; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(p.sharedMemPerBlockOptin); break;
    default:
      return detail::fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: attribute " + std::to_string(int(attr)) +
                                                     " is not modelled by simt");
  }
  return cudaSuccess;
}

namespace detail {
size_t max_dynamic_smem(const void* kernel) {
  std::lock_guard<std::mutex> lock(dev().m);
  auto it = dev().smem_limit.find(kernel);
  return it == dev().smem_limit.end() ? 48 * 1024 : it->second;
}
cudaError_t func_set_attribute(const void* kernel, cudaFuncAttribute attr, int value) {
  if (!kernel) return fail(cudaErrorInvalidDeviceFunction, "cudaFuncSetAttribute: null kernel");
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    if (value < 0 || value > 227 * 1024)
      return fail(cudaErrorInvalidValue,
                  "cudaFuncSetAttribute: " + std::to_string(value) + " bytes of dynamic shared memory; at most 232448");
    std::lock_guard<std::mutex> lock(dev().m);
    dev().smem_limit[kernel] = static_cast<size_t>(value);
  }
  return cudaSuccess;
}
cudaError_t occupancy(int* blocks, const void*, int block_size, size_t) {
  if (!blocks) return fail(cudaErrorInvalidValue, "cudaOccupancyMaxActiveBlocksPerMultiprocessor: null result pointer");
  *blocks = block_size <= 0 || block_size > 1024 ? 0 : std::min(32, std::max(1, 2048 / block_size));
  return cudaSuccess;
}
}  // namespace detail

}  // namespace pw::simt
