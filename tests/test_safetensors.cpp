// safetensors: round trips of every written dtype and awkward shape, byte-identical re-saves,
// reading F16 / BF16 / I64 from hand-made bytes, every kind of bad file, and writes that fail
// without touching the file already there.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/device/device.h"
#include "engine/io/safetensors.h"
#include "engine/util/rng.h"

using namespace pw;
namespace fs = std::filesystem;

namespace {

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Passes when `message` is an error message containing every one of `parts`.
::testing::AssertionResult mentions(const std::string& message, const std::vector<std::string>& parts) {
  if (message.empty()) return ::testing::AssertionFailure() << "no pw::Error was thrown";
  for (const auto& p : parts)
    if (message.find(p) == std::string::npos)
      return ::testing::AssertionFailure() << "the message \"" << message << "\" does not mention \"" << p << "\"";
  return ::testing::AssertionSuccess();
}
#define EXPECT_ERROR(stmt, ...) EXPECT_TRUE(mentions(error_of([&] { stmt; }), {__VA_ARGS__}))

// A file from a header and a data buffer, as a writer that does not pad would make it.
std::string make_file(const std::string& header, const std::string& data = "") {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

template <typename T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Random non-zero data in every dtype.
Tensor random_tensor(const Shape& shape, DType dtype, Generator& gen) {
  if (dtype != DType::i32) return Tensor::randn(shape, dtype, &gen);
  std::vector<int32_t> v(shape_numel(shape));
  for (auto& x : v) x = (int32_t)gen.randint(-2000000000, 2000000000) | 1;
  return Tensor::from_vector(v, shape);
}

// Same shape, dtype and bytes.
::testing::AssertionResult identical(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype())
    return ::testing::AssertionFailure() << shape_str(a.shape()) << " " << dtype_name(a.dtype()) << " vs "
                                         << shape_str(b.shape()) << " " << dtype_name(b.dtype());
  const bool same = a.dtype() == DType::f64   ? a.to_vector_f64() == b.to_vector_f64()
                    : a.dtype() == DType::i32 ? a.to_vector_i32() == b.to_vector_i32()
                                              : a.to_vector_f32() == b.to_vector_f32();
  return same ? ::testing::AssertionSuccess() : ::testing::AssertionFailure() << "values differ";
}

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("pw_test_safetensors_" + std::to_string(getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

}  // namespace

TEST_F(Safetensors, RoundTripOfAwkwardShapesIsExactAndResavesIdentically) {
  Generator gen(11);
  std::map<std::string, Tensor> tensors = {
      {"conv.weight", random_tensor({3, 5, 7}, DType::f32, gen)},
      {"double.one_row", random_tensor({1, 13}, DType::f64, gen)},
      {"labels", random_tensor({17}, DType::i32, gen)},
      {"scalar.f32", random_tensor({}, DType::f32, gen)},
      {"scalar.i32", random_tensor({}, DType::i32, gen)},
      {"empty.f32", Tensor::empty({0, 4}, DType::f32)},
      {"empty.f64", Tensor::empty({2, 0, 3}, DType::f64)},
      {"transposed", random_tensor({5, 3}, DType::f32, gen).transpose(0, 1)},
      {"\xC3\xA9t\xC3\xA9 \"quoted\\\" \n\x01", random_tensor({2, 1, 3}, DType::f64, gen)},
  };
  ASSERT_FALSE(tensors["transposed"].is_contiguous());
  const std::map<std::string, std::string> metadata = {
      {"framework", "patchwork"}, {"note", "tab\there, \"quotes\", \\ and \xE2\x82\xAC"}, {"empty", ""}};
  const fs::path path = dir / "a.safetensors";
  io::write_safetensors(path.string(), tensors, metadata);

  const std::string bytes = read_file(path);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u) << "the data buffer must start 8-byte aligned";
  EXPECT_EQ(bytes[8], '{');

  io::SafetensorsFile back = io::read_safetensors(path.string());
  EXPECT_EQ(back.metadata, metadata);
  ASSERT_EQ(back.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(back.tensors.count(name)) << name;
    EXPECT_TRUE(identical(back.tensors[name], t)) << name;
    EXPECT_TRUE(back.tensors[name].is_contiguous());
    EXPECT_TRUE(back.tensors[name].device().is_cpu());
  }
  // save -> load -> save gives the same bytes, from disk and from memory.
  EXPECT_EQ(io::serialize_safetensors(back.tensors, back.metadata), bytes);
  EXPECT_EQ(io::serialize_safetensors(io::parse_safetensors(bytes, "mem").tensors, metadata), bytes);
}

// The bytes the reference implementation (Python safetensors 0.8.0, safetensors.numpy.save) writes
// for these tensors: F64 before F32 before I32, by name within a dtype, the header padded with
// spaces to a multiple of 8.
TEST_F(Safetensors, WritesTheSameBytesAsTheReferenceImplementation) {
  const std::vector<float> weight = {0.5f, -1.25f, 3.0f, 7.5f, -0.125f, 2.0f};
  const std::vector<int32_t> labels = {3, -1, 4};
  const std::vector<double> dbl = {1.5, -2.25};
  const std::map<std::string, Tensor> tensors = {
      {"layer.weight", Tensor::from_vector(weight, {2, 3})},
      {"labels", Tensor::from_vector(labels, {3})},
      {"double", Tensor::from_vector(dbl, {2})},
      {"scalar", Tensor::from_vector(std::vector<float>{-9.5f}, {})},
      {"empty", Tensor::empty({0, 2})},
  };
  const std::string header =
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"double\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
      "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,2],\"data_offsets\":[16,16]},"
      "\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[16,40]},"
      "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[40,44]},"
      "\"labels\":{\"dtype\":\"I32\",\"shape\":[3],\"data_offsets\":[44,56]}}     ";
  ASSERT_EQ(header.size(), 344u);
  const std::string data = bytes_of(dbl) + bytes_of(weight) + bytes_of(std::vector<float>{-9.5f}) + bytes_of(labels);
  EXPECT_EQ(io::serialize_safetensors(tensors, {{"format", "pt"}}), make_file(header, data));
  // Nothing at all is a valid file too.
  EXPECT_EQ(io::serialize_safetensors({}), make_file("{}      "));
  EXPECT_TRUE(io::parse_safetensors(make_file("{}      "), "x").tensors.empty());
}

TEST_F(Safetensors, WritesTensorsFromAnotherDevice) {
  const Device simt{DeviceType::simt, 0};
  if (!device_available(simt)) GTEST_SKIP() << "simt is not available";
  Generator gen(5);
  Tensor host = random_tensor({4, 6}, DType::f32, gen);
  Tensor on_device = host.to(simt).transpose(0, 1);  // non-contiguous, on a GPU-like device
  io::SafetensorsFile back = io::parse_safetensors(io::serialize_safetensors({{"w", on_device}}), "mem");
  EXPECT_TRUE(identical(back.tensors["w"], host.transpose(0, 1).contiguous()));
}

// A hand-written file in the shape other writers produce: whitespace, escapes, __metadata__ last,
// data in an order other than the names', and a surrogate pair in a name.
TEST_F(Safetensors, ReadsHandWrittenHeaders) {
  const std::string header =
      "{ \"z\" : {\"shape\": [2], \"dtype\": \"F32\", \"data_offsets\": [0, 8]},\n"
      "  \"a\\u00e9\\ud83d\\ude00\\n\" : {\"dtype\":\"I32\",\"shape\":[1,1],\"data_offsets\":[8,12]},\n"
      "  \"__metadata__\": {\"format\": \"pt\", \"esc\": \"\\\"\\\\\\/\\b\\f\\r\\t\"} }   ";
  const std::string data = bytes_of(std::vector<float>{0.25f, -3}) + bytes_of(std::vector<int32_t>{42});
  io::SafetensorsFile f = io::parse_safetensors(make_file(header, data), "hand");
  EXPECT_EQ(f.tensors["z"].to_vector_f32(), (std::vector<float>{0.25f, -3}));
  const std::string name = "a\xC3\xA9\xF0\x9F\x98\x80\n";
  ASSERT_TRUE(f.tensors.count(name));
  EXPECT_EQ(f.tensors[name].shape(), (Shape{1, 1}));
  EXPECT_EQ(f.tensors[name].to_vector_i32(), std::vector<int32_t>{42});
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(f.metadata.at("esc"), "\"\\/\b\f\r\t");
}

TEST_F(Safetensors, ReadsF16Exactly) {
  const std::vector<uint16_t> bits = {0x3C00, 0xC100, 0x7BFF, 0x0001, 0x03FF, 0x0400,
                                      0x8000, 0x3555, 0x7C00, 0xFC00, 0x7E00};
  const std::vector<float> want = {1.0f,
                                   -2.5f,
                                   65504.0f,
                                   std::ldexp(1.0f, -24),
                                   std::ldexp(1023.0f, -24),
                                   std::ldexp(1.0f, -14),
                                   -0.0f,
                                   0.333251953125f,
                                   INFINITY,
                                   -INFINITY,
                                   NAN};
  const std::string header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[11],\"data_offsets\":[0,22]}}";
  Tensor t = io::parse_safetensors(make_file(header, bytes_of(bits)), "f16").tensors["h"];
  ASSERT_EQ(t.dtype(), DType::f32);
  std::vector<float> got = t.to_vector_f32();
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i]))
      EXPECT_EQ(std::bit_cast<uint32_t>(got[i]), 0x7FC00000u) << "element " << i;
    else
      EXPECT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i])) << "element " << i;
  }
}

