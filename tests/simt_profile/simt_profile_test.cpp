// test_simt_profile: simt-profile (kernels/simt/profile.h) on analytic micro-kernels
// (profile_kernels.cu, built checked): sectors per request of strided float loads, shared
// wavefronts of conflicting, conflict-free and broadcast accesses, lanes matched into requests
// across loop iterations, the estimate of a pure streaming kernel against bytes / bandwidth,
// occupancy from a ptxas table, and the report's JSON and table.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#define PW_LAUNCHER_NS simt
#include "kernels/cuda/api.h"  // sgemm_with_plan, sgemm_plan
#undef PW_LAUNCHER_NS
#include "kernels/simt/profile.h"
#include "tests/simt_kernels/test_support.h"
#include "tests/simt_profile/profile_kernels.h"

namespace prof = pw::kernels::simt::profile_test;
using pw::simt::ProfileLaunch;
using pw::simt::ProfileSite;
using pw::simt::ProfileSpace;
using pw::simt::testing::DeviceBuffer;

namespace {

class SimtProfile : public ::testing::Test {
 protected:
  void SetUp() override {
    pw::simt::profile_reset();
    pw::simt::set_profiling(true);
  }
  void TearDown() override {
    pw::simt::set_profiling(false);
    pw::simt::profile_reset();
  }
  // The one launch recorded.
  static const ProfileLaunch& only_launch() {
    EXPECT_EQ(pw::simt::profile_launches().size(), 1u);
    return pw::simt::profile_launches().back();
  }
};

// The instructions of `l` in `space` that read (write == false) or write.
std::vector<ProfileSite> sites(const ProfileLaunch& l, ProfileSpace space, bool write) {
  std::vector<ProfileSite> out;
  for (const ProfileSite& s : l.sites)
    if (s.space == space && s.write == write) out.push_back(s);
  return out;
}

TEST_F(SimtProfile, StridedFloatLoadsTouchFourEightAndThirtyTwoSectors) {
  DeviceBuffer<float> in(32 * 32), out(32);
  for (const auto& [stride, sectors] : {std::pair{1, 4u}, {2, 8u}, {32, 32u}}) {
    pw::simt::profile_reset();
    prof::strided_load(in.get(), out.get(), stride);
    const ProfileLaunch& l = only_launch();
    const auto loads = sites(l, ProfileSpace::global, false);
    ASSERT_EQ(loads.size(), 1u) << "stride " << stride;
    EXPECT_EQ(loads[0].requests, 1u);
    EXPECT_EQ(loads[0].lane_accesses, 32u);
    EXPECT_EQ(loads[0].sectors, sectors) << "stride " << stride;
    EXPECT_EQ(loads[0].ideal_sectors, 4u);
    const auto stores = sites(l, ProfileSpace::global, true);
    ASSERT_EQ(stores.size(), 1u);
    EXPECT_EQ(stores[0].sectors, 4u);
    EXPECT_EQ(l.read_sectors, sectors);
    EXPECT_EQ(l.write_sectors, 4u);
    EXPECT_GT(l.hooks, 0u);
  }
}

TEST_F(SimtProfile, SharedBankConflictsAndBroadcasts) {
  DeviceBuffer<float> out(32);
  for (const auto& [stride, wavefronts] : {std::pair{32, 32u}, {33, 1u}, {1, 1u}}) {
    pw::simt::profile_reset();
    prof::shared_stride(out.get(), stride);
    const ProfileLaunch& l = only_launch();
    const auto stores = sites(l, ProfileSpace::shared, true);
    ASSERT_EQ(stores.size(), 1u);
    EXPECT_EQ(stores[0].wavefronts, wavefronts) << "s[t*" << stride << "] store";
    EXPECT_EQ(stores[0].ideal_wavefronts, 1u);
    const auto loads = sites(l, ProfileSpace::shared, false);
    ASSERT_EQ(loads.size(), 2u);  // s[t * stride] and the broadcast s[0], in either order
    std::multiset<uint64_t> got;
    for (const ProfileSite& s : loads) {
      EXPECT_EQ(s.requests, 1u);
      got.insert(s.wavefronts);
    }
    EXPECT_EQ(got, (std::multiset<uint64_t>{wavefronts, 1u})) << "s[t*" << stride << "] load, then s[0] by every lane";
  }
}

TEST_F(SimtProfile, LanesAreMatchedIntoOneRequestPerIteration) {
  const int threads = 96, rounds = 5;  // three warps
  DeviceBuffer<float> in(threads * rounds), out(threads);
  prof::loop_load(in.get(), out.get(), threads, rounds);
  const auto loads = sites(only_launch(), ProfileSpace::global, false);
  ASSERT_EQ(loads.size(), 1u);
  EXPECT_EQ(loads[0].requests, uint64_t(3 * rounds));
  EXPECT_EQ(loads[0].lane_accesses, uint64_t(threads * rounds));
  EXPECT_EQ(loads[0].sectors, uint64_t(3 * rounds * 4));
}

TEST_F(SimtProfile, StreamingKernelIsEstimatedAtItsBytesOverTheBandwidth) {
  const int n = 1 << 18, blocks = 264;
  DeviceBuffer<float> x(n), y(n);
  prof::copy(x.get(), y.get(), n, blocks);
  const ProfileLaunch& l = only_launch();
  EXPECT_EQ(l.read_sectors, uint64_t(n) * 4 / 32);
  EXPECT_EQ(l.write_sectors, uint64_t(n) * 4 / 32);
  EXPECT_EQ(l.flops, 0.0);
  for (const pw::simt::GpuSpec& gpu : pw::simt::gpu_specs()) {
    const pw::simt::LaunchEstimate e = pw::simt::estimate_launch(l, gpu);
    const double ideal = 2.0 * n * sizeof(float) / gpu.dram_bytes_per_s;
    EXPECT_NEAR(e.total_s, ideal, ideal * 0.01) << gpu.name;
    EXPECT_STREQ(e.bound, "DRAM") << gpu.name;
  }
}

TEST_F(SimtProfile, OccupancyComesFromThePtxasTable) {
  const int n = 1 << 12;
  DeviceBuffer<float> x(n), y(n);
  prof::copy(x.get(), y.get(), n, 16);
  const ProfileLaunch& l = only_launch();
  const pw::simt::GpuSpec& h100 = pw::simt::gpu_spec("h100");
  EXPECT_FALSE(pw::simt::estimate_launch(l, h100).resources_known);
  EXPECT_EQ(pw::simt::estimate_launch(l, h100).blocks_per_sm, 8);  // 2048 threads / 256
  // 128 registers x 256 threads: 65536 / (128 x 32) = 16 warps = 2 blocks.
  const std::string path = ::testing::TempDir() + "/simt_profile_resources.tsv";
  {
    std::ofstream tsv(path);
    tsv << "void pw::kernels::cuda::profile_test::copy_kernel(float const*, float*, int)\t128\t0\n";
  }
  pw::simt::load_kernel_resources(path);
  const pw::simt::LaunchEstimate e = pw::simt::estimate_launch(l, h100);
  EXPECT_TRUE(e.resources_known);
  EXPECT_EQ(e.blocks_per_sm, 2);
  EXPECT_EQ(e.waves, 1u);
  std::remove(path.c_str());
}

TEST_F(SimtProfile, ReportNamesTheKernelAndTheLine) {
  DeviceBuffer<float> in(32 * 32), out(32);
  prof::strided_load(in.get(), out.get(), 32);
  const std::string json = pw::simt::profile_json(), table = pw::simt::profile_table();
  EXPECT_NE(json.find("\"kernel\": \"strided_load_kernel\""), std::string::npos) << json;
  EXPECT_NE(json.find("profile_kernels.cu:12"), std::string::npos) << json;
  EXPECT_NE(json.find("\"sectors\": 32"), std::string::npos) << json;
  EXPECT_NE(table.find("strided_load_kernel"), std::string::npos) << table;
  EXPECT_NE(table.find("profile_kernels.cu:12"), std::string::npos) << table;
  EXPECT_NE(table.find("32 sectors (4)"), std::string::npos) << table;
}

TEST_F(SimtProfile, LaunchesUnderAPauseAreNotRecorded) {
  DeviceBuffer<float> in(32), out(32);
  {
    const pw::simt::ProfilePause pause;
    prof::strided_load(in.get(), out.get(), 1);
  }
  EXPECT_TRUE(pw::simt::profile_launches().empty());
  EXPECT_TRUE(pw::simt::profiling());
  prof::strided_load(in.get(), out.get(), 1);
  EXPECT_EQ(pw::simt::profile_launches().size(), 1u);
}

// The SGEMM launcher annotates 2MNK FLOPs (kernels/cuda/profile.cuh), split or not; a split-K
// plan adds its reduction (one add per partial element) and the workspace to the footprint.
TEST_F(SimtProfile, TheGemmLauncherAnnotatesItsFlops) {
  namespace k = pw::kernels::simt;
  const int64_t M = 64, N = 96, K = 2048;
  DeviceBuffer<float> a(M * K), b(N * K), c(M * N);
  auto plan = k::sgemm_plan(k::Tag{}, M, N, K, 1, false, true);
  plan.version = 5;
  plan.bm = plan.bn = 64;
  plan.splits = 4;
  k::sgemm_with_plan(k::Tag{}, pw::kernels::GemmBatch{}, false, true, M, N, K, 1.0f, a.get(), K, b.get(), K, 0.0f,
                     c.get(), N, plan);
  ASSERT_EQ(pw::simt::profile_launches().size(), 2u);  // the K-slices, then their reduction
  EXPECT_EQ(pw::simt::profile_launches()[0].flops, 2.0 * M * N * K);
  EXPECT_EQ(pw::simt::profile_launches()[1].flops, double(M * N * 4));
  const uint64_t split_sectors = pw::simt::profile_launches()[0].write_sectors;
  pw::simt::profile_reset();
  plan.splits = 1;
  k::sgemm_with_plan(k::Tag{}, pw::kernels::GemmBatch{}, false, true, M, N, K, 1.0f, a.get(), K, b.get(), K, 0.0f,
                     c.get(), N, plan);
  const ProfileLaunch& l = only_launch();
  EXPECT_EQ(l.flops, 2.0 * M * N * K);
  EXPECT_EQ(l.write_sectors, uint64_t(M * N * 4 / 32));  // C, once
  EXPECT_GE(split_sectors, 4 * l.write_sectors);         // four partial tiles of C
  EXPECT_EQ(l.read_sectors, uint64_t((M + N) * K * 4 / 32));
}

TEST(SimtProfileGpus, NamedGpusAndUnknownOnes) {
  EXPECT_EQ(pw::simt::gpu_spec("H100 SXM").sms, 132);
  EXPECT_EQ(pw::simt::gpu_spec("h200").dram_bytes_per_s, 4.8e12);
  EXPECT_THROW(pw::simt::gpu_spec("V100"), pw::simt::Error);
}

}  // namespace
