// CIFAR-10 and CIFAR-100 in their binary distributions (cifar-10-binary.tar.gz,
// cifar-100-binary.tar.gz), loaded into tensors.
//
// A record is the label byte(s) followed by 3072 pixel bytes: the 1024 red values of the 32x32
// image in row-major order, then the green, then the blue, i.e. exactly CHW.
//   CIFAR-10:  1 label byte (0..9);                 data_batch_1..5.bin (train), test_batch.bin
//   CIFAR-100: coarse (0..19) then fine (0..99);    train.bin, test.bin; the fine label is used
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/data/mnist.h"  // LabeledImages

namespace pw::data {

inline constexpr int64_t kCifarImageBytes = 3 * 32 * 32;

// `dir_or_file` is one of:
//  - a folder holding data_batch_1.bin .. data_batch_5.bin and test_batch.bin (CIFAR-10) or
//    train.bin and test.bin (CIFAR-100); a folder that instead holds the unpacked
//    cifar-10-batches-bin/ or cifar-100-binary/ folder works too. `train` picks the split.
//  - one batch file, read as it is (`train` is ignored): CIFAR-100 when it is named train.bin
//    or test.bin, CIFAR-10 otherwise.
// Returns images [N, 3, 32, 32] f32 in [0, 1], labels [N] i32 and the class names (the
// published lists, which batches.meta.txt and fine_label_names.txt also hold).
// `limit` > 0 keeps the first `limit` examples (files are read in order, and only as far as
// needed). Errors name the file: a missing folder or files (listing those expected), a length
// that is not a whole number of records (giving both), a label out of range.
LabeledImages load_cifar(const std::string& dir_or_file, bool train, int64_t limit = -1);

extern const std::vector<std::string> kCifar10Classes;
extern const std::vector<std::string> kCifar100Classes;  // the 100 fine labels, in label order

}  // namespace pw::data