TEST_F(Safetensors, ReadsBF16Exactly) {
  const std::vector<uint16_t> bits = {0x3F80, 0xC020, 0x4049, 0x7F7F, 0x0001, 0x8000, 0x7F80, 0xFF80, 0x7FC0};
  const std::vector<uint32_t> want = {0x3F800000, 0xC0200000, 0x40490000, 0x7F7F0000, 0x00010000,
                                      0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000};
  const std::string header = "{\"b\":{\"dtype\":\"BF16\",\"shape\":[3,3],\"data_offsets\":[0,18]}}";
  Tensor t = io::parse_safetensors(make_file(header, bytes_of(bits)), "bf16").tensors["b"];
  ASSERT_EQ(t.dtype(), DType::f32);
  EXPECT_EQ(t.shape(), (Shape{3, 3}));
  std::vector<float> got = t.to_vector_f32();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(std::bit_cast<uint32_t>(got[i]), want[i]) << "element " << i;
  EXPECT_EQ(got[0], 1.0f);
  EXPECT_EQ(got[1], -2.5f);
  EXPECT_EQ(got[2], 3.140625f);
}

TEST_F(Safetensors, ReadsI64AsI32AndRejectsValuesThatDoNotFit) {
  const std::vector<int64_t> v = {1, -7, INT32_MAX, INT32_MIN, 123456789};
  const std::string header = "{\"n\":{\"dtype\":\"I64\",\"shape\":[5],\"data_offsets\":[0,40]}}";
  Tensor t = io::parse_safetensors(make_file(header, bytes_of(v)), "i64").tensors["n"];
  EXPECT_EQ(t.dtype(), DType::i32);
  EXPECT_EQ(t.to_vector_i32(), (std::vector<int32_t>{1, -7, INT32_MAX, INT32_MIN, 123456789}));
  // A torchvision num_batches_tracked: a 0-d I64.
  const std::string scalar = "{\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]}}";
  EXPECT_EQ(io::parse_safetensors(make_file(scalar, bytes_of(std::vector<int64_t>{3})), "x")
                .tensors["bn.num_batches_tracked"]
                .item(),
            3);

  const std::string big = "{\"big\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}";
  EXPECT_ERROR(io::parse_safetensors(make_file(big, bytes_of(std::vector<int64_t>{0, 2147483648LL})), "f.st"), "f.st",
               "'big'", "element 1", "2147483648");
  EXPECT_ERROR(io::parse_safetensors(make_file(big, bytes_of(std::vector<int64_t>{-2147483649LL, 0})), "f.st"), "'big'",
               "element 0", "-2147483649");
}

