// Image decoding and PNG encoding through stb_image / stb_image_write (Debian's libstb-dev),
// whose implementations are compiled here and nowhere else, and bilinear resizing through the
// CPU resize kernel that pw::resize uses.
#include "engine/io/image.h"

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "engine/util/error.h"
#include "engine/util/files.h"
#include "kernels/cpu/resize.h"

// stb is third-party C written for many compilers; its warnings are not ours to fix.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wtype-limits"
// Thread-local failure reasons (stb's default under C++11) let loader threads decode at once.
// Only the formats the engine needs are compiled: stb's GIF, PSD, PIC, TGA, HDR and PNM
// readers have the longest record of memory-safety bugs on corrupt files.
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace pw::io {
namespace {

// 2^28 pixels (16384 x 16384): far above any photo a model here reads.
constexpr int64_t kMaxPixels = int64_t{1} << 28;

// stb_image's reasons are terse ("outofdata", "unknown image type"); say what they mean.
std::string explain_stb_failure(const char* reason) {
  const std::string r = reason != nullptr ? reason : "no reason given";
  if (r == "unknown image type") return "not an image in a supported format (JPEG, PNG or BMP)";
  if (r == "outofdata" || r == "bad zlib header" || r == "no more data" || r == "unexpected end" ||
      r == "bad huffman code" || r == "bad codelengths" || r == "bad dist" || r == "corrupt")
    return "truncated or corrupt (stb_image: " + r + ")";
  if (r == "outofmem" || r == "too large") return "too large to decode (stb_image: " + r + ")";
  return "corrupt or unsupported (stb_image: " + r + ")";
}

// stb_image 2.27 (Debian 12) trusts the symbol counts of a JPEG Huffman table: counts that
// sum past 256 write beyond its tables (fixed upstream in 2.28). So before stb sees a JPEG,
// every DHT segment is read the way stb reads it (tables while the segment length lasts,
// bytes past the end reading as 0) and a table of more than 256 symbols is refused. Segments
// are found as stb finds them: 0xFF, any 0xFF fill, then a marker byte; entropy-coded data is
// stepped over byte by byte, since 0xFF inside it is always followed by 0x00 or a restart.
// stb 2.27 also decodes a scan with a Huffman table no DHT defined (uninitialized memory, an index
// far out of bounds; found by tools/fuzz.sh): a scan must use tables defined before it.
std::string jpeg_huffman_problem(const uint8_t* p, size_t n) {
  // stb takes any run of 0xFF fill bytes before a marker, the start-of-image one included (found
  // by tools/fuzz.sh: FF FF FF D8 went past a check that looked for FF D8 only).
  size_t i = 1;
  while (i < n && p[i] == 0xFF) ++i;
  if (n < 2 || p[0] != 0xFF || i >= n || p[i] != 0xD8) return "";  // not a JPEG
  auto byte = [&](size_t k) -> int { return k < n ? p[k] : 0; };
  bool defined[2][4] = {};  // [DC, AC][table 0..3]: stb 2.27 decodes with a table never defined
  ++i;
  while (i + 1 < n) {
    if (p[i] != 0xFF || p[i + 1] == 0xFF) {
      ++i;
      continue;
    }
    const int marker = p[i + 1];
    // Stuffed zero, TEM and restart markers have no length.
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
      i += 2;
      continue;
    }
    if (marker == 0xD9) break;  // end of image
    const int64_t length = (byte(i + 2) << 8) | byte(i + 3);
    if (marker == 0xC4) {
      int64_t left = length - 2;
      size_t at = i + 4;
      while (left > 0) {
        int64_t symbols = 0;
        for (int k = 1; k <= 16; ++k) symbols += byte(at + k);
        if (symbols > 256)
          return "corrupt JPEG: a Huffman table declares " + std::to_string(symbols) +
                 " symbols, at most 256 are possible";
        const int table_class = byte(at) >> 4, slot = byte(at) & 15;
        if (table_class <= 1 && slot <= 3) defined[table_class][slot] = true;
        at += 17 + size_t(symbols);
        left -= 17 + symbols;
      }
    }
    if (marker == 0xDA) {  // start of scan: the tables its components use must exist
      const int components = byte(i + 4);
      const int spectral_start = byte(i + 5 + 2 * components), spectral_end = byte(i + 6 + 2 * components);
      for (int c = 0; c < components; ++c) {
        const int dc = byte(i + 6 + 2 * c) >> 4, ac = byte(i + 6 + 2 * c) & 15;
        if ((spectral_start == 0 && dc <= 3 && !defined[0][dc]) || (spectral_end > 0 && ac <= 3 && !defined[1][ac]))
          return "corrupt JPEG: a scan uses a Huffman table the file does not define (stb_image reads no "
                 "default tables)";
      }
    }
    i += 2 + size_t(length);
  }
  return "";
}

// Two ways stb_image 2.27 mishandles IDAT chunks, both found by tools/fuzz.sh: when the first
// IDAT chunk is empty it memcpy's into a buffer it has not allocated yet (memcpy(NULL, p, 0),
// undefined behaviour that lets the compiler drop its later "no IDAT" null check); and it
// allocates what a chunk declares (up to 4 GB) before finding the file shorter. Chunks are walked
// as stb walks them (length, type, data, CRC from byte 8); such files are refused. An empty IDAT
// after a non-empty one is harmless and passes.
std::string png_idat_problem(const uint8_t* p, size_t n) {
  static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n < 8 || std::memcmp(p, signature, 8) != 0) return "";  // not a PNG
  bool have_data = false;
  for (uint64_t at = 8; at + 8 <= n;) {
    const uint64_t length = uint64_t(p[at]) << 24 | uint64_t(p[at + 1]) << 16 | uint64_t(p[at + 2]) << 8 | p[at + 3];
    const std::string type(reinterpret_cast<const char*>(p + at + 4), 4);
    if (type == "IDAT") {
      if (!have_data && length == 0)
        return "corrupt PNG: the first IDAT chunk is empty (byte " + std::to_string(at) + ")";
      if (length > n - (at + 8))
        return "truncated or corrupt PNG: the IDAT chunk at byte " + std::to_string(at) + " declares " +
               std::to_string(length) + " bytes, the file has " + std::to_string(n - (at + 8)) + " left";
      have_data = true;
    }
    if (type == "IEND") break;
    at += 12 + length;
  }
  return "";
}

