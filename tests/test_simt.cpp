// Tests of simt, the CUDA execution model on the CPU: the CUDA test kernels of
// tests/simt_kernels/*.cu run under every thread order and are compared with the CPU;
// barriers, warp collectives, atomics across workers; a planted race that the orders reveal;
// deadlocks and bad masks reported as errors; failures that unwind every fiber.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/simt_kernels/test_kernels.h"
#include "tests/simt_kernels/test_support.h"

namespace kt = pw::kernels::simt::test;
using pw::simt::Schedule;
using pw::simt::testing::all_schedules;
using pw::simt::testing::DeviceBuffer;
using pw::simt::testing::SettingsGuard;

namespace {

std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}
std::vector<int> random_ints(size_t n, uint32_t seed, int lo, int hi) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

std::string schedule_name(Schedule s) {
  return s == Schedule::forward ? "forward" : s == Schedule::reverse ? "reverse" : "random";
}

}  // namespace

TEST(Simt, VectorAddGridStride) {
  SettingsGuard guard;
  const int n = 100003;
  const auto a = random_floats(n, 1), b = random_floats(n, 2);
  DeviceBuffer<float> da(a), db(b);
  for (auto [s, seed] : all_schedules()) {
    pw::simt::set_schedule(s, seed);
    for (bool vec4 : {false, true}) {
      DeviceBuffer<float> dc(n);  // fresh, hence poisoned: unwritten elements stay NaN
      (vec4 ? kt::vector_add4 : kt::vector_add)(da.get(), db.get(), dc.get(), n, 37, 96);
      const auto c = dc.download();
      for (int i = 0; i < n; ++i)
        ASSERT_EQ(c[i], a[i] + b[i]) << i << " " << schedule_name(s) << (vec4 ? " float4" : "");
    }
  }
}

TEST(Simt, BlockReductionWithSharedMemory) {
  SettingsGuard guard;
  for (int threads : {256, 1024}) {  // 1024: the largest block, 11 barriers per thread
    const int n = 50001, blocks = 13;
    const auto x = random_floats(n, 3);
    double ref = 0;
    for (float v : x) ref += v;
    DeviceBuffer<float> dx(x);
    for (auto [s, seed] : all_schedules()) {
      pw::simt::set_schedule(s, seed);
      DeviceBuffer<float> partial(blocks);
      kt::block_sum(dx.get(), partial.get(), n, blocks, threads);
      double got = 0;
      for (float p : partial.download()) got += p;
      EXPECT_NEAR(got, ref, 1e-3) << threads << " threads, " << schedule_name(s);
    }
  }
}

TEST(Simt, WarpSumWithShflDownAtEveryWidth) {
  SettingsGuard guard;
  const int n = 1000;
  const auto x = random_floats(n, 4);
  DeviceBuffer<float> dx(x);
  for (int width : {32, 16, 8, 4, 2}) {
    for (auto [s, seed] : all_schedules()) {
      pw::simt::set_schedule(s, seed);
      const int segments = (n + width - 1) / width;
      DeviceBuffer<float> out(segments);
      kt::warp_sum_down(dx.get(), out.get(), n, width, 128);
      const auto got = out.download();
      for (int g = 0; g < segments; ++g) {
        double ref = 0;
        for (int i = g * width; i < std::min(n, (g + 1) * width); ++i) ref += x[i];
        ASSERT_NEAR(got[g], ref, 1e-5) << "width " << width << " segment " << g;
      }
    }
  }
}

TEST(Simt, WarpScanWithShflUpAtEveryWidth) {
  const int n = 777;
  const auto x = random_ints(n, 5, -50, 50);
  DeviceBuffer<int> dx(x);
  for (int width : {32, 16, 4, 1}) {
    DeviceBuffer<int> out(n);
    kt::warp_scan_up(dx.get(), out.get(), n, width, 160);
    const auto got = out.download();
    int run = 0;
    for (int i = 0; i < n; ++i) {
      run = (i % width == 0 ? 0 : run) + x[i];
      ASSERT_EQ(got[i], run) << "width " << width << " at " << i;
    }
  }
}