TEST_F(Safetensors, BadLengthsAreErrorsWithTheNumbers) {
  EXPECT_ERROR(io::parse_safetensors("abcde", "short.st"), "short.st", "5 bytes", "8");
  EXPECT_ERROR(io::parse_safetensors("", "empty.st"), "empty.st", "0 bytes");
  std::string f = make_file("{}      ");
  const uint64_t n = 1000;
  std::memcpy(f.data(), &n, 8);
  EXPECT_ERROR(io::parse_safetensors(f, "long.st"), "long.st", "1000", "16 bytes");
  // A header over the 100 MB limit, inside the file.
  std::string huge(8 + io::kMaxSafetensorsHeader + 8, ' ');
  const uint64_t too_big = io::kMaxSafetensorsHeader + 1;
  std::memcpy(huge.data(), &too_big, 8);
  EXPECT_ERROR(io::parse_safetensors(huge, "huge.st"), "huge.st", "100000001", "100000000");
}

TEST_F(Safetensors, InvalidJsonNamesTheByteOffset) {
  const std::string header = "{\"a\": {\"dtype\" \"F32\"}}";
  const size_t at = header.find("\"F32\"");
  EXPECT_ERROR(io::parse_safetensors(make_file(header), "j.st"), "j.st", "not valid JSON",
               "at byte " + std::to_string(at) + " ", "byte " + std::to_string(at + 8) + " of the file");
  for (const std::string bad :
       {"{\"a\":", "{\"a", "{\"a\\q\":1}", "{\"\\ud800\":1}", "{\"\\udc00x\":1}", "{\"\xff\":1}", "{\"\xC0\x80\":1}",
        "{} x", "{\"a\":01}", "{\"a\":-}", "{\"a\":tru}", "{\"a\":[1,]}", "{,}", "{\"a\":\"\x01\"}", "", "   "})
    EXPECT_ERROR(io::parse_safetensors(make_file(bad), "j.st"), "j.st", "not valid JSON") << bad;
  // Deep nesting is refused, not a stack overflow.
  EXPECT_ERROR(io::parse_safetensors(make_file(std::string(100000, '[') + std::string(100000, ']')), "deep.st"),
               "deep.st", "nesting");
}

