// Small datasets on disk: see data_files.h.
#include "tests/support/data_files.h"

#include <filesystem>
#include <fstream>

#include "engine/io/image.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"

namespace pw::testing {

namespace fs = std::filesystem;

namespace {

void write_cifar_batch(const fs::path& path, int64_t n, int64_t first_label, Generator& gen) {
  std::string bytes;
  for (int64_t r = 0; r < n; ++r) {
    bytes += char((first_label + r) % 10);
    for (int64_t i = 0; i < 3 * 32 * 32; ++i) bytes += char(gen.randint(0, 256));
  }
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), (std::streamsize)bytes.size());
  PW_CHECK(f.good(), "cannot write '", path.string(), "'");
}

}  // namespace

void write_cifar10(const std::string& dir, int64_t per_batch, int64_t test, uint64_t seed) {
  fs::create_directories(dir);
  Generator gen(seed);
  for (int b = 1; b <= 5; ++b)
    write_cifar_batch(fs::path(dir) / ("data_batch_" + std::to_string(b) + ".bin"), per_batch, b * per_batch, gen);
  write_cifar_batch(fs::path(dir) / "test_batch.bin", test, 0, gen);
}

void write_image_folder(const std::string& dir, const std::vector<std::string>& classes, int64_t per_class,
                        int64_t size, uint64_t seed) {
  Generator gen(seed);
  for (size_t k = 0; k < classes.size(); ++k) {
    fs::create_directories(fs::path(dir) / classes[k]);
    for (int64_t i = 0; i < per_class; ++i) {
      io::Image img = io::Image::filled(3, size, size);
      for (int64_t c = 0; c < 3; ++c)
        for (int64_t p = 0; p < size * size; ++p)
          img.pixels[c * size * size + p] = 0.2f + 0.2f * (float)((k + c) % 3) + 0.2f * gen.uniform();
      io::write_png((fs::path(dir) / classes[k] / (std::to_string(i) + ".png")).string(), img);
    }
  }
}

}  // namespace pw::testing
