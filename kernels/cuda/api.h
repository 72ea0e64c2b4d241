// The host-side API of kernels/cuda: what the engine calls on the cuda and simt devices.
//
// kernels/cuda/*.cu is compiled twice -- by nvcc into namespace pw::kernels::cuda and by the
// host compiler (against kernels/simt) into pw::kernels::simt -- and this header declares the
// same functions in whichever namespace PW_LAUNCHER_NS names. It has no include guard on
// purpose: engine/device/gpu.h includes it once per namespace. It holds only plain C++ types
// (raw pointers, sizes, the enums of kernels/common/ops.h), never CUDA's, so engine code that
// includes it never sees the CUDA or simt macros.
//
// Every function takes a Tag first: the engine calls them unqualified with the Tag of the
// device it dispatches to, and argument-dependent lookup picks the namespace.
// Pointers are device pointers unless a name says host. Functions throw std::runtime_error
// (kernels::CudaError, simt::Error) with the file and line of a failed CUDA call.
#ifndef PW_LAUNCHER_NS
#error "define PW_LAUNCHER_NS (cuda or simt) before including kernels/cuda/api.h"
#endif
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/common/ops.h"

namespace pw::kernels::PW_LAUNCHER_NS {

struct Tag {};

// ---- runtime.cu: devices, memory, copies ----
int device_count(Tag);  // 0 when no device is usable (never throws for that)
// GPU `index`: "NVIDIA H100 80GB HBM3, 132 SMs, sm_90, 79.1 GiB".
std::string device_description(Tag, int index);
// Makes GPU `index` current on the calling thread (cudaSetDevice; simt has one, 0). Every call
// into a device's kernels goes through it (engine/device/gpu.h), so cuda:1 runs on GPU 1.
void set_device(Tag, int index);
void* device_malloc(Tag, size_t bytes);  // nullptr when out of memory
void device_free(Tag, void* ptr);
void copy_host_to_device(Tag, void* dst, const void* host_src, size_t bytes);
void copy_device_to_host(Tag, void* host_dst, const void* src, size_t bytes);
void copy_device_to_device(Tag, void* dst, const void* src, size_t bytes);
void synchronize(Tag);
// Pinned (page-locked) host memory, which asynchronous copies need to overlap with compute, and
// the events and streams that order them. Streams and events are opaque handles; the null
// stream is the legacy default stream that every kernel of the engine runs on.
void* pinned_malloc(Tag, size_t bytes);  // nullptr when out of memory
void pinned_free(Tag, void* ptr);
// Enqueues a copy from pinned host memory on `stream`: the host may not change `pinned_src`
// until the copy has run (an event recorded after it is done).
void copy_pinned_to_device_async(Tag, void* dst, const void* pinned_src, size_t bytes, void* stream);
void* stream_create_non_blocking(Tag);  // a stream that does not wait for the legacy default stream
void* event_create(Tag);                // without timing
void event_destroy(Tag, void* event);
void event_record(Tag, void* event, void* stream);
bool event_done(Tag, void* event);                       // cudaEventQuery: never waits
void stream_wait_event(Tag, void* stream, void* event);  // later work on stream waits for event

// ---- copy.cu: strided copies with conversion, fills ----
void copy_strided(Tag, const void* src, ElemType src_type, void* dst, ElemType dst_type, const StridedLayout& layout);
void fill(Tag, void* dst, ElemType type, int64_t n, double value);

}  // namespace pw::kernels::PW_LAUNCHER_NS

// Op kernels: one declaration file per .cu file, same conventions (each opens the namespace).
#include "kernels/cuda/api/conv.inc"
#include "kernels/cuda/api/dropout.inc"
#include "kernels/cuda/api/elementwise.inc"
#include "kernels/cuda/api/gemm.inc"
#include "kernels/cuda/api/gemm_tc.inc"
#include "kernels/cuda/api/loss.inc"
#include "kernels/cuda/api/lrn.inc"
#include "kernels/cuda/api/norm.inc"
#include "kernels/cuda/api/optim.inc"
#include "kernels/cuda/api/pool.inc"
#include "kernels/cuda/api/reduce.inc"
#include "kernels/cuda/api/resize.inc"
#include "kernels/cuda/api/shape.inc"