TEST_F(Safetensors, BadEntriesNameTheTensor) {
  const auto parse = [](const std::string& header, const std::string& data = "") {
    return io::parse_safetensors(make_file(header, data), "bad.st");
  };
  const std::string d8(8, '\x11'), d24(24, '\x22');
  EXPECT_ERROR(parse("[1, 2]"), "bad.st", "an array", "expected an object");
  EXPECT_ERROR(parse("{\"w\": 3}"), "bad.st", "'w'", "expected an object");
  EXPECT_ERROR(parse("{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", d8), "bad.st", "'w'", "missing \"dtype\"");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", d8), "'w'", "missing \"shape\"");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", d8), "'w'", "missing \"data_offsets\"");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", d8), "'w'", "dtype", "a number");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", d8), "'w'", "shape");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8]}}", d8), "'w'", "data_offsets");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]}}", d8), "'w'",
               "data_offsets[1]");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", d8), "'w'",
               "unexpected key 'x'");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", d8), "'w'",
               "duplicate key 'dtype'");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", d8), "'w'",
               "shape entry 0 is -2");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,2.0],\"data_offsets\":[0,8]}}", d8), "'w'",
               "shape entry 1 is 2.0");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999,99999999999],\"data_offsets\":[0,8]}}", d8),
               "'w'", "too many elements");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"F32\",\"shape\":[0,99999999999,99999999999],\"data_offsets\":[0,0]}}"), "'w'",
               "too many elements");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,0]}}"), "'w'",
               "shape entry 0 is 99999999999999999999");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"BOOL\",\"shape\":[8],\"data_offsets\":[0,8]}}", d8), "bad.st",
               "unknown dtype 'BOOL' for tensor 'w'");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", d8), "'w'", "[8, 4]");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", d8), "bad.st", "'w'",
               "out of range", "[0, 16]", "8 bytes");
  EXPECT_ERROR(parse("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", d8), "'w'", "8 bytes",
               "shape [3] of F32 needs 3 x 4 bytes");
  EXPECT_ERROR(parse("{\"__metadata__\":{\"k\":1}}"), "bad.st", "metadata 'k'", "a string");
  EXPECT_ERROR(parse("{\"__metadata__\":[]}"), "bad.st", "__metadata__", "an object");
}

TEST_F(Safetensors, ByteRangesMustTileTheData) {
  const auto parse = [](const std::string& header, const std::string& data) {
    return io::parse_safetensors(make_file(header, data), "tile.st");
  };
  const std::string d24(24, '\x33'), d28(28, '\x44');
  const std::string overlap =
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
      "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}";
  EXPECT_ERROR(parse(overlap, d24), "tile.st", "'a'", "'b'", "overlap");
  const std::string gap =
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"b\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[16,24]}}";
  EXPECT_ERROR(parse(gap, d24), "tile.st", "bytes 8..16 of the data", "not covered by any tensor");
  const std::string tail = "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}}";
  EXPECT_ERROR(parse(tail, d28), "tile.st", "bytes 24..28 of the data", "not covered by any tensor");
  const std::string head = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}";
  EXPECT_ERROR(parse(head, d24), "bytes 0..8 of the data", "not covered");
  const std::string dup =
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
  EXPECT_ERROR(parse(dup, std::string(16, 'x')), "tile.st", "duplicate tensor name 'a'");
  // Empty tensors occupy no bytes: they may sit anywhere in the buffer.
  const std::string empty =
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]},"
      "\"e\":{\"dtype\":\"F64\",\"shape\":[0,3],\"data_offsets\":[8,8]}}";
  EXPECT_EQ(parse(empty, d24).tensors.at("e").shape(), (Shape{0, 3}));
}