TEST(Simt, ShflXorButterflyAllReduce) {
  const int n = 512;
  const auto x = random_ints(n, 6, -9, 9);
  std::vector<float> xf(x.begin(), x.end());  // small integers: sums are exact in any order
  DeviceBuffer<float> dx(xf);
  for (int width : {32, 8}) {
    DeviceBuffer<float> out(n);
    kt::warp_allreduce_xor(dx.get(), out.get(), n, width, 64);
    const auto got = out.download();
    for (int i = 0; i < n; ++i) {
      const int g0 = i / width * width;
      float sum = 0, mx = -1e30f;
      for (int k = g0; k < g0 + width; ++k) sum += xf[k], mx = std::max(mx, xf[k]);
      ASSERT_EQ(got[i], sum + 1000.0f * mx) << "width " << width << " lane " << i;
    }
  }
}

TEST(Simt, ShflIndexTakesTheSourceLaneModuloWidth) {
  const int n = 96;
  const auto x = random_ints(n, 7, 0, 1000);
  DeviceBuffer<int> dx(x);
  for (auto [src, width] : std::vector<std::pair<int, int>>{{3, 8}, {35, 8}, {17, 32}, {5, 16}}) {
    DeviceBuffer<int> out(n);
    kt::warp_broadcast(dx.get(), out.get(), n, src, width, 96);
    const auto got = out.download();
    for (int i = 0; i < n; ++i)
      ASSERT_EQ(got[i], x[i / width * width + src % width]) << "src " << src << " width " << width;
  }
}

// CUDA's documented rule for each shuffle, written independently of simt's PTX-based one.
int shuffle_source(int kind, int lane, int arg, int width) {
  const int start = lane / width * width;
  switch (kind) {
    case 0: return start + arg % width;
    case 1: return lane % width >= arg ? lane - arg : lane;
    case 2: return lane % width + arg < width ? lane + arg : lane;
    default: return (lane ^ arg) < start + width ? lane ^ arg : lane;  // earlier groups allowed
  }
}

TEST(Simt, ShuffleSourceLanesAtSegmentEdges) {
  const int n = 64;
  const auto x = random_ints(n, 15, 0, 1 << 20);
  DeviceBuffer<int> dx(x);
  for (int width : {32, 16, 8, 4, 2, 1})
    for (int kind = 0; kind < 4; ++kind)
      for (int arg : {0, 1, 2, 3, 5, 8, 13, 31}) {
        DeviceBuffer<int> out(n);
        kt::warp_shuffle(dx.get(), out.get(), n, kind, arg, width, n);
        const auto got = out.download();
        for (int i = 0; i < n; ++i)
          ASSERT_EQ(got[i], x[i / 32 * 32 + shuffle_source(kind, i % 32, arg, width)])
              << "kind " << kind << " arg " << arg << " width " << width << " thread " << i;
      }
}

TEST(Simt, BallotAnyAllWithPartialMasksAndAPartialWarp) {
  const int n = 100;  // one block of 100 threads: the last warp has lanes 0-3 only
  const auto pred = random_ints(n, 8, 0, 1);
  DeviceBuffer<int> dp(pred);
  for (unsigned mask : {0x55555555u, 0x0000ffffu, 0xffffffffu, 0x80000001u}) {
    DeviceBuffer<unsigned> ballot(n);
    DeviceBuffer<int> any(n), all(n);
    kt::warp_votes(dp.get(), ballot.get(), any.get(), all.get(), mask, n, n);
    const auto b = ballot.download();
    const auto an = any.download(), al = all.download();
    for (int i = 0; i < n; ++i) {
      const int lane = i % 32, base = i - lane;
      if (!((mask >> lane) & 1u)) continue;
      unsigned group = 0, expect = 0;
      for (int l = 0; l < 32 && base + l < n; ++l)
        if ((mask >> l) & 1u) {
          group |= 1u << l;
          if (pred[base + l]) expect |= 1u << l;
        }
      ASSERT_EQ(b[i], expect) << "mask " << mask << " thread " << i;
      ASSERT_EQ(an[i], expect != 0);
      ASSERT_EQ(al[i], expect == group);
    }
  }
}

