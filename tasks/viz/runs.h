// `patchwork viz <method>` as library calls: each method is a Config (what the flags say) ->
// run_X(config) -> a Result (the numbers, the names, the files written). A run reads what its
// checkpoint records (tasks/run_record.h): the images of the data methods (saliency, guided,
// deconv, invert, top-patches, sheet) come from the run's data at its size and normalization; the
// optimization methods (class, unit, dream) take the record's normalization, and class and unit
// its input size. A flag that contradicts the record is an error naming both values; a method
// that explains classes on a pretext network is require_classifier's error. Every picture is
// written as <out>/<method>.png with a JSON sidecar {"method", "flags", "results"} (the sheet
// writes its page, tasks/viz/sheet.h).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "engine/device/device.h"
#include "engine/io/image.h"
#include "engine/io/json.h"
#include "tasks/load_model.h"
#include "tasks/run_record.h"
#include "tasks/top_patches.h"
#include "tasks/viz/ascent.h"
#include "tasks/viz/filters.h"
#include "tasks/viz/inversion.h"
#include "tasks/viz/saliency.h"
#include "tasks/viz/sheet.h"

namespace pw::tasks::viz {

// What every viz run shares.
struct VizCommon {
  ModelSource source;
  // Input channels of a network without a run record (absent: read from the first convolution's
  // weights; 1 for a random network). A checkpoint's record says them; a contradicting value is an error.
  std::optional<int64_t> channels;
  Device device = Device::cpu();
  std::string out_dir = "runs/viz";
  io::Json flags;  // the command's flags (Args::json), copied into the sidecar
};

struct VizFiles {
  std::string picture, json;
};

// Writes <out_dir>/<method>.png and <method>.json: {"method", "flags", "results"}. The folder is
// created when missing; the JSON is written atomically.
VizFiles write_viz_outputs(const std::string& out_dir, const std::string& method, const io::Image& picture,
                           const io::Json& flags, const io::Json& results);

// --image-size, --mean and --std of the optimization methods.
struct SpaceRequest {
  std::optional<int64_t> image_size;  // absent: the record's input size, else the network's native one
  // Absent (empty): the record's normalization, else Fashion-MNIST's (1 channel) or ImageNet's
  // (default_normalization). One value for every channel, or one per channel.
  std::vector<float> mean, std;
};

// The name shown for class `index`: names[index] where there is one, else "class <index>".
std::string class_name(const std::vector<std::string>& names, int64_t index);

// ---- filters ----
struct FiltersConfig {
  VizCommon common;
  std::string layer;  // empty: the first convolution
  FilterOptions options;
};
struct FiltersResult {
  std::string model, layer;  // the layer's path
  int64_t filters = 0;
  VizFiles files;
};
FiltersResult run_filters(const FiltersConfig& config);

// ---- class models and units ----
struct ClassConfig {
  VizCommon common;
  SpaceRequest space;
  AscentOptions ascent;           // its jitter is `jitter`'s
  std::optional<int64_t> jitter;  // absent: a 16th of the image side
  std::vector<int64_t> classes;   // empty: every class
  bool probability = false;       // maximize the softmax probability instead of the score
};
struct AscentRunResult {
  std::string model;
  std::vector<int64_t> targets;     // the classes or units, one image each
  std::vector<std::string> labels;  // the caption under each image: the class name, or "unit N"
  InputSpace space;
  AscentOptions options;  // as used (jitter resolved)
  AscentResult ascent;
  VizFiles files;
};
// Class models; a pretext network is require_classifier's error.
AscentRunResult run_class(const ClassConfig& config);

struct UnitConfig {
  VizCommon common;
  SpaceRequest space;
  AscentOptions ascent;           // its jitter is `jitter`'s
  std::optional<int64_t> jitter;  // absent: a 16th of the image side
  std::string layer = "conv3";
  std::vector<int64_t> units;   // empty: every channel of the layer
  bool neuron = false;          // the unit at (y, x) of each channel's map instead of the channel's mean
  std::optional<int64_t> y, x;  // with neuron: the position (absent: the centre); 0 or more
};
AscentRunResult run_unit(const UnitConfig& config);

// ---- DeepDream ----
struct DreamConfig {
  VizCommon common;
  std::vector<float> mean, std;  // as SpaceRequest's
  std::string image;             // the photo
  int64_t size = 224;            // its longer side is resized to this
  std::string layer = "conv3";
  DreamOptions options;
};
struct DreamRunResult {
  std::string model, layer;
  DreamResult dream;
  VizFiles files;
};
DreamRunResult run_dream(const DreamConfig& config);

// ---- saliency, guided backpropagation, deconvnet ----
struct SaliencyConfig {
  VizCommon common;
  DataRequest data;                 // absent: the run's data
  std::string method = "saliency";  // saliency, guided or deconv: names the files
  // Indices into the test split (or the training images of unlabeled data); empty: the first 8
  // (all of a smaller split).
  std::vector<int64_t> images;
  // The class explained: one value, or one per image; empty: the predicted one.
  std::vector<int64_t> classes;
  SaliencyOptions options;
  bool box = false;  // the weakly supervised object box
};
// One image of a saliency picture: where it came from and what the network makes of it.
struct ExplainedImage {
  int64_t image = 0;
  std::optional<int64_t> label;  // its true class, for labeled data
  std::string label_name;
  int64_t predicted = 0;
  std::string predicted_name;
  double probability = 0;  // of the predicted class
  int64_t explained = 0;   // the class the map explains
  std::string explained_name;
  double score = 0;  // its pre-softmax score
  std::optional<Box> box;
};
// The caption under the image: "true <name>" (labeled data), "pred <name> <probability>", and
// "map <name>" when the map explains another class than the predicted one.
std::vector<std::string> caption(const ExplainedImage& image);
struct SaliencyRunResult {
  std::string model, data;
  std::vector<ExplainedImage> images;
  VizFiles files;
};
SaliencyRunResult run_saliency(const SaliencyConfig& config);

// ---- feature inversion ----
struct InvertConfig {
  VizCommon common;
  DataRequest data;
  std::vector<int64_t> images;  // as SaliencyConfig's; empty: the first 4
  std::string layer = "conv3";
  InversionOptions options;
};
struct InvertRunResult {
  std::string model, data, layer;
  std::vector<int64_t> images;
  InversionResult inversion;
  VizFiles files;
};
InvertRunResult run_invert(const InvertConfig& config);

// ---- top patches and the contact sheet: scans of the first `limit` images ----
struct TopPatchesConfig {
  VizCommon common;
  DataRequest data;
  int64_t limit = 10000;  // images scanned; must be positive
  int64_t k = 8;
  int64_t batch_size = 64;
  std::string layer = "conv3";
  std::vector<int64_t> units;  // empty: every channel
  int64_t cell = 56;           // patches scaled up by a whole factor to about this many pixels
};
struct TopPatchesRunResult {
  std::string model, data;
  int64_t images = 0;  // scanned
  TopPatches patches;
  VizFiles files;
};
TopPatchesRunResult run_top_patches(const TopPatchesConfig& config);

struct SheetConfig {
  VizCommon common;
  DataRequest data;
  int64_t limit = 2000;
  SheetOptions options;        // its ascent starts from sheet_ascent; its blur is `blur`'s
  std::optional<double> blur;  // absent: sheet_ascent's for the image side
};
struct SheetRunResult {
  std::string model, data;
  Sheet sheet;
  std::vector<std::string> files;  // PNGs first
  std::string page;                // sheet.html
};
SheetRunResult run_sheet(const SheetConfig& config);

// ---- colorization: held-out crops, their colours predicted from L ----
struct ColorizeConfig {
  VizCommon common;           // its checkpoint must be a colorization run's (patchwork train --task colorization)
  int64_t images = 8;         // the first N of the run's held-out evaluation crops; must be positive
  double temperature = 0.38;  // annealed mean (Zhang et al. 2016: kAnnealedMeanT)
};
struct ColorizedCrop {
  int64_t crop = 0;
  double ab_error = 0, gray_ab_error = 0;  // mean Euclidean ab distance to the truth per pixel
};
struct ColorizeRunResult {
  std::string model, data;
  std::vector<ColorizedCrop> crops;
  double ab_error = 0, gray_ab_error = 0;  // over all the crops shown
  VizFiles files;
};
// One row per crop: the input L (gray), the prediction (L with the annealed-mean ab), the truth.
ColorizeRunResult run_colorize(const ColorizeConfig& config);

}  // namespace pw::tasks::viz
