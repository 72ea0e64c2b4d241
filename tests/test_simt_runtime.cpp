// Tests of simt's fake CUDA runtime and launch machinery: poisoned allocations, range-checked
// copies, streams, events, device properties, launch-configuration errors, blocks spread
// over workers, and a failing kernel whose fibers are all unwound. The small kernels here use
// simt-only calls (current_worker, exceptions) and live in this file, not under simt_kernels/.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kernels/simt/fiber.h"  // PW_SIMT_ASAN
#include "tests/simt_kernels/test_kernels.h"
#include "tests/simt_kernels/test_support.h"

#if PW_SIMT_ASAN
// ASan's runtime flag detect_stack_use_after_return (not in every compiler's asan_interface.h).
extern "C" int __asan_option_detect_stack_use_after_return;
#endif

namespace pw::kernels::simt {
namespace {

std::atomic<int> g_constructed{0}, g_destroyed{0};
struct CountsDestruction {
  CountsDestruction() { ++g_constructed; }
  ~CountsDestruction() { ++g_destroyed; }
};

__global__ void record_worker(int* worker_of_block) {
  if (threadIdx.x == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    worker_of_block[blockIdx.x] = ::pw::simt::current_worker();
  }
}

// Every thread holds an object across two barriers; thread `who` traps in `phase` 0 (before
// the first barrier: some threads are fibers, some not started) or 1 (between them: every
// other thread waits at the second). Every thread that started must be unwound.
__global__ void trap_in_phase(int* out, int who, int phase) {
  CountsDestruction held;
  if (phase == 0 && static_cast<int>(threadIdx.x) == who) __trap();
  __syncthreads();
  if (phase == 1 && static_cast<int>(threadIdx.x) == who) __trap();
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void launches_inside(int* out) { PW_LAUNCH(record_worker, 1, 1, 0, 0)(out); }

__global__ void big_dynamic_smem(float* out, int n) {
  PW_DYNAMIC_SMEM(float, s);
  for (int i = threadIdx.x; i < n; i += blockDim.x) s[i] = static_cast<float>(i);
  __syncthreads();
  if (threadIdx.x == 0) out[0] = s[n - 1];
}

// Dynamic shared memory used as float4: its size must keep the start 16-byte aligned.
__global__ void float4_dynamic_smem(float* out) {
  PW_DYNAMIC_SMEM(float4, s);
  s[threadIdx.x] = make_float4(1.0f, 2.0f, 3.0f, 4.0f);
  __syncthreads();
  if (threadIdx.x == 0) out[0] = s[blockDim.x - 1].w;
}

#if PW_SIMT_ASAN
// For the AddressSanitizer checks: thread 5, which waited at a barrier and so runs as a fiber
// on a pool stack (thread 0 keeps the worker's own), writes local[index] of a local array of 8;
// or every thread reads a local of a function that has returned.
__global__ void overflow_a_local_after_a_barrier(int* out, int index) {
  __syncthreads();
  volatile int local[8];
  for (int i = 0; i < 8; ++i) local[i] = i;
  volatile int* volatile p = local;  // through a pointer: UBSan's bounds check does not see it
  if (threadIdx.x == 5) p[index] = 1;
  out[threadIdx.x] = local[0];
}

int* volatile g_escaped = nullptr;
__attribute__((noinline)) void escape_a_local(int v) {
  int local[4] = {v, v, v, v};
  int* address = local;
  __asm__ __volatile__("" : "+r"(address) : : "memory");  // the compiler no longer sees it is local
  g_escaped = address;
}

__global__ void use_a_local_after_return_after_a_barrier(int* out) {
  __syncthreads();
  escape_a_local(static_cast<int>(threadIdx.x));
  out[threadIdx.x] = g_escaped[1];
}
#endif

}  // namespace
}  // namespace pw::kernels::simt

namespace ks = pw::kernels::simt;
namespace kt = pw::kernels::simt::test;
using namespace pw::simt;
using pw::simt::testing::DeviceBuffer;
using pw::simt::testing::SettingsGuard;

TEST(SimtRuntime, FreshMemoryIsPoisonedNaN) {
  float* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 1000 * sizeof(float)), cudaSuccess);
  std::vector<float> host(1000, 0.0f);
  ASSERT_EQ(cudaMemcpy(host.data(), p, 1000 * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  for (float v : host) ASSERT_TRUE(std::isnan(v));
  EXPECT_EQ(cudaFree(p), cudaSuccess);
  void* zero = reinterpret_cast<void*>(1);
  EXPECT_EQ(cudaMalloc(&zero, 0), cudaSuccess);
  EXPECT_EQ(zero, nullptr);
}

TEST(SimtRuntime, CopiesAreRangeChecked) {
  DeviceBuffer<float> d(32);  // 128 bytes
  std::vector<float> host(64, 1.0f);
  EXPECT_EQ(cudaMemcpy(d.get(), host.data(), 129, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_NE(last_error_detail().find("129 bytes"), std::string::npos) << last_error_detail();
  EXPECT_NE(last_error_detail().find("128-byte allocation"), std::string::npos) << last_error_detail();
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);  // reset by the first read
  // Past the end from an offset, on the source side.
  EXPECT_EQ(cudaMemcpy(host.data(), d.get() + 30, 12, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_NE(last_error_detail().find("offset 120"), std::string::npos) << last_error_detail();
  // The wrong kind: host memory named as device memory, and the reverse.
  EXPECT_EQ(cudaMemcpy(d.get(), host.data(), 16, cudaMemcpyDeviceToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(host.data(), d.get(), 16, cudaMemcpyHostToHost), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemset(d.get() + 1, 0, 128), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy2D(d.get(), 16, host.data(), 16, 16, 9, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy2D(d.get(), 16, host.data(), 32, 8, 8, cudaMemcpyHostToDevice), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(d.get(), host.data(), 128, cudaMemcpyDefault), cudaSuccess);
  cudaGetLastError();
  // PW_CUDA_CHECK names the call, the file and line, and simt's reason.
  try {
    PW_CUDA_CHECK(cudaMemcpy(d.get(), host.data(), 256, cudaMemcpyHostToDevice));
    FAIL() << "no error";
  } catch (const pw::kernels::CudaError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("test_simt_runtime.cpp:"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cudaErrorInvalidValue"), std::string::npos) << msg;
    EXPECT_NE(msg.find("128-byte allocation"), std::string::npos) << msg;
  }
}

TEST(SimtRuntime, FreeChecksItsPointer) {
  float* p = nullptr;
  ASSERT_EQ(cudaMalloc(&p, 64), cudaSuccess);
  EXPECT_EQ(cudaFree(p + 1), cudaErrorInvalidValue);
  EXPECT_NE(last_error_detail().find("not its start"), std::string::npos);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
  EXPECT_EQ(cudaFree(p), cudaErrorInvalidValue);  // twice
  EXPECT_EQ(cudaFree(nullptr), cudaSuccess);
  const void* base = nullptr;
  size_t bytes = 0;
  DeviceBuffer<int> d(10);
  EXPECT_TRUE(find_allocation(d.get() + 3, &base, &bytes));
  EXPECT_EQ(base, d.get());
  EXPECT_EQ(bytes, 40u);
  cudaGetLastError();
}

TEST(SimtRuntime, StreamsAndEventsMeasureHostTime) {
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreate(&s), cudaSuccess);
  cudaEvent_t start = nullptr, stop = nullptr;
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  float ms = -1;
  EXPECT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaErrorInvalidResourceHandle);  // unrecorded
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidResourceHandle);                      // else the next check sees it
  DeviceBuffer<float> a(std::vector<float>(4096, 1.0f)), c(4096);
  ASSERT_EQ(cudaEventRecord(start, s), cudaSuccess);
  kt::vector_add(a.get(), a.get(), c.get(), 4096, 8, 128);
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  ASSERT_EQ(cudaMemcpyAsync(a.get(), c.get(), 4096 * sizeof(float), cudaMemcpyDeviceToDevice, s), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(stop, s), cudaSuccess);
  ASSERT_EQ(cudaEventSynchronize(stop), cudaSuccess);
  ASSERT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
  EXPECT_GE(ms, 3.0f);
  EXPECT_LT(ms, 10000.0f);
  EXPECT_EQ(a.download()[4095], 2.0f);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(start), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(stop), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(s), cudaErrorInvalidResourceHandle);
  EXPECT_EQ(cudaEventDestroy(start), cudaErrorInvalidResourceHandle);
  cudaGetLastError();
}

TEST(SimtRuntime, DeviceProperties) {
  SettingsGuard guard;
  set_workers(3);
  int count = 0, dev = -1;
  EXPECT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  EXPECT_EQ(count, 1);
  EXPECT_EQ(cudaSetDevice(0), cudaSuccess);
  EXPECT_EQ(cudaSetDevice(1), cudaErrorInvalidDevice);
  EXPECT_EQ(cudaGetDevice(&dev), cudaSuccess);
  EXPECT_EQ(dev, 0);
  cudaDeviceProp p;
  ASSERT_EQ(cudaGetDeviceProperties(&p, 0), cudaSuccess);
  EXPECT_STREQ(p.name, "patchwork simt");
  EXPECT_EQ(p.warpSize, 32);
  EXPECT_EQ(p.maxThreadsPerBlock, 1024);
  EXPECT_EQ(p.sharedMemPerBlock, 48u * 1024);
  EXPECT_EQ(p.multiProcessorCount, 3);
  EXPECT_EQ(std::string(cudaGetErrorString(cudaErrorInvalidConfiguration)), "invalid configuration argument");
  EXPECT_EQ(PW_ARCH_SM, 0);
  cudaGetLastError();
}

TEST(SimtRuntime, BadLaunchConfigurationsSetTheLastError) {
  DeviceBuffer<int> out(2048);
  struct Case {
    dim3 grid, block;
    size_t smem;
    cudaError_t err;
  };
  for (const Case& c :
       {Case{1, 1025, 0, cudaErrorInvalidConfiguration}, Case{1, dim3(32, 32, 2), 0, cudaErrorInvalidConfiguration},
        Case{0, 32, 0, cudaErrorInvalidConfiguration}, Case{dim3(1, 0, 1), 32, 0, cudaErrorInvalidConfiguration},
        Case{1, 32, 49 * 1024, cudaErrorInvalidValue}}) {
    PW_LAUNCH(ks::record_worker, c.grid, c.block, c.smem, 0)(out.get());
    EXPECT_EQ(cudaGetLastError(), c.err);
  }
  // Through a kernel file's launcher: PW_CUDA_CHECK_LAUNCH throws with the launcher's line.
  DeviceBuffer<float> f(4000);
  try {
    kt::reverse_blocks(f.get(), f.get(), 4000, 2000);
    FAIL() << "no error";
  } catch (const pw::kernels::CudaError& e) {
    EXPECT_NE(std::string(e.what()).find("basic.cu:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("2000 threads"), std::string::npos) << e.what();
  }
  // More dynamic shared memory than 48 KiB once the kernel is allowed to ask for it.
  const int n = 100 * 1024 / 4;
  DeviceBuffer<float> one(1);
  PW_LAUNCH(ks::big_dynamic_smem, 1, 64, n * sizeof(float), 0)(one.get(), n);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidValue);
  ASSERT_EQ(cudaFuncSetAttribute(ks::big_dynamic_smem, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 static_cast<int>(n * sizeof(float))),
            cudaSuccess);
  PW_LAUNCH(ks::big_dynamic_smem, 1, 64, n * sizeof(float), 0)(one.get(), n);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(one.download()[0], static_cast<float>(n - 1));
}

TEST(SimtRuntime, DynamicSharedMemoryMustBeAlignedForItsType) {
  // simt ends dynamic shared memory at a guard page, so a size that is not a multiple of 16
  // leaves a float4 view misaligned: an error naming both, not a silent misaligned access.
  DeviceBuffer<float> one(1);
  try {
    PW_LAUNCH(ks::float4_dynamic_smem, 1, 2, 36, 0)(one.get());
    FAIL() << "a misaligned float4 view of dynamic shared memory was not reported";
  } catch (const pw::simt::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("ks::float4_dynamic_smem uses its dynamic shared memory as float4 "
                       "(alignment 16), but the launch gave 36 bytes"),
              std::string::npos)
        << msg;
  }
  PW_LAUNCH(ks::float4_dynamic_smem, 1, 2, 32, 0)(one.get());
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(one.download()[0], 4.0f);
}

TEST(SimtRuntime, BlocksRunOnSeveralWorkers) {
  SettingsGuard guard;
  set_workers(3);
  DeviceBuffer<int> worker(24);
  PW_LAUNCH(ks::record_worker, 24, 32, 0, 0)(worker.get());
  ASSERT_EQ(cudaGetLastError(), cudaSuccess);
  const auto w = worker.download();
  const std::set<int> used(w.begin(), w.end());
  EXPECT_GT(used.size(), 1u);
  for (int x : used) EXPECT_TRUE(x >= 0 && x < 3) << x;
}

TEST(SimtRuntime, AFailingThreadUnwindsEveryFiber) {
  SettingsGuard guard;
  for (Schedule s : {Schedule::forward, Schedule::reverse, Schedule::random})
    for (int phase : {0, 1})
      for (int who : {0, 5, 63}) {
        set_schedule(s, 7);
        DeviceBuffer<int> out(64);
        ks::g_constructed = ks::g_destroyed = 0;
        try {
          PW_LAUNCH(ks::trap_in_phase, 1, 64, 0, 0)(out.get(), who, phase);
          FAIL() << "__trap did not stop the launch";
        } catch (const pw::simt::Error& e) {
          EXPECT_NE(std::string(e.what()).find("__trap() at"), std::string::npos) << e.what();
        }
        EXPECT_GT(ks::g_constructed.load(), 0);
        EXPECT_EQ(ks::g_destroyed.load(), ks::g_constructed.load()) << "phase " << phase << " thread " << who;
        if (phase == 1) {
          EXPECT_EQ(ks::g_constructed.load(), 64);
        }
      }
  DeviceBuffer<int> worker(1);
  EXPECT_THROW(PW_LAUNCH(ks::launches_inside, 1, 1, 0, 0)(worker.get()), pw::simt::Error);
}

TEST(SimtRuntimeDeathTest, GuardedAllocationsReportOutOfBoundsAccess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        set_guarded_allocations(true);
        DeviceBuffer<float> a(1000);
        DeviceBuffer<float> c(1000);
        kt::vector_add(a.get(), a.get(), c.get(), 5000, 4, 64);  // reads and writes past the end
      },
      "out-of-bounds access.*past the end of a 4000-byte cudaMalloc allocation");
}

// Dynamic shared memory ends at a guard page: a launch one float short, or one that forgot
// its smem argument, faults at the first access past the end, named with kernel, block and
// thread (the last thread of each block writes the last float).
TEST(SimtRuntimeDeathTest, DynamicSharedMemoryOverrunsAreReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        DeviceBuffer<float> out(2 * 128);
        kt::smem_tile(out.get(), 2, 128, 127 * sizeof(float));
      },
      "dynamic shared memory overrun: an access 0 bytes past the end of the 508 bytes of "
      "dynamic shared memory the launch asked for. Kernel smem_tile_kernel, block "
      "\\([01],0,0\\), thread \\(127,0,0\\)");
  EXPECT_DEATH(
      {
        DeviceBuffer<float> out(128);
        kt::smem_tile(out.get(), 1, 128, 0);
      },
      "past the end of the 0 bytes .*forget its smem argument.*Kernel smem_tile_kernel, block "
      "\\(0,0,0\\), thread \\([0-9]+,0,0\\)");
}

