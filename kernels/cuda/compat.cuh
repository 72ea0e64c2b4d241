// The one header every kernel file under kernels/cuda/ includes (never <cuda_runtime.h>
// directly). Under nvcc it brings the real CUDA runtime; under the host compiler it brings
// simt, the CUDA execution model on the CPU (kernels/simt/), so that the same source builds
// the `cuda` and the `simt` device. It holds the few macros in which the two builds differ:
//
//   namespace pw::kernels::PW_KERNEL_NS { ... }   wrap every kernel file's contents in this:
//                                                 `cuda` under nvcc, `simt` otherwise, so both
//                                                 builds link into one binary.
//   PW_LAUNCH(kernel, grid, block, smem, stream)(args...);
//                                                 kernel<<<grid, block, smem, stream>>>(args...)
//                                                 A template kernel with commas goes in
//                                                 parentheses: PW_LAUNCH((k<float, 4>), ...).
//   PW_DYNAMIC_SMEM(float, tile);                 declares `float* const tile` pointing at the
//                                                 dynamic shared memory (extern __shared__).
//   PW_CUDA_CHECK(cudaMemcpy(...));               throws pw::kernels::CudaError naming the call,
//   PW_CUDA_CHECK_LAUNCH();                       file and line (and simt's detailed reason).
//                                                 With PW_CUDA_SYNC=1 in the environment, a
//                                                 launch also synchronizes, so a fault in the
//                                                 kernel is blamed on it, not on a later copy.
//   #if PW_ARCH_SM >= 800                         architecture-specific code paths: the
//                                                 __CUDA_ARCH__ value in nvcc's device pass, 0
//                                                 in host code and in simt (unless the simt
//                                                 build is given -DPW_ARCH_SM=...). Kernels
//                                                 never test __CUDA_ARCH__ themselves.
//   PW_HD                                         __host__ __device__, for helpers both sides use.
//
// A kernel failing while it runs on simt (deadlock, bad warp mask) throws pw::simt::Error from
// the launch; both it and CudaError are std::runtime_error, which the engine turns into
// pw::Error. This header must not be included by engine headers: under simt it defines
// threadIdx, __shared__ and the other CUDA names as macros and variables.
#pragma once
#include <cstdlib>
#include <stdexcept>
#include <string>

// The kernels and their tests rely on IEEE division and square roots (the cpu comparisons'
// tolerances assume them): --use_fast_math would change results silently.
#if defined(__USE_FAST_MATH__)
#error "kernels/cuda must not be built with --use_fast_math (IEEE division and sqrt are assumed)"
#endif

#ifdef __CUDACC__
#include <cuda_runtime.h>
#define PW_KERNEL_NS cuda
#define PW_CUDA_API ::
#ifdef __CUDA_ARCH__
#define PW_ARCH_SM __CUDA_ARCH__
#else
#define PW_ARCH_SM 0
#endif
#define PW_LAUNCH(kernel, grid, block, smem, stream) kernel<<<grid, block, smem, stream>>>
// Unrolls the loop that follows (nvcc); simt's C++ compiler decides for itself.
#define PW_UNROLL _Pragma("unroll")
#define PW_DYNAMIC_SMEM(type, name)                                 \
  extern __shared__ __align__(16) unsigned char pw_dynamic_smem_[]; \
  type* const name = reinterpret_cast<type*>(pw_dynamic_smem_)
#else
#include "kernels/simt/simt.h"
#define PW_KERNEL_NS simt
#define PW_CUDA_API ::pw::simt::
#ifndef PW_ARCH_SM
#define PW_ARCH_SM 0
#endif
#define PW_LAUNCH(kernel, grid, block, smem, stream) ::pw::simt::launcher(kernel, grid, block, smem, stream, #kernel)
#define PW_UNROLL
#define PW_DYNAMIC_SMEM(type, name) \
  type* const name = static_cast<type*>(::pw::simt::detail::dynamic_shared_memory(alignof(type), #type))
// Kernel code names threadIdx, dim3, cudaMalloc, ... unqualified, as in CUDA.
namespace pw::kernels::simt {
using namespace ::pw::simt;
}
#endif

#ifndef PW_HD
#define PW_HD __host__ __device__
#endif

namespace pw::kernels {
// What PW_CUDA_CHECK and PW_CUDA_CHECK_LAUNCH throw (kernels/ cannot see pw::Error).
class CudaError : public std::runtime_error {
 public:
  explicit CudaError(const std::string& what) : std::runtime_error(what) {}
};
}  // namespace pw::kernels

namespace pw::kernels::PW_KERNEL_NS::detail {
[[noreturn]] inline void cuda_fail(int code, const char* what, const char* file, int line) {
  const auto err = static_cast<PW_CUDA_API cudaError_t>(code);
  std::string msg = std::string(file) + ":" + std::to_string(line) + ": " + what +
                    " failed: " + PW_CUDA_API cudaGetErrorName(err) + " (" + PW_CUDA_API cudaGetErrorString(err) + ")";
#ifndef __CUDACC__
  if (const std::string& why = ::pw::simt::last_error_detail(); !why.empty()) msg += ": " + why;
#endif
  throw ::pw::kernels::CudaError(msg);
}

// PW_CUDA_SYNC=1 (read once per process): synchronize after every launch.
inline bool sync_after_launch() {
  static const bool on = [] {
    const char* v = std::getenv("PW_CUDA_SYNC");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

inline void check_launch(const char* file, int line) {
  int err = static_cast<int>(PW_CUDA_API cudaGetLastError());
  if (err != 0) cuda_fail(err, "kernel launch", file, line);
  if (!sync_after_launch()) return;
  err = static_cast<int>(PW_CUDA_API cudaDeviceSynchronize());
  if (err != 0) cuda_fail(err, "the kernel launched here (PW_CUDA_SYNC=1)", file, line);
}
}  // namespace pw::kernels::PW_KERNEL_NS::detail

#define PW_CUDA_CHECK(call)                                                                                         \
  do {                                                                                                              \
    const int pw_cuda_err_ = static_cast<int>(call);                                                                \
    if (pw_cuda_err_ != 0) ::pw::kernels::PW_KERNEL_NS::detail::cuda_fail(pw_cuda_err_, #call, __FILE__, __LINE__); \
  } while (0)
#define PW_CUDA_CHECK_LAUNCH() ::pw::kernels::PW_KERNEL_NS::detail::check_launch(__FILE__, __LINE__)
