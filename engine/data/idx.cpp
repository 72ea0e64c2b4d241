// Reading and writing IDX files through zlib's gz* interface, which reads plain files as they
// are and gzip files decompressed, so one code path serves both. Every error names the file.
#include "engine/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>

#include <unistd.h>

#include "engine/util/error.h"
#include "engine/util/files.h"

namespace pw::data {
namespace {

// 16 GiB, far above any IDX dataset (Fashion-MNIST's training images are 47 MB): it stops a
// corrupt header from asking for an absurd allocation.
constexpr uint64_t kMaxDataBytes = uint64_t{1} << 34;
// Data is read in pieces so that a truncated file with a huge header fails before the whole
// declared size is allocated, and because gzread takes an unsigned int length.
constexpr uint64_t kReadChunk = uint64_t{16} << 20;

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzHandle = std::unique_ptr<gzFile_s, GzCloser>;

std::string gz_error_text(gzFile f, const std::string& path) {
  int code = Z_OK;
  const char* text = gzerror(f, &code);
  if (code == Z_ERRNO) return std::strerror(errno);
  std::string s = text != nullptr && *text != '\0' ? text : "unknown zlib error";
  // zlib prefixes the path it was opened with; the caller names the file already.
  if (s.rfind(path + ": ", 0) == 0) s.erase(0, path.size() + 2);
  return s;
}

// Reads up to n bytes into out; returns how many arrived (fewer only at end of input).
uint64_t read_some(gzFile f, const std::string& path, uint8_t* out, uint64_t n) {
  uint64_t got = 0;
  while (got < n) {
    const unsigned want = static_cast<unsigned>(std::min<uint64_t>(n - got, kReadChunk));
    const int r = gzread(f, out + got, want);
    if (r < 0) PW_FAIL("idx: '", path, "' is corrupt or unreadable: ", gz_error_text(f, path));
    if (r == 0) break;
    got += static_cast<uint64_t>(r);
  }
  return got;
}

// zlib reports a gzip stream cut short as Z_BUF_ERROR without failing the read.
bool gzip_ended_early(gzFile f) {
  int code = Z_OK;
  gzerror(f, &code);
  return code == Z_BUF_ERROR;
}

std::string early_end_note(gzFile f) { return gzip_ended_early(f) ? " (the gzip stream ends early)" : ""; }

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string s = "{";
  for (size_t i = 0; i < dims.size(); ++i) s += (i > 0 ? ", " : "") + std::to_string(dims[i]);
  return s + "}";
}

std::string hex_bytes(const uint8_t* b, int n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i > 0) s += ' ';
    s += digits[b[i] >> 4];
    s += digits[b[i] & 15];
  }
  return s;
}

uint32_t big_endian_u32(const uint8_t* b) {
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

void to_host_order(std::vector<uint8_t>& bytes, int element_size) {
  if (element_size == 1 || std::endian::native == std::endian::big) return;
  for (size_t i = 0; i + element_size <= bytes.size(); i += element_size)
    std::reverse(bytes.begin() + i, bytes.begin() + i + element_size);
}

}  // namespace

int idx_element_size(uint8_t type_code) {
  switch (type_code) {
    case kIdxU8:
    case kIdxI8: return 1;
    case kIdxI16: return 2;
    case kIdxI32:
    case kIdxF32: return 4;
    case kIdxF64: return 8;
    default: return 0;
  }
}

