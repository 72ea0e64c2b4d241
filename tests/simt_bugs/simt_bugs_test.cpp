// test_simt_check: the seeded bugs of tests/simt_bugs/*.cu under PW_SIMT_CHECK. Each bug, run
// with every check on and under every thread order, fails its launch with one report of the
// right kind that names both source lines (marked "// site: NAME" in the .cu files); each fixed
// twin runs clean and computes the right values. PW_SIMT_SHOW_REPORTS=1 prints the reports.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "tests/simt_bugs/bugs.h"
#include "tests/simt_kernels/test_support.h"

namespace bugs = pw::kernels::simt::bugs;
using pw::simt::testing::all_schedules;
using pw::simt::testing::DeviceBuffer;

namespace {

// "races.cu:41": where "// site: NAME" stands in tests/simt_bugs/FILE.
std::string site(const std::string& file, const std::string& name) {
  std::ifstream in(std::string(PW_SIMT_BUGS_DIR) + "/" + file);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n)
    if (line.find("// site: " + name) != std::string::npos) return file + ":" + std::to_string(n);
  ADD_FAILURE() << "no \"// site: " << name << "\" in " << file;
  return file + ":?";
}

bool names_one_of(const std::string& what, const std::string& alternatives) {
  for (size_t at = 0; at <= alternatives.size();) {
    const size_t end = std::min(alternatives.find('|', at), alternatives.size());
    if (what.find(alternatives.substr(at, end - at)) != std::string::npos) return true;
    at = end + 1;
  }
  return false;
}

// Every check on (before the buffers are allocated: red zones, shadows) and the order restored.
class SimtCheck : public ::testing::Test {
 protected:
  void SetUp() override { pw::simt::set_checks(pw::simt::check_all); }
  void TearDown() override {
    pw::simt::set_checks(checks_);
    pw::simt::set_schedule(schedule_, seed_);
  }

 private:
  unsigned checks_ = pw::simt::checks();
  pw::simt::Schedule schedule_ = pw::simt::schedule();
  uint64_t seed_ = pw::simt::schedule_seed();
};

// Under every order: the launch fails with a report that starts with `kind` ("simt racecheck:")
// and names each of `sites` (an entry "a|b": one of them, as the order decides) and `words`.
void expect_report(const std::string& kind, const std::function<void()>& launch, const std::vector<std::string>& sites,
                   const std::vector<std::string>& words = {}) {
  for (auto [schedule, seed] : all_schedules()) {
    pw::simt::set_schedule(schedule, seed);
    try {
      launch();
      ADD_FAILURE() << "no report under schedule " << int(schedule) << "; expected " << kind;
    } catch (const pw::simt::Error& e) {
      const std::string what = e.what();
      if (schedule == pw::simt::Schedule::forward && std::getenv("PW_SIMT_SHOW_REPORTS")) std::printf("%s\n", e.what());
      EXPECT_EQ(what.rfind(kind, 0), 0u) << what;
      for (const auto& s : sites) EXPECT_TRUE(names_one_of(what, s)) << "no " << s << " in:\n" << what;
      for (const auto& w : words) EXPECT_NE(what.find(w), std::string::npos) << "no \"" << w << "\" in:\n" << what;
    }
  }
}

// Under every order: no report (a report would throw out of the test).
void expect_clean(const std::function<void()>& launch) {
  for (auto [schedule, seed] : all_schedules()) {
    pw::simt::set_schedule(schedule, seed);
    launch();
  }
}

std::vector<float> iota_floats(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i % 97) * 0.25f - 3.0f;
  return v;
}

}  // namespace

TEST_F(SimtCheck, MissingSyncthreadsIsARace) {
  const int blocks = 3, threads = 128;
  std::vector<int> in(blocks * threads);
  std::iota(in.begin(), in.end(), 5);
  DeviceBuffer<int> din(in), out(blocks * threads);
  expect_report("simt racecheck: ", [&] { bugs::neighbour_exchange(din.get(), out.get(), blocks, threads, false); },
                {site("races.cu", "neighbour_read"), site("races.cu", "neighbour_write")});
  expect_clean([&] { bugs::neighbour_exchange(din.get(), out.get(), blocks, threads, true); });
  const auto got = out.download();
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < threads; ++t)
      ASSERT_EQ(got[b * threads + t], 2 * in[b * threads + (t + 1) % threads]) << b << " " << t;
}

