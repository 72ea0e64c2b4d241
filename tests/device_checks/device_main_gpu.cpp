// test_gpu_kernels (label gpu): the device checks run on the first CUDA GPU; skipped without one.
#include "tests/support/device_test.h"

namespace pw::testing {
Device device_under_test() { return {DeviceType::cuda, 0}; }
}  // namespace pw::testing
