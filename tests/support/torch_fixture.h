// The PyTorch fixtures (tests/fixtures/, made by tools/torch_compare.py fixtures): a model's
// weights, an input with labels, and PyTorch's float64 logits, loss, gradients and running
// statistics in train and eval mode. check_torch_fixture runs patchwork on `device` and
// compares every expected tensor: max |patchwork - PyTorch| <= 1e-4 max(max |PyTorch|, 1e-3).
#pragma once
#include <string>

#include "engine/device/device.h"

namespace pw::testing {

// name: "alexnet-small" or "vgg-small"; mode: "train" or "eval".
void check_torch_fixture(const std::string& name, const std::string& mode, Device device);

}  // namespace pw::testing
