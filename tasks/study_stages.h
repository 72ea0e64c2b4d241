// The study's stages (inside tasks/; the public call is run_study in study.h). Each stage is a
// function of named inputs that returns its outputs; study.cpp lists the stages in order and
// wires them to the StudyState that carries what one stage hands to the next.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/io/image.h"
#include "engine/nn/module.h"
#include "engine/tensor.h"
#include "tasks/datasets.h"
#include "tasks/study.h"

namespace pw::tasks::study {

using Models = std::vector<std::shared_ptr<nn::Module>>;
using FilterSimilarity = std::vector<std::pair<std::string, double>>;  // (trunk, similarity)

// Fashion-MNIST at 28 px, cut into what the stages use.
struct FashionSplits {
  Dataset data;             // every image loaded, with the classes, mean and std
  Tensor train_x, train_y;  // the first train_images training images: supervised and rotation
  Tensor probe_x, probe_y;  // the first probe_train training images: probes, neighbour base
  Tensor test_x, test_y;    // the first probe_test test images: probes, queries, saliency
  Tensor held_out;          // the first 1000 test images: rotation's held-out accuracy
};

// A network of the study and what the report says of it.
struct Trunk {
  TrunkResult result;
  std::shared_ptr<nn::Module> model;
};

// What the stages hand to each other. `models` runs beside `result.trunks` (same order).
struct StudyState {
  StudyState(const StudyConfig& c, StudyResult& r) : config(c), result(r) {}
  const StudyConfig& config;
  StudyResult& result;
  FashionSplits fashion;
  std::optional<Dataset> tiles;   // Fashion-MNIST at tile_size, for jigsaw and context
  std::optional<Dataset> photos;  // the nature photos at photo_size, for colorization and the photo stage
  Models models;
  void add(Trunk t);  // appends to result.trunks and models
};

// One step of the study. A step with a name is a stage: numbered in the progress lines
// ("[study 3/9] ...") and timed in the report; a step without one (loading data, making the
// random trunk) is neither.
struct StudyStage {
  std::string name;
  std::function<void(StudyState&)> run;
};

// Every step, in the order run_study runs them (study.cpp).
std::vector<StudyStage> study_stages(const StudyConfig& c);

// ---- data and training (study_trunks.cpp) ----
FashionSplits load_fashion(const StudyConfig& c);
Dataset load_tiles(const StudyConfig& c);   // Fashion-MNIST at tile_size
Dataset load_photos(const StudyConfig& c);  // the photos at photo_size
struct SupervisedTrunk {
  Trunk trunk;
  double test_accuracy = 0;  // of the classifier itself
};
SupervisedTrunk train_supervised_trunk(const StudyConfig& c, const FashionSplits& f);
Trunk train_rotation_trunk(const StudyConfig& c, const FashionSplits& f);
// jigsaw or context on the tiles; its seed is config.seed + seed_offset.
Trunk train_tile_trunk(const StudyConfig& c, const Dataset& tiles, const std::string& task, uint64_t seed_offset);
Trunk random_trunk(const StudyConfig& c);  // seeded with config.seed + 4
// jigsaw or context on the photos, named "<task> (photos)".
Trunk train_photo_trunk(const StudyConfig& c, const Dataset& photos, const std::string& task);
// Colorization (Zhang et al. 2016) of crops of the photos: colorization-small, which reads the L
// channel, so that its trunk probes natively on gray Fashion-MNIST. Seeded with config.seed + 5.
Trunk train_colorization_trunk(const StudyConfig& c, const Dataset& photos);

// ---- measurements and pictures (study_measure.cpp) ----
struct ProbeTable {
  std::vector<std::vector<ProbeResult>> probes;  // per trunk, one per layer
  std::vector<std::string> layers;               // conv1 ... fc7: the union, in order
};
ProbeTable probe_every_layer(const StudyConfig& c, const FashionSplits& f, const std::vector<TrunkResult>& trunks,
                             const Models& models);
// Fills each trunk's neighbor_agreement, neighbors_png and filters_png; returns the conv1 filter
// similarity of every trunk after the first (the supervised one) to the first.
FilterSimilarity neighbors_and_filters(const StudyConfig& c, const FashionSplits& f, std::vector<TrunkResult>& trunks,
                                       const Models& models);
struct ClassPictures {
  std::vector<double> class_start, class_end;  // class-model scores, per class
  std::string class_png, saliency_png;
};
ClassPictures class_models_and_saliency(const StudyConfig& c, const FashionSplits& f, nn::Module& supervised);
// The conv3 unit picture of one trunk; returns its path relative to the report.
std::string unit_picture(const StudyConfig& c, const FashionSplits& f, const std::string& name, nn::Module& model);

// ---- maps and movement (study_maps.cpp) ----
// The first test image of each class, in class order (indices into f.test_x), and its class.
void first_of_each_class(const FashionSplits& f, std::vector<int64_t>& pick, std::vector<int64_t>& cls);
// The mean over conv1's filters of the cosine between each filter and the same filter in
// `initial` (a TrainResult::initial); -1 when `initial` is empty.
double conv1_init_cosine(const nn::Module& model, const std::map<std::string, Tensor>& initial);
// Each trunk's t-SNE map of conv5 on the first c.tsne_points test images: fills tsne_png and
// tsne_agreement; returns the number of points.
int64_t tsne_maps(const StudyConfig& c, const FashionSplits& f, std::vector<TrunkResult>& trunks, const Models& models);
// Grad-CAM (Selvaraju et al. 2017) of the supervised network on the first test image of each
// class: image beside map; returns the picture's path relative to the report.
std::string gradcam_picture(const StudyConfig& c, const FashionSplits& f, nn::Module& supervised);

// Patch retrieval in the context tower's conv5; returns the picture's path relative to the report.
std::string photo_patch_neighbors(const StudyConfig& c, const Dataset& photos, nn::Module& context_tower);
struct DreamPicture {
  std::vector<double> octave_start, octave_end;
  std::string png;
};
DreamPicture photo_dream(const StudyConfig& c, const Dataset& photos, nn::Module& jigsaw_tower);

// Writes a picture under out_dir/pictures/ and returns its path relative to the report.
std::string save_picture(const StudyConfig& c, const std::string& name, const io::Image& img);

}  // namespace pw::tasks::study
