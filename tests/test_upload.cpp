// Uploads through pinned staging buffers and their own stream (engine/device/upload.h), on simt,
// whose streams run an asynchronous copy no earlier than something waits for it: a missing wait
// would show as poison in the uploaded tensor.
#include <gtest/gtest.h>

#include <numeric>
#include <vector>

#include "engine/device/upload.h"
#include "engine/tensor.h"
#include "kernels/simt/runtime.h"

using namespace pw;

namespace {
const Device kSimt{DeviceType::simt, 0};
}

TEST(Upload, AnUploadedTensorHoldsTheHostBytesAndTheSourceMayChangeAtOnce) {
  std::vector<float> host(1000);
  std::iota(host.begin(), host.end(), 0.0f);
  Tensor t = Tensor::empty({1000}, DType::f32, kSimt);
  upload_to_device(kSimt, t.raw_data(), host.data(), host.size() * sizeof(float));
  const std::vector<float> want = host;
  host.assign(host.size(), -5.0f);  // the bytes were taken when the call returned
  EXPECT_EQ(t.to_vector_f32(), want);
}

TEST(Upload, SeveralUploadsInFlightKeepTheirOwnBytes) {
  std::vector<Tensor> on_device;
  for (int k = 0; k < 20; ++k) {
    const std::vector<float> host(3000 + 500 * (k % 3), float(k));
    on_device.push_back(Tensor::from_vector(host, {(int64_t)host.size()}).to(kSimt));
  }
  for (int k = 0; k < 20; ++k) {
    const std::vector<float> v = on_device[k].to_vector_f32();
    EXPECT_EQ(v.front(), float(k));
    EXPECT_EQ(v.back(), float(k));
  }
}

TEST(Upload, InTheSteadyStateAnUploadNeverWaitsForTheDevice) {
  const std::vector<float> host(4096, 1.0f);
  Tensor t = Tensor::empty({4096}, DType::f32, kSimt);
  upload_to_device(kSimt, t.raw_data(), host.data(), 4096 * sizeof(float));  // warm: buffers exist
  const UploadStats before = upload_stats(kSimt);
  const uint64_t syncs = simt::sync_count();
  for (int k = 0; k < 50; ++k) upload_to_device(kSimt, t.raw_data(), host.data(), 4096 * sizeof(float));
  const UploadStats after = upload_stats(kSimt);
  EXPECT_EQ(simt::sync_count() - syncs, 0u) << simt::sync_counts_text();
  EXPECT_EQ(after.waits, before.waits);
  EXPECT_EQ(after.uploads - before.uploads, 50);
  EXPECT_LE(after.buffers, 16);
}