struct StbFree {
  void operator()(void* p) const { stbi_image_free(p); }
};

std::vector<uint8_t> read_whole_file(const std::string& path) {
  std::error_code ec;
  PW_CHECK(!std::filesystem::is_directory(path, ec), "image: cannot read '", path, "': it is a directory");
  errno = 0;
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  PW_CHECK(f != nullptr, "image: cannot open '", path, "': ", std::strerror(errno));
  std::vector<uint8_t> bytes;
  uint8_t buffer[1 << 16];
  for (;;) {
    const size_t got = std::fread(buffer, 1, sizeof buffer, f.get());
    bytes.insert(bytes.end(), buffer, buffer + got);
    if (got < sizeof buffer) break;
  }
  PW_CHECK(!std::ferror(f.get()), "image: cannot read '", path, "': ", std::strerror(errno));
  return bytes;
}

}  // namespace

Image Image::filled(int64_t channels, int64_t height, int64_t width, float value) {
  PW_CHECK(channels > 0 && height > 0 && width > 0, "image: sizes must be positive, got ", channels, "x", height, "x",
           width, " (channels x height x width)");
  Image image;
  image.channels = channels;
  image.height = height;
  image.width = width;
  image.pixels.assign(channels * height * width, value);
  return image;
}

void check_image(const Image& image, const char* op) {
  PW_CHECK(image.channels > 0 && image.height > 0 && image.width > 0, op, ": empty image of size ", image.channels, "x",
           image.height, "x", image.width, " (channels x height x width)");
  PW_CHECK(int64_t(image.pixels.size()) == image.numel(), op, ": image of size ", image.channels, "x", image.height,
           "x", image.width, " should hold ", image.numel(), " pixels, has ", image.pixels.size());
}

