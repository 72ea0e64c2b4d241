// The study's measurements and pictures (study_stages.h): linear probes, nearest neighbours,
// conv1 filters, class models, saliency and unit visualizations of the Fashion-MNIST trunks;
// patch retrieval and a deep dream of the photo trunks. Every one is a library call that the
// command line uses too (linear_probe, nearest_neighbors, viz::*).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "engine/io/image.h"
#include "engine/ops.h"
#include "engine/util/error.h"
#include "tasks/features.h"
#include "tasks/neighbors.h"
#include "tasks/pictures.h"
#include "tasks/pretext/context.h"
#include "tasks/probe.h"
#include "tasks/study_stages.h"
#include "tasks/viz/ascent.h"
#include "tasks/viz/filters.h"
#include "tasks/viz/saliency.h"

namespace pw::tasks::study {

namespace fs = std::filesystem;

namespace {

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
  const size_t rows = std::min<size_t>(6, nb.index.size());
  const std::vector<std::vector<int64_t>> shown(nb.index.begin(), nb.index.begin() + rows);
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

// Class models of the ten classes (Simonyan et al. 2014), from the mean image.
viz::AscentResult class_models(const StudyConfig& c, const viz::InputSpace& sp, nn::Module& supervised) {
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
  return viz::class_model(supervised, sp, classes, false, ao);
}

// Saliency of the first test image of each class: the image beside its map, a pair per class.
io::Image saliency_picture(const FashionSplits& f, const viz::InputSpace& sp, nn::Module& supervised) {
  std::vector<int64_t> pick, cls;
  first_of_each_class(f, pick, cls);
  std::vector<Tensor> rows;
  for (int64_t i : pick) rows.push_back(f.test_x.select(0, i));
  viz::SaliencyResult sr = viz::saliency(supervised, stack(rows, 0), cls, {});
  std::vector<io::Image> cells;
  for (size_t i = 0; i < pick.size(); ++i) {
    io::Image img = to_image(f.test_x.select(0, pick[i]), sp.mean, sp.std);
    cells.push_back(upscale(img, 3));
    cells.push_back(upscale(viz::overlay(img, sr.maps[i]), 3));
  }
  return grid(cells, 4, 3);
}

// The photo of the deep dream: dream_photo in photos_dir, else the first image file there.
std::string dream_photo_path(const StudyConfig& c) {
  std::string first = (fs::path(c.photos_dir) / c.dream_photo).string();
  if (fs::exists(first)) return first;
  first.clear();
  for (const auto& e : fs::recursive_directory_iterator(c.photos_dir))
    if (e.is_regular_file() && (first.empty() || e.path().string() < first)) {
      std::string ext = e.path().extension().string();
      if (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".JPG") first = e.path().string();
    }
  PW_CHECK(!first.empty(), "study: no photo found in ", c.photos_dir);
  return first;
}

}  // namespace

std::string save_picture(const StudyConfig& c, const std::string& name, const io::Image& img) {
  io::write_png((fs::path(c.out_dir) / "pictures" / name).string(), img);
  return "pictures/" + name;
}

ProbeTable probe_every_layer(const StudyConfig& c, const FashionSplits& f, const std::vector<TrunkResult>& trunks,
                             const Models& models) {
  ProbeConfig pc;
  pc.epochs = c.probe_epochs;
  pc.seed = c.seed;
  pc.device = c.device;
  ProbeTable t;
  for (size_t i = 0; i < models.size(); ++i) {
    const auto points = probe_points(*models[i]);
    if (c.progress) std::fprintf(stderr, "  probing %s (%zu layers)\n", trunks[i].name.c_str(), points.size());
    t.probes.push_back(linear_probe(*models[i], points, f.probe_x, f.probe_y, f.test_x, f.test_y, 10, pc));
    for (const ProbeResult& p : t.probes.back()) {
      const std::string l = short_name(p.layer);
      if (std::find(t.layers.begin(), t.layers.end(), l) == t.layers.end()) t.layers.push_back(l);
    }
  }
  // conv1 ... conv5 first, then the fully connected layers, whatever order the trunks came in.
  std::stable_sort(t.layers.begin(), t.layers.end(), [](const std::string& a, const std::string& b) {
    return (a.rfind("conv", 0) == 0) > (b.rfind("conv", 0) == 0);
  });
  return t;
}

FilterSimilarity neighbors_and_filters(const StudyConfig& c, const FashionSplits& f, std::vector<TrunkResult>& trunks,
                                       const Models& models) {
  const int64_t nq = std::min<int64_t>(1000, f.test_x.size(0));
  const Tensor queries = f.test_x.slice(0, 0, nq).contiguous(), qy = f.test_y.slice(0, 0, nq).contiguous();
  const Tensor sup_w = viz::find_conv(*models[0], "conv1").weight;
  FilterSimilarity similarity;
  for (size_t i = 0; i < models.size(); ++i) {
    TrunkResult& t = trunks[i];
    io::Image img;
    t.neighbor_agreement = neighbor_picture(*models[i], f.probe_x, f.probe_y, queries, qy, f.data, 6, &img);
    t.neighbors_png = save_picture(c, "neighbors_" + t.name + ".png", img);
    viz::FilterOptions fo;
    fo.scale = 8;
    fo.cols = 4;
    const nn::Conv2d& conv1 = viz::find_conv(*models[i], "conv1");
    t.filters_png = save_picture(c, "filters_" + t.name + ".png", viz::filter_grid(conv1, fo));
    if (i > 0) similarity.push_back({t.name, filter_match(sup_w, conv1.weight)});
  }
  return similarity;
}

ClassPictures class_models_and_saliency(const StudyConfig& c, const FashionSplits& f, nn::Module& supervised) {
  const viz::InputSpace sp = space_of(f.data, 28);
  const viz::AscentResult ar = class_models(c, sp, supervised);
  ClassPictures p;
  p.class_start = ar.start;
  p.class_end = ar.end;
  std::vector<io::Image> cells;
  for (int64_t k = 0; k < 10; ++k) cells.push_back(upscale(to_image(ar.images.select(0, k), sp.mean, sp.std), 4));
  p.class_png = save_picture(c, "class_models.png", grid(cells, 5, 3));
  p.saliency_png = save_picture(c, "saliency.png", saliency_picture(f, sp, supervised));
  return p;
}

std::string unit_picture(const StudyConfig& c, const FashionSplits& f, const std::string& name, nn::Module& model) {
  const viz::InputSpace sp = space_of(f.data, 28);
  viz::AscentOptions ao = viz::yosinski_set(3);
  ao.iterations = c.viz_iterations;
  ao.step = 0.1;
  ao.seed = c.seed;  // no jitter: a shift moves a small receptive field off its pattern
  // The centre unit of each channel, as Yosinski et al. (a channel's mean gives flat images).
  viz::UnitSpec spec{"conv3", {0, 1, 2, 3, 4, 5, 6, 7}, true, -1, -1};
  viz::AscentResult ar = viz::maximize_units(model, sp, spec, ao);
  std::vector<io::Image> cells;
  for (size_t u = 0; u < spec.units.size(); ++u)
    cells.push_back(upscale(to_image(ar.images.select(0, (int64_t)u), sp.mean, sp.std), 3));
  return save_picture(c, "units_" + name + ".png", grid(cells, 8, 2));
}

std::string photo_patch_neighbors(const StudyConfig& c, const Dataset& photos, nn::Module& context_tower) {
  // Random patches of the photos, at the size the tower was trained on; each query's neighbours
  // exclude the query itself.
  const int64_t patch = context_config_for(c.photo_size).patch, per = 48;
  const int64_t n = photos.train_images.size(0);
  const PatchQueries pq = random_patch_queries(photos.train_images, per, patch, 6, c.seed);
  const std::vector<int64_t>& pick = pq.picked;
  const Tensor &base = pq.base, &queries = pq.queries;
  const ProbePoint point = find_probe_point(context_tower, "conv5");
  Tensor fb = extract_features(context_tower, {point}, base, 9216)[0];
  Tensor fq = extract_features(context_tower, {point}, queries, 9216)[0];
  // Neighbours from other photos only: crops of the query's own photo would retrieve the photo.
  Neighbors nb = nearest_neighbors(fq, fb, std::min<int64_t>(n * per, 7 + per), pick);
  std::vector<std::vector<int64_t>> others(pick.size());
  for (size_t q = 0; q < pick.size(); ++q)
    for (int64_t j : nb.index[q])
      if (j / per != pick[q] / per && others[q].size() < 7) others[q].push_back(j);
  return save_picture(c, "photo_patch_neighbors.png",
                      neighbor_grid(queries, base, others, photos.mean, photos.std, std::max<int64_t>(1, 64 / patch)));
}

DreamPicture photo_dream(const StudyConfig& c, const Dataset& photos, nn::Module& jigsaw_tower) {
  // One photo, its longer side 224 px, dreamed at the jigsaw tower's conv3. Not the context
  // tower's: it was trained on green-magenta-projected patches, so it never learned what happens
  // along that colour axis and its dream amplifies untrained weights there (magenta-green noise).
  viz::InputSpace sp = space_of(photos, 1);  // load_photo sets its size to the photo's
  io::Image photo;
  const Tensor x = viz::load_photo(dream_photo_path(c), 224, sp, &photo);
  viz::DreamOptions dopt;
  dopt.seed = c.seed;
  viz::DreamResult dr = viz::deep_dream(jigsaw_tower, sp, "conv3", x, dopt);
  DreamPicture p;
  p.octave_start = dr.octave_start;
  p.octave_end = dr.octave_end;
  p.png = save_picture(c, "dream.png", grid({photo, to_image(dr.image, photos.mean, photos.std)}, 2, 4));
  return p;
}

}  // namespace pw::tasks::study