int64_t IdxArray::count() const {
  if (dims.empty()) return 0;
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

IdxArray read_idx(const std::string& path) {
  std::error_code ec;
  PW_CHECK(!std::filesystem::is_directory(path, ec), "idx: cannot open '", path, "': is a directory");
  errno = 0;
  GzHandle file(gzopen(path.c_str(), "rb"));
  if (!file) PW_FAIL("idx: cannot open '", path, "': ", errno != 0 ? std::strerror(errno) : "out of memory");
  gzbuffer(file.get(), 1 << 17);

  uint8_t magic[4];
  const uint64_t magic_got = read_some(file.get(), path, magic, 4);
  PW_CHECK(magic_got == 4, "idx: '", path, "' is truncated: ", magic_got, " bytes, too short for the 4-byte IDX magic",
           early_end_note(file.get()));
  const uint8_t type_code = magic[2];
  const int ndims = magic[3];
  const int element_size = idx_element_size(type_code);
  PW_CHECK(magic[0] == 0 && magic[1] == 0 && element_size != 0 && ndims >= 1 && ndims <= 4, "idx: '", path,
           "' is not an IDX file: magic bytes are ", hex_bytes(magic, 4),
           ", expected 00 00 <type 08/09/0b/0c/0d/0e> <1..4 dimensions>");

  uint8_t dim_bytes[16];
  const uint64_t dims_got = read_some(file.get(), path, dim_bytes, 4 * ndims);
  PW_CHECK(dims_got == uint64_t(4 * ndims), "idx: '", path, "' is truncated: the header declares ", ndims,
           " dimensions but ends after ", dims_got, " of their ", 4 * ndims, " bytes", early_end_note(file.get()));

  IdxArray array;
  array.type_code = type_code;
  uint64_t data_bytes = element_size;
  for (int i = 0; i < ndims; ++i) {
    const uint32_t d = big_endian_u32(dim_bytes + 4 * i);
    PW_CHECK(d > 0, "idx: '", path, "' has dimension ", i, " of size 0");
    array.dims.push_back(d);
  }
  for (int64_t d : array.dims) {
    // Checked before multiplying: 4 dims of up to 2^32 would overflow 64 bits.
    PW_CHECK(data_bytes <= (kMaxDataBytes - 1) / static_cast<uint64_t>(d), "idx: '", path,
             "' declares an implausible size: dims ", dims_text(array.dims), " of ", element_size,
             "-byte elements (limit ", kMaxDataBytes, " bytes)");
    data_bytes *= static_cast<uint64_t>(d);
  }

  uint64_t got = 0;
  while (got < data_bytes) {
    const uint64_t piece = std::min(kReadChunk, data_bytes - got);
    array.bytes.resize(got + piece);
    const uint64_t r = read_some(file.get(), path, array.bytes.data() + got, piece);
    got += r;
    if (r < piece) break;
  }
  PW_CHECK(got == data_bytes, "idx: '", path, "' is truncated: expected ", data_bytes, " bytes of data, got ", got,
           early_end_note(file.get()));

  // One more read: extra data means the header does not describe the file, and for gzip it
  // makes zlib reach the end of the stream and check its CRC and length trailer.
  uint8_t extra;
  PW_CHECK(read_some(file.get(), path, &extra, 1) == 0, "idx: '", path, "' has data after the ", data_bytes,
           " bytes its header declares");
  PW_CHECK(!gzip_ended_early(file.get()), "idx: '", path,
           "' is truncated: the data is complete but the gzip stream ends before its trailer");

  to_host_order(array.bytes, element_size);
  return array;
}

void write_idx_u8(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& bytes,
                  bool gzip) {
  PW_CHECK(!dims.empty() && dims.size() <= 4, "idx: cannot write '", path, "': ", dims.size(),
           " dimensions, IDX allows 1 to 4");
  uint64_t count = 1;
  for (int64_t d : dims) {
    PW_CHECK(d > 0 && d <= int64_t{0xffffffff}, "idx: cannot write '", path, "': dimension ", d,
             " is not in 1 .. 2^32-1");
    count *= static_cast<uint64_t>(d);
    PW_CHECK(count < kMaxDataBytes, "idx: cannot write '", path, "': too many elements");
  }
  PW_CHECK(count == bytes.size(), "idx: cannot write '", path, "': dims hold ", count, " elements but ", bytes.size(),
           " bytes were given");

  std::vector<uint8_t> header = {0, 0, kIdxU8, static_cast<uint8_t>(dims.size())};
  for (int64_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) header.push_back(static_cast<uint8_t>(d >> shift));

  // One path for every write (engine/util/files.h): zlib fills the temporary file, which is then
  // fsync'ed and renamed into place.
  write_file_atomic_with(path, [&](const std::string& tmp) {
    auto fail = [&](const std::string& why) { PW_FAIL("idx: cannot write '", path, "': ", why); };
    errno = 0;
    gzFile f = gzopen(tmp.c_str(), gzip ? "wb" : "wbT");  // "T": plain, uncompressed output
    if (f == nullptr)
      fail(std::string("cannot create '") + tmp + "': " + (errno != 0 ? std::strerror(errno) : "out of memory"));
    auto write_all = [&](const uint8_t* data, uint64_t n) {
      for (uint64_t done = 0; done < n;) {
        const unsigned piece = static_cast<unsigned>(std::min(n - done, kReadChunk));
        if (gzwrite(f, data + done, piece) != static_cast<int>(piece)) return false;
        done += piece;
      }
      return true;
    };
    if (!write_all(header.data(), header.size()) || !write_all(bytes.data(), bytes.size())) {
      const std::string why = gz_error_text(f, tmp);
      gzclose(f);
      fail(why);
    }
    // gzclose flushes the compressor and the file; only its success means the data is written.
    const int close_code = gzclose(f);
    if (close_code != Z_OK)
      fail(close_code == Z_ERRNO ? std::strerror(errno) : "zlib error " + std::to_string(close_code));
  });
}

}  // namespace pw::data
