// Engine-internal: the kernels/cuda API of both GPU builds, and the dispatch to one of them.
// Include only from .cpp files of the engine.
#pragma once
#include <stdexcept>

#include "engine/device/device.h"
#include "engine/util/error.h"

#define PW_LAUNCHER_NS simt
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS
#if PW_HAVE_CUDA
#define PW_LAUNCHER_NS cuda
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS
#endif

namespace pw {

inline kernels::ElemType elem_type(DType t) { return static_cast<kernels::ElemType>(t); }

// Calls f(tag) with the kernel Tag of GPU device d, so that f's unqualified calls
// (`fill(tag, ...)`) reach that device's build of kernels/cuda. Errors from the kernels
// (failed CUDA calls, simt deadlocks) come out as pw::Error.
template <class F>
decltype(auto) on_gpu(Device d, F&& f) {
  try {
    if (d.type == DeviceType::simt) return f(kernels::simt::Tag{});
#if PW_HAVE_CUDA
    if (d.type == DeviceType::cuda) {
      kernels::cuda::set_device(kernels::cuda::Tag{}, d.index);
      return f(kernels::cuda::Tag{});
    }
#endif
  } catch (const Error&) {
    throw;
  } catch (const std::runtime_error& e) {
    throw Error(e.what());
  }
  PW_FAIL("device ", d.str(), " has no GPU kernels in this build");
}

}  // namespace pw