TEST(Simt, MatchAnyAndReduceAdd) {
  const int n = 64;
  const auto x = random_ints(n, 9, 0, 3);
  DeviceBuffer<int> dx(x);
  DeviceBuffer<unsigned> match(n);
  DeviceBuffer<int> sum(n);
  kt::warp_match_reduce(dx.get(), match.get(), sum.get(), n, 64);
  const auto m = match.download();
  const auto s = sum.download();
  for (int i = 0; i < n; ++i) {
    const int base = i / 32 * 32;
    unsigned expect = 0;
    int total = 0;
    for (int l = 0; l < 32; ++l) {
      if (x[base + l] == x[i]) expect |= 1u << l;
      total += x[base + l];
    }
    ASSERT_EQ(m[i], expect) << i;
    ASSERT_EQ(s[i], total) << i;
  }
}

TEST(Simt, ShuffleFromALaneBeyondThePartialWarpGivesPoison) {
  // 48 threads: warp 1 has lanes 0-15. Its lane 0 adds lane 16, which does not exist (on a
  // GPU, an undefined value); simt hands back the poison pattern, so the sum is NaN.
  const int n = 48;
  DeviceBuffer<float> dx(std::vector<float>(n, 1.0f));
  DeviceBuffer<float> out(2);
  kt::warp_sum_down(dx.get(), out.get(), n, 32, 48);
  const auto got = out.download();
  EXPECT_EQ(got[0], 32.0f);
  EXPECT_TRUE(std::isnan(got[1]));
}

TEST(Simt, SyncthreadsCountAndOr) {
  const int n = 700, threads = 256, blocks = 3;
  for (int ones : {0, 1, 2}) {  // all zero, random, all one
    std::vector<int> pred = ones == 1 ? random_ints(n, 10, 0, 1) : std::vector<int>(n, ones / 2);
    DeviceBuffer<int> dp(pred), count(blocks), all(blocks), any(blocks);
    kt::barrier_votes(dp.get(), count.get(), all.get(), any.get(), n, threads);
    const auto c = count.download(), a = all.download(), o = any.download();
    for (int b = 0; b < blocks; ++b) {
      int k = 0;
      for (int i = b * threads; i < (b + 1) * threads; ++i) k += i < n && pred[i];
      EXPECT_EQ(c[b], k) << b;
      EXPECT_EQ(a[b], k == threads) << b;  // threads past n vote 0
      EXPECT_EQ(o[b], k > 0) << b;
    }
  }
}

TEST(Simt, DynamicSharedMemory) {
  SettingsGuard guard;
  const int n = 1000, threads = 96;
  const auto x = random_floats(n, 11);
  DeviceBuffer<float> dx(x);
  for (auto [s, seed] : all_schedules()) {
    pw::simt::set_schedule(s, seed);
    DeviceBuffer<float> out(n);
    kt::reverse_blocks(dx.get(), out.get(), n, threads);
    const auto got = out.download();
    for (int i = 0; i < n; ++i) {
      const int base = i / threads * threads, count = std::min(threads, n - base);
      ASSERT_EQ(got[i], x[base + count - 1 - (i - base)]) << i;
    }
  }
}