// Every truncation of a valid file and many corrupted headers give a pw::Error, never a crash.
TEST_F(Safetensors, TruncatedAndCorruptedFilesAreErrors) {
  Generator gen(3);
  const std::string good = io::serialize_safetensors({{"a", random_tensor({3, 2}, DType::f32, gen)},
                                                      {"b", random_tensor({5}, DType::i32, gen)},
                                                      {"c", random_tensor({}, DType::f64, gen)}},
                                                     {{"k", "value"}});
  for (size_t len = 0; len < good.size(); ++len)
    EXPECT_ERROR(io::parse_safetensors(good.substr(0, len), "cut.st"), "cut.st") << "length " << len;
  uint64_t header_len;
  std::memcpy(&header_len, good.data(), 8);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = good;
    const size_t at = (size_t)gen.randint(0, (int64_t)(8 + header_len));
    bad[at] = (char)gen.randint(0, 256);
    try {
      io::parse_safetensors(bad, "flip.st");
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("flip.st"), std::string::npos) << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "byte " << at << ": not a pw::Error: " << e.what();
    }
  }
}

TEST_F(Safetensors, FileErrorsNameThePath) {
  const std::string missing = (dir / "missing.safetensors").string();
  EXPECT_ERROR(io::read_safetensors(missing), missing, "cannot open");
  EXPECT_ERROR(io::read_safetensors(dir.string()), dir.string(), "directory");
  const fs::path bad = dir / "bad.safetensors";
  std::ofstream(bad, std::ios::binary) << make_file("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,8]}}",
                                                    std::string(8, 'x'));
  EXPECT_ERROR(io::read_safetensors(bad.string()), bad.string(), "'w'");
  const fs::path cut = dir / "cut.safetensors";
  std::ofstream(cut, std::ios::binary) << "abc";
  EXPECT_ERROR(io::read_safetensors(cut.string()), cut.string(), "3 bytes");
}

TEST_F(Safetensors, FailedWritesLeaveTheExistingFileUntouched) {
  Generator gen(9);
  const fs::path path = dir / "keep.safetensors";
  io::write_safetensors(path.string(), {{"w", random_tensor({4, 4}, DType::f32, gen)}}, {{"v", "1"}});
  const std::string before = read_file(path);
  const auto unchanged = [&] {
    EXPECT_EQ(read_file(path), before);
    EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1) << "a temporary file was left";
  };
  const Tensor big = random_tensor({64, 1024}, DType::f32, gen);

  // Tensors that cannot be serialized: nothing is written.
  EXPECT_ERROR(io::write_safetensors(path.string(), {{"big", big}, {"hole", Tensor()}}), "'hole'", "undefined");
  unchanged();
  EXPECT_ERROR(io::write_safetensors(path.string(), {{"__metadata__", big}}), "__metadata__", "reserved");
  unchanged();
  EXPECT_ERROR(io::write_safetensors(path.string(), {{"big", big}}, {{"k", "\xff"}}), "'k'", "UTF-8");
  unchanged();

  // The disk fills up half-way through the write (a file size limit, which binds root too).
  struct rlimit old_limit;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old_limit;
  small.rlim_cur = 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string message = error_of([&] { io::write_safetensors(path.string(), {{"big", big}}); });
  setrlimit(RLIMIT_FSIZE, &old_limit);
  signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(mentions(message, {path.string()}));
  unchanged();

  // A directory that cannot be written (root may write anywhere, so only checked as a user).
  if (geteuid() != 0) {
    fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_ERROR(io::write_safetensors(path.string(), {{"big", big}}), path.string());
    fs::permissions(dir, fs::perms::owner_all);
    unchanged();
  }
  // The new file arrives whole once a write succeeds.
  io::write_safetensors(path.string(), {{"big", big}});
  EXPECT_TRUE(identical(io::read_safetensors(path.string()).tensors.at("big"), big));
}

// The metadata alone (what a run record reads): the header is checked as a full read checks it,
// and a file whose tensor bytes are cut off is still refused (entries are checked against the
// file's size).
TEST_F(Safetensors, MetadataAloneIsReadFromACheckedHeader) {
  Generator gen(4);
  const std::map<std::string, std::string> meta = {{"config.task", "rotation"}, {"k", "value"}};
  const fs::path good = dir / "good.safetensors";
  io::write_safetensors(good.string(), {{"a", random_tensor({3, 2}, DType::f32, gen)}}, meta);
  EXPECT_EQ(io::read_safetensors_metadata(good.string()), meta);
  EXPECT_EQ(io::read_safetensors_metadata(good.string()), io::read_safetensors(good.string()).metadata);
  const std::string bytes = read_file(good);
  const fs::path cut = dir / "cut.safetensors";
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() - 4);
  EXPECT_ERROR(io::read_safetensors_metadata(cut.string()), cut.string());
  EXPECT_ERROR(io::read_safetensors_metadata((dir / "missing").string()), "missing", "cannot open");
}