// A thread that spins waiting for another never finishes on simt: PW_SIMT_TIMEOUT turns the
// hang into a report of what each worker does, and exit status 124.
TEST(SimtRuntimeDeathTest, TheWatchdogReportsAHangingLaunch) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        set_schedule(Schedule::forward, 0);  // thread 0 spins before thread 1 ever runs
        set_workers(1);
        set_timeout(0.3);
        DeviceBuffer<int> flag(std::vector<int>{0});
        kt::spin_wait(flag.get(), 64);
      },
      ::testing::ExitedWithCode(124),
      "PW_SIMT_TIMEOUT: the launch of spin_wait_kernel has run for .* s, more than the limit "
      "of 0.3 s.*worker 0: block \\(0,0,0\\), running thread \\(0,0,0\\).*"
      "threads 1-63: not started");
  // Under the limit, nothing happens; the same kernel finishes when thread 1 runs first.
  SettingsGuard guard;
  set_schedule(Schedule::reverse, 0);
  set_timeout(5);
  DeviceBuffer<int> flag(std::vector<int>{0});
  kt::spin_wait(flag.get(), 64);
  set_timeout(0);
  EXPECT_EQ(flag.download()[0], 1);
  EXPECT_THROW(set_timeout(-1), pw::simt::Error);
}

