// simt internals: streams and events, with a GPU's ordering. Work given to a stream made with
// cudaStreamCreate* -- an asynchronous copy or memset -- is queued, not done, until something
// needs it: later work that runs at once on the same stream (a launch, a synchronous call), an
// event wait or synchronization that depends on it, cudaStreamSynchronize, cudaDeviceSynchronize
// or cudaFree; the legacy default stream (null) first finishes the queued work of every blocking
// stream (flags 0), never of a cudaStreamNonBlocking one. So a copy is done as late as a GPU may
// do it: a kernel that reads its destination before waiting for its event reads the old bytes
// (poison, for fresh memory), and a pinned source the host changes before the copy has run is
// copied as changed -- the bugs a GPU would show now and then, shown every time. Work on the null
// stream and kernel launches run at once, in order.
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>

#include "kernels/simt/block.h"
#include "kernels/simt/launch.h"

namespace pw::simt {

struct CUstream_st {
  unsigned int flags = 0;
  std::deque<std::function<void()>> pending;  // queued work, oldest first
  std::mutex draining;                        // held while queued work runs, so it runs in order
};
struct CUevent_st {
  unsigned int flags = 0;
  bool recorded = false;
  bool done = true;               // the work before its last record has run
  uint64_t ticket = 0;            // of its last record: a marker of an older record completes nothing
  CUstream_st* stream = nullptr;  // of its last record, while not done
  std::chrono::steady_clock::time_point when;
};

namespace {
struct StreamState {
  std::mutex m;
  std::set<CUstream_st*> streams;
  std::set<CUevent_st*> events;
};
StreamState& state() {
  static StreamState* s = new StreamState;
  return *s;
}
std::string ptr_str(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}
cudaError_t check_stream(cudaStream_t s, const char* api) {
  if (!s) return cudaSuccess;  // the default stream
  std::lock_guard<std::mutex> lock(state().m);
  if (state().streams.count(s)) return cudaSuccess;
  return detail::fail(cudaErrorInvalidResourceHandle, std::string(api) + ": " + ptr_str(s) + " is not a live stream");
}
cudaError_t check_event(cudaEvent_t e, const char* api) {
  std::lock_guard<std::mutex> lock(state().m);
  if (e && state().events.count(e)) return cudaSuccess;
  return detail::fail(cudaErrorInvalidResourceHandle, std::string(api) + ": " + ptr_str(e) + " is not a live event");
}

// Runs the queued work of s, in order (the work itself takes state().m, so it runs unlocked).
void drain(cudaStream_t s) {
  if (!s) return;
  std::lock_guard<std::mutex> in_order(s->draining);
  for (;;) {
    std::function<void()> op;
    {
      std::lock_guard<std::mutex> lock(state().m);
      if (s->pending.empty()) return;
      op = std::move(s->pending.front());
      s->pending.pop_front();
    }
    op();
  }
}

void drain_all(bool blocking_only) {
  std::vector<cudaStream_t> streams;
  {
    std::lock_guard<std::mutex> lock(state().m);
    for (cudaStream_t s : state().streams)
      if (!blocking_only || !(s->flags & cudaStreamNonBlocking)) streams.push_back(s);
  }
  for (cudaStream_t s : streams) drain(s);
}

void complete(cudaEvent_t e, uint64_t ticket) {
  std::lock_guard<std::mutex> lock(state().m);
  if (!state().events.count(e) || e->ticket != ticket) return;
  e->done = true;
  e->stream = nullptr;
  e->when = std::chrono::steady_clock::now();
}

void finish_event(cudaEvent_t e) {
  cudaStream_t s = nullptr;
  {
    std::lock_guard<std::mutex> lock(state().m);
    if (e->done) return;
    s = e->stream;
  }
  drain(s);
}
}  // namespace

namespace detail {
void before_stream_work(cudaStream_t stream) {
  if (stream)
    drain(stream);
  else
    drain_all(/*blocking_only=*/true);
}

cudaError_t stream_submit(cudaStream_t stream, const char* api, std::function<void()> op) {
  if (cudaError_t e = check_stream(stream, api)) return e;
  if (!stream) {
    before_stream_work(nullptr);
    op();
    return cudaSuccess;
  }
  std::lock_guard<std::mutex> lock(state().m);
  stream->pending.push_back(std::move(op));
  return cudaSuccess;
}

void finish_all_streams() { drain_all(/*blocking_only=*/false); }
}  // namespace detail

// ---- streams ----
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  if (!stream) return detail::fail(cudaErrorInvalidValue, "cudaStreamCreate: null result pointer");
  *stream = new CUstream_st;
  (*stream)->flags = flags;
  std::lock_guard<std::mutex> lock(state().m);
  state().streams.insert(*stream);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, 0); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (!stream) return detail::fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: the default stream");
  if (cudaError_t e = check_stream(stream, "cudaStreamDestroy")) return e;
  drain(stream);  // as on a GPU, work queued before the destruction still runs
  {
    std::lock_guard<std::mutex> lock(state().m);
    state().streams.erase(stream);
  }
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  detail::note_host_sync("cudaStreamSynchronize");
  if (cudaError_t e = check_stream(s, "cudaStreamSynchronize")) return e;
  detail::before_stream_work(s);
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t s) {
  if (cudaError_t e = check_stream(s, "cudaStreamQuery")) return e;
  std::lock_guard<std::mutex> lock(state().m);
  return s && !s->pending.empty() ? cudaErrorNotReady : cudaSuccess;  // "not yet" keeps no error
}
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned int) {
  if (cudaError_t r = check_stream(s, "cudaStreamWaitEvent")) return r;
  if (cudaError_t r = check_event(e, "cudaStreamWaitEvent")) return r;
  finish_event(e);  // s's later work runs after it: simt runs the event's work now
  return cudaSuccess;
}

