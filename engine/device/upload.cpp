// Uploads through pinned staging buffers: see upload.h. Each device keeps up to kMaxBuffers
// pinned buffers, each with an event recorded after the copy that last read it; an upload takes
// a buffer whose event is done (cudaEventQuery, no wait) and large enough, so in the steady
// state of a training loop (the same sizes every step) it never waits.
#include "engine/device/upload.h"

#include <cstring>
#include <mutex>
#include <vector>

#include "engine/device/gpu.h"

namespace pw {

namespace {

constexpr int kMaxBuffers = 8;
constexpr size_t kMinBufferBytes = size_t{1} << 20;

struct StagingBuffer {
  void* pinned = nullptr;
  size_t capacity = 0;
  void* copied = nullptr;  // event recorded after the last copy from this buffer
};

struct Staging {
  std::mutex mu;
  std::vector<StagingBuffer> buffers;
  UploadStats stats;
};

Staging& staging(Device d) {
  // Never destroyed: tensors in static storage may be uploaded during static destruction.
  static Staging(*all)[8] = new Staging[3][8];
  PW_CHECK(d.index >= 0 && d.index < 8, "upload: device index ", d.index, " out of range");
  return all[(int)d.type][d.index];
}

// A buffer of at least `bytes` that no copy still reads, or nullptr when pinned memory ran out.
// Caller holds s.mu.
StagingBuffer* take_buffer(Device d, Staging& s, size_t bytes) {
  StagingBuffer* done_small = nullptr;
  for (StagingBuffer& b : s.buffers) {
    const bool done = on_gpu(d, [&](auto tag) { return event_done(tag, b.copied); });
    if (done && b.capacity >= bytes) return &b;
    if (done && !done_small) done_small = &b;
  }
  StagingBuffer* b = done_small;
  if (!b && (int)s.buffers.size() < kMaxBuffers) {
    s.buffers.push_back(StagingBuffer{nullptr, 0, on_gpu(d, [](auto tag) { return event_create(tag); })});
    b = &s.buffers.back();
  }
  if (!b) {  // every buffer is still being copied from: wait for the device
    on_gpu(d, [](auto tag) { synchronize(tag); });
    s.stats.waits++;
    b = &s.buffers.front();
  }
  if (b->capacity < bytes) {
    if (b->pinned) {
      on_gpu(d, [&](auto tag) { pinned_free(tag, b->pinned); });  // cudaFreeHost waits for the device
      s.stats.waits++;
      s.stats.pinned_bytes -= b->capacity;
    }
    b->capacity = std::max(bytes, kMinBufferBytes);
    b->pinned = on_gpu(d, [&](auto tag) { return pinned_malloc(tag, b->capacity); });
    if (!b->pinned) {
      b->capacity = 0;
      return nullptr;
    }
    s.stats.pinned_bytes += b->capacity;
  }
  return b;
}

}  // namespace

void upload_to_device(Device d, void* dst, const void* src, size_t bytes) {
  PW_CHECK(is_gpu(d), "upload: ", d.str(), " is not a GPU device");
  if (bytes == 0) return;
  Staging& s = staging(d);
  std::lock_guard<std::mutex> lock(s.mu);
  StagingBuffer* b = take_buffer(d, s, bytes);
  if (!b) {  // no pinned memory: a plain copy, which waits
    on_gpu(d, [&](auto tag) { copy_host_to_device(tag, dst, src, bytes); });
    s.stats.waits++;
    return;
  }
  std::memcpy(b->pinned, src, bytes);
  on_gpu(d, [&](auto tag) {
    copy_pinned_to_device_async(tag, dst, b->pinned, bytes, nullptr);
    event_record(tag, b->copied, nullptr);
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
