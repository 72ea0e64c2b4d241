// Test support for the GPU devices: one body of checks, two programs.
//
// Files in tests/device_checks/ write value-parameterized tests on a fixture derived from
// DeviceTest and instantiate them with PW_INSTANTIATE_DEVICE_TEST. They are compiled into two
// programs: test_simt_kernels, whose device_under_test() is simt (runs in every test run),
// and test_gpu_kernels (CTest label `gpu`), whose device is cuda and which skips every test
// when no CUDA GPU is present. Each check compares the device against the CPU reference on
// random, awkward sizes; device memory is poisoned by simt, so unwritten outputs show up.
#pragma once
#include <gtest/gtest.h>

#include "engine/device/device.h"
#include "engine/ops.h"

namespace pw {
// How GoogleTest prints a device parameter (test names and failure messages).
inline void PrintTo(const Device& d, std::ostream* os) { *os << d.str(); }
}  // namespace pw

namespace pw::testing {

// Defined once per program (device_main_simt.cpp / device_main_gpu.cpp).
Device device_under_test();

class DeviceTest : public ::testing::TestWithParam<Device> {
 protected:
  void SetUp() override {
    if (!device_available(GetParam())) GTEST_SKIP() << GetParam().str() << " is not available here";
  }
  Device device() const { return GetParam(); }
  // A random f32 tensor on the CPU (seeded), and the same values on the device.
  static Tensor cpu_random(const Shape& shape, uint64_t seed, double lo = -1, double hi = 1) {
    Generator g(seed, 3);
    return Tensor::rand(shape, lo, hi, DType::f32, &g);
  }
};

// Max |a - b| / max(1, |b|) with both brought to the CPU; NaN counts as infinitely far.
double max_rel_diff_any_device(const Tensor& a, const Tensor& b);

}  // namespace pw::testing

#define PW_INSTANTIATE_DEVICE_TEST(suite)                                                            \
  INSTANTIATE_TEST_SUITE_P(OnDevice, suite, ::testing::Values(::pw::testing::device_under_test()),   \
                           [](const ::testing::TestParamInfo<::pw::Device>& info) {                  \
                             return info.param.type == ::pw::DeviceType::simt ? std::string("simt")  \
                                                                              : std::string("cuda"); \
                           })
