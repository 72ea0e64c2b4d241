// Uploads through staging buffers on their own stream: see upload.h.
//
// Each device has an upload stream (cudaStreamNonBlocking: it does not wait for the kernels of
// the legacy default stream, where the engine computes) and up to kMaxBuffers staging buffers,
// each a pinned host buffer and a device buffer of the same size with two events:
//   host:           memcpy src -> pinned                    (once the buffer's last upload copied)
//   upload stream:  wait(consumed); pinned -> device; record(copied)
//   compute stream: wait(copied); device -> dst; record(consumed)
// The copy from pinned memory overlaps the kernels still running on the compute stream; dst, a
// block of the caching allocator, is written on the compute stream only, so the allocator's
// stream-ordered reuse stays right without cross-stream bookkeeping. The host takes a buffer
// whose `copied` event is done (cudaEventQuery, no wait): in the steady state of a training
// loop (the same sizes every step) it never waits.
#include "engine/device/upload.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "engine/device/gpu.h"

namespace pw {

namespace {

// At most this many uploads in flight: a host further ahead of the device waits here. A
// training step makes two uploads, so the host waits only when it is more than 8 steps ahead
// (the loop's reads, every --log-every steps, bound that too). Each buffer costs its size twice,
// in pinned and in device memory. Not tuned on a GPU.
constexpr int kMaxBuffers = 16;
constexpr size_t kMinBufferBytes = size_t{1} << 20;

struct StagingBuffer {
  void* pinned = nullptr;
  void* device = nullptr;
  size_t capacity = 0;
  void* copied = nullptr;    // event on the upload stream after the copy from `pinned`
  void* consumed = nullptr;  // event on the compute stream after the copy from `device`
};

struct Staging {
  std::mutex mu;
  void* stream = nullptr;  // the upload stream, made at the first upload
  std::vector<StagingBuffer> buffers;
  size_t next = 0;  // round robin: the buffer used longest ago comes first
  UploadStats stats;
};

Staging& staging(Device d) {
  // Never destroyed: tensors in static storage may be uploaded during static destruction.
  static Staging(*all)[8] = new Staging[3][8];
  PW_CHECK(d.index >= 0 && d.index < 8, "upload: device index ", d.index, " out of range");
  return all[(int)d.type][d.index];
}

// Gives b room for `bytes` (its copies are done); false when the device or pinned memory ran out.
bool grow(Device d, Staging& s, StagingBuffer& b, size_t bytes) {
  if (b.capacity >= bytes) return true;
  on_gpu(d, [&](auto tag) {
    if (b.pinned) pinned_free(tag, b.pinned);  // cudaFreeHost and cudaFree wait for the device
    if (b.device) device_free(tag, b.device);
  });
  if (b.pinned) s.stats.waits++;
  s.stats.pinned_bytes -= b.capacity;
  b.capacity = std::max(bytes, kMinBufferBytes);
  on_gpu(d, [&](auto tag) {
    b.pinned = pinned_malloc(tag, b.capacity);
    b.device = device_malloc(tag, b.capacity);
  });
  if (b.pinned && b.device) {
    s.stats.pinned_bytes += b.capacity;
    return true;
  }
  on_gpu(d, [&](auto tag) {
    if (b.pinned) pinned_free(tag, b.pinned);
    if (b.device) device_free(tag, b.device);
  });
  b = StagingBuffer{nullptr, nullptr, 0, b.copied, b.consumed};
  return false;
}

// A buffer of at least `bytes` whose pinned memory no copy still reads, or nullptr when memory
// ran out. Caller holds s.mu.
StagingBuffer* take_buffer(Device d, Staging& s, size_t bytes) {
  StagingBuffer* b = nullptr;
  for (size_t k = 0; k < s.buffers.size() && !b; ++k) {
    StagingBuffer& c = s.buffers[(s.next + k) % s.buffers.size()];
    if (on_gpu(d, [&](auto tag) { return event_done(tag, c.copied); })) b = &c;
  }
  if (!b && (int)s.buffers.size() < kMaxBuffers) {
    StagingBuffer fresh;
    on_gpu(d, [&](auto tag) {
      fresh.copied = event_create(tag);
      fresh.consumed = event_create(tag);
    });
    s.buffers.push_back(fresh);
    b = &s.buffers.back();
  }
  if (!b) {  // every buffer is still being copied from: wait for the device
    on_gpu(d, [](auto tag) { synchronize(tag); });
    s.stats.waits++;
    b = &s.buffers[s.next % s.buffers.size()];
  }
  s.next = (size_t)(b - s.buffers.data()) + 1;
  return grow(d, s, *b, bytes) ? b : nullptr;
}

}  // namespace

void upload_to_device(Device d, void* dst, const void* src, size_t bytes) {
  PW_CHECK(is_gpu(d), "upload: ", d.str(), " is not a GPU device");
  if (bytes == 0) return;
  Staging& s = staging(d);
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.stream) s.stream = on_gpu(d, [](auto tag) { return stream_create_non_blocking(tag); });
  StagingBuffer* b = take_buffer(d, s, bytes);
  if (!b) {  // no pinned or staging memory: a plain copy, which waits
    on_gpu(d, [&](auto tag) { copy_host_to_device(tag, dst, src, bytes); });
    s.stats.waits++;
    return;
  }
  std::memcpy(b->pinned, src, bytes);
  on_gpu(d, [&](auto tag) {
    stream_wait_event(tag, s.stream, b->consumed);  // the compute stream has read the last upload
    copy_pinned_to_device_async(tag, b->device, b->pinned, bytes, s.stream);
    event_record(tag, b->copied, s.stream);
    stream_wait_event(tag, nullptr, b->copied);
    copy_device_to_device(tag, dst, b->device, bytes);  // on the compute stream, in its order
    event_record(tag, b->consumed, nullptr);
  });
  s.stats.uploads++;
  s.stats.buffers = (int64_t)s.buffers.size();
}

UploadStats upload_stats(Device d) {
  Staging& s = staging(d);
  std::lock_guard<std::mutex> lock(s.mu);
  return s.stats;
}

}  // namespace pw
