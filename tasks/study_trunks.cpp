// The study's data and training stages (study_stages.h): every trunk is trained by run_train, the
// library call of `patchwork train`, on data already loaded, so the study measures exactly what
// the command does.
#include <algorithm>
#include <filesystem>

#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "models/registry.h"
#include "tasks/image_source.h"
#include "tasks/study_stages.h"
#include "tasks/train.h"

namespace pw::tasks::study {

namespace fs = std::filesystem;

namespace {

// A training run of the study: the study owns its folder, so a run replaces what an earlier
// study left there.
TrainConfig trunk_config(const StudyConfig& c, const std::string& task, const std::string& dir) {
  TrainConfig t;
  t.task = task;
  t.data = "fashion-mnist";
  t.width = c.width;
  t.optimizer = "adam";
  t.lr = task == "rotation" ? 2e-3 : 1e-3;
  t.weight_decay = 5e-4;
  t.schedule = "cosine";
  t.seed = c.seed;
  t.device = c.device;
  t.out_dir = (fs::path(c.out_dir) / "runs" / dir).string();
  t.force = true;
  t.progress = c.progress;
  t.eval_images = 1000;
  t.keep_initial = true;  // for conv1's movement from its initialization
  return t;
}

// Training data from a loaded dataset: `train` (and `train_labels`, for supervised) and the
// held-out `test` images, normalized as the dataset was.
TrainData data_of(const Dataset& d, const Tensor& train, const Tensor& test, const Tensor& train_labels = Tensor(),
                  const Tensor& test_labels = Tensor()) {
  TrainData t;
  t.kind = d.kind;
  t.train = std::make_shared<TensorSource>(train);
  t.train_labels = train_labels;
  t.test_images = test;
  t.test_labels = test_labels;
  t.classes = d.classes;
  t.mean = d.mean;
  t.std = d.std;
  return t;
}

Trunk trunk_of(const std::string& name, const TrainResult& r) {
  PW_CHECK(!r.loop.stopped(), "study: ", name, " training stopped early; its checkpoint is in ", r.config.out_dir);
  TrunkResult t;
  t.name = name;
  t.model = r.config.model;
  t.task = r.config.task;
  t.checkpoint = r.checkpoint;
  t.pretext_accuracy = r.evaluated ? r.last.accuracy : -1;
  t.chance = r.classes ? 1.0 / (double)r.classes : 0;
  t.seconds = r.loop.train_seconds;
  t.samples_per_second = r.loop.samples_per_second;
  t.conv1_init_cosine = conv1_init_cosine(*r.model, r.initial);
  t.steps = r.loop.steps;
  t.lr = r.config.lr;
  if (r.config.task == "supervised")
    for (const EpochRecord& e : r.loop.epochs) t.losses.push_back(e.train_loss);
  else
    t.losses = r.loop.losses;
  return {t, r.model};
}

Tensor first(const Tensor& t, int64_t n) { return t.slice(0, 0, n).contiguous(); }

}  // namespace

FashionSplits load_fashion(const StudyConfig& c) {
  DataOptions o;
  o.limit_train = std::max(c.train_images, c.probe_train);
  o.limit_test = std::max<int64_t>(c.probe_test, 1000);
  FashionSplits f;
  f.data = load_dataset("fashion-mnist", o);
  f.train_x = first(f.data.train_images, c.train_images);
  f.train_y = first(f.data.train_labels, c.train_images);
  f.probe_x = first(f.data.train_images, c.probe_train);
  f.probe_y = first(f.data.train_labels, c.probe_train);
  f.test_x = first(f.data.test_images, c.probe_test);
  f.test_y = first(f.data.test_labels, c.probe_test);
  f.held_out = first(f.data.test_images, std::min<int64_t>(1000, f.data.test_images.size(0)));
  return f;
}

Dataset load_tiles(const StudyConfig& c) {
  DataOptions o;
  o.image_size = c.tile_size;
  o.limit_train = c.tile_images;
  o.limit_test = 1000;
  return load_dataset("fashion-mnist", o);
}

Dataset load_photos(const StudyConfig& c) {
  DataOptions o;
  o.image_size = c.photo_size;
  return load_dataset("images:" + c.photos_dir, o);
}

SupervisedTrunk train_supervised_trunk(const StudyConfig& c, const FashionSplits& f) {
  TrainConfig t = trunk_config(c, "supervised", "supervised");
  t.model = "alexnet-small";
  t.epochs = c.supervised_epochs;
  t.optimizer = "adamw";
  t.lr = 3e-3;
  t.weight_decay = 0.05;
  t.flip = false;           // no augmentation (patchwork train flips Fashion-MNIST by default)
  t.label_smoothing = 0.0;  // plain cross-entropy, as the pretext trunks, whatever train's default
  t.schedule = "onecycle";  // each trunk starts from its own initialization (seed + its index)
  const TrainResult r = run_train(t, data_of(f.data, f.train_x, f.test_x, f.train_y, f.test_y));
  return {trunk_of("supervised", r), r.last.accuracy};
}

Trunk train_rotation_trunk(const StudyConfig& c, const FashionSplits& f) {
  TrainConfig t = trunk_config(c, "rotation", "rotation");
  t.seed = c.seed + 1;
  t.epochs = c.rotation_epochs;
  return trunk_of("rotation", run_train(t, data_of(f.data, f.train_x, f.held_out)));
}

Trunk train_tile_trunk(const StudyConfig& c, const Dataset& tiles, const std::string& task, uint64_t seed_offset) {
  TrainConfig t = trunk_config(c, task, task);
  t.seed = c.seed + seed_offset;
  t.epochs = c.tile_epochs;
  t.image_size = c.tile_size;
  t.color_defense = "none";  // gray images: no chromatic aberration to defend against
  return trunk_of(task, run_train(t, data_of(tiles, tiles.train_images, tiles.test_images)));
}

Trunk random_trunk(const StudyConfig& c) {
  manual_seed(c.seed + 4);
  models::ModelConfig mc{10, 1};
  mc.width = c.width;
  Trunk t;
  t.model = models::create("alexnet-small", mc);
  t.model->to(c.device);
  t.result.name = "random";
  t.result.model = "alexnet-small";
  t.result.task = "none (random initialization)";
  return t;
}

Trunk train_colorization_trunk(const StudyConfig& c, const Dataset& photos) {
  TrainConfig t = trunk_config(c, "colorization", "colorization");
  t.seed = c.seed + 5;
  t.data = "images:" + c.photos_dir;
  t.image_size = c.photo_size;
  t.epochs = c.photo_epochs;
  t.samples_per_epoch = c.photo_samples;
  const TrainResult r = run_train(t, data_of(photos, photos.train_images, Tensor()));
  Trunk trunk = trunk_of("colorization", r);
  if (r.colorization) {
    trunk.result.ab_error = r.colorization->ab_error;
    trunk.result.gray_ab_error = r.colorization->gray_ab_error;
  }
  return trunk;
}

Trunk train_photo_trunk(const StudyConfig& c, const Dataset& photos, const std::string& task) {
  TrainConfig t = trunk_config(c, task, task + "_photos");
  t.data = "images:" + c.photos_dir;
  t.image_size = c.photo_size;
  t.epochs = c.photo_epochs;
  t.samples_per_epoch = c.photo_samples;
  t.batch_size = 32;
  t.color_defense = "project";
  return trunk_of(task + " (photos)", run_train(t, data_of(photos, photos.train_images, Tensor())));
}

}  // namespace pw::tasks::study
