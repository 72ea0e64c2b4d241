// MNIST-format datasets (MNIST, Fashion-MNIST) loaded into tensors.
#pragma once
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace pw::data {

struct LabeledImages {
  Tensor images;  // [N, 1, 28, 28] f32, pixel values scaled to [0, 1]
  Tensor labels;  // [N] i32
  std::vector<std::string> class_names;
};

// Reads `train-images-idx3-ubyte(.gz)` + `train-labels-idx1-ubyte(.gz)` (or the t10k pair)
// from `dir`. `limit` > 0 keeps the first `limit` examples. Errors name the missing file.
LabeledImages load_mnist_format(const std::string& dir, bool train, int64_t limit = -1);

// Where Debian's dataset-fashion-mnist installs the data; $PW_FASHION_MNIST overrides.
std::string default_fashion_mnist_dir();

extern const std::vector<std::string> kFashionMnistClasses;

}  // namespace pw::data
