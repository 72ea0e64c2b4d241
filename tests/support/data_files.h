// Small datasets written to disk in the formats `--data` reads, for tests of whole runs:
// CIFAR-10 binary batches and an ImageNet-style folder of PNGs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pw::testing {

// dir/data_batch_1.bin .. data_batch_5.bin with `per_batch` records each and test_batch.bin with
// `test` records; labels cycle 0..9, pixels random (from `seed`).
void write_cifar10(const std::string& dir, int64_t per_batch, int64_t test, uint64_t seed);

// dir/<class>/<k>.png, `per_class` RGB images of size x size per class, each class a different
// mean colour plus noise (from `seed`).
void write_image_folder(const std::string& dir, const std::vector<std::string>& classes, int64_t per_class,
                        int64_t size, uint64_t seed);

}  // namespace pw::testing