TEST(Simt, ThreadsThatExitDoNotBlockABarrier) {
  SettingsGuard guard;
  const int threads = 64, active = 37;
  const auto x = random_ints(threads, 12, 0, 100);
  DeviceBuffer<int> dx(x);
  for (auto [s, seed] : all_schedules()) {
    pw::simt::set_schedule(s, seed);
    DeviceBuffer<int> out(threads);
    kt::rotate_active(dx.get(), out.get(), active, threads);
    const auto got = out.download();
    for (int t = 0; t < active; ++t) ASSERT_EQ(got[t], x[(t + 1) % active]);
    EXPECT_EQ(got[active], -1);  // never written: still poison
  }
}

TEST(Simt, IndexVariablesIn3D) {
  const int gx = 3, gy = 2, gz = 2, bx = 4, by = 2, bz = 3;
  DeviceBuffer<int> out(gx * gy * gz * bx * by * bz);
  kt::thread_indices(out.get(), gx, gy, gz, bx, by, bz);
  const auto got = out.download();
  int k = 0;
  for (int z = 0; z < gz; ++z)
    for (int y = 0; y < gy; ++y)
      for (int x = 0; x < gx; ++x)
        for (int tz = 0; tz < bz; ++tz)
          for (int ty = 0; ty < by; ++ty)
            for (int tx = 0; tx < bx; ++tx) ASSERT_EQ(got[k++], ((((z * 8 + y) * 8 + x) * 8 + tz) * 64) + ty * 8 + tx);
}

TEST(Simt, FloatHistogramWithAtomicsAcrossWorkers) {
  SettingsGuard guard;
  pw::simt::set_workers(4);
  const int n = 200001, bins = 37;
  const auto x = random_floats(n, 13, 0.0f, 1.0f);
  std::vector<float> ref(bins, 0.0f);
  for (int i = 0; i < n; ++i) ref[std::min(bins - 1, static_cast<int>(x[i] * bins))] += i % 2 ? 0.5f : 1.0f;
  DeviceBuffer<float> dx(x), hist(bins);
  PW_CUDA_CHECK(pw::simt::cudaMemset(hist.get(), 0, bins * sizeof(float)));
  kt::histogram(dx.get(), n, hist.get(), bins, 64, 128);
  EXPECT_EQ(hist.download(), ref);
}

TEST(Simt, IntegerAtomics) {
  SettingsGuard guard;
  pw::simt::set_workers(3);
  const int n = 5000;
  DeviceBuffer<int> c(std::vector<int>{0, -1, 1 << 30, 0, -1, 0, 0, 0});
  kt::atomic_ops(c.get(), n, 40, 128);
  const auto got = c.download();
  int mx = 0, mn = 1 << 30, bits = 0;
  for (int i = 0; i < n; ++i) {
    mx = std::max(mx, i * 7 % 1009);
    mn = std::min(mn, 5000 - i % 4001);
    bits |= 1 << (i % 31);
  }
  EXPECT_EQ(got[0], n * (n - 1) / 2);
  EXPECT_EQ(got[1], mx);
  EXPECT_EQ(got[2], mn);
  EXPECT_EQ(got[3], 2 * n);
  EXPECT_TRUE(got[4] >= 0 && got[4] < n);
  EXPECT_EQ(got[5], -3 * n);
  EXPECT_EQ(got[6], bits);
  EXPECT_EQ(got[7], n);
}

TEST(Simt, LastBlockFinishesTheReduction) {
  SettingsGuard guard;
  pw::simt::set_workers(4);
  const int n = 30011, blocks = 29;
  const auto x = random_floats(n, 14);
  DeviceBuffer<float> dx(x), partial(blocks), total(1);
  DeviceBuffer<unsigned> ticket(std::vector<unsigned>{0});
  kt::last_block_sum(dx.get(), n, partial.get(), ticket.get(), total.get(), blocks, 256);
  float sum = 0;
  for (float p : partial.download()) sum += p;  // the same order as the kernel's last block
  EXPECT_EQ(total.download()[0], sum);
  double ref = 0;
  for (float v : x) ref += v;
  EXPECT_NEAR(sum, ref, 1e-2);
}

