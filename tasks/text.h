// Text and filled rectangles drawn into io::Image, with a built-in 5x9 bitmap font for printable
// ASCII, so that plots and labeled pictures need no font file or external library.
//
// A glyph is 5 pixels wide and 9 tall: rows 0..6 hold capitals and digits (the cap height is 7),
// rows 7..8 the descenders of g, j, p, q, y and commas. Characters advance 6 pixels, so text of n
// characters is 6n - 1 pixels wide; `scale` multiplies every size. On RGB(A) images the colour is
// drawn as given; on gray (+alpha) images its luminance (Rec. 601) is; alpha becomes opaque.
// Pixels outside the image are clipped silently.
#pragma once
#include <array>
#include <cstdint>
#include <string>

#include "engine/io/image.h"

namespace pw::tasks {

using Rgb = std::array<float, 3>;

constexpr int64_t kGlyphWidth = 5, kGlyphHeight = 9, kGlyphAdvance = 6, kCapHeight = 7;

// The bitmap of a character: one entry per row, top first, bit 4 the leftmost pixel. Characters
// outside 32..126 are drawn as '?'.
std::array<uint8_t, kGlyphHeight> glyph_rows(char c);

// The size of the box that draw_text fills (width 0 for an empty string).
int64_t text_width(const std::string& text, int64_t scale = 1);
inline int64_t text_height(int64_t scale = 1) { return kGlyphHeight * scale; }

// Draws `text` on one line with its box's top-left corner at (x, y); '\n' is not special.
void draw_text(io::Image& image, int64_t x, int64_t y, const std::string& text, Rgb color, int64_t scale = 1);
// The same turned 90 degrees counter-clockwise (reading upwards, for y-axis titles): the box is
// text_height wide and text_width tall, with its top-left corner at (x, y).
void draw_text_up(io::Image& image, int64_t x, int64_t y, const std::string& text, Rgb color, int64_t scale = 1);

// Fills the rectangle [x, x + w) x [y, y + h), clipped to the image.
void fill_rect(io::Image& image, int64_t x, int64_t y, int64_t w, int64_t h, Rgb color);
// Mixes `color` into one pixel with weight `alpha` in [0, 1] (1: replaces it); outside: no-op.
void blend_pixel(io::Image& image, int64_t x, int64_t y, Rgb color, float alpha = 1.f);

}  // namespace pw::tasks
