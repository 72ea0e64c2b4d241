// Tests for image files (engine/io/image.h), CIFAR batches (engine/data/cifar.h), image folders
// (engine/data/folder.h) and transforms (engine/data/transforms.h), on files written to a
// temporary folder with random pixel values; the Debian nature photos when installed.
#include <gtest/gtest.h>
#include <stb/stb_image_write.h>  // declarations only: engine/io/image.cpp compiles stb

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/data/cifar.h"
#include "engine/data/folder.h"
#include "engine/data/transforms.h"
#include "engine/io/image.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"

namespace {

namespace fs = std::filesystem;
using pw::Generator;
using pw::io::Image;
using namespace pw::data;

template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const pw::Error& e) {
    return e.what();
  }
  return "<no error>";
}

#define EXPECT_ERROR_HAS(expr, ...)                                                                   \
  do {                                                                                                \
    const std::string message_ = error_of([&] { (void)(expr); });                                     \
    for (const std::string& part_ : std::vector<std::string>{__VA_ARGS__})                            \
      EXPECT_NE(message_.find(part_), std::string::npos) << "'" << part_ << "' not in: " << message_; \
  } while (0)

// Pixels k / 255 with k uniform in 0..255, so 8-bit files hold them exactly.
Image random_image(int64_t c, int64_t h, int64_t w, uint64_t seed) {
  Generator gen(seed);
  Image img = Image::filled(c, h, w);
  for (float& v : img.pixels) v = float(gen.randint(0, 256)) / 255.0f;
  return img;
}

