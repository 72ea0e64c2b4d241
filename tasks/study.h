// The study: a small-scale reproduction of the seed papers' experiments in one run. On
// Fashion-MNIST (Debian's dataset-fashion-mnist) the same small AlexNet-style trunk is trained
// supervised (the upper bound) and by three pretext tasks (rotation, jigsaw, context), and
// compared with a randomly initialized copy under one linear-probe protocol at every layer, by
// nearest-neighbour retrieval and by its conv1 filters; on the nature photos of Debian's
// mate-backgrounds jigsaw and context are trained on colour photos, with a patch retrieval grid
// and a deep dream. The results go to a report (tasks/report.h).
#pragma once
#include <string>
#include <vector>

#include "engine/device/device.h"
#include "tasks/probe.h"

namespace pw::tasks {

struct StudyConfig {
  std::string budget = "default";  // quick (~1 min on 2 cores), default (~12 min), full (a GPU)
  std::string out_dir = "runs/study";
  std::string photos_dir = "/usr/share/backgrounds/mate/nature";
  std::string dream_photo = "LadyBird.jpg";  // in photos_dir; the first photo when it is not there
  Device device = Device::cpu();
  uint64_t seed = 0;
  bool progress = true;

  // Set from the budget by study_config; each may be changed before run_study.
  double width = 0.5;           // channel multiplier of alexnet-small and its pretext variants
  int64_t train_images = 8000;  // Fashion-MNIST training images for supervised and rotation
  int64_t supervised_epochs = 4, rotation_epochs = 2;
  int64_t tile_images = 3000;  // images (resized to tile_size) for jigsaw and context
  int64_t tile_size = 48;
  int64_t tile_epochs = 2;
  int64_t photo_size = 96, photo_samples = 1024, photo_epochs = 1;
  int64_t probe_train = 3000, probe_test = 1000, probe_epochs = 6;
  int64_t viz_iterations = 60;
  int64_t tsne_points = 500;  // test images in each trunk's t-SNE map (Barnes-Hut)
};

StudyConfig study_config(const std::string& budget);

struct TrunkResult {
  std::string name;   // supervised, rotation, jigsaw, context, random
  std::string model;  // registry name
  std::string checkpoint;
  std::string task;                          // how it was trained
  double pretext_accuracy = -1, chance = 0;  // held-out accuracy on its own task (-1: none)
  double seconds = 0, samples_per_second = 0;
  std::vector<double> losses;       // per step (pretext) or per epoch (supervised train loss)
  std::vector<ProbeResult> probes;  // one per layer
  double neighbor_agreement = 0;    // fraction of retrieved neighbours with the query's label
  std::string neighbors_png, filters_png, units_png;
  // How far conv1 moved in training: the mean over its filters of the cosine between each filter
  // and the same filter at initialization (1: unmoved); -1 for an untrained trunk.
  double conv1_init_cosine = -1;
  // Colorization: the held-out crops' mean ab error of the prediction and of predicting gray
  // (a = b = 0); -1 for the other trunks.
  double ab_error = -1, gray_ab_error = -1;
  int64_t steps = 0;  // training steps (0: untrained)
  double lr = 0;      // their peak learning rate
  // The t-SNE map of conv5 features of the first test images, and the share of each point's 10
  // nearest map neighbours with its class (-1: no map).
  std::string tsne_png;
  double tsne_agreement = -1;
};

struct StageTime {
  std::string name;
  double seconds = 0;
};

struct StudyResult {
  StudyConfig config;
  std::vector<TrunkResult> trunks;        // supervised, rotation, jigsaw, context, random
  std::vector<TrunkResult> photo_trunks;  // jigsaw and context on the photos
  double supervised_test_accuracy = 0;
  std::vector<std::string> layers;  // conv1 ... fc7: the union of probe layers, in order
  // conv1 filter similarity: for each trunk, the mean over the supervised network's filters of
  // the best |cosine| with any filter of that trunk (1: the same filters; random gives the floor).
  std::vector<std::pair<std::string, double>> filter_similarity;
  std::vector<double> class_start, class_end;  // class-model scores, per class
  std::vector<std::string> class_names;
  std::string class_png, saliency_png, gradcam_png, dream_png, photo_neighbors_png;
  int64_t tsne_points = 0;  // images in each trunk's t-SNE map
  std::vector<double> dream_octave_start, dream_octave_end;
  std::vector<StageTime> stages;
  double seconds = 0;
  std::string device;
};

// Runs every stage of study_stages (tasks/study_stages.h) in order, writing checkpoints and
// pictures under config.out_dir. Progress goes to stderr.
StudyResult run_study(const StudyConfig& config);

}  // namespace pw::tasks