TEST(Simt, AMissingBarrierIsRevealedByTheThreadOrder) {
  SettingsGuard guard;
  const int blocks = 4, threads = 64, n = blocks * threads;
  std::vector<int> expect(n), forward(n), reverse(n);
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < threads; ++t) {
      const int i = b * threads + t;
      expect[i] = 1000 * b + (t + 1) % threads;
      forward[i] = t == threads - 1 ? expect[i] : -1;  // later threads have not written yet
      reverse[i] = t == threads - 1 ? -1 : expect[i];  // only thread 0 is still to come
    }
  std::vector<std::vector<int>> racy;
  for (auto [s, seed] : all_schedules()) {
    pw::simt::set_schedule(s, seed);
    DeviceBuffer<int> fixed(n), out(n);
    kt::fixed_neighbour(fixed.get(), blocks, threads);
    EXPECT_EQ(fixed.download(), expect) << "the fixed kernel must not depend on the order";
    kt::racy_neighbour(out.get(), blocks, threads);
    racy.push_back(out.download());
  }
  EXPECT_EQ(racy[0], forward);
  EXPECT_EQ(racy[1], reverse);
  EXPECT_NE(racy[2], expect);  // random: some thread reads before its neighbour writes
}

TEST(Simt, BarrierInDivergentCodeIsAReportedDeadlock) {
  SettingsGuard guard;
  int first = 0, second = 0;
  kt::divergent_barrier_lines(&first, &second);
  for (auto [s, seed] : all_schedules()) {
    pw::simt::set_schedule(s, seed);
    DeviceBuffer<float> out(128);
    try {
      kt::divergent_barrier(out.get(), 128);
      FAIL() << "the divergent barrier was not reported";
    } catch (const pw::simt::Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("deadlock"), std::string::npos) << msg;
      EXPECT_NE(msg.find("threads 0-31: __syncthreads at "), std::string::npos) << msg;
      EXPECT_NE(msg.find("sync.cu:" + std::to_string(first)), std::string::npos) << msg;
      EXPECT_NE(msg.find("sync.cu:" + std::to_string(second)), std::string::npos) << msg;
      EXPECT_NE(msg.find("divergent_barrier_kernel"), std::string::npos) << msg;
    }
  }
  // The failed launch left nothing behind: the next one runs normally.
  const int n = 1000;
  DeviceBuffer<float> a(std::vector<float>(n, 1.0f)), c(n);
  kt::vector_add(a.get(), a.get(), c.get(), n, 4, 64);
  EXPECT_EQ(c.download(), std::vector<float>(n, 2.0f));
}

TEST(Simt, ACollectiveAfterSomeLanesReturnedWaitsOnlyForTheRest) {
  // PTX: the *_sync forms wait for the non-exited lanes of the mask. Lanes 16-31 of each warp
  // return at once; lanes 0-15 meet at __syncwarp, a shuffle, a ballot and a reduction over
  // the full mask. Forward: 0-15 wait before 16-31 exit (their exit completes the group);
  // reverse: 16-31 have exited when 0-15 arrive. Lane 15 reads lane 16: poison (NaN).
  SettingsGuard guard;
  const int threads = 64, exit_from = 16;
  for (auto [s, seed] : all_schedules()) {
    pw::simt::set_schedule(s, seed);
    DeviceBuffer<float> shfl(threads);
    DeviceBuffer<unsigned> ballot(threads);
    DeviceBuffer<int> sum(threads);
    kt::exited_lanes(shfl.get(), ballot.get(), sum.get(), exit_from, threads);
    const auto f = shfl.download();
    const auto b = ballot.download();
    const auto r = sum.download();
    for (int t = 0; t < threads; ++t) {
      if (t % 32 >= exit_from) continue;
      if (t % 32 == exit_from - 1) {
        EXPECT_TRUE(std::isnan(f[t])) << t << " " << schedule_name(s) << ": " << f[t];
      } else {
        EXPECT_EQ(f[t], static_cast<float>(t + 1)) << t << " " << schedule_name(s);
      }
      EXPECT_EQ(b[t], 0xffffu) << t << " " << schedule_name(s);
      EXPECT_EQ(r[t], exit_from) << t << " " << schedule_name(s);
    }
  }
}

