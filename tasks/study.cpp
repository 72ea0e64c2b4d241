// The study's steps: see study.h. Every step is a library call used by the command line too
// (run_train, linear_probe, nearest_neighbors, viz::*), so the study
// measures exactly what the individual commands do.
#include "tasks/study.h"

#include <chrono>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/io/checkpoint.h"
#include "engine/io/image.h"
#include "engine/ops.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "models/registry.h"
#include "tasks/datasets.h"
#include "tasks/neighbors.h"
#include "tasks/pictures.h"
#include "tasks/pretext_task.h"
#include "tasks/train.h"
#include "tasks/viz/ascent.h"
#include "tasks/viz/filters.h"
#include "tasks/viz/saliency.h"

namespace pw::tasks {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Stage {
  StudyResult& r;
  std::string name;
  Clock::time_point start = Clock::now();
  int index, total;
  bool progress;
  Stage(StudyResult& r, std::string n, int i, int t, bool p) : r(r), name(std::move(n)), index(i), total(t), progress(p) {
    if (progress) std::fprintf(stderr, "\n[study %d/%d] %s\n", index, total, name.c_str());
  }
  ~Stage() {
    r.stages.push_back({name, since(start)});
    if (progress) std::fprintf(stderr, "[study %d/%d] %s: %.1f s\n", index, total, name.c_str(), since(start));
  }
};

std::string pic(const StudyConfig& c, const std::string& name) { return (fs::path(c.out_dir) / "pictures" / name).string(); }

// Writes a picture under pictures/ and returns its path relative to the report.
std::string save(const StudyConfig& c, const std::string& name, const io::Image& img) {
  io::write_png(pic(c, name), img);
  return "pictures/" + name;
}

// Mean over a's filters of the best |cosine| with any of b's (conv weights [O, I, k, k]).
double filter_match(const Tensor& a, const Tensor& b) {
  const int64_t na = a.size(0), nb = b.size(0), d = a.numel() / na;
  PW_CHECK(b.numel() / nb == d, "filter similarity: filters of different sizes");
  std::vector<float> va = a.to(Device::cpu()).to_vector_f32(), vb = b.to(Device::cpu()).to_vector_f32();
  auto normalize = [d](std::vector<float>& v) {
    for (size_t o = 0; o < v.size() / d; ++o) {
      double s = 0;
      for (int64_t i = 0; i < d; ++i) s += (double)v[o * d + i] * v[o * d + i];
      s = std::sqrt(std::max(s, 1e-30));
      for (int64_t i = 0; i < d; ++i) v[o * d + i] = (float)(v[o * d + i] / s);
    }
  };
  normalize(va);
  normalize(vb);
  double total = 0;
  for (int64_t i = 0; i < na; ++i) {
    double best = 0;
    for (int64_t j = 0; j < nb; ++j) {
      double dot = 0;
      for (int64_t t = 0; t < d; ++t) dot += (double)va[i * d + t] * vb[j * d + t];
      best = std::max(best, std::fabs(dot));
    }
    total += best;
  }
  return total / (double)na;
}

// Neighbour retrieval picture for one trunk: rows = queries (blue), then the k nearest training
// images, green when they share the query's label, red when not.
double neighbor_picture(nn::Module& model, const Tensor& base, const Tensor& base_y, const Tensor& queries,
                        const Tensor& query_y, const Dataset& d, int64_t k, io::Image* out) {
  const ProbePoint point = find_probe_point(model, "conv5");
  Tensor fb = extract_features(model, {point}, base, 9216)[0];
  Tensor fq = extract_features(model, {point}, queries, 9216)[0];
  Neighbors nb = nearest_neighbors(fq, fb, k);
  const std::vector<int32_t> by = base_y.to_vector_i32(), qy = query_y.to_vector_i32();
  // The agreement counts every query; the picture shows the first six.
  int64_t agree = 0, total = 0;
  for (int64_t q = 0; q < queries.size(0); ++q)
    for (int64_t j : nb.index[q]) agree += by[j] == qy[q], ++total;
  const std::vector<std::vector<int64_t>> shown(nb.index.begin(), nb.index.begin() + std::min<size_t>(6, nb.index.size()));
  *out = neighbor_grid(queries, base, shown, d.mean, d.std, 2, qy, by);
  return total ? (double)agree / (double)total : 0;
}

viz::InputSpace space_of(const Dataset& d, int64_t side) {
  viz::InputSpace s;
  s.channels = d.train_images.size(1);
  s.height = s.width = side;
  s.mean = d.mean;
  s.std = d.std;
  return s;
}

// A training run of the study: the same library call as `patchwork train`, on data already
// loaded; the study owns its folder, so a run replaces what an earlier study left there.
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

TrunkResult trunk_of(const std::string& name, const TrainResult& r) {
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
  if (r.config.task == "supervised")
    for (const EpochRecord& e : r.loop.epochs) t.losses.push_back(e.train_loss);
  else
    t.losses = r.loop.losses;
  return t;
}

}  // namespace

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
    return c;
  }
  PW_FAIL("study: the budget must be quick, default or full, not '", budget, "'");
}

