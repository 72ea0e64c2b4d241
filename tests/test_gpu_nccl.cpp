// The NCCL backend of engine/dist on a GPU (label gpu; tools/gpu_check.sh runs it): a world of
// one rank (bootstrapped without mpirun) sums and broadcasts device buffers. Skips, saying
// "not run", without NCCL in the build or without a GPU. The two-rank NCCL path is not tested
// (training does not use NCCL yet: gradients travel through host memory over MPI).
#include <gtest/gtest.h>

#include "engine/device/device.h"
#include "engine/dist/comm.h"
#include "engine/tensor.h"

namespace pw {
namespace {

TEST(Nccl, OneRankSumsAndBroadcastsDeviceBuffers) {
  if (!dist::built_with_nccl()) GTEST_SKIP() << "patchwork was built without NCCL: not run";
  const Device gpu{DeviceType::cuda, 0};
  if (!device_available(gpu)) GTEST_SKIP() << "no GPU: not run";
  const std::unique_ptr<dist::Communicator> nccl = dist::make_nccl(dist::world(), 0);
  EXPECT_EQ(nccl->backend(), "nccl");
  EXPECT_EQ(nccl->size(), 1);
  const Tensor t = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5}, {5}).to(gpu);
  nccl->all_reduce_sum(static_cast<float*>(t.raw_data()), t.numel());
  EXPECT_EQ(t.to_vector_f32(), (std::vector<float>{1, 2, 3, 4, 5}));
  nccl->broadcast(t.raw_data(), t.numel() * (int64_t)sizeof(float), 0);
  EXPECT_EQ(t.to_vector_f32(), (std::vector<float>{1, 2, 3, 4, 5}));
  nccl->barrier();
}

}  // namespace
}  // namespace pw
