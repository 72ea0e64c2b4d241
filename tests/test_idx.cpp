// Tests for the IDX reader and writer (engine/data/idx.h): round trips, every kind of bad file
// (missing, wrong magic, truncated, corrupt gzip, trailing data), and the real Fashion-MNIST
// test set when Debian's dataset-fashion-mnist is installed.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/data/idx.h"
#include "engine/util/error.h"

namespace {

namespace fs = std::filesystem;
using pw::data::IdxArray;
using pw::data::read_idx;
using pw::data::write_idx_u8;

// The message of the pw::Error that f throws, or a marker when it throws none.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const pw::Error& e) {
    return e.what();
  }
  return "<no error>";
}

std::vector<uint8_t> read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Bytes that compress poorly, so a gzip file of them is long enough to cut mid-stream.
std::vector<uint8_t> noise(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t s = seed;
  for (auto& b : v) {
    s = s * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(s >> 24);
  }
  return v;
}

class Idx : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("pw_test_idx_" + std::to_string(getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST_F(Idx, RoundTripPlainAndGzip) {
  const std::vector<int64_t> dims = {3, 4, 5};
  const std::vector<uint8_t> bytes = noise(60, 1);
  for (bool gzip : {false, true}) {
    const std::string p = path(gzip ? "a.idx.gz" : "a.idx");
    write_idx_u8(p, dims, bytes, gzip);
    const std::vector<uint8_t> raw = read_file(p);
    ASSERT_GE(raw.size(), 4u);
    if (gzip) {
      EXPECT_EQ(raw[0], 0x1f);
      EXPECT_EQ(raw[1], 0x8b);
    } else {
      std::vector<uint8_t> expected = {0, 0, 0x08, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5};
      expected.insert(expected.end(), bytes.begin(), bytes.end());
      EXPECT_EQ(raw, expected);
    }
    const IdxArray a = read_idx(p);
    EXPECT_EQ(a.dims, dims);
    EXPECT_EQ(a.type_code, pw::data::kIdxU8);
    EXPECT_EQ(a.count(), 60);
    EXPECT_EQ(a.bytes, bytes);
  }
  // Only the two files: no temporary left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);
}

TEST_F(Idx, OverwriteReplacesTheFile) {
  const std::string p = path("b.idx.gz");
  write_idx_u8(p, {4}, {1, 2, 3, 4}, true);
  write_idx_u8(p, {2}, {9, 8}, true);
  EXPECT_EQ(read_idx(p).bytes, (std::vector<uint8_t>{9, 8}));
}

TEST_F(Idx, MultiByteTypesComeBackInHostOrder) {
  // int16 {1, -2} and float {1.5f}, written big-endian by hand.
  const std::string p16 = path("i16.idx");
  write_file(p16, {0, 0, 0x0B, 1, 0, 0, 0, 2, 0x00, 0x01, 0xff, 0xfe});
  const IdxArray a = read_idx(p16);
  ASSERT_EQ(a.bytes.size(), 4u);
  int16_t v[2];
  std::memcpy(v, a.bytes.data(), 4);
  EXPECT_EQ(v[0], 1);
  EXPECT_EQ(v[1], -2);

  const std::string pf = path("f32.idx");
  write_file(pf, {0, 0, 0x0D, 1, 0, 0, 0, 1, 0x3f, 0xc0, 0x00, 0x00});
  const IdxArray f = read_idx(pf);
  float x;
  std::memcpy(&x, f.bytes.data(), 4);
  EXPECT_EQ(x, 1.5f);
  EXPECT_EQ(pw::data::idx_element_size(0x0E), 8);
  EXPECT_EQ(pw::data::idx_element_size(0x0A), 0);
}

TEST_F(Idx, MissingFileNamesThePath) {
  const std::string p = path("nope.idx.gz");
  const std::string msg = error_of([&] { read_idx(p); });
  EXPECT_NE(msg.find("cannot open '" + p + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { read_idx(dir_.string()); }).find("is a directory"), std::string::npos);
}

TEST_F(Idx, BadHeadersAreRejected) {
  const std::vector<std::vector<uint8_t>> bad = {
      {1, 2, 0x08, 1, 0, 0, 0, 1, 7},                                                  // nonzero leading magic bytes
      {0, 0, 0x0A, 1, 0, 0, 0, 1, 7},                                                  // unknown type code
      {0, 0, 0x08, 0, 7},                                                              // zero dimensions
      {0, 0, 0x08, 5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 7},  // five
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    const std::string p = path("bad" + std::to_string(i) + ".idx");
    write_file(p, bad[i]);
    const std::string msg = error_of([&] { read_idx(p); });
    EXPECT_NE(msg.find("'" + p + "' is not an IDX file"), std::string::npos) << msg;
  }

  const std::string zero = path("zero.idx");
  write_file(zero, {0, 0, 0x08, 2, 0, 0, 0, 3, 0, 0, 0, 0});
  EXPECT_NE(error_of([&] { read_idx(zero); }).find("of size 0"), std::string::npos);

  const std::string huge = path("huge.idx");
  write_file(huge, {0, 0, 0x08, 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2});
  EXPECT_NE(error_of([&] { read_idx(huge); }).find("implausible size"), std::string::npos);

  const std::string short_header = path("short.idx");
  write_file(short_header, {0, 0, 0x08, 3, 0, 0, 0, 3, 0, 0});
  EXPECT_NE(error_of([&] { read_idx(short_header); }).find("truncated"), std::string::npos);

  const std::string empty = path("empty.idx");
  write_file(empty, {});
  EXPECT_NE(error_of([&] { read_idx(empty); }).find("truncated"), std::string::npos);
}

TEST_F(Idx, TruncatedPlainFile) {
  const std::string p = path("t.idx");
  write_idx_u8(p, {10, 10}, noise(100, 2), false);
  std::vector<uint8_t> raw = read_file(p);
  ASSERT_EQ(raw.size(), 112u);  // 12-byte header, 100 bytes of data
  raw.erase(raw.end() - 30, raw.end());
  write_file(p, raw);
  const std::string msg = error_of([&] { read_idx(p); });
  EXPECT_NE(msg.find("idx: '" + p + "' is truncated: expected 100 bytes of data, got 70"), std::string::npos) << msg;
}

TEST_F(Idx, TrailingDataIsRejected) {
  const std::string p = path("long.idx");
  write_idx_u8(p, {4}, {1, 2, 3, 4}, false);
  std::vector<uint8_t> raw = read_file(p);
  raw.push_back(5);
  write_file(p, raw);
  EXPECT_NE(error_of([&] { read_idx(p); }).find("data after the 4 bytes"), std::string::npos);
}

TEST_F(Idx, TruncatedGzipFile) {
  const std::string p = path("t.idx.gz");
  write_idx_u8(p, {100, 100}, noise(10000, 3), true);
  const std::vector<uint8_t> full = read_file(p);
  ASSERT_GT(full.size(), 5000u);

  // Cut in the middle of the compressed stream.
  write_file(p, std::vector<uint8_t>(full.begin(), full.begin() + full.size() / 2));
  std::string msg = error_of([&] { read_idx(p); });
  EXPECT_NE(msg.find("idx: '" + p + "' is truncated: expected 10000 bytes of data, got "), std::string::npos) << msg;

  // Cut inside the 8-byte trailer: every data byte arrives, the CRC does not.
  write_file(p, std::vector<uint8_t>(full.begin(), full.end() - 4));
  msg = error_of([&] { read_idx(p); });
  EXPECT_NE(msg.find("'" + p + "' is truncated"), std::string::npos) << msg;
}

TEST_F(Idx, CorruptGzipFile) {
  const std::string p = path("c.idx.gz");
  write_idx_u8(p, {100, 100}, noise(10000, 4), true);
  std::vector<uint8_t> raw = read_file(p);
  for (size_t i = raw.size() / 3; i < raw.size() / 3 + 64; ++i) raw[i] ^= 0x5a;
  write_file(p, raw);
  const std::string msg = error_of([&] { read_idx(p); });
  EXPECT_NE(msg.find("idx: '" + p + "'"), std::string::npos) << msg;

  // A gzip header followed by garbage fails inside inflate: the zlib reason is reported.
  std::vector<uint8_t> fake = {0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03};
  const std::vector<uint8_t> junk = noise(500, 5);
  fake.insert(fake.end(), junk.begin(), junk.end());
  write_file(p, fake);
  const std::string fake_msg = error_of([&] { read_idx(p); });
  EXPECT_NE(fake_msg.find("idx: '" + p + "'"), std::string::npos) << fake_msg;
  EXPECT_EQ(fake_msg.find("<no error>"), std::string::npos) << fake_msg;
}

TEST_F(Idx, GarbageWithGzName) {
  // Not gzip at all: zlib passes the bytes through and the magic check catches them.
  const std::string p = path("garbage.idx.gz");
  write_file(p, noise(1000, 6));
  const std::string msg = error_of([&] { read_idx(p); });
  EXPECT_NE(msg.find("idx: '" + p + "'"), std::string::npos) << msg;
}

TEST_F(Idx, WriterChecksItsArguments) {
  EXPECT_THROW(write_idx_u8(path("w.idx"), {2, 3}, {1, 2, 3}, false), pw::Error);
  EXPECT_THROW(write_idx_u8(path("w.idx"), {}, {}, false), pw::Error);
  EXPECT_THROW(write_idx_u8(path("w.idx"), {1, 1, 1, 1, 1}, {1}, false), pw::Error);
  EXPECT_THROW(write_idx_u8(path("w.idx"), {0}, {}, false), pw::Error);
  const std::string unwritable = path("no_such_dir/w.idx");
  EXPECT_NE(error_of([&] { write_idx_u8(unwritable, {1}, {1}, true); }).find("cannot write '" + unwritable + "'"),
            std::string::npos);
}

const char* kFashionDir = "/usr/share/datasets/fashion-mnist";

TEST(IdxFashionMnist, TestLabels) {
  const std::string p = std::string(kFashionDir) + "/t10k-labels-idx1-ubyte.gz";
  if (!fs::exists(p)) GTEST_SKIP() << p << " not found (Debian package dataset-fashion-mnist)";
  const IdxArray labels = read_idx(p);
  EXPECT_EQ(labels.dims, (std::vector<int64_t>{10000}));
  EXPECT_EQ(labels.type_code, pw::data::kIdxU8);
  std::vector<int> per_class(10, 0);
  for (uint8_t label : labels.bytes) {
    ASSERT_LT(label, 10);
    ++per_class[label];
  }
  for (int c = 0; c < 10; ++c) EXPECT_EQ(per_class[c], 1000) << "class " << c;
}

TEST(IdxFashionMnist, TestImages) {
  const std::string p = std::string(kFashionDir) + "/t10k-images-idx3-ubyte.gz";
  if (!fs::exists(p)) GTEST_SKIP() << p << " not found (Debian package dataset-fashion-mnist)";
  const IdxArray images = read_idx(p);
  EXPECT_EQ(images.dims, (std::vector<int64_t>{10000, 28, 28}));
  EXPECT_EQ(images.bytes.size(), 10000u * 28 * 28);
}

}  // namespace
