// test_simt_kernels: the device checks run on simt (the CUDA kernels on the CPU).
#include "tests/support/device_test.h"

namespace pw::testing {
Device device_under_test() { return {DeviceType::simt, 0}; }
}  // namespace pw::testing
