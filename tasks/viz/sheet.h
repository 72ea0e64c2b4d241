// A contact sheet of what a network's convolutions respond to, one section per layer and one row
// per unit, in the manner of Zeiler and Fergus 2014 (the data set patches that excite a unit most)
// and Yosinski et al. 2015 (the image that maximizes it): for each unit its optimized image, its
// top-k patches cropped at the receptive field, and for a layer that sees the input, its filter.
// Units that never fire on the scanned data are marked dead. Written as sheet.html with one PNG
// per layer beside it and sheet.json holding the numbers.
#pragma once
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "engine/io/json.h"
#include "engine/nn.h"
#include "tasks/receptive_field.h"
#include "tasks/top_patches.h"
#include "tasks/viz/ascent.h"

namespace pw::tasks::viz {

struct SheetOptions {
  std::vector<std::string> layers;  // convolutions, by short name or path; empty: every convolution
  int64_t units_per_layer = 16;     // the first N units of each layer are shown (all are checked for death)
  int64_t k = 8;                    // top patches per unit
  int64_t batch_size = 64;          // images per forward pass while scanning
  int64_t cell = 48;                // about this many pixels per picture in the strips
  int64_t columns = 2;              // units side by side in a layer's picture, at most ...
  int64_t max_width = 1150;         // ... as many as fit in this many pixels (at least one)
  AscentOptions ascent;             // how the optimized images are made (iterations 0: none)
};

// The default optimization of the sheet: Yosinski et al.'s set 3 (decay, a blur every 4 steps, no
// jitter) shortened to 100 steps of 0.2 std, so that a whole network takes seconds. The blur's
// sigma grows with the image side, side / 56 clamped to [0.5, 1] px (set 3's 1 px from 56-px
// images up; 1 px smooths a 28-px image to shapeless blobs). Jitter stays off: the target is one
// unit, and shifting the image by a pixel or two moves a small receptive field off the pattern
// being built (conv1's units then end below where they started). The step is normalized over the
// pixels the unit sees (maximize_units), so one step size serves every layer.
AscentOptions sheet_ascent(int64_t image_side);

struct SheetUnit {
  int64_t unit = 0;
  float max_activation = 0;       // the largest value over the scanned images, where it is read (after the ReLU)
  bool dead = false;              // max_activation <= 0: the unit never fires on the data
  std::vector<TopPatch> patches;  // best first; empty for a dead unit (every image ties at zero)
  // The optimized image's objective before and after: the unit at the centre of the map (as
  // Yosinski et al.; the channel's mean over a small map is nearly flat in the image and its
  // maximizer a uniform gray), before its ReLU.
  double objective_start = 0, objective_end = 0;
};

struct SheetLayer {
  std::string conv;  // the convolution's path, "features.conv1": the optimized images maximize its output
  std::string read;  // the layer whose output is scanned for patches and death: the ReLU after it
  int64_t channels = 0, map_height = 0, map_width = 0;
  int64_t neuron_y = 0, neuron_x = 0;  // the centre unit the optimized images maximize
  double step = 0;                     // their ascent step (the options', recorded in the JSON)
  ReceptiveField field;
  std::vector<int64_t> dead_units;  // among all channels, not only those shown
  std::vector<SheetUnit> units;     // those shown
  io::Image picture;                // per unit: label, [filter], optimized image and patches (both cut at the field)
  bool has_filters = false;         // the picture shows each unit's filter (1 or 3 input channels)
};

struct Sheet {
  std::vector<SheetLayer> layers;
  int64_t images = 0;  // how many were scanned
  SheetOptions options;
};

// Scans images [N, C, H, W] (normalized as `space` says; H and W must match it) through the model
// for every chosen layer, optimizes the shown units' images (one batched ascent per layer) and draws
// each layer's picture. Unknown or non-convolution layers are errors naming what exists.
Sheet make_sheet(nn::Module& model, const Tensor& images, const InputSpace& space, const SheetOptions& options);

// What the page's header says about where the sheet came from.
struct SheetHeader {
  std::string model, checkpoint, data;
  uint64_t seed = 0;
  io::Json flags;  // the command's flags as a JSON object, copied into sheet.json (null: none)
};

// Writes dir/sheet-<layer>.png for each layer, dir/sheet.html linking them by relative path, and
// dir/sheet.json; returns the paths written, PNGs first. The directory is created when missing.
std::vector<std::string> write_sheet(const std::string& dir, const Sheet& sheet, const SheetHeader& header);

// JSON pieces shared with `patchwork viz top-patches`: a patch as {"image", "y", "x", "activation",
// "box": [y0, x0, y1, x1]} and a receptive field as {"size", "jump", "offset"} ([rows, columns] each).
io::Json patch_json(const TopPatch& patch);
io::Json field_json(const ReceptiveField& field);

// The integer scale that brings a picture of `side` pixels to about `cell` pixels: the nearest,
// or one more where that leaves it below 80% of the cell; at least 1.
int64_t scale_to_cell(int64_t side, int64_t cell);

}  // namespace pw::tasks::viz