namespace {

// stb_image 2.27 decodes a BMP shorter than its header says by reading zeros past the end, pixel
// by pixel: a 137-byte file declaring 2 x 12,976,126 pixels took over 30 s (found by
// tools/fuzz.sh). The formats stb reads (uncompressed BI_RGB and BI_BITFIELDS; it refuses RLE)
// store every row padded to 4 bytes, so the pixel data a header declares must be in the file.
std::string bmp_pixel_data_problem(const uint8_t* p, size_t n) {
  if (n < 26 || p[0] != 'B' || p[1] != 'M') return "";  // not a BMP, or too short for stb to read
  auto u16 = [p](size_t at) { return uint64_t(p[at]) | uint64_t(p[at + 1]) << 8; };
  auto u32 = [&u16](size_t at) { return u16(at) | u16(at + 2) << 16; };
  const uint64_t offset = u32(10), header = u32(14);
  uint64_t width = 0, height = 0, bits = 0;
  if (header == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes
    width = u16(18), height = u16(20), bits = u16(24);
  } else {
    if (n < 34) return "";
    const int64_t w = int32_t(uint32_t(u32(18))), h = int32_t(uint32_t(u32(22)));
    // stb reads the compression as a signed int and refuses 1, 2 (RLE) and 4 or more itself; it
    // decodes every other value, negative ones too (found by tools/fuzz.sh), as stored pixels.
    const int64_t compression = int32_t(uint32_t(u32(30)));
    if (w <= 0 || compression == 1 || compression == 2 || compression >= 4) return "";
    width = uint64_t(w), height = uint64_t(h < 0 ? -h : h), bits = u16(28);
  }
  const uint64_t row = (width * bits + 31) / 32 * 4, need = row * height;
  const uint64_t have = offset < n ? n - offset : 0;
  if (need <= have) return "";
  return "truncated or corrupt BMP: its header declares " + std::to_string(width) + "x" + std::to_string(height) +
         " pixels of " + std::to_string(bits) + " bits (" + std::to_string(need) + " bytes from byte " +
         std::to_string(offset) + "), the file has " + std::to_string(have);
}

// The checks before stb_image reads anything (it must not see a JPEG with a bad Huffman table,
// even to read the header, nor a PNG with an IDAT chunk it mishandles), then the header's size against the limit.
// Returns whether stb could read the header (into w, h, stored).
bool check_before_decoding(const uint8_t* bytes, size_t size, const std::string& name, int& w, int& h, int& stored) {
  PW_CHECK(size > 0, "image: '", name, "' is empty (0 bytes)");
  PW_CHECK(size <= size_t(INT_MAX), "image: '", name, "' is too large for stb_image (", size, " bytes)");
  const std::string jpeg_problem = jpeg_huffman_problem(bytes, size);
  PW_CHECK(jpeg_problem.empty(), "image: cannot decode '", name, "': ", jpeg_problem);
  const std::string png_problem = png_idat_problem(bytes, size);
  PW_CHECK(png_problem.empty(), "image: cannot decode '", name, "': ", png_problem);
  const std::string bmp_problem = bmp_pixel_data_problem(bytes, size);
  PW_CHECK(bmp_problem.empty(), "image: cannot decode '", name, "': ", bmp_problem);
  if (stbi_info_from_memory(bytes, int(size), &w, &h, &stored) == 0) return false;
  // Refused before decoding, so that a corrupt header cannot ask for gigabytes.
  PW_CHECK(int64_t(w) * h <= kMaxPixels, "image: '", name, "' is ", w, "x", h, " pixels, more than the limit of ",
           kMaxPixels, " (is the file corrupt?)");
  return true;
}

}  // namespace

ImageInfo read_image_info(const uint8_t* bytes, size_t size, const std::string& name) {
  int w = 0, h = 0, stored = 0;
  if (!check_before_decoding(bytes, size, name, w, h, stored))
    PW_FAIL("image: cannot decode '", name, "': ", explain_stb_failure(stbi_failure_reason()));
  return {w, h, stored};
}

