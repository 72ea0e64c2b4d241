// simt's streams and events keep a GPU's ordering (kernels/simt/streams.cpp): an asynchronous
// copy on a created stream is done no earlier than something waits for it, so a reader that
// forgot the event sees the old bytes, and a pinned source changed too early is copied as
// changed. And the host synchronizations a GPU would make are counted (runtime.h, sync_count).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/simt/runtime.h"

using namespace pw::simt;

namespace {

std::vector<float> download(const float* d, size_t n) {
  std::vector<float> h(n);
  EXPECT_EQ(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  return h;
}

bool poisoned(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return bits == 0xFFFFFFFFu;
}

struct Fixture {
  float* dev = nullptr;
  float* pinned = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t copied = nullptr;
  explicit Fixture(unsigned flags = cudaStreamNonBlocking) {
    EXPECT_EQ(cudaMalloc(&dev, 64 * sizeof(float)), cudaSuccess);
    EXPECT_EQ(cudaMallocHost(&pinned, 64 * sizeof(float)), cudaSuccess);
    for (int i = 0; i < 64; ++i) pinned[i] = float(i);
    EXPECT_EQ(cudaStreamCreateWithFlags(&stream, flags), cudaSuccess);
    EXPECT_EQ(cudaEventCreateWithFlags(&copied, cudaEventDisableTiming), cudaSuccess);
  }
  ~Fixture() {
    cudaEventDestroy(copied);
    cudaStreamDestroy(stream);
    cudaFreeHost(pinned);
    cudaFree(dev);
  }
};

}  // namespace

TEST(SimtStreams, AnAsyncCopyIsNotThereBeforeItsEventIsWaitedFor) {
  Fixture f;
  ASSERT_EQ(cudaMemcpyAsync(f.dev, f.pinned, 64 * sizeof(float), cudaMemcpyHostToDevice, f.stream), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(f.copied, f.stream), cudaSuccess);
  EXPECT_EQ(cudaEventQuery(f.copied), cudaErrorNotReady);
  EXPECT_EQ(cudaStreamQuery(f.stream), cudaErrorNotReady);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // "not ready" is no error
  // The legacy default stream does not wait for a non-blocking stream: the destination is fresh.
  EXPECT_TRUE(poisoned(download(f.dev, 64)[5]));
  ASSERT_EQ(cudaStreamWaitEvent(nullptr, f.copied, 0), cudaSuccess);
  EXPECT_EQ(cudaEventQuery(f.copied), cudaSuccess);
  EXPECT_EQ(download(f.dev, 64)[5], 5.0f);
}

TEST(SimtStreams, APinnedSourceChangedBeforeTheCopyRanIsCopiedAsChanged) {
  Fixture f;
  ASSERT_EQ(cudaMemcpyAsync(f.dev, f.pinned, 64 * sizeof(float), cudaMemcpyHostToDevice, f.stream), cudaSuccess);
  f.pinned[7] = -1.0f;  // a bug: the host may not touch it until the copy's event
  ASSERT_EQ(cudaStreamSynchronize(f.stream), cudaSuccess);
  EXPECT_EQ(download(f.dev, 64)[7], -1.0f);
}

TEST(SimtStreams, APageableSourceIsStagedWhenTheCallReturns) {
  Fixture f;
  std::vector<float> pageable(64, 3.0f);
  ASSERT_EQ(cudaMemcpyAsync(f.dev, pageable.data(), 64 * sizeof(float), cudaMemcpyHostToDevice, f.stream), cudaSuccess);
  pageable.assign(64, 4.0f);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(download(f.dev, 64)[0], 3.0f);
}

TEST(SimtStreams, TheDefaultStreamWaitsForABlockingStream) {
  Fixture f(cudaStreamDefault);
  ASSERT_EQ(cudaMemcpyAsync(f.dev, f.pinned, 64 * sizeof(float), cudaMemcpyHostToDevice, f.stream), cudaSuccess);
  ASSERT_EQ(cudaMemsetAsync(f.dev, 0, 4 * sizeof(float), f.stream), cudaSuccess);  // after the copy, in order
  const std::vector<float> h = download(f.dev, 64);                                // the null stream
  EXPECT_EQ(h[3], 0.0f);
  EXPECT_EQ(h[4], 4.0f);
}

TEST(SimtStreams, ACopyIntoPageableMemoryIsDoneOnReturnAndACopyIntoPinnedMemoryIsNot) {
  Fixture f;
  ASSERT_EQ(cudaMemset(f.dev, 0, 64 * sizeof(float)), cudaSuccess);
  std::vector<float> pageable(64, 9.0f);
  ASSERT_EQ(cudaMemcpyAsync(pageable.data(), f.dev, 64 * sizeof(float), cudaMemcpyDeviceToHost, f.stream), cudaSuccess);
  EXPECT_EQ(pageable[0], 0.0f);
  ASSERT_EQ(cudaMemcpyAsync(f.pinned, f.dev, 64 * sizeof(float), cudaMemcpyDeviceToHost, f.stream), cudaSuccess);
  EXPECT_EQ(f.pinned[1], 1.0f);  // not yet
  ASSERT_EQ(cudaEventRecord(f.copied, f.stream), cudaSuccess);
  ASSERT_EQ(cudaEventSynchronize(f.copied), cudaSuccess);
  EXPECT_EQ(f.pinned[1], 0.0f);
}

TEST(SimtStreams, FreeingMemoryFinishesTheQueuedWork) {
  auto* f = new Fixture;
  ASSERT_EQ(cudaMemcpyAsync(f->dev, f->pinned, 64 * sizeof(float), cudaMemcpyHostToDevice, f->stream), cudaSuccess);
  delete f;  // cudaFree runs the queued copy first, so it never writes freed memory
  SUCCEED();
}

TEST(SimtStreams, HostSynchronizationsAreCountedAsAGpuWouldMakeThem) {
  Fixture f;
  float* other = nullptr;
  ASSERT_EQ(cudaMalloc(&other, 64 * sizeof(float)), cudaSuccess);
  std::vector<float> host(64);
  auto count = [](auto&& call) {
    const uint64_t before = sync_count();
    EXPECT_EQ(call(), cudaSuccess);
    return sync_count() - before;
  };
  const size_t bytes = 64 * sizeof(float);
  EXPECT_EQ(count([&] { return cudaMemcpy(f.dev, host.data(), bytes, cudaMemcpyHostToDevice); }), 1u);
  EXPECT_EQ(count([&] { return cudaMemcpy(host.data(), f.dev, bytes, cudaMemcpyDeviceToHost); }), 1u);
  EXPECT_EQ(count([&] { return cudaMemcpy(other, f.dev, bytes, cudaMemcpyDeviceToDevice); }), 0u);
  EXPECT_EQ(count([&] { return cudaMemcpy(other, f.dev, bytes, cudaMemcpyDefault); }), 0u);
  EXPECT_EQ(count([&] { return cudaMemcpyAsync(f.dev, f.pinned, bytes, cudaMemcpyHostToDevice, f.stream); }), 0u);
  EXPECT_EQ(count([&] { return cudaMemcpyAsync(f.pinned, f.dev, bytes, cudaMemcpyDeviceToHost, f.stream); }), 0u);
  EXPECT_EQ(count([&] { return cudaMemcpyAsync(f.dev, host.data(), bytes, cudaMemcpyHostToDevice, f.stream); }), 1u);
  EXPECT_EQ(count([&] { return cudaMemcpyAsync(host.data(), f.dev, bytes, cudaMemcpyDeviceToHost, f.stream); }), 1u);
  EXPECT_EQ(count([&] { return cudaMemsetAsync(f.dev, 0, bytes, f.stream); }), 0u);
  EXPECT_EQ(count([&] { return cudaEventRecord(f.copied, f.stream); }), 0u);
  EXPECT_EQ(count([&] { return cudaStreamWaitEvent(nullptr, f.copied, 0); }), 0u);
  EXPECT_EQ(count([&] { return cudaEventSynchronize(f.copied); }), 1u);
  EXPECT_EQ(count([&] { return cudaStreamSynchronize(f.stream); }), 1u);
  EXPECT_EQ(count([&] { return cudaDeviceSynchronize(); }), 1u);
  EXPECT_EQ(count([&] { return cudaFree(other); }), 1u);
  EXPECT_NE(sync_counts_text().find("cudaMemcpy DeviceToHost: "), std::string::npos) << sync_counts_text();
}