StudyResult run_study(const StudyConfig& c) {
  const Clock::time_point t0 = Clock::now();
  StudyResult r;
  r.config = c;
  r.device = c.device.str();
  fs::create_directories(fs::path(c.out_dir) / "pictures");
  const int N = 9;

  // Fashion-MNIST at 28 px for supervised, rotation and every probe; at tile_size for jigsaw/context.
  DataOptions o28;
  o28.limit_train = std::max(c.train_images, c.probe_train);
  o28.limit_test = std::max<int64_t>(c.probe_test, 1000);
  Dataset fashion = load_dataset("fashion-mnist", o28);
  r.class_names = fashion.classes;
  const Tensor train_x = fashion.train_images.slice(0, 0, c.train_images).contiguous();
  const Tensor probe_x = fashion.train_images.slice(0, 0, c.probe_train).contiguous();
  const Tensor probe_y = fashion.train_labels.slice(0, 0, c.probe_train).contiguous();
  const Tensor test_x = fashion.test_images.slice(0, 0, c.probe_test).contiguous();
  const Tensor test_y = fashion.test_labels.slice(0, 0, c.probe_test).contiguous();
  const Tensor held_out = fashion.test_images.slice(0, 0, std::min<int64_t>(1000, fashion.test_images.size(0))).contiguous();

  std::vector<std::shared_ptr<nn::Module>> models;
  {
    Stage s(r, "supervised training of alexnet-small (the upper bound)", 1, N, c.progress);
    TrainConfig t = trunk_config(c, "supervised", "supervised");
    t.model = "alexnet-small";
    t.epochs = c.supervised_epochs;
    t.optimizer = "adamw";
    t.lr = 3e-3;
    t.weight_decay = 0.05;
    t.schedule = "onecycle";  // each trunk starts from its own initialization (seed + its index)
    const Tensor train_y = fashion.train_labels.slice(0, 0, c.train_images).contiguous();
    const TrainResult sr = run_train(t, data_of(fashion, train_x, test_x, train_y, test_y));
    r.trunks.push_back(trunk_of("supervised", sr));
    r.supervised_test_accuracy = sr.last.accuracy;
    models.push_back(sr.model);
  }
  {
    Stage s(r, "rotation pretext training (Gidaris et al.)", 2, N, c.progress);
    TrainConfig t = trunk_config(c, "rotation", "rotation");
    t.seed = c.seed + 1;
    t.epochs = c.rotation_epochs;
    const TrainResult pr = run_train(t, data_of(fashion, train_x, held_out));
    r.trunks.push_back(trunk_of("rotation", pr));
    models.push_back(pr.model);
  }
  {
    DataOptions ot;
    ot.image_size = c.tile_size;
    ot.limit_train = c.tile_images;
    ot.limit_test = 1000;
    Dataset tiles = load_dataset("fashion-mnist", ot);
    for (const char* task : {"jigsaw", "context"}) {
      Stage s(r, std::string(task) + " pretext training on Fashion-MNIST at " + std::to_string(c.tile_size) + " px", task[0] == 'j' ? 3 : 4, N,
              c.progress);
      TrainConfig t = trunk_config(c, task, task);
      t.seed = c.seed + (task[0] == 'j' ? 2 : 3);
      t.epochs = c.tile_epochs;
      t.image_size = c.tile_size;
      t.color_defense = "none";  // gray images: no chromatic aberration to defend against
      const TrainResult pr = run_train(t, data_of(tiles, tiles.train_images, tiles.test_images));
      r.trunks.push_back(trunk_of(task, pr));
      models.push_back(pr.model);
    }
  }
  {
    manual_seed(c.seed + 4);
    models::ModelConfig mc{10, 1};
    mc.width = c.width;
    models.push_back(models::create("alexnet-small", mc));
    models.back()->to(c.device);
    TrunkResult t;
    t.name = "random";
    t.model = "alexnet-small";
    t.task = "none (random initialization)";
    r.trunks.push_back(t);
  }
  {
    Stage s(r, "linear probes at every layer of the five trunks", 5, N, c.progress);
    ProbeConfig pc;
    pc.epochs = c.probe_epochs;
    pc.seed = c.seed;
    pc.device = c.device;
    for (size_t i = 0; i < models.size(); ++i) {
      const auto points = probe_points(*models[i]);
      if (c.progress) std::fprintf(stderr, "  probing %s (%zu layers)\n", r.trunks[i].name.c_str(), points.size());
      r.trunks[i].probes = linear_probe(*models[i], points, probe_x, probe_y, test_x, test_y, 10, pc);
      for (const ProbeResult& p : r.trunks[i].probes) {
        const std::string l = short_name(p.layer);
        if (std::find(r.layers.begin(), r.layers.end(), l) == r.layers.end()) r.layers.push_back(l);
      }
    }
    // conv1 ... conv5 first, then the fully connected layers, whatever order the trunks came in.
    std::stable_sort(r.layers.begin(), r.layers.end(), [](const std::string& a, const std::string& b) {
      return (a.rfind("conv", 0) == 0) > (b.rfind("conv", 0) == 0);
    });
  }
  {
    Stage s(r, "nearest neighbours and conv1 filters of each trunk", 6, N, c.progress);
    const int64_t nq = std::min<int64_t>(1000, test_x.size(0));
    const Tensor queries = test_x.slice(0, 0, nq).contiguous(), qy = test_y.slice(0, 0, nq).contiguous();
    const Tensor sup_w = viz::find_conv(*models[0], "conv1").weight;
    for (size_t i = 0; i < models.size(); ++i) {
      io::Image img;
      r.trunks[i].neighbor_agreement = neighbor_picture(*models[i], probe_x, probe_y, queries, qy, fashion, 6, &img);
      r.trunks[i].neighbors_png = save(c, "neighbors_" + r.trunks[i].name + ".png", img);
      viz::FilterOptions fo;
      fo.scale = 8;
      fo.cols = 4;
      const nn::Conv2d& conv1 = viz::find_conv(*models[i], "conv1");
      r.trunks[i].filters_png = save(c, "filters_" + r.trunks[i].name + ".png", viz::filter_grid(conv1, fo));
      if (i > 0) r.filter_similarity.push_back({r.trunks[i].name, filter_match(sup_w, conv1.weight)});
    }
  }
  {
    Stage s(r, "class models and saliency of the supervised network", 7, N, c.progress);
    viz::InputSpace sp = space_of(fashion, 28);
    viz::AscentOptions ao;
    ao.iterations = c.viz_iterations;
    ao.step = 0.05;
    ao.l2 = 1e-3;
    ao.jitter = 1;
    ao.blur_sigma = 0.5;
    ao.blur_every = 10;
    ao.seed = c.seed;
    std::vector<int64_t> classes;
    for (int64_t k = 0; k < 10; ++k) classes.push_back(k);
    viz::AscentResult ar = viz::class_model(*models[0], sp, classes, false, ao);
    r.class_start = ar.start;
    r.class_end = ar.end;
    std::vector<io::Image> cells;
    for (int64_t k = 0; k < 10; ++k) cells.push_back(upscale(to_image(ar.images.select(0, k), sp.mean, sp.std), 4));
    r.class_png = save(c, "class_models.png", grid(cells, 5, 3));
    // Saliency of the first test image of each class.
    std::vector<int64_t> pick, cls;
    std::vector<int32_t> ty = test_y.to_vector_i32();
    for (int32_t k = 0; k < 10; ++k)
      for (size_t i = 0; i < ty.size(); ++i)
        if (ty[i] == k) {
          pick.push_back((int64_t)i), cls.push_back(k);
          break;
        }
    std::vector<Tensor> rows;
    for (int64_t i : pick) rows.push_back(test_x.select(0, i));
    viz::SaliencyResult sr = viz::saliency(*models[0], stack(rows, 0), cls, {});
    cells.clear();
    for (size_t i = 0; i < pick.size(); ++i) {
      io::Image img = to_image(test_x.select(0, pick[i]), sp.mean, sp.std);
      cells.push_back(upscale(img, 3));
      cells.push_back(upscale(viz::overlay(img, sr.maps[i]), 3));
    }
    r.saliency_png = save(c, "saliency.png", grid(cells, 4, 3));
  }
  {
    Stage s(r, "unit visualizations of every trunk (conv3, centre units)", 8, N, c.progress);
    viz::InputSpace sp = space_of(fashion, 28);
    viz::AscentOptions ao = viz::yosinski_set(3);
    ao.iterations = c.viz_iterations;
    ao.step = 0.1;
    ao.seed = c.seed;  // no jitter: a shift moves a small receptive field off its pattern
    for (size_t i = 0; i < models.size(); ++i) {
      // The centre unit of each channel, as Yosinski et al. (a channel's mean gives flat images).
      viz::UnitSpec spec{"conv3", {0, 1, 2, 3, 4, 5, 6, 7}, true, -1, -1};
      viz::AscentResult ar = viz::maximize_units(*models[i], sp, spec, ao);
      std::vector<io::Image> cells;
      for (size_t u = 0; u < spec.units.size(); ++u)
        cells.push_back(upscale(to_image(ar.images.select(0, (int64_t)u), sp.mean, sp.std), 3));
      r.trunks[i].units_png = save(c, "units_" + r.trunks[i].name + ".png", grid(cells, 8, 2));
    }
  }
  {
    Stage s(r, "jigsaw and context on the nature photos; patch neighbours; a deep dream", 9, N, c.progress);
    DataOptions op;
    op.image_size = c.photo_size;
    Dataset photos = load_dataset("images:" + c.photos_dir, op);
    std::shared_ptr<nn::Module> context_photos, jigsaw_photos;
    for (const char* task : {"jigsaw", "context"}) {
      TrainConfig t = trunk_config(c, task, std::string(task) + "_photos");
      t.data = "images:" + c.photos_dir;
      t.image_size = c.photo_size;
      t.epochs = c.photo_epochs;
      t.samples_per_epoch = c.photo_samples;
      t.batch_size = 32;
      t.color_defense = "project";
      const TrainResult pr = run_train(t, data_of(photos, photos.train_images, Tensor()));
      r.photo_trunks.push_back(trunk_of(std::string(task) + " (photos)", pr));
      (task[0] == 'c' ? context_photos : jigsaw_photos) = pr.model;
    }
    // Patch retrieval in the context tower's conv5 space: random patches of the photos, at the
    // size the tower was trained on; each query's neighbours exclude the query itself.
    const int64_t patch = context_config_for(c.photo_size).patch, per = 48;
    const int64_t n = photos.train_images.size(0);
    const PatchQueries pq = random_patch_queries(photos.train_images, per, patch, 6, c.seed);
    const std::vector<int64_t>& pick = pq.picked;
    const Tensor &base = pq.base, &queries = pq.queries;
    const ProbePoint point = find_probe_point(*context_photos, "conv5");
    Tensor fb = extract_features(*context_photos, {point}, base, 9216)[0];
    Tensor fq = extract_features(*context_photos, {point}, queries, 9216)[0];
    // Neighbours from other photos only: crops of the query's own photo would retrieve the photo.
    Neighbors nb = nearest_neighbors(fq, fb, std::min<int64_t>(n * per, 7 + per), pick);
    std::vector<std::vector<int64_t>> others(pick.size());
    for (size_t q = 0; q < pick.size(); ++q)
      for (int64_t j : nb.index[q])
        if (j / per != pick[q] / per && others[q].size() < 7) others[q].push_back(j);
    r.photo_neighbors_png = save(c, "photo_patch_neighbors.png",
                                 neighbor_grid(queries, base, others, photos.mean, photos.std,
                                               std::max<int64_t>(1, 64 / patch)));

    // A deep dream of one photo (its longer side 224 px) at the jigsaw tower's conv3. Not the context
    // tower's: it was trained on green-magenta-projected patches, so it never learned what happens
    // along that colour axis and its dream amplifies untrained weights there (magenta-green noise).
    std::string first = (fs::path(c.photos_dir) / c.dream_photo).string();
    if (!fs::exists(first)) {
      first.clear();
      for (const auto& e : fs::recursive_directory_iterator(c.photos_dir))
        if (e.is_regular_file() && (first.empty() || e.path().string() < first)) {
          std::string ext = e.path().extension().string();
          if (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".JPG") first = e.path().string();
        }
    }
    PW_CHECK(!first.empty(), "study: no photo found in ", c.photos_dir);
    viz::InputSpace sp = space_of(photos, 1);
    io::Image photo;
    const Tensor x = viz::load_photo(first, 224, sp, &photo);
    viz::DreamOptions dopt;
    dopt.seed = c.seed;
    viz::DreamResult dr = viz::deep_dream(*jigsaw_photos, sp, "conv3", x, dopt);
    r.dream_octave_start = dr.octave_start;
    r.dream_octave_end = dr.octave_end;
    r.dream_png = save(c, "dream.png", grid({photo, to_image(dr.image, photos.mean, photos.std)}, 2, 4));
  }
  r.seconds = since(t0);
  return r;
}

}  // namespace pw::tasks