std::vector<uint8_t> interleaved_bytes(const Image& img) {
  std::vector<uint8_t> out(img.numel());
  for (int64_t c = 0; c < img.channels; ++c)
    for (int64_t i = 0; i < img.height * img.width; ++i)
      out[i * img.channels + c] = uint8_t(std::lround(img.pixels[c * img.height * img.width + i] * 255));
  return out;
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class Datasets : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::path(::testing::TempDir()) / ("pw_datasets_" + std::to_string(getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // A PNG of a random image at dir/name, returned as written.
  Image png(const std::string& name, int64_t c, int64_t h, int64_t w, uint64_t seed) {
    Image img = random_image(c, h, w, seed);
    fs::create_directories(fs::path(path(name)).parent_path());
    pw::io::write_png(path(name), img);
    return img;
  }
  fs::path dir_;
};

// ---- image files --------------------------------------------------------------------------

TEST_F(Datasets, PngRoundTripIsExactForEveryChannelCount) {
  for (int64_t c = 1; c <= 4; ++c) {
    const Image img = png("img" + std::to_string(c) + ".png", c, 7, 5, 10 + c);
    const Image back = pw::io::read_image(path("img" + std::to_string(c) + ".png"));
    EXPECT_EQ(back.channels, c);
    EXPECT_EQ(back.height, 7);
    EXPECT_EQ(back.width, 5);
    EXPECT_EQ(back.pixels, img.pixels) << c << " channels";
  }
  // Only the PNGs: write_png leaves no temporary files behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 4);
}

TEST_F(Datasets, ReadConvertsChannelCounts) {
  const Image rgb = png("rgb.png", 3, 4, 6, 1);
  const Image gray = pw::io::read_image(path("rgb.png"), 1);
  ASSERT_EQ(gray.channels, 1);
  for (int64_t i = 0; i < 24; ++i)  // stb's luma, 8-bit fixed point: within 2/255 of ITU-R 601
    EXPECT_NEAR(gray.pixels[i], 0.299 * rgb.pixels[i] + 0.587 * rgb.pixels[24 + i] + 0.114 * rgb.pixels[48 + i],
                2.0 / 255);
  const Image g = png("gray.png", 1, 3, 3, 2);
  const Image as_rgb = pw::io::read_image(path("gray.png"), 3);
  ASSERT_EQ(as_rgb.channels, 3);
  for (int64_t c = 0; c < 3; ++c)
    EXPECT_EQ(std::vector<float>(as_rgb.pixels.begin() + 9 * c, as_rgb.pixels.begin() + 9 * (c + 1)), g.pixels);
}

TEST_F(Datasets, BmpRoundTripIsExact) {
  const Image img = random_image(3, 9, 11, 3);
  ASSERT_TRUE(stbi_write_bmp(path("a.bmp").c_str(), 11, 9, 3, interleaved_bytes(img).data()));
  EXPECT_EQ(pw::io::read_image(path("a.bmp")).pixels, img.pixels);
}

TEST_F(Datasets, JpegRoundTripIsClose) {
  // Smooth random gradients (JPEG loses high frequencies, so noise would not come back close).
  Generator gen(4);
  Image img = Image::filled(3, 32, 40);
  for (int64_t c = 0; c < 3; ++c) {
    const float a = 0.2f + 0.3f * gen.uniform(), b = 0.4f * gen.uniform(), d = 0.3f * gen.uniform();
    for (int64_t y = 0; y < 32; ++y)
      for (int64_t x = 0; x < 40; ++x) img.at(c, y, x) = std::round((a + b * x / 40 + d * y / 32) * 255) / 255;
  }
  ASSERT_TRUE(stbi_write_jpg(path("a.JPG").c_str(), 40, 32, 3, interleaved_bytes(img).data(), 95));
  const Image back = pw::io::read_image(path("a.JPG"));
  ASSERT_EQ(back.pixels.size(), img.pixels.size());
  double total = 0;
  for (size_t i = 0; i < img.pixels.size(); ++i) total += std::abs(back.pixels[i] - img.pixels[i]);
  EXPECT_LT(total / double(img.pixels.size()), 0.02);
}

TEST_F(Datasets, BadImageFilesAreErrorsNamingTheFile) {
  png("good.png", 3, 16, 16, 5);
  const std::string bytes = read_bytes(path("good.png"));
  write_bytes(path("cut.png"), bytes.substr(0, bytes.size() / 2));
  write_bytes(path("garbage.jpg"), "this is not a JPEG file at all, just text");
  write_bytes(path("empty.png"), "");
  EXPECT_ERROR_HAS(pw::io::read_image(path("cut.png")), path("cut.png"), "truncated");
  EXPECT_ERROR_HAS(pw::io::read_image(path("garbage.jpg")), path("garbage.jpg"), "supported format");
  EXPECT_ERROR_HAS(pw::io::read_image(path("empty.png")), path("empty.png"), "empty");
  EXPECT_ERROR_HAS(pw::io::read_image(path("nope.png")), path("nope.png"), "No such file");
  EXPECT_ERROR_HAS(pw::io::read_image(dir_.string()), dir_.string(), "directory");
  EXPECT_ERROR_HAS(pw::io::read_image(path("good.png"), 2), "2 channels");
  // A Huffman table of 16 * 255 symbols, which stb_image 2.27 would write past its tables.
  const Image img = random_image(3, 8, 8, 6);
  ASSERT_TRUE(stbi_write_jpg(path("huff.jpg").c_str(), 8, 8, 3, interleaved_bytes(img).data(), 90));
  std::string jpeg = read_bytes(path("huff.jpg"));
  const size_t dht = jpeg.find("\xFF\xC4");
  ASSERT_NE(dht, std::string::npos);
  for (size_t k = dht + 5; k < dht + 21; ++k) jpeg[k] = char(0xFF);
  write_bytes(path("huff.jpg"), jpeg);
  EXPECT_ERROR_HAS(pw::io::read_image(path("huff.jpg")), path("huff.jpg"), "Huffman table", "4080 symbols");
}

TEST_F(Datasets, PngIdatChunksThatStbMishandlesAreRefused) {
  // stb_image 2.27 would memcpy into a null buffer (tests/fuzz_regressions/image/). An empty IDAT
  // after the first one is harmless and still decodes.
  png("idat.png", 3, 6, 5, 2);
  const std::string bytes = read_bytes(path("idat.png"));
  const size_t idat = bytes.find("IDAT") - 4;
  const uint32_t first_length = uint32_t(uint8_t(bytes[idat])) << 24 | uint32_t(uint8_t(bytes[idat + 1])) << 16 |
                                uint32_t(uint8_t(bytes[idat + 2])) << 8 | uint8_t(bytes[idat + 3]);
  const std::string empty_idat("\0\0\0\0IDAT\x35\xaf\x06\x1e", 12);
  std::string before = bytes, after = bytes;
  before.insert(idat, empty_idat);
  after.insert(idat + 12 + first_length, empty_idat);
  write_bytes(path("before.png"), before);
  write_bytes(path("after.png"), after);
  EXPECT_ERROR_HAS(pw::io::read_image(path("before.png")), path("before.png"), "first IDAT chunk is empty");
  EXPECT_EQ(pw::io::read_image(path("after.png")).pixels, pw::io::read_image(path("idat.png")).pixels);
  // An IDAT chunk that declares more bytes than the file holds is refused before stb allocates them.
  std::string lying = bytes;
  lying[idat] = char(0x7f);
  write_bytes(path("lying.png"), lying);
  EXPECT_ERROR_HAS(pw::io::read_image(path("lying.png")), path("lying.png"), "IDAT chunk", "declares");
}

// A BMP whose pixel data is shorter than its header declares is refused before stb_image, which
// would fill the rest with zeros pixel by pixel (tests/fuzz_regressions/image/). Whole files and
// files with bytes to spare decode as before.
TEST_F(Datasets, BmpShorterThanItsHeaderIsRefused) {
  const Image img = random_image(3, 9, 11, 7);
  ASSERT_TRUE(stbi_write_bmp(path("whole.bmp").c_str(), 11, 9, 3, interleaved_bytes(img).data()));
  const std::string bytes = read_bytes(path("whole.bmp"));
  write_bytes(path("cut.bmp"), bytes.substr(0, bytes.size() - 1));
  write_bytes(path("longer.bmp"), bytes + "tail");
  EXPECT_EQ(pw::io::read_image(path("longer.bmp")).pixels, img.pixels);
  // 11 pixels of 24 bits: rows of 36 bytes (33 padded to 4), 9 rows.
  EXPECT_ERROR_HAS(pw::io::read_image(path("cut.bmp")), path("cut.bmp"), "truncated or corrupt BMP", "11x9", "24 bits",
                   "324 bytes");
}

TEST_F(Datasets, ImageInfoReadsTheHeaderBehindTheSameGuards) {
  png("info.png", 3, 5, 7, 1);
  const std::string bytes = read_bytes(path("info.png"));
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  const pw::io::ImageInfo info = pw::io::read_image_info(p, bytes.size(), "info.png");
  EXPECT_EQ(info.width, 7);
  EXPECT_EQ(info.height, 5);
  EXPECT_EQ(info.channels, 3);
  EXPECT_ERROR_HAS(pw::io::read_image_info(p, 0, "none.png"), "none.png", "empty");
  const std::string text = "not an image";
  EXPECT_ERROR_HAS(pw::io::read_image_info(reinterpret_cast<const uint8_t*>(text.data()), text.size(), "t.png"),
                   "t.png", "supported format");
  // The JPEG Huffman guard comes first: stb_image must not read such a table even for the header
  // (tests/fuzz_regressions/image/ holds the file the fuzzer found this with).
  const Image img = random_image(3, 8, 8, 6);
  ASSERT_TRUE(stbi_write_jpg(path("h.jpg").c_str(), 8, 8, 3, interleaved_bytes(img).data(), 90));
  std::string jpeg = read_bytes(path("h.jpg"));
  const size_t dht = jpeg.find("\xFF\xC4");
  ASSERT_NE(dht, std::string::npos);
  for (size_t k = dht + 5; k < dht + 21; ++k) jpeg[k] = char(0xFF);
  EXPECT_ERROR_HAS(pw::io::read_image_info(reinterpret_cast<const uint8_t*>(jpeg.data()), jpeg.size(), "h.jpg"),
                   "h.jpg", "Huffman table");
  // stb_image accepts 0xFF fill bytes before the start-of-image marker; so does the guard.
  jpeg.insert(0, "\xFF\xFF\xFF");
  EXPECT_ERROR_HAS(pw::io::decode_image(reinterpret_cast<const uint8_t*>(jpeg.data()), jpeg.size(), "fill.jpg"),
                   "fill.jpg", "Huffman table");
  // A scan that uses a Huffman table no DHT segment defined (stb 2.27 would read uninitialized
  // tables): the writer defines tables 0 and 1, the first component is pointed at table 3.
  std::string scan = read_bytes(path("h.jpg"));
  const size_t sos = scan.find("\xFF\xDA");
  ASSERT_NE(sos, std::string::npos);
  scan[sos + 6] = char(0x33);
  EXPECT_ERROR_HAS(pw::io::decode_image(reinterpret_cast<const uint8_t*>(scan.data()), scan.size(), "scan.jpg"),
                   "scan.jpg", "does not define");
}

TEST_F(Datasets, WritePngRejectsBadImagesAndKeepsTheOldFile) {
  png("keep.png", 3, 4, 4, 6);
  const std::string before = read_bytes(path("keep.png"));
  Image bad = Image::filled(5, 2, 2, 0.5f);
  EXPECT_ERROR_HAS(pw::io::write_png(path("keep.png"), bad), path("keep.png"), "5");
  bad = Image::filled(3, 2, 2, 0.5f);
  bad.pixels.pop_back();
  EXPECT_ERROR_HAS(pw::io::write_png(path("keep.png"), bad), "should hold 12 pixels, has 11");
  EXPECT_EQ(read_bytes(path("keep.png")), before);
  // Out-of-range values are clamped.
  Image wild = Image::filled(1, 1, 3);
  wild.pixels = {-0.5f, 2.0f, NAN};
  pw::io::write_png(path("clamped.png"), wild);
  EXPECT_EQ(pw::io::read_image(path("clamped.png")).pixels, (std::vector<float>{0, 1, 0}));
}

TEST_F(Datasets, ResizeBilinearMatchesPyTorch) {
  const Image small = random_image(2, 2, 2, 7);
  const Image up = pw::io::resize_bilinear(small, 3, 3);
  // F.interpolate(x, size=(3, 3), mode="bilinear", align_corners=False): src = (d + 0.5) * 2/3 - 0.5
  // is 0 (clamped), 0.5 and 7/6 (clamped to the last pixel).
  for (int64_t c = 0; c < 2; ++c) {
    const float a = small.at(c, 0, 0), b = small.at(c, 0, 1), p = small.at(c, 1, 0), d = small.at(c, 1, 1);
    const std::vector<float> want = {a, (a + b) / 2, b, (a + p) / 2, (a + b + p + d) / 4, (b + d) / 2,
                                     p, (p + d) / 2, d};
    for (int64_t i = 0; i < 9; ++i) EXPECT_NEAR(up.pixels[c * 9 + i], want[i], 1e-6) << c << "," << i;
  }
  // 3x3 -> 2x2: src = (d + 0.5) * 1.5 - 0.5 is 0.25 and 1.75.
  const Image three = random_image(1, 3, 3, 8);
  const Image down = pw::io::resize_bilinear(three, 2, 2);
  const double taps[2][2] = {{0.75, 0.25}, {0.25, 0.75}};  // weights of pixels (0, 1) and (1, 2)
  for (int oy = 0; oy < 2; ++oy)
    for (int ox = 0; ox < 2; ++ox) {
      double want = 0;
      for (int ky = 0; ky < 2; ++ky)
        for (int kx = 0; kx < 2; ++kx) want += taps[oy][ky] * taps[ox][kx] * three.at(0, oy + ky, ox + kx);
      EXPECT_NEAR(down.at(0, oy, ox), want, 1e-6);
    }
}

// ---- CIFAR --------------------------------------------------------------------------------

// A batch file of n random records; returns their bytes.
std::string cifar_batch(const fs::path& p, int64_t n, int label_bytes, uint64_t seed) {
  Generator gen(seed);
  std::string bytes;
  for (int64_t r = 0; r < n; ++r) {
    if (label_bytes == 2) bytes += char(gen.randint(0, 20));
    bytes += char(gen.randint(0, label_bytes == 2 ? 100 : 10));
    for (int64_t i = 0; i < kCifarImageBytes; ++i) bytes += char(gen.randint(0, 256));
  }
  write_bytes(p, bytes);
  return bytes;
}

void expect_records(const LabeledImages& data, int64_t first, const std::string& bytes, int label_bytes) {
  const int64_t record = label_bytes + kCifarImageBytes, n = int64_t(bytes.size()) / record;
  const std::vector<float> images = data.images.to_vector_f32();
  const std::vector<int32_t> labels = data.labels.to_vector_i32();
  for (int64_t r = 0; r < n; ++r) {
    const auto* rec = reinterpret_cast<const uint8_t*>(bytes.data()) + r * record;
    EXPECT_EQ(labels[first + r], rec[label_bytes - 1]);
    for (int64_t i = 0; i < kCifarImageBytes; i += 97)
      ASSERT_EQ(images[(first + r) * kCifarImageBytes + i], rec[label_bytes + i] / 255.0f) << r << "," << i;
  }
}

TEST_F(Datasets, Cifar10ReadsBackExactly) {
  std::vector<std::string> batches;
  for (int b = 1; b <= 5; ++b)
    batches.push_back(cifar_batch(dir_ / ("data_batch_" + std::to_string(b) + ".bin"), b + 1, 1, b));
  const std::string test = cifar_batch(dir_ / "test_batch.bin", 4, 1, 9);
  LabeledImages train = load_cifar(dir_.string(), true);
  EXPECT_EQ(train.images.shape(), (pw::Shape{20, 3, 32, 32}));
  EXPECT_EQ(train.class_names, kCifar10Classes);
  for (int64_t b = 0, first = 0; b < 5; first += b + 2, ++b) expect_records(train, first, batches[b], 1);
  LabeledImages t = load_cifar(dir_.string(), false);
  EXPECT_EQ(t.labels.shape(), (pw::Shape{4}));
  expect_records(t, 0, test, 1);
  // limit crosses file boundaries; one file can be read alone.
  EXPECT_EQ(load_cifar(dir_.string(), true, 7).labels.numel(), 7);
  expect_records(load_cifar(path("data_batch_3.bin"), false), 0, batches[2], 1);
}

TEST_F(Datasets, Cifar100ReadsFineLabels) {
  const std::string train = cifar_batch(dir_ / "cifar-100-binary" / "train.bin", 6, 2, 11);
  const std::string test = cifar_batch(dir_ / "cifar-100-binary" / "test.bin", 3, 2, 12);
  LabeledImages data = load_cifar(dir_.string(), true);  // finds the unpacked sub-folder
  EXPECT_EQ(data.images.shape(), (pw::Shape{6, 3, 32, 32}));
  ASSERT_EQ(data.class_names.size(), 100u);
  EXPECT_EQ(data.class_names[99], "worm");
  expect_records(data, 0, train, 2);
  expect_records(load_cifar(path("cifar-100-binary/test.bin"), true), 0, test, 2);
}

TEST_F(Datasets, CifarErrorsNameFilesAndSizes) {
  EXPECT_ERROR_HAS(load_cifar(path("missing"), true), path("missing"), "does not exist", "data_batch_1.bin");
  EXPECT_ERROR_HAS(load_cifar(dir_.string(), true), "no CIFAR files", "test_batch.bin", "train.bin");
  cifar_batch(dir_ / "data_batch_1.bin", 2, 1, 1);
  cifar_batch(dir_ / "data_batch_2.bin", 2, 1, 2);
  EXPECT_ERROR_HAS(load_cifar(dir_.string(), true), "data_batch_3.bin, data_batch_4.bin, data_batch_5.bin");
  EXPECT_ERROR_HAS(load_cifar(dir_.string(), false), "test_batch.bin");
  std::string bytes = read_bytes(dir_ / "data_batch_1.bin");
  write_bytes(dir_ / "short.bin", bytes.substr(0, 3073 + 100));
  EXPECT_ERROR_HAS(load_cifar(path("short.bin"), true), path("short.bin"), "3173 bytes", "3073");
  bytes[3073] = char(10);  // the second record's label
  write_bytes(dir_ / "label.bin", bytes);
  EXPECT_ERROR_HAS(load_cifar(path("label.bin"), true), path("label.bin"), "record 1", "label 10", "0..9");
  std::string cifar100 = bytes.substr(0, 3074);
  cifar100[0] = char(25);
  write_bytes(dir_ / "train.bin", cifar100);
  EXPECT_ERROR_HAS(load_cifar(path("train.bin"), true), path("train.bin"), "coarse label 25", "0..19");
}

// ---- image folders ------------------------------------------------------------------------

TEST_F(Datasets, ImageFolderMapsSortedClasses) {
  png("zebra/b.png", 3, 4, 4, 1);
  png("zebra/A.PNG", 3, 4, 4, 2);
  png("Apple/deep/x.png", 3, 4, 4, 3);
  png("Apple/y.png", 3, 4, 4, 4);
  png("mid/z.bmp.png", 3, 4, 4, 5);
  png("mid/.hidden.png", 3, 4, 4, 6);
  write_bytes(path("mid/notes.txt"), "not an image");
  png("stray.png", 3, 4, 4, 7);  // directly in the root: ignored
  const ImageList list = list_image_folder(dir_.string());
  EXPECT_EQ(list.classes, (std::vector<std::string>{"Apple", "mid", "zebra"}));
  EXPECT_EQ(list.paths, (std::vector<std::string>{path("Apple/deep/x.png"), path("Apple/y.png"), path("mid/z.bmp.png"),
                                                  path("zebra/A.PNG"), path("zebra/b.png")}));
  EXPECT_EQ(list.labels, (std::vector<int32_t>{0, 0, 1, 2, 2}));
}

TEST_F(Datasets, FlatFolderSortsAndRecurses) {
  png("b.png", 3, 4, 4, 1);
  png("a.JPEG.png", 1, 4, 4, 2);
  png("sub/c.png", 3, 4, 4, 3);
  write_bytes(path("c.Jpg"), "x");
  write_bytes(path("readme.md"), "x");
  ImageList flat = list_flat_folder(dir_.string());
  EXPECT_EQ(flat.paths, (std::vector<std::string>{path("a.JPEG.png"), path("b.png"), path("c.Jpg")}));
  EXPECT_TRUE(flat.labels.empty());
  EXPECT_EQ(list_flat_folder(dir_.string(), true).paths.size(), 4u);
}

TEST_F(Datasets, FolderErrors) {
  EXPECT_ERROR_HAS(list_image_folder(path("missing")), path("missing"), "does not exist");
  EXPECT_ERROR_HAS(list_flat_folder(path("missing")), path("missing"), "does not exist");
  EXPECT_ERROR_HAS(list_flat_folder(dir_.string()), dir_.string(), "no images", ".jpg", ".png", ".bmp");
  EXPECT_ERROR_HAS(list_image_folder(dir_.string()), dir_.string(), "no class sub-folders");
  png("cat/a.png", 3, 2, 2, 1);
  write_bytes(path("dog/a.txt"), "x");
  EXPECT_ERROR_HAS(list_image_folder(dir_.string()), path("dog"), "class 1", "no images", ".jpeg");
}

TEST_F(Datasets, LoadImagesKeepsLabelsAlignedWhenSkipping) {
  const Image a = png("cat/a.png", 3, 5, 6, 1);
  const Image d = png("dog/d.png", 3, 5, 6, 2);
  png("cat/b.png", 3, 16, 16, 3);
  const std::string bytes = read_bytes(path("cat/b.png"));
  write_bytes(path("cat/b.png"), bytes.substr(0, bytes.size() / 2));
  write_bytes(path("dog/c.jpg"), "garbage, not a JPEG");
  const ImageList list = list_image_folder(dir_.string());
  ASSERT_EQ(list.paths.size(), 4u);
  EXPECT_ERROR_HAS(load_images(list), path("cat/b.png"), "truncated");
  const LoadedImages loaded = load_images(list, 3, /*skip_bad=*/true);
  ASSERT_EQ(loaded.skipped.size(), 2u);
  EXPECT_NE(loaded.skipped[0].find(path("cat/b.png")), std::string::npos);
  EXPECT_NE(loaded.skipped[1].find(path("dog/c.jpg")), std::string::npos);
  EXPECT_EQ(loaded.paths, (std::vector<std::string>{path("cat/a.png"), path("dog/d.png")}));
  EXPECT_EQ(loaded.labels, (std::vector<int32_t>{0, 1}));
  ASSERT_EQ(loaded.images.size(), 2u);
  EXPECT_EQ(loaded.images[0].pixels, a.pixels);
  EXPECT_EQ(loaded.images[1].pixels, d.pixels);
  EXPECT_EQ(loaded.classes, (std::vector<std::string>{"cat", "dog"}));
}

// ---- transforms ---------------------------------------------------------------------------

TEST_F(Datasets, CropsLandAtTheRightCoordinates) {
  const Image img = random_image(2, 7, 6, 20);
  const Image c = center_crop(img, 2, 3);  // top round(2.5) = 2 (half to even), left round(1.5) = 2
  for (int64_t ch = 0; ch < 2; ++ch)
    for (int64_t y = 0; y < 2; ++y)
      for (int64_t x = 0; x < 3; ++x) EXPECT_EQ(c.at(ch, y, x), img.at(ch, 2 + y, 2 + x));
  EXPECT_EQ(center_crop(img, 7, 6).pixels, img.pixels);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Generator gen(seed), replay(seed);
    const Image r = random_crop(img, 3, 4, gen);
    const int64_t top = replay.randint(0, 5), left = replay.randint(0, 3);
    EXPECT_EQ(r.pixels, crop(img, {top, left, 3, 4}).pixels);
    EXPECT_EQ(r.at(1, 2, 3), img.at(1, top + 2, left + 3));
  }
}

TEST_F(Datasets, FlipsAndGrayscale) {
  const Image img = random_image(3, 4, 5, 21);
  const Image f = hflip(img);
  EXPECT_EQ(f.at(2, 1, 0), img.at(2, 1, 4));
  EXPECT_EQ(hflip(f).pixels, img.pixels);
  Generator gen(1);
  EXPECT_EQ(random_hflip(img, gen, 0.0).pixels, img.pixels);
  EXPECT_EQ(random_hflip(img, gen, 1.0).pixels, f.pixels);
  // Red, green, blue, white, and a mix, one pixel each.
  Image colors = Image::filled(3, 1, 5);
  colors.pixels = {1, 0, 0, 1, 0.2f, 0, 1, 0, 1, 0.4f, 0, 0, 1, 1, 0.6f};
  const Image gray = to_grayscale(colors, false);
  ASSERT_EQ(gray.channels, 1);
  const std::vector<float> want = {0.299f, 0.587f, 0.114f, 1.0f, 0.299f * 0.2f + 0.587f * 0.4f + 0.114f * 0.6f};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(gray.pixels[i], want[i], 1e-6);
  const Image gray3 = to_grayscale(colors);
  ASSERT_EQ(gray3.channels, 3);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(gray3.pixels[i], gray3.pixels[10 + i]);
}

TEST_F(Datasets, NormalizeAndToTensor) {
  const Image img = random_image(3, 2, 3, 22);
  const Image n = normalize(img, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f});
  EXPECT_FLOAT_EQ(n.at(1, 1, 2), (img.at(1, 1, 2) - 0.456f) / 0.224f);
  EXPECT_FLOAT_EQ(normalize(img, {0.5f}, {0.5f}).at(2, 0, 1), img.at(2, 0, 1) * 2 - 1);
  EXPECT_ERROR_HAS(normalize(img, {0.5f, 0.5f}, {1}), "mean has 2 values", "3 channels");
  const Image other = random_image(3, 2, 3, 23);
  const pw::Tensor t = to_tensor({img, other});
  EXPECT_EQ(t.shape(), (pw::Shape{2, 3, 2, 3}));
  EXPECT_EQ(t.to_vector_f32()[18 + 7], other.pixels[7]);
  EXPECT_ERROR_HAS(to_tensor({img, random_image(3, 3, 2, 1)}), "image 1 is 3x3x2", "image 0 is 3x2x3");
}