TEST(SimtRuntimeDeathTest, SignalsInAKernelNameTheBlockAndThread) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        DeviceBuffer<int> out(64);
        kt::divide(out.get(), 5, 64);
      },
      "SIGFPE \\(integer division by zero\\).*Kernel divide_kernel, block \\(0,0,0\\), "
      "thread \\(5,0,0\\)");
  EXPECT_DEATH(
      {
        DeviceBuffer<int> out(3 * 32);
        kt::assert_in_kernel(out.get(), 3, 32, 1, 3);
      },
      "SIGABRT \\(abort\\(\\) or a failed assert\\).*Kernel assert_kernel, block \\(1,0,0\\), "
      "thread \\(3,0,0\\)");
}

// Kernels are built with -fstack-clash-protection: a frame larger than the fiber's stack
// probes every page and hits the guard page below it, instead of jumping over it.
TEST(SimtRuntimeDeathTest, AStackFrameLargerThanTheFiberStackHitsItsGuardPage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        DeviceBuffer<int> out(4);
        kt::big_frame(out.get(), 4);
      },
      "fiber stack overflow.*Kernel big_frame_kernel, block \\(0,0,0\\), thread \\([0-3],0,0\\)");
}

// Settings are read from the environment once, at first use: each check runs in a fresh
// child process, before anything in it has touched simt.
TEST(SimtRuntimeDeathTest, SettingsFromTheEnvironment) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("PW_SIMT_SCHEDULE", "random:42", 1);
        setenv("PW_SIMT_WORKERS", "3", 1);
        setenv("PW_SIMT_STACK_KIB", "128", 1);
        setenv("PW_SIMT_TIMEOUT", "2.5", 1);
        const bool ok = schedule() == Schedule::random && schedule_seed() == 42 && workers() == 3 &&
                        stack_size() == 128 * 1024 && timeout() == 2.5;
        std::exit(ok ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
  EXPECT_EXIT(
      {
        setenv("PW_SIMT_SCHEDULE", "backwards", 1);
        try {
          schedule();
        } catch (const pw::simt::Error& e) {
          std::exit(std::string(e.what()).find("PW_SIMT_SCHEDULE=backwards") != std::string::npos ? 0 : 2);
        }
        std::exit(1);
      },
      ::testing::ExitedWithCode(0), "");
  EXPECT_EXIT(
      {
        setenv("PW_SIMT_TIMEOUT", "soon", 1);
        try {
          timeout();
        } catch (const pw::simt::Error& e) {
          std::exit(std::string(e.what()).find("PW_SIMT_TIMEOUT=soon") != std::string::npos ? 0 : 2);
        }
        std::exit(1);
      },
      ::testing::ExitedWithCode(0), "");
}