TEST_F(SimtCheck, NonAtomicSharedCounterLosesUpdates) {
  DeviceBuffer<int> out(2);
  expect_report("simt racecheck: read-after-write", [&] { bugs::shared_counter(out.get(), 2, 96, false); },
                {site("races.cu", "counter")});
  expect_clean([&] { bugs::shared_counter(out.get(), 2, 96, true); });
  EXPECT_EQ(out.download(), (std::vector<int>{96, 96}));
}

TEST_F(SimtCheck, TreeReductionWithoutItsLoopBarrier) {
  const auto x = iota_floats(2 * 256);
  DeviceBuffer<float> dx(x), out(2);
  expect_report("simt racecheck: ", [&] { bugs::tree_reduction(dx.get(), out.get(), 2, false); },
                {site("races.cu", "tree_step")});
  expect_clean([&] { bugs::tree_reduction(dx.get(), out.get(), 2, true); });
  const auto got = out.download();
  for (int b = 0; b < 2; ++b)
    EXPECT_NEAR(got[b], std::accumulate(x.begin() + b * 256, x.begin() + (b + 1) * 256, 0.0), 1e-3);
}

TEST_F(SimtCheck, WarpReductionWithoutSyncwarp) {
  const auto x = iota_floats(3 * 64);
  DeviceBuffer<float> dx(x), out(3);
  expect_report("simt racecheck: ", [&] { bugs::warp_reduction(dx.get(), out.get(), 3, false); },
                {site("races.cu", "warp_read"), site("races.cu", "warp_write")});
  expect_clean([&] { bugs::warp_reduction(dx.get(), out.get(), 3, true); });
  const auto got = out.download();
  for (int b = 0; b < 3; ++b)
    EXPECT_NEAR(got[b], std::accumulate(x.begin() + b * 64, x.begin() + (b + 1) * 64, 0.0), 1e-3);
}

TEST_F(SimtCheck, DoubleBufferedGemmWritingTheBufferBeingRead) {
  const int n = 48;
  const auto a = iota_floats(n * n), b = iota_floats(n * n + 7);
  DeviceBuffer<float> da(a), db(std::vector<float>(b.begin() + 7, b.end())), dc(n * n);
  expect_report("simt racecheck: ", [&] { bugs::double_buffered_gemm(da.get(), db.get(), dc.get(), n, false); },
                {site("races.cu", "gemm_load") + "|" + site("races.cu", "gemm_load_b"), site("races.cu", "gemm_use")});
  expect_clean([&] { bugs::double_buffered_gemm(da.get(), db.get(), dc.get(), n, true); });
  const auto c = dc.download();
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      double ref = 0;
      for (int k = 0; k < n; ++k) ref += double(a[i * n + k]) * b[7 + k * n + j];
      ASSERT_NEAR(c[i * n + j], ref, 1e-3 * std::max(1.0, std::abs(ref))) << i << " " << j;
    }
}

TEST_F(SimtCheck, BlocksOfOneLaunchWritingOneWord) {
  DeviceBuffer<int> out(4);
  expect_report("simt racecheck: write-after-write", [&] { bugs::block_ids(out.get(), 4, false); },
                {site("races.cu", "block_write")}, {"two blocks of one launch"});
  expect_clean([&] { bugs::block_ids(out.get(), 4, true); });
  EXPECT_EQ(out.download(), (std::vector<int>{0, 1, 2, 3}));
}

TEST_F(SimtCheck, StaticSharedMemoryReadBeforeWritten) {
  DeviceBuffer<int> out(64);
  expect_report("simt initcheck: ", [&] { bugs::static_shared_before_written(out.get(), false); },
                {site("memory.cu", "stale_read"), site("memory.cu", "stale_launch")},
                {"no thread of this block has written"});
  expect_clean([&] { bugs::static_shared_before_written(out.get(), true); });
  const auto got = out.download();
  for (int t = 0; t < 64; ++t) ASSERT_EQ(got[t], (t + 1) % 64);
}

TEST_F(SimtCheck, HostPointerPassedToAKernel) {
  const auto x = iota_floats(100);
  DeviceBuffer<float> dx(x), y(100);
  expect_report("simt memcheck: ", [&] { bugs::scale_in_struct(x.data(), y.get(), 100); },
                {site("memory.cu", "struct_read"), site("memory.cu", "struct_launch")}, {"a host pointer?"});
  // As a plain argument, the launch's own check refuses it before any thread runs.
  EXPECT_THROW(
      {
        try {
          bugs::scale(x.data(), y.get(), 100);
        } catch (const pw::simt::Error& e) {
          EXPECT_NE(std::string(e.what()).find("pointer argument 1"), std::string::npos) << e.what();
          throw;
        }
      },
      pw::simt::Error);
  expect_clean([&] { bugs::scale_in_struct(dx.get(), y.get(), 100); });
  const auto got = y.download();
  for (int i = 0; i < 100; ++i) ASSERT_EQ(got[i], 2 * x[i]);
}

