// One data argument for every command: the kind of dataset and its path, loaded into tensors.
//
//   fashion-mnist         Debian's dataset-fashion-mnist (train 60000 / test 10000, 28x28 gray)
//   mnist:DIR             any MNIST-format folder (train-/t10k- IDX files, gzip or plain)
//   cifar10:DIR, cifar100:DIR   the binary batches (data_batch_*.bin / test_batch.bin, train.bin / test.bin)
//   folder:DIR            one sub-folder per class (ImageNet style); split into train / test
//   images:DIR            a flat folder of unlabeled photos (JPEG, PNG, BMP), searched recursively
//   DIR                   guessed: MNIST files, else class sub-folders, else a flat folder
//
// Images come out as f32 [N, C, S, S] tensors normalized by the training set's per-channel
// mean and standard deviation (or by the ones DataOptions gives). Folder images are shrunk (box-halving, then bilinear)
// so that the shorter side is S and centre-cropped to S x S; IDX and CIFAR images are resized to S when S differs from
// their size.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace pw::tasks {

struct DataOptions {
  int64_t image_size = 0;    // S; 0: the dataset's own size (folders: 128)
  int channels = 0;          // 0: the dataset's (1 for MNIST, 3 otherwise)
  int64_t limit_train = -1;  // keep the first N (-1: all)
  int64_t limit_test = -1;
  bool skip_bad = false;       // folders: skip (and count) images that do not decode
  double test_fraction = 0.2;  // folder:DIR: every k-th image of each class goes to test
  // Normalize with this per-channel mean and std instead of the training images' own (a
  // resumed run uses its checkpoint's, so its inputs are the same numbers). Both or neither.
  std::vector<float> mean, std;
};

struct Dataset {
  std::string kind, path;
  Tensor train_images, train_labels;  // labels: [N] i32, undefined for unlabeled data
  Tensor test_images, test_labels;    // images:DIR has no test split (undefined)
  std::vector<std::string> classes;
  std::vector<float> mean, std;          // the normalization that was applied, per channel
  std::vector<std::string> skipped;      // images left out with skip_bad (one message each)
  std::vector<std::string> train_paths;  // folder kinds: the file of each training image
  bool labeled() const { return train_labels.defined(); }
};

Dataset load_dataset(const std::string& spec, const DataOptions& options);

// One line for a log: "fashion-mnist (mnist), 60000 training images [60000, 1, 28, 28], 10000 test
// images, 2 skipped (first: ...)".
std::string data_summary(const std::string& spec, const Dataset& d);

// The kind ("mnist", "cifar10", "cifar100", "folder", "images") and path a spec names, the kind of
// a bare folder guessed as above; a bare path that is not a folder is an error.
std::pair<std::string, std::string> data_kind(const std::string& spec);

}  // namespace pw::tasks
