// The study as a list of stages (study_stages.h): the list below is the whole study, in order;
// the stages themselves are in study_trunks.cpp (data and training) and study_measure.cpp
// (probes, neighbours, pictures).
#include "tasks/study.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "engine/util/error.h"
#include "tasks/study_stages.h"

namespace pw::tasks {

namespace fs = std::filesystem;

StudyConfig study_config(const std::string& budget) {
  StudyConfig c;
  c.budget = budget;
  if (budget == "quick") return c;  // the defaults in study.h
  if (budget == "default") {
    c.train_images = 60000;
    c.supervised_epochs = 4;
    c.rotation_epochs = 3;
    c.tile_images = 30000;
    c.tile_epochs = 3;
    c.photo_samples = 8192;
    c.photo_epochs = 3;
    c.probe_train = 20000;
    c.probe_test = 5000;
    c.probe_epochs = 10;
    c.viz_iterations = 300;
    c.tsne_points = 1000;
    return c;
  }
  if (budget == "full") {
    c.width = 1;
    c.train_images = 60000;
    c.supervised_epochs = 15;
    c.rotation_epochs = 30;
    c.tile_images = 60000;
    c.tile_epochs = 30;
    c.photo_size = 128;
    c.photo_samples = 16384;
    c.photo_epochs = 20;
    c.probe_train = 60000;
    c.probe_test = 10000;
    c.probe_epochs = 20;
    c.viz_iterations = 400;
    c.tsne_points = 2000;
    return c;
  }
  PW_FAIL("study: the budget must be quick, default or full, not '", budget, "'");
}

namespace study {

void StudyState::add(Trunk t) {
  result.trunks.push_back(std::move(t.result));
  models.push_back(std::move(t.model));
}

namespace {

// Each stage below reads the state's members named under "in" and fills those under "out".

// in: config. out: fashion, result.class_names.
void load_fashion_step(StudyState& s) {
  s.fashion = load_fashion(s.config);
  s.result.class_names = s.fashion.data.classes;
}

// in: fashion. out: the supervised trunk, result.supervised_test_accuracy.
void supervised_stage(StudyState& s) {
  SupervisedTrunk st = train_supervised_trunk(s.config, s.fashion);
  s.result.supervised_test_accuracy = st.test_accuracy;
  s.add(std::move(st.trunk));
}

// in: fashion. out: the rotation trunk.
void rotation_stage(StudyState& s) { s.add(train_rotation_trunk(s.config, s.fashion)); }

// in: config. out: tiles.
void load_tiles_step(StudyState& s) { s.tiles = load_tiles(s.config); }

// in: tiles. out: the jigsaw trunk.
void jigsaw_stage(StudyState& s) { s.add(train_tile_trunk(s.config, *s.tiles, "jigsaw", 2)); }

// in: tiles (dropped after: no later stage reads them). out: the context trunk.
void context_stage(StudyState& s) {
  s.add(train_tile_trunk(s.config, *s.tiles, "context", 3));
  s.tiles.reset();
}

// in: config. out: photos, the colorization trunk.
void colorization_stage(StudyState& s) {
  s.photos = load_photos(s.config);
  s.add(train_colorization_trunk(s.config, *s.photos));
}

// in: config. out: the random trunk.
void random_step(StudyState& s) { s.add(random_trunk(s.config)); }

// in: fashion, the six trunks. out: each trunk's probes, result.layers.
void probe_stage(StudyState& s) {
  ProbeTable t = probe_every_layer(s.config, s.fashion, s.result.trunks, s.models);
  for (size_t i = 0; i < t.probes.size(); ++i) s.result.trunks[i].probes = std::move(t.probes[i]);
  s.result.layers = std::move(t.layers);
}

// in: fashion, the six trunks. out: each trunk's neighbour agreement and pictures,
// result.filter_similarity.
void neighbors_stage(StudyState& s) {
  s.result.filter_similarity = neighbors_and_filters(s.config, s.fashion, s.result.trunks, s.models);
}

// in: fashion, the six trunks. out: each trunk's tsne_png and tsne_agreement, result.tsne_points,
// result.gradcam_png.
void maps_stage(StudyState& s) {
  s.result.tsne_points = tsne_maps(s.config, s.fashion, s.result.trunks, s.models);
  s.result.gradcam_png = gradcam_picture(s.config, s.fashion, *s.models[0]);
}

// in: fashion, the supervised trunk. out: result.class_start, class_end, class_png, saliency_png.
void class_stage(StudyState& s) {
  ClassPictures p = class_models_and_saliency(s.config, s.fashion, *s.models[0]);
  s.result.class_start = std::move(p.class_start);
  s.result.class_end = std::move(p.class_end);
  s.result.class_png = std::move(p.class_png);
  s.result.saliency_png = std::move(p.saliency_png);
}

// in: fashion, the six trunks. out: each trunk's units_png.
void units_stage(StudyState& s) {
  for (size_t i = 0; i < s.models.size(); ++i)
    s.result.trunks[i].units_png = unit_picture(s.config, s.fashion, s.result.trunks[i].name, *s.models[i]);
}

// in: photos (dropped after: no later stage reads them; the photo trunks live only here).
// out: result.photo_trunks, photo_neighbors_png, dream_octave_start, dream_octave_end, dream_png.
void photo_stage(StudyState& s) {
  const Dataset photos = std::move(*s.photos);
  s.photos.reset();
  Trunk jigsaw = train_photo_trunk(s.config, photos, "jigsaw");
  Trunk context = train_photo_trunk(s.config, photos, "context");
  s.result.photo_trunks = {jigsaw.result, context.result};
  s.result.photo_neighbors_png = photo_patch_neighbors(s.config, photos, *context.model);
  DreamPicture dream = photo_dream(s.config, photos, *jigsaw.model);
  s.result.dream_octave_start = std::move(dream.octave_start);
  s.result.dream_octave_end = std::move(dream.octave_end);
  s.result.dream_png = std::move(dream.png);
}

}  // namespace

std::vector<StudyStage> study_stages(const StudyConfig& c) {
  const std::string tiles = " pretext training on Fashion-MNIST at " + std::to_string(c.tile_size) + " px";
  return {
      {"", load_fashion_step},
      {"supervised training of alexnet-small (the upper bound)", supervised_stage},
      {"rotation pretext training (Gidaris et al.)", rotation_stage},
      {"", load_tiles_step},
      {"jigsaw" + tiles, jigsaw_stage},
      {"context" + tiles, context_stage},
      {"colorization pretext training on the nature photos (Zhang et al.)", colorization_stage},
      {"", random_step},  // it reseeds the global generator for what follows: keep its place
      {"linear probes at every layer of the six trunks", probe_stage},
      {"nearest neighbours and conv1 filters of each trunk", neighbors_stage},
      {"t-SNE maps of conv5 of the six trunks; Grad-CAM of the supervised network", maps_stage},
      {"class models and saliency of the supervised network", class_stage},
      {"unit visualizations of every trunk (conv3, centre units)", units_stage},
      {"jigsaw and context on the nature photos; patch neighbours; a deep dream", photo_stage},
  };
}

}  // namespace study

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Runs one named stage: its progress lines and its time in result.stages.
void run_timed(const study::StudyStage& stage, int number, int total, study::StudyState& s) {
  const Clock::time_point start = Clock::now();
  if (s.config.progress) std::fprintf(stderr, "\n[study %d/%d] %s\n", number, total, stage.name.c_str());
  stage.run(s);
  s.result.stages.push_back({stage.name, since(start)});
  if (s.config.progress)
    std::fprintf(stderr, "[study %d/%d] %s: %.1f s\n", number, total, stage.name.c_str(), since(start));
}

}  // namespace

StudyResult run_study(const StudyConfig& c) {
  const Clock::time_point t0 = Clock::now();
  StudyResult r;
  r.config = c;
  r.device = c.device.str();
  fs::create_directories(fs::path(c.out_dir) / "pictures");
  study::StudyState state{c, r};
  const std::vector<study::StudyStage> stages = study::study_stages(c);
  const int total = (int)std::count_if(stages.begin(), stages.end(), [](const auto& st) { return !st.name.empty(); });
  int number = 0;
  for (const study::StudyStage& stage : stages) {
    if (stage.name.empty())
      stage.run(state);
    else
      run_timed(stage, ++number, total, state);
  }
  r.seconds = since(t0);
  return r;
}

}  // namespace pw::tasks
