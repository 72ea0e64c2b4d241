// Images in memory (CHW float planes with values in [0, 1]) and their files: decoding JPEG,
// PNG and BMP through stb_image, PNG writing through stb_image_write, and PyTorch-compatible
// bilinear resizing.
//
// engine/io/image.cpp holds the one compiled copy of stb_image and stb_image_write, so other
// code (tests writing BMP or JPEG fixtures, say) may include <stb/stb_image_write.h> for the
// declarations alone and link against it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace pw::io {

struct Image {
  int64_t channels = 0, height = 0, width = 0;
  std::vector<float> pixels;  // CHW, channel planes one after another; values 0..1

  float& at(int64_t c, int64_t y, int64_t x) { return pixels[(c * height + y) * width + x]; }
  const float& at(int64_t c, int64_t y, int64_t x) const { return pixels[(c * height + y) * width + x]; }
  int64_t numel() const { return channels * height * width; }

  // A channels x height x width image filled with `value`; sizes must be positive.
  static Image filled(int64_t channels, int64_t height, int64_t width, float value = 0.0f);
};

// Throws pw::Error naming `op` unless the sizes are positive and `pixels` holds exactly
// channels * height * width values.
void check_image(const Image& image, const char* op);

// Decodes an image file. channels: 0 keeps what the file stores (1 gray, 2 gray+alpha, 3 RGB,
// 4 RGBA), 1 converts to gray, 3 to RGB (alpha dropped), 4 to RGBA. 8-bit files give k / 255,
// 16-bit PNGs k / 65535. Throws pw::Error naming the file and the reason: missing or
// unreadable, empty, more than 2^28 pixels, or what stb_image reports (truncated, corrupt,
// unsupported format).
Image read_image(const std::string& path, int channels = 0);
// The same for a file already in memory; `name` is used in error messages.
Image decode_image(const uint8_t* bytes, size_t size, const std::string& name, int channels = 0);

// What an image file's header says, read through the same guards as decode_image (a corrupt
// JPEG Huffman table, a PNG IDAT chunk that is empty first or longer than the file, more than
// 2^28 pixels) without decoding the pixels. Throws pw::Error naming
// the file when the guards refuse it or stb_image cannot read the header.
struct ImageInfo {
  int64_t width = 0, height = 0, channels = 0;  // channels as stored
};
ImageInfo read_image_info(const uint8_t* bytes, size_t size, const std::string& name);

// Writes an 8-bit PNG of a 1-, 2-, 3- or 4-channel image: values are clamped to [0, 1] (NaN
// becomes 0) and rounded to k / 255, so a read_image of the file returns pixels that were
// already multiples of 1/255 exactly. The file is written to a temporary name and renamed
// into place, so an existing file is never left half-written.
void write_png(const std::string& path, const Image& image);
// The PNG file's bytes, as write_png would write them.
std::string encode_png(const Image& image);

// Bilinear resize with PyTorch's F.interpolate(mode="bilinear", align_corners=False,
// antialias=False) arithmetic (src = (dst + 0.5) * in / out - 0.5, clamped at the edges), the
// same kernel as pw::resize. Shrinking by a large factor aliases, as it does in PyTorch.
Image resize_bilinear(const Image& image, int64_t height, int64_t width);

}  // namespace pw::io