Image decode_image(const uint8_t* bytes, size_t size, const std::string& name, int channels) {
  PW_CHECK(channels == 0 || channels == 1 || channels == 3 || channels == 4, "image: cannot read '", name, "' with ",
           channels, " channels: expected 0 (as stored), 1 (gray), 3 (RGB) or 4 (RGBA)");
  int w = 0, h = 0, stored = 0;
  check_before_decoding(bytes, size, name, w, h, stored);
  const int length = int(size);
  const bool sixteen_bit = stbi_is_16_bit_from_memory(bytes, length) != 0;
  std::unique_ptr<void, StbFree> data(
      sixteen_bit ? static_cast<void*>(stbi_load_16_from_memory(bytes, length, &w, &h, &stored, channels))
                  : static_cast<void*>(stbi_load_from_memory(bytes, length, &w, &h, &stored, channels)));
  if (!data) PW_FAIL("image: cannot decode '", name, "': ", explain_stb_failure(stbi_failure_reason()));
  PW_CHECK(w > 0 && h > 0, "image: '", name, "' decodes to an empty ", w, "x", h, " image");

  Image image;
  image.channels = channels != 0 ? channels : stored;
  image.height = h;
  image.width = w;
  image.pixels.resize(image.numel());
  const int64_t c_count = image.channels, plane = int64_t(h) * w;
  // stb returns interleaved HWC; Image is planar CHW.
  // Division, not multiplication by 1/255: the nearest float to k / 255, as k / 255.0f gives.
  auto to_planes = [&](const auto* src, float full_scale) {
    for (int64_t c = 0; c < c_count; ++c) {
      float* dst = image.pixels.data() + c * plane;
      for (int64_t i = 0; i < plane; ++i) dst[i] = float(src[i * c_count + c]) / full_scale;
    }
  };
  if (sixteen_bit)
    to_planes(static_cast<const uint16_t*>(data.get()), 65535.0f);
  else
    to_planes(static_cast<const uint8_t*>(data.get()), 255.0f);
  return image;
}

Image read_image(const std::string& path, int channels) {
  const std::vector<uint8_t> bytes = read_whole_file(path);
  return decode_image(bytes.data(), bytes.size(), path, channels);
}

std::string encode_png(const Image& image) {
  check_image(image, "write_png");
  PW_CHECK(image.channels <= 4, "write_png: a PNG holds 1 to 4 channels, the image has ", image.channels);
  PW_CHECK(image.height <= INT_MAX / 4 && image.width <= INT_MAX / 4 / image.channels, "write_png: image of ",
           image.height, "x", image.width, " is too large");
  const int64_t c_count = image.channels, plane = image.height * image.width;
  std::vector<uint8_t> interleaved(plane * c_count);
  for (int64_t c = 0; c < c_count; ++c) {
    const float* src = image.pixels.data() + c * plane;
    for (int64_t i = 0; i < plane; ++i) {
      const float v = src[i] > 0.0f ? std::min(src[i], 1.0f) : 0.0f;  // NaN falls to 0
      interleaved[i * c_count + c] = uint8_t(std::lround(v * 255.0f));
    }
  }
  std::string out;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size_t(size));
  };
  const int ok = stbi_write_png_to_func(append, &out, int(image.width), int(image.height), int(c_count),
                                        interleaved.data(), int(image.width * c_count));
  PW_CHECK(ok != 0 && !out.empty(), "write_png: stb_image_write failed to encode a ", image.channels, "x", image.height,
           "x", image.width, " image");
  return out;
}

void write_png(const std::string& path, const Image& image) {
  std::string bytes;
  try {
    bytes = encode_png(image);
  } catch (const Error& e) {
    PW_FAIL("cannot write '", path, "': ", e.what());
  }
  write_file_atomic(path, bytes);
}

Image resize_bilinear(const Image& image, int64_t height, int64_t width) {
  check_image(image, "resize_bilinear");
  PW_CHECK(height > 0 && width > 0, "resize_bilinear: output size must be positive, got ", height, "x", width);
  Image out;
  out.channels = image.channels;
  out.height = height;
  out.width = width;
  out.pixels.resize(out.numel());
  kernels::cpu::resize_bilinear_forward<float>(image.pixels.data(), out.pixels.data(), image.channels, image.height,
                                               image.width, height, width,
                                               /*align_corners=*/false);
  return out;
}

}  // namespace pw::io
