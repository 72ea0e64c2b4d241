// patchwork against PyTorch on the device under test (simt in every run, cuda with a GPU): the
// fixtures of tests/test_torch_fixtures.cpp, same tolerance (1e-4 relative).
#include "tests/support/device_test.h"
#include "tests/support/torch_fixture.h"

using namespace pw;
using pw::testing::DeviceTest;

class TorchFixturesOnDevice : public DeviceTest {};

TEST_P(TorchFixturesOnDevice, AlexnetSmall) {
  pw::testing::check_torch_fixture("alexnet-small", "train", device());
  pw::testing::check_torch_fixture("alexnet-small", "eval", device());
}

TEST_P(TorchFixturesOnDevice, VggSmallWithBatchNorm) {
  pw::testing::check_torch_fixture("vgg-small", "train", device());
  pw::testing::check_torch_fixture("vgg-small", "eval", device());
}

PW_INSTANTIATE_DEVICE_TEST(TorchFixturesOnDevice);
