// simt: the fake CUDA runtime API (same names and signatures as CUDA's, in namespace
// pw::simt), the error type simt throws, and simt's own settings (workers, thread order, fiber
// stack size, guarded allocations). Macro-free: the engine's simt device may include it.
//
// What the runtime does differently from CUDA, on purpose:
// - Device memory is host memory. Fresh memory from cudaMalloc is poisoned with 0xFF bytes
//   (a NaN as float, -1 as int) so that a kernel reading what nobody wrote fails visibly;
//   freed memory is poisoned too. Copies and memsets are range-checked against the live
//   allocations, and a copy whose kind names the wrong side is an error.
// - Execution is synchronous: a launch, copy or memset has finished when the call returns, so
//   streams only order work trivially, and an event records the host time of its record.
// - Errors are returned as cudaError_t and remembered for cudaGetLastError, as in CUDA; the
//   detailed message of the last one ("cudaMemcpy: copying 96 bytes at offset 64 of a
//   128-byte allocation ...") is last_error_detail(). Failures while a kernel runs (a
//   deadlock, a bad warp mask) throw pw::simt::Error from the launch instead.
#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kernels/simt/types.h"

namespace pw::simt {

// What simt throws when a kernel cannot run correctly (deadlock, bad mask, launch from a kernel).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// ---- CUDA's enums and handles (numeric values as in CUDA's driver_types.h) ----
enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchOutOfResources = 701,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotSupported = 801,
  cudaErrorUnknown = 999,
};
using cudaError = cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

enum cudaFuncAttribute {
  cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
  cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};

enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
};

inline constexpr unsigned int cudaStreamDefault = 0, cudaStreamNonBlocking = 1;
inline constexpr unsigned int cudaEventDefault = 0, cudaEventBlockingSync = 1, cudaEventDisableTiming = 2;
inline constexpr unsigned int cudaMemAttachGlobal = 1;

struct CUstream_st;
struct CUevent_st;
using cudaStream_t = CUstream_st*;
using cudaEvent_t = CUevent_st*;

// The fields of CUDA's cudaDeviceProp that kernels and launchers commonly read.
struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  size_t sharedMemPerBlockOptin;
  size_t sharedMemPerMultiprocessor;
  int regsPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int maxThreadsPerMultiProcessor;
  int multiProcessorCount;
  int major, minor;  // 0.0: simt claims no architecture (see PW_ARCH_SM in compat.cuh)
  int clockRate;     // kHz
  int l2CacheSize;
  size_t totalConstMem;
  int concurrentKernels;
  int asyncEngineCount;
};

// ---- memory ----
cudaError_t cudaMalloc(void** ptr, size_t bytes);
template <class T>
cudaError_t cudaMalloc(T** ptr, size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaMallocManaged(void** ptr, size_t bytes, unsigned int flags = cudaMemAttachGlobal);
template <class T>
cudaError_t cudaMallocManaged(T** ptr, size_t bytes, unsigned int flags = cudaMemAttachGlobal) {
  return cudaMallocManaged(reinterpret_cast<void**>(ptr), bytes, flags);
}
cudaError_t cudaMallocHost(void** ptr, size_t bytes);
template <class T>
cudaError_t cudaMallocHost(T** ptr, size_t bytes) {
  return cudaMallocHost(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaFree(void* ptr);
cudaError_t cudaFreeHost(void* ptr);
cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes);

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemcpy2D(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                         cudaMemcpyKind kind);
cudaError_t cudaMemcpy2DAsync(void* dst, size_t dpitch, const void* src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* ptr, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void* ptr, int value, size_t bytes, cudaStream_t stream = nullptr);

namespace detail {
cudaError_t copy_symbol(void* symbol, size_t symbol_bytes, size_t offset, void* dst, const void* src, size_t bytes,
                        const char* what);
}
// __constant__ and __device__ variables are plain host variables in simt.
template <class T>
cudaError_t cudaMemcpyToSymbol(const T& symbol, const void* src, size_t bytes, size_t offset = 0,
                               cudaMemcpyKind = cudaMemcpyHostToDevice) {
  void* base = const_cast<void*>(static_cast<const void*>(&symbol));
  return detail::copy_symbol(base, sizeof(T), offset, static_cast<char*>(base) + offset, src, bytes,
                             "cudaMemcpyToSymbol");
}
template <class T>
cudaError_t cudaMemcpyFromSymbol(void* dst, const T& symbol, size_t bytes, size_t offset = 0,
                                 cudaMemcpyKind = cudaMemcpyDeviceToHost) {
  void* base = const_cast<void*>(static_cast<const void*>(&symbol));
  return detail::copy_symbol(base, sizeof(T), offset, dst, static_cast<char*>(base) + offset, bytes,
                             "cudaMemcpyFromSymbol");
}

// ---- streams and events (execution is synchronous; see the header comment) ----
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags = 0);
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaEventDestroy(cudaEvent_t event);

// ---- device and errors ----
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaDeviceReset();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t error);
const char* cudaGetErrorName(cudaError_t error);

