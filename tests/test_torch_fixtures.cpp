// patchwork against PyTorch on the cpu: logits, loss and every gradient of a small AlexNet-style
// and a small VGG-style network with batch norm, in train and eval mode, from fixtures that
// tools/torch_compare.py made once (tests/fixtures/). simt and cuda run the same check in
// tests/device_checks/torch_fixtures.cpp.
#include <gtest/gtest.h>

#include "tests/support/torch_fixture.h"

using namespace pw;

TEST(TorchFixtures, AlexnetSmallTrain) { pw::testing::check_torch_fixture("alexnet-small", "train", Device::cpu()); }
TEST(TorchFixtures, AlexnetSmallEval) { pw::testing::check_torch_fixture("alexnet-small", "eval", Device::cpu()); }
TEST(TorchFixtures, VggSmallTrain) { pw::testing::check_torch_fixture("vgg-small", "train", Device::cpu()); }
TEST(TorchFixtures, VggSmallEval) { pw::testing::check_torch_fixture("vgg-small", "eval", Device::cpu()); }