TEST_F(Datasets, RandomResizedCropIsDeterministicAndInBounds) {
  const Image img = random_image(3, 40, 60, 24);
  Generator a(5), b(5), c(6);
  const Image x = random_resized_crop(img, 16, 12, a), y = random_resized_crop(img, 16, 12, b);
  EXPECT_EQ(x.channels, 3);
  EXPECT_EQ(x.height, 16);
  EXPECT_EQ(x.width, 12);
  EXPECT_EQ(x.pixels, y.pixels);
  EXPECT_NE(x.pixels, random_resized_crop(img, 16, 12, c).pixels);
  for (uint64_t seed = 0; seed < 200; ++seed) {
    Generator gen(seed);
    const CropBox box = random_resized_crop_box(40, 60, gen);
    ASSERT_TRUE(box.top >= 0 && box.left >= 0 && box.top + box.height <= 40 && box.left + box.width <= 60);
    const double ratio = double(box.width) / box.height, area = double(box.width) * box.height / 2400;
    EXPECT_TRUE(ratio > 0.6 && ratio < 1.5 && area > 0.05 && area <= 1.0) << ratio << " " << area;
  }
  // No try can fit a ratio of 10..20 in a square: the fallback is the central 10:1 strip.
  Generator gen(7);
  const CropBox strip = random_resized_crop_box(50, 50, gen, {0.5, 1.0}, {10.0, 20.0});
  EXPECT_EQ(strip.height, 5);
  EXPECT_EQ(strip.width, 50);
  EXPECT_EQ(strip.top, 22);
  EXPECT_EQ(strip.left, 0);
}

