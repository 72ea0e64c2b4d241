// Context prediction (Doersch, Gupta, Efros 2015): a patch and one of its 8 neighbours on a
// 3x3 grid; the label is the neighbour's position, row by row with the centre skipped:
//   (dx, dy) = (-1,-1) 0, (0,-1) 1, (1,-1) 2, (-1,0) 3, (1,0) 4, (-1,1) 5, (0,1) 6, (1,1) 7.
// Defaults are the paper's (96 px patches, 48 px gap, +-7 px jitter); context_config_for(size)
// scales them for small images. The chromatic-aberration defences are the paper's: projection
// toward gray along green-magenta, B = I - a^T a / (a a^T), a = [-1, 2, -1], and color
// dropping (one random channel kept, the others replaced by Gaussian noise).
#pragma once
#include <array>
#include <string>

#include "engine/util/rng.h"
#include "tasks/pretext/image_view.h"

namespace pw::tasks {

enum class ColorDefense { none, project, drop };
ColorDefense parse_color_defense(const std::string& s);  // "none", "project", "drop"

struct ContextConfig {
  int64_t patch = 96;
  int64_t gap = 48;
  int64_t jitter = 7;  // the neighbour moves by up to this many pixels per axis
  ColorDefense color = ColorDefense::project;
  double drop_noise = 0.01;  // color dropping: noise std, times the kept channel's std
  double pixelate = 0;       // probability of pixelating each patch (paper: 0.33)
  bool normalize = true;     // per-patch mean/std normalization
};

// The paper's constants scaled to images whose shorter side is `image_size` (the grid of 3
// patches, 2 gaps and the jitter fills about 90% of it); the paper's values for >= 400 px.
ContextConfig context_config_for(int64_t image_size);

// The (dx, dy) of each label and back.
std::array<int, 2> context_offset(int label);
int context_label(int dx, int dy);  // -1 for (0, 0) or anything outside the 3x3 grid

// Smallest image side the configuration fits in.
int64_t context_min_size(const ContextConfig& c);

struct ContextPlacement {
  int64_t top[2], left[2];  // the centre patch, then the neighbour
  int label;
};

// Draws a centre position, a label and the jitter; writes the two patches (C x patch x patch
// each, centre first) to out, with the colour defence and normalization applied.
ContextPlacement sample_context(const ImageView& img, Generator& gen, const ContextConfig& c, float* out);

// The projection matrix B (row-major 3x3), exposed for tests.
std::array<float, 9> green_magenta_projection();

}  // namespace pw::tasks