// Under AddressSanitizer (tools/sanitize.sh), simt announces its fiber switches so that ASan
// makes no false reports on fiber stacks (every simt test and device check runs under it). This
// checks the other side: real errors on a fiber's stack are still reported, in the kernel's
// frame and naming the variable, and with detect_stack_use_after_return=1 a fiber's fake stack
// catches a use after return. Without ASan there is nothing to check.
TEST(SimtRuntimeDeathTest, AddressSanitizerChecksTheStacksOfFibers) {
#if PW_SIMT_ASAN
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        DeviceBuffer<int> out(64);
        PW_LAUNCH(ks::overflow_a_local_after_a_barrier, 1, 64, 0, 0)(out.get(), 8);
      },
      "stack-buffer-overflow.*WRITE of size 4 .*#0 [^ ]+ in [^ ]*overflow_a_local_after_a_barrier.*"
      "'local'.*overflows this variable");
  if (__asan_option_detect_stack_use_after_return) {
    EXPECT_DEATH(
        {
          DeviceBuffer<int> out(64);
          PW_LAUNCH(ks::use_a_local_after_return_after_a_barrier, 1, 64, 0, 0)(out.get());
        },
        "stack-use-after-return");
  }
  // The same kernels within bounds run clean.
  DeviceBuffer<int> out(64);
  PW_LAUNCH(ks::overflow_a_local_after_a_barrier, 1, 64, 0, 0)(out.get(), 7);
  EXPECT_EQ(out.download(), std::vector<int>(64, 0));
#else
  GTEST_SKIP() << "not built with AddressSanitizer";
#endif
}