namespace detail {
cudaError_t func_set_attribute(const void* kernel, cudaFuncAttribute attr, int value);
cudaError_t occupancy(int* blocks, const void* kernel, int block_size, size_t smem);
}  // namespace detail
// Only cudaFuncAttributeMaxDynamicSharedMemorySize has an effect: it raises the dynamic
// shared memory a launch of this kernel may ask for (up to 227 KiB, as on sm_90).
template <class T>
cudaError_t cudaFuncSetAttribute(T* kernel, cudaFuncAttribute attr, int value) {
  return detail::func_set_attribute(reinterpret_cast<const void*>(kernel), attr, value);
}
template <class T>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, T* kernel, int block_size, size_t smem) {
  return detail::occupancy(blocks, reinterpret_cast<const void*>(kernel), block_size, smem);
}

// ---- simt's own settings and queries ----
// The order in which the threads of a block run between two barriers. A kernel whose result
// changes with the order has a race. Initial value from PW_SIMT_SCHEDULE=forward|reverse|
// random:SEED (default forward). random draws a fresh order per block and per barrier round,
// from (seed, block index, round), so it is reproducible whatever the worker count.
enum class Schedule { forward, reverse, random };
void set_schedule(Schedule schedule, uint64_t seed = 0);
Schedule schedule();
uint64_t schedule_seed();

// Worker threads that run blocks (the launching thread is one of them). 0 = one per hardware
// thread; initial value from PW_SIMT_WORKERS. Also the device's multiProcessorCount.
void set_workers(int n);
int workers();

// Bytes of stack per fiber (a thread of a block after its first barrier), 64 KiB unless
// PW_SIMT_STACK_KIB says otherwise. Below the stack is a guard page, so an overflow stops the
// program with "simt: fiber stack overflow ..." instead of corrupting another thread's stack.
void set_stack_size(size_t bytes);
size_t stack_size();

// Guarded allocations (off unless PW_SIMT_GUARD=1): each cudaMalloc ends at a page boundary
// followed by an inaccessible page, so a kernel reading or writing past the end of a buffer
// (beyond the 16-byte alignment slack) stops with a report naming the allocation and the
// block and thread, instead of silently reading a neighbour.
void set_guarded_allocations(bool on);
bool guarded_allocations();

// The watchdog (off unless PW_SIMT_TIMEOUT=SECONDS, or 0): a launch that runs longer than
// this stops the program with a report of what each worker is doing -- its kernel, block,
// the thread running and every other thread's wait site -- instead of hanging (a kernel that
// spins waiting for another thread or block can never finish on simt). Exit status 124.
void set_timeout(double seconds);
double timeout();

// Checks of what kernels do (off unless PW_SIMT_CHECK=memcheck,racecheck,initcheck,synccheck,
// any subset, or all; kernels/simt/README.md, "Checks"). memcheck, racecheck and initcheck see
// the loads and stores of kernels built checked (pw_add_simt_kernels_checked); synccheck and
// memcheck's allocation side (red zones, a quarantine of freed memory) work for every kernel.
// A launch with checks runs its blocks on one worker; its first report fails it (throws
// pw::simt::Error naming the check, the kernel, the block, the threads and both source lines).
enum Check : unsigned {
  check_memcheck = 1,
  check_racecheck = 2,
  check_initcheck = 4,
  check_synccheck = 8,
  check_all = 15,
};
void set_checks(unsigned checks);  // a combination of Check bits; 0: off
unsigned checks();
// "memcheck,racecheck" from bits, and back ("all" or "" accepted; throws on an unknown word).
std::string checks_text(unsigned checks);
unsigned parse_checks(const std::string& text);

// Host synchronizations: the calls that, on a GPU, make the host wait for the device (CUDA's
// "API synchronization behavior"), counted from the start of the process so that a test can
// assert a code path has none: cudaMemcpy and cudaMemcpy2D of every kind but device-to-device,
// cudaMemcpy{,2D}Async to or from pageable host memory (the driver may sync with the stream to
// stage it), cudaMemcpyToSymbol / FromSymbol, cudaDeviceSynchronize, cudaStreamSynchronize,
// cudaEventSynchronize, cudaFree, cudaFreeHost. Not counted: launches, memsets, device-to-device
// copies, asynchronous copies between the device and pinned memory (cudaMallocHost), queries,
// event records and waits, cudaMalloc.
uint64_t sync_count();
// The same count by call ("cudaMemcpy DeviceToHost": 3, ...), to name what a path still does.
std::string sync_counts_text();

// The detailed message of the last runtime error on this host thread ("" if none).
const std::string& last_error_detail();
// Index of the worker running the current block (0 = the launching thread), -1 outside a kernel.
int current_worker();
// The live cudaMalloc allocation holding `ptr`: true and its base and size, or false.
bool find_allocation(const void* ptr, const void** base, size_t* bytes);

}  // namespace pw::simt
