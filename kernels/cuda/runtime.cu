// Devices, memory and copies for the engine's cuda and simt devices (see kernels/cuda/api.h).
#include "kernels/cuda/compat.cuh"

#define PW_LAUNCHER_NS PW_KERNEL_NS
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

#include <cstdio>

namespace pw::kernels::PW_KERNEL_NS {

int device_count(Tag) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // "no device" is an answer here, not an error to keep
    return 0;
  }
  return n;
}

std::string device_description(Tag, int index) {
  cudaDeviceProp p;
  PW_CUDA_CHECK(cudaGetDeviceProperties(&p, index));
  char buf[512];
  std::snprintf(buf, sizeof buf, "%s, %d SMs, sm_%d%d, %.1f GiB", p.name, p.multiProcessorCount, p.major, p.minor,
                double(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

void set_device(Tag, int index) {
  // The current device is per thread and costs a driver call to change: change it only when
  // it differs (the common case is one GPU, always 0).
  thread_local int current = -1;
  if (index == current) return;
  // cudaSetDevice's own error ("invalid device ordinal") names neither the index nor the count.
  const int count = device_count(Tag{});
  if (index < 0 || index >= count)
    throw CudaError("set_device: GPU " + std::to_string(index) + " does not exist: " + std::to_string(count) +
                    " device" + (count == 1 ? "" : "s") + " found" +
                    (count > 0 ? " (0 .. " + std::to_string(count - 1) + ")" : ""));
  PW_CUDA_CHECK(cudaSetDevice(index));
  current = index;
}

void* device_malloc(Tag, size_t bytes) {
  void* p = nullptr;
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;
}

void device_free(Tag, void* ptr) { PW_CUDA_CHECK(cudaFree(ptr)); }

void copy_host_to_device(Tag, void* dst, const void* src, size_t bytes) {
  if (bytes) PW_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}

void copy_device_to_host(Tag, void* dst, const void* src, size_t bytes) {
  if (bytes) PW_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

void copy_device_to_device(Tag, void* dst, const void* src, size_t bytes) {
  if (bytes) PW_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
}

void synchronize(Tag) { PW_CUDA_CHECK(cudaDeviceSynchronize()); }

void* pinned_malloc(Tag, size_t bytes) {
  void* p = nullptr;
  if (cudaMallocHost(&p, bytes) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;
}

void pinned_free(Tag, void* ptr) { PW_CUDA_CHECK(cudaFreeHost(ptr)); }

void copy_pinned_to_device_async(Tag, void* dst, const void* src, size_t bytes, void* stream) {
  if (bytes) PW_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, static_cast<cudaStream_t>(stream)));
}

void* stream_create_non_blocking(Tag) {
  cudaStream_t s = nullptr;
  PW_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  return s;
}

void* event_create(Tag) {
  cudaEvent_t e = nullptr;
  PW_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

void event_destroy(Tag, void* event) { PW_CUDA_CHECK(cudaEventDestroy(static_cast<cudaEvent_t>(event))); }

void event_record(Tag, void* event, void* stream) {
  PW_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event), static_cast<cudaStream_t>(stream)));
}

bool event_done(Tag, void* event) {
  const cudaError_t e = cudaEventQuery(static_cast<cudaEvent_t>(event));
  if (e == cudaErrorNotReady) return false;  // "not yet" is an answer (CUDA keeps no error for it)
  PW_CUDA_CHECK(e);
  return true;
}

void stream_wait_event(Tag, void* stream, void* event) {
  PW_CUDA_CHECK(cudaStreamWaitEvent(static_cast<cudaStream_t>(stream), static_cast<cudaEvent_t>(event), 0));
}

}  // namespace pw::kernels::PW_KERNEL_NS