TEST_F(Datasets, ResizeShorterAndColorJitter) {
  const Image img = random_image(3, 10, 20, 25);
  const Image r = resize_shorter(img, 5);
  EXPECT_EQ(r.height, 5);
  EXPECT_EQ(r.width, 10);
  const Image tall = resize_shorter(random_image(1, 30, 20, 26), 7);  // width 7, height int(10.5)
  EXPECT_EQ(tall.height, 10);
  EXPECT_EQ(tall.width, 7);

  Generator gen(3);
  EXPECT_EQ(color_jitter(img, gen, 0, 0, 0).pixels, img.pixels);
  EXPECT_EQ(gen.offset(), 0u);  // nothing drawn
  Generator jitter(4), replay(4);
  const Image bright = color_jitter(img, jitter, 0.4, 0, 0);
  const double f = 0.6 + 0.8 * replay.uniform_double();
  for (size_t i = 0; i < img.pixels.size(); i += 7)
    EXPECT_NEAR(bright.pixels[i], std::min(1.0, f * img.pixels[i]), 1e-6);
  // Mid-range pixels are not clamped by contrast 0.2, so the mean luma is unchanged; saturation
  // leaves a gray image gray.
  Image mid = img;
  for (float& v : mid.pixels) v = 0.4f + 0.2f * v;
  Generator g2(5);
  const Image contrasted = color_jitter(mid, g2, 0, 0.2, 0);
  double before = 0, after = 0;
  const Image gm = to_grayscale(mid, false), gc = to_grayscale(contrasted, false);
  for (int64_t i = 0; i < 200; ++i) before += gm.pixels[i], after += gc.pixels[i];
  EXPECT_NEAR(before, after, 1e-3);
  EXPECT_NE(contrasted.pixels, mid.pixels);
  const Image gray = to_grayscale(img);
  const Image saturated = color_jitter(gray, g2, 0, 0, 0.9);
  for (size_t i = 0; i < gray.pixels.size(); ++i) EXPECT_NEAR(saturated.pixels[i], gray.pixels[i], 1e-6);
}

