// simt internals: the fake CUDA runtime's streams, events and device -- streams and events
// are checked handles (execution is synchronous, so an event's time is the host time of its
// record), the one device "patchwork simt" with its properties, and per-kernel attributes.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

#include "kernels/simt/block.h"

namespace pw::simt {

struct CUstream_st {
  unsigned int flags = 0;
};
struct CUevent_st {
  unsigned int flags = 0;
  bool recorded = false;
  std::chrono::steady_clock::time_point when;
};

namespace {
struct DeviceState {
  std::mutex m;
  std::set<CUstream_st*> streams;
  std::set<CUevent_st*> events;
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

// ---- streams and events ----
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  if (!stream) return detail::fail(cudaErrorInvalidValue, "cudaStreamCreate: null result pointer");
  *stream = new CUstream_st{flags};
  std::lock_guard<std::mutex> lock(dev().m);
  dev().streams.insert(*stream);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, 0); }

namespace {
cudaError_t check_stream(cudaStream_t s, const char* api) {
  if (!s) return cudaSuccess;  // the default stream
  std::lock_guard<std::mutex> lock(dev().m);
  if (dev().streams.count(s)) return cudaSuccess;
  return detail::fail(cudaErrorInvalidResourceHandle, std::string(api) + ": " + ptr_str(s) + " is not a live stream");
}
cudaError_t check_event(cudaEvent_t e, const char* api) {
  std::lock_guard<std::mutex> lock(dev().m);
  if (e && dev().events.count(e)) return cudaSuccess;
  return detail::fail(cudaErrorInvalidResourceHandle, std::string(api) + ": " + ptr_str(e) + " is not a live event");
}
}  // namespace

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!stream) return detail::fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: the default stream");
  if (cudaError_t e = check_stream(stream, "cudaStreamDestroy")) return e;
  {
    std::lock_guard<std::mutex> lock(dev().m);
    dev().streams.erase(stream);
  }
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  detail::note_host_sync("cudaStreamSynchronize");
  return check_stream(s, "cudaStreamSynchronize");
}
cudaError_t cudaStreamQuery(cudaStream_t s) { return check_stream(s, "cudaStreamQuery"); }
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int) {
  if (cudaError_t r = check_stream(s, "cudaStreamWaitEvent")) return r;
  return check_event(e, "cudaStreamWaitEvent");
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  if (!event) return detail::fail(cudaErrorInvalidValue, "cudaEventCreate: null result pointer");
  *event = new CUevent_st{flags, false, {}};
  std::lock_guard<std::mutex> lock(dev().m);
  dev().events.insert(*event);
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, 0); }
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (cudaError_t e = check_event(event, "cudaEventRecord")) return e;
  if (cudaError_t e = check_stream(stream, "cudaEventRecord")) return e;
  event->recorded = true;  // all earlier work on every stream has finished: now is its time
  event->when = std::chrono::steady_clock::now();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  detail::note_host_sync("cudaEventSynchronize");
  return check_event(event, "cudaEventSynchronize");
}
cudaError_t cudaEventQuery(cudaEvent_t event) { return check_event(event, "cudaEventQuery"); }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return detail::fail(cudaErrorInvalidValue, "cudaEventElapsedTime: null result pointer");
  if (cudaError_t e = check_event(start, "cudaEventElapsedTime")) return e;
  if (cudaError_t e = check_event(end, "cudaEventElapsedTime")) return e;
  if (!start->recorded || !end->recorded || ((start->flags | end->flags) & cudaEventDisableTiming))
    return detail::fail(cudaErrorInvalidResourceHandle,
                        "cudaEventElapsedTime: an event was never recorded or has timing disabled");
  *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (cudaError_t e = check_event(event, "cudaEventDestroy")) return e;
  {
    std::lock_guard<std::mutex> lock(dev().m);
    dev().events.erase(event);
  }
  delete event;
  return cudaSuccess;
}

// ---- device ----
cudaError_t cudaDeviceSynchronize() {
  detail::note_host_sync("cudaDeviceSynchronize");
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
