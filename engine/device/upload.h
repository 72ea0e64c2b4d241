// Uploads from host memory to a GPU device (cuda, simt) that do not make the host wait for the
// device: the bytes are copied on the host into a pinned staging buffer, from there by an
// asynchronous copy on the device's upload stream (overlapping the kernels still running), and
// on the compute stream, once it has waited on that copy's event, into the destination: ordered
// before every kernel launched afterwards on the device (upload.cpp has the protocol).
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine/dtype.h"

namespace pw {

// Copies `bytes` from host memory `src` (pageable: any) to the device memory `dst` of GPU device
// d. `src` may be changed or freed as soon as this returns; the copy runs before any kernel
// launched on d after this call. The host waits only where the staging buffers must grow or are
// all still in flight (each such wait is counted in UploadStats::waits).
void upload_to_device(Device d, void* dst, const void* src, size_t bytes);

struct UploadStats {
  int64_t uploads = 0;  // through the staging buffers
  int64_t buffers = 0;  // pinned staging buffers held now
  size_t pinned_bytes = 0;
  int64_t waits = 0;  // uploads that waited for the device (a staging buffer grew or all were busy)
};
UploadStats upload_stats(Device d);

}  // namespace pw