TEST(Simt, ALaneOutsideItsOwnMaskIsAnError) {
  DeviceBuffer<float> out(64);
  try {
    kt::shfl_mask_without_self(out.get());
    FAIL() << "a lane outside its own mask was not reported";
  } catch (const pw::simt::Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not include its own lane"), std::string::npos) << e.what();
  }
}

TEST(Simt, StaticSharedMemoryIsPoisonedAtEveryBlockStart) {
  // One worker runs the blocks one after another: without the poison, block b would read
  // what block b-1 wrote (b). Every block reads -1 (0xFFFFFFFF) instead.
  SettingsGuard guard;
  pw::simt::set_workers(1);
  const int blocks = 5;
  for (auto [s, seed] : all_schedules()) {
    pw::simt::set_schedule(s, seed);
    DeviceBuffer<int> out(blocks * 64);
    kt::stale_static_shared(out.get(), blocks, /*fixed=*/false);
    EXPECT_EQ(out.download(), std::vector<int>(blocks * 64, -1)) << schedule_name(s);
    kt::stale_static_shared(out.get(), blocks, /*fixed=*/true);  // writes, then reads: no poison
    const auto got = out.download();
    for (int i = 0; i < blocks * 64; ++i) ASSERT_EQ(got[i], i / 64 + 1) << i << " " << schedule_name(s);
  }
}

TEST(Simt, DynamicSharedMemoryOfTheRightSizeEndsAtItsGuardPage) {
  // The launch asks for exactly blockDim.x floats (1020 bytes: the last float touches the
  // guard page's first byte minus 4). Overruns are death tests in test_simt_runtime.
  SettingsGuard guard;
  const int threads = 255, blocks = 3;
  for (auto [s, seed] : all_schedules()) {
    pw::simt::set_schedule(s, seed);
    DeviceBuffer<float> out(blocks * threads);
    kt::smem_tile(out.get(), blocks, threads, threads * sizeof(float));
    const auto got = out.download();
    for (int i = 0; i < blocks * threads; ++i)
      ASSERT_EQ(got[i], static_cast<float>(threads - 1 - i % threads)) << i << " " << schedule_name(s);
  }
}

TEST(Simt, BlockOrderIsPermutedByTheSchedule) {
  // One worker: the order in which blocks start is the order the schedule gives them.
  SettingsGuard guard;
  pw::simt::set_workers(1);
  const int gx = 37, gy = 3, n = gx * gy;
  auto order_of = [&](Schedule s, uint64_t seed) {
    pw::simt::set_schedule(s, seed);
    DeviceBuffer<unsigned> counter(std::vector<unsigned>{0});
    DeviceBuffer<int> order(n);
    kt::block_order(counter.get(), order.get(), gx, gy);
    return order.download();
  };
  std::vector<int> forward(n), reverse(n);
  for (int i = 0; i < n; ++i) {
    forward[i] = i;
    reverse[i] = n - 1 - i;
  }
  EXPECT_EQ(order_of(Schedule::forward, 0), forward);
  EXPECT_EQ(order_of(Schedule::reverse, 0), reverse);
  const auto r1 = order_of(Schedule::random, 1), r2 = order_of(Schedule::random, 2);
  for (const auto& r : {r1, r2}) {
    EXPECT_NE(r, forward);
    EXPECT_NE(r, reverse);
    EXPECT_EQ(std::set<int>(r.begin(), r.end()).size(), size_t{n});  // every block once
    EXPECT_EQ(*std::min_element(r.begin(), r.end()), 0);
    EXPECT_EQ(*std::max_element(r.begin(), r.end()), n - 1);
  }
  EXPECT_NE(r1, r2);
  EXPECT_EQ(order_of(Schedule::random, 1), r1);  // reproducible from the seed
  EXPECT_EQ(order_of(Schedule::random, 7).size(), size_t{n});
  pw::simt::set_workers(2);  // several workers: still every block exactly once
  const auto two = order_of(Schedule::random, 1);
  EXPECT_EQ(std::set<int>(two.begin(), two.end()).size(), size_t{n});
}

