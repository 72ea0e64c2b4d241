// IDX files, the format of MNIST and Fashion-MNIST: a 4-byte magic (0, 0, type code, number
// of dimensions), the dimensions as big-endian uint32, then the elements, big-endian, in
// row-major order. Files may be gzip-compressed; zlib reads both kinds transparently.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pw::data {

// IDX type codes.
inline constexpr uint8_t kIdxU8 = 0x08;
inline constexpr uint8_t kIdxI8 = 0x09;
inline constexpr uint8_t kIdxI16 = 0x0B;
inline constexpr uint8_t kIdxI32 = 0x0C;
inline constexpr uint8_t kIdxF32 = 0x0D;
inline constexpr uint8_t kIdxF64 = 0x0E;

// Bytes per element of a type code; 0 for a code that is not an IDX type.
int idx_element_size(uint8_t type_code);

struct IdxArray {
  std::vector<int64_t> dims;
  uint8_t type_code = kIdxU8;
  // The elements' raw bytes, row-major; multi-byte types are already in host byte order, so
  // the bytes can be reinterpreted as int16_t / int32_t / float / double directly.
  std::vector<uint8_t> bytes;

  int64_t count() const;  // number of elements: the product of dims (0 when dims is empty)
};

// Reads a plain or gzip-compressed IDX file. Throws pw::Error naming the file when it cannot
// be opened, has a bad header, is truncated, has data after the last element, or is corrupt.
IdxArray read_idx(const std::string& path);

// Writes an unsigned-byte IDX file (gzip-compressed when `gzip`), through a temporary file
// renamed into place, so an existing file is never left half-written.
void write_idx_u8(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& bytes,
                  bool gzip);

}  // namespace pw::data
