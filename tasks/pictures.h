// Pictures made from tensors: images back from normalized tensors, grids of images with
// optional coloured frames, and heat maps (confusion matrices, plain or with names and counts),
// written as PNG by io::write_png.
#pragma once
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "engine/tensor.h"
#include "tasks/text.h"

namespace pw::tasks {

// One image [C, H, W] (any device) undone from normalization (x * std + mean per channel) and
// clamped to [0, 1]; gray images stay 1-channel.
io::Image to_image(const Tensor& chw, const std::vector<float>& mean, const std::vector<float>& std);
// The same, stretched so its own minimum and maximum map to 0 and 1 (filters, gradients).
io::Image to_image_minmax(const Tensor& chw);

// Scales an image by an integer factor (nearest neighbour), so small images are visible.
io::Image upscale(const io::Image& img, int64_t factor);

// Cells laid out row by row, `cols` per row, separated by `pad` pixels of `background`; cells may
// differ in size (each slot is as large as the largest cell). Gray cells become RGB when any
// cell is colour or any frame is set. frames[i], if given, draws a 2-px border of that RGB
// colour around cell i (red < 0: none); Rgb is in tasks/text.h.
io::Image grid(const std::vector<io::Image>& cells, int64_t cols, int64_t pad = 2, float background = 1.f,
               const std::vector<Rgb>& frames = {});

// `image` with lines of text (dark gray on white) centred below it, 3 px apart, for the names
// under pictures; the picture is widened (the image centred) when a line is wider than the image.
// No lines: the image unchanged.
io::Image with_caption(const io::Image& image, const std::vector<std::string>& lines);

// A heat map of a rows x cols matrix (row-major), each entry a cell x cell square coloured from
// dark blue (0) to yellow (max), for confusion matrices and similar tables.
io::Image heatmap(const std::vector<double>& values, int64_t rows, int64_t cols, int64_t cell = 24);

// The same heat map framed for reading: each value written in its cell (white on dark cells, black
// on light ones; whole numbers as integers, others to 2 significant digits), row names on the left,
// column names below (turned upwards when wider than a cell), and the axis titles: row_title
// upwards on the left, col_title below. Empty names: 0, 1, 2, ...; cell 0: wide enough for the
// values. For a confusion matrix the rows are the true classes and the columns the predictions.
io::Image labeled_heatmap(const std::vector<double>& values, int64_t rows, int64_t cols,
                          const std::vector<std::string>& row_names = {},
                          const std::vector<std::string>& col_names = {}, const std::string& row_title = "true",
                          const std::string& col_title = "predicted", int64_t cell = 0);

}  // namespace pw::tasks