// ---- events ----
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  if (!event) return detail::fail(cudaErrorInvalidValue, "cudaEventCreate: null result pointer");
  *event = new CUevent_st;
  (*event)->flags = flags;
  std::lock_guard<std::mutex> lock(state().m);
  state().events.insert(*event);
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, 0); }
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  if (cudaError_t e = check_event(event, "cudaEventRecord")) return e;
  if (cudaError_t e = check_stream(stream, "cudaEventRecord")) return e;
  if (!stream) detail::before_stream_work(nullptr);
  std::lock_guard<std::mutex> lock(state().m);
  event->recorded = true;
  const uint64_t ticket = ++event->ticket;
  if (!stream || stream->pending.empty()) {  // everything before it has run: now is its time
    event->done = true;
    event->stream = nullptr;
    event->when = std::chrono::steady_clock::now();
    return cudaSuccess;
  }
  event->done = false;
  event->stream = stream;
  stream->pending.push_back([event, ticket] { complete(event, ticket); });
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  detail::note_host_sync("cudaEventSynchronize");
  if (cudaError_t e = check_event(event, "cudaEventSynchronize")) return e;
  finish_event(event);
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
  if (cudaError_t e = check_event(event, "cudaEventQuery")) return e;
  std::lock_guard<std::mutex> lock(state().m);
  return event->done ? cudaSuccess : cudaErrorNotReady;  // "not yet" keeps no error, as in CUDA
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms) return detail::fail(cudaErrorInvalidValue, "cudaEventElapsedTime: null result pointer");
  if (cudaError_t e = check_event(start, "cudaEventElapsedTime")) return e;
  if (cudaError_t e = check_event(end, "cudaEventElapsedTime")) return e;
  if (!start->recorded || !end->recorded || ((start->flags | end->flags) & cudaEventDisableTiming))
    return detail::fail(cudaErrorInvalidResourceHandle,
                        "cudaEventElapsedTime: an event was never recorded or has timing disabled");
  std::lock_guard<std::mutex> lock(state().m);
  if (!start->done || !end->done) return cudaErrorNotReady;
  *ms = std::chrono::duration<float, std::milli>(end->when - start->when).count();
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (cudaError_t e = check_event(event, "cudaEventDestroy")) return e;
  finish_event(event);  // its marker in a queue refers to it
  {
    std::lock_guard<std::mutex> lock(state().m);
    state().events.erase(event);
  }
  delete event;
  return cudaSuccess;
}

}  // namespace pw::simt