TEST_F(SimtCheck, UseAfterFreeIsCaughtByTheQuarantine) {
  DeviceBuffer<float> y(100);
  float* stale = nullptr;
  {
    DeviceBuffer<float> x(iota_floats(100));
    stale = x.get();
  }
  expect_report("simt memcheck: use after free", [&] { bugs::scale_in_struct(stale, y.get(), 100); },
                {site("memory.cu", "struct_read"), site("memory.cu", "struct_launch")}, {"400-byte"});
}

TEST_F(SimtCheck, Float4AtAFourByteOffset) {
  const int threads = 32;
  const auto x = iota_floats(4 * threads + 4);
  DeviceBuffer<float> dx(x), y(4 * threads);
  expect_report("simt memcheck: misaligned", [&] { bugs::copy_float4(dx.get(), y.get(), 1, threads); },
                {site("memory.cu", "float4_read"), site("memory.cu", "float4_launch")}, {"multiple of 16"});
  expect_clean([&] { bugs::copy_float4(dx.get(), y.get(), 4, threads); });
  const auto got = y.download();
  for (int i = 0; i < 4 * threads; ++i) ASSERT_EQ(got[i], x[4 + i]);
}

TEST_F(SimtCheck, DynamicSharedMemoryOneElementShort) {
  const auto x = iota_floats(64);
  DeviceBuffer<float> dx(x), y(64);
  expect_report(
      "simt memcheck: dynamic shared memory overrun", [&] { bugs::reverse_tile(dx.get(), y.get(), 64, false); },
      {site("memory.cu", "tile_write"), site("memory.cu", "tile_launch")}, {"0 bytes past the end of the 252 bytes"});
  expect_clean([&] { bugs::reverse_tile(dx.get(), y.get(), 64, true); });
  const auto got = y.download();
  for (int t = 0; t < 64; ++t) ASSERT_EQ(got[t], x[63 - t]);
}

TEST_F(SimtCheck, ReadOneElementBeforeABuffer) {
  const auto x = iota_floats(150);
  DeviceBuffer<float> dx(x), y(150);
  expect_report("simt memcheck: out-of-bounds", [&] { bugs::neighbour_difference(dx.get(), y.get(), 150, false); },
                {site("memory.cu", "left_read"), site("memory.cu", "left_launch")},
                {"4 bytes before the start of a 600-byte cudaMalloc allocation"});
  expect_clean([&] { bugs::neighbour_difference(dx.get(), y.get(), 150, true); });
  const auto got = y.download();
  for (int i = 0; i < 150; ++i) ASSERT_EQ(got[i], x[i] - (i ? x[i - 1] : 0.0f));
}

TEST_F(SimtCheck, DivergentSyncthreads) {
  DeviceBuffer<float> out(64);
  expect_report("simt synccheck: divergent __syncthreads", [&] { bugs::divergent_barrier(out.get(), false); },
                {site("sync.cu", "barrier_a"), site("sync.cu", "barrier_b")});
  expect_clean([&] { bugs::divergent_barrier(out.get(), true); });
}

TEST_F(SimtCheck, MismatchedWarpMasks) {
  DeviceBuffer<unsigned> out(32);
  expect_report("simt synccheck: mismatched warp masks", [&] { bugs::mismatched_masks(out.get(), false); },
                {site("sync.cu", "ballot")}, {"0xffffff ", "0xffffffff"});
  expect_clean([&] { bugs::mismatched_masks(out.get(), true); });
  for (unsigned v : out.download()) EXPECT_EQ(v, 0xaaaaaaaau);
}

TEST(SimtChecks, SettingsParse) {
  using pw::simt::parse_checks;
  EXPECT_EQ(parse_checks("memcheck,racecheck"), pw::simt::check_memcheck | pw::simt::check_racecheck);
  EXPECT_EQ(parse_checks("all"), unsigned{pw::simt::check_all});
  EXPECT_EQ(parse_checks(""), 0u);
  EXPECT_EQ(pw::simt::checks_text(pw::simt::check_initcheck | pw::simt::check_synccheck), "initcheck,synccheck");
  EXPECT_THROW(parse_checks("memcheck,racechek"), pw::simt::Error);
}