TEST(Simt, PointerArgumentsMustBeLiveDeviceMemory) {
  const int n = 100;
  DeviceBuffer<float> a(std::vector<float>(n, 1.0f)), c(n);
  std::vector<float> host(n, 1.0f);
  auto message_of = [&](auto&& launch) {
    try {
      launch();
    } catch (const pw::simt::Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  const std::string host_msg = message_of([&] { kt::vector_add(a.get(), host.data(), c.get(), n, 1, 64); });
  EXPECT_NE(host_msg.find("vector_add_kernel"), std::string::npos) << host_msg;
  EXPECT_NE(host_msg.find("pointer argument 2"), std::string::npos) << host_msg;
  EXPECT_NE(host_msg.find("host pointer"), std::string::npos) << host_msg;

  float* freed = nullptr;
  ASSERT_EQ(pw::simt::cudaMalloc(reinterpret_cast<void**>(&freed), 4096), pw::simt::cudaSuccess);
  ASSERT_EQ(pw::simt::cudaFree(freed), pw::simt::cudaSuccess);
  const std::string freed_msg = message_of([&] { kt::vector_add(a.get(), a.get(), freed + 10, n, 1, 64); });
  EXPECT_NE(freed_msg.find("pointer argument 3"), std::string::npos) << freed_msg;
  EXPECT_NE(freed_msg.find("4096-byte cudaMalloc allocation"), std::string::npos) << freed_msg;
  EXPECT_NE(freed_msg.find("freed"), std::string::npos) << freed_msg;

  // Pinned host memory (cudaMallocHost) is mapped for the device: fine.
  float* pinned = nullptr;
  ASSERT_EQ(pw::simt::cudaMallocHost(reinterpret_cast<void**>(&pinned), n * sizeof(float)), pw::simt::cudaSuccess);
  for (int i = 0; i < n; ++i) pinned[i] = 2.0f;
  kt::vector_add(a.get(), pinned, c.get(), n, 1, 64);
  EXPECT_EQ(c.download(), std::vector<float>(n, 3.0f));
  ASSERT_EQ(pw::simt::cudaFreeHost(pinned), pw::simt::cudaSuccess);

  // Null, and a pointer just past the end of a buffer (an empty slice), are fine.
  DeviceBuffer<float> fresh(n);
  EXPECT_NO_THROW(kt::vector_add(nullptr, nullptr, fresh.get() + n, 0, 1, 64));
  for (float v : fresh.download()) EXPECT_TRUE(std::isnan(v));  // untouched: still the poison
}

TEST(Simt, DeepRecursionAcrossABarrierStaysOnEachFibersStack) {
  SettingsGuard guard;
  const int threads = 64, depth = 200;  // ~25 KiB of frames per thread, inside 64 KiB
  for (auto [s, seed] : all_schedules()) {
    pw::simt::set_schedule(s, seed);
    DeviceBuffer<int> out(threads);
    kt::deep_recursion(out.get(), depth, threads);
    EXPECT_EQ(out.download(), std::vector<int>(threads, depth + 1));
  }
}

TEST(SimtDeathTest, FiberStackOverflowIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        DeviceBuffer<int> out(4);
        kt::deep_recursion(out.get(), 20000, 4);
      },
      "fiber stack overflow.*PW_SIMT_STACK_KIB");
}