TEST_F(Datasets, TransformErrorsNameSizes) {
  const Image img = random_image(3, 4, 5, 27);
  Generator gen(1);
  EXPECT_ERROR_HAS(center_crop(img, 5, 5), "center_crop", "5x5", "4x5 image");
  EXPECT_ERROR_HAS(random_crop(img, 4, 6, gen), "random_crop", "4x6", "4x5 image");
  EXPECT_ERROR_HAS(crop(img, {3, 0, 2, 2}), "crop", "top 3", "4x5 image");
  EXPECT_ERROR_HAS(to_grayscale(random_image(2, 2, 2, 1)), "1- or 3-channel", "2x2x2");
  EXPECT_ERROR_HAS(random_resized_crop(img, 0, 3, gen), "0x3");
  EXPECT_ERROR_HAS(pw::io::resize_bilinear(Image{}, 2, 2), "empty image");
}

// ---- real photos --------------------------------------------------------------------------

TEST(DatasetsPhotos, DebianNatureBackgroundsDecode) {
  const std::string dir = "/usr/share/backgrounds/mate/nature";
  if (!fs::is_directory(dir)) GTEST_SKIP() << dir << " is missing (Debian package mate-backgrounds)";
  const ImageList list = list_flat_folder(dir);
  const LoadedImages photos = load_images(list, 3);
  ASSERT_EQ(photos.images.size(), list.paths.size());
  Generator gen(1);
  for (const Image& img : photos.images) {
    EXPECT_EQ(img.channels, 3);
    EXPECT_GT(img.height, 100);
    const Image small = center_crop(resize_shorter(img, 64), 64, 64);
    const Image aug = random_resized_crop(img, 32, 32, gen);
    EXPECT_EQ(to_tensor({small}).shape(), (pw::Shape{1, 3, 64, 64}));
    EXPECT_EQ(aug.numel(), 3 * 32 * 32);
  }
}

}  // namespace
