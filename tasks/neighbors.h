// Nearest neighbours in a layer's feature space, by cosine similarity (RECIPES: evaluation):
// features are L2-normalized and compared by dot product, so retrieval shows what a layer
// considers alike, independent of activation magnitude.
#pragma once
#include <vector>

#include "engine/io/image.h"
#include "engine/tensor.h"
#include "engine/util/rng.h"
#include "tasks/datasets.h"
#include "tasks/load_model.h"
#include "tasks/run_record.h"

namespace pw::tasks {

struct Neighbors {
  std::vector<std::vector<int64_t>> index;      // per query: the k most similar rows of the base
  std::vector<std::vector<double>> similarity;  // their cosine similarities, descending
};

// queries [Q, D], base [N, D] (f32, cpu). exclude[q] >= 0 removes that base row from query q's
// results (a query that is itself in the base).
Neighbors nearest_neighbors(const Tensor& queries, const Tensor& base, int64_t k,
                            const std::vector<int64_t>& exclude = {});

// `per` random size x size patches of each image [N, C, H, W] (f32 cpu), image by image: patch i
// comes from image i / per.
Tensor random_patches(const Tensor& images, int64_t per, int64_t size, Generator& gen);

// Patch retrieval's base and queries: `per` random size x size patches of every image, and
// `count` of them (at most all), drawn without repetition from `seed`, as queries. `picked[q]` is
// query q's row in the base (exclude it from its own results; row / per is its image).
struct PatchQueries {
  Tensor base, queries;
  std::vector<int64_t> picked;
};
PatchQueries random_patch_queries(const Tensor& images, int64_t per, int64_t size, int64_t count, uint64_t seed);

// The retrieval picture: one row per query (blue frame), then the images of index[q] from `base`,
// framed green when their label matches the query's and red when not (no frame without labels),
// undone from normalization (mean, std) and scaled up by `scale`.
io::Image neighbor_grid(const Tensor& queries, const Tensor& base, const std::vector<std::vector<int64_t>>& index,
                        const std::vector<float>& mean, const std::vector<float>& std, int64_t scale,
                        const std::vector<int32_t>& query_labels = {}, const std::vector<int32_t>& base_labels = {});

// `patchwork neighbors`: queries (the first test images, or random patches) and their nearest
// training images (or patches) in a layer's feature space, written as neighbors.png and
// neighbors.json.
struct NeighborsConfig {
  ModelSource source;
  DataRequest data = other_data_allowed();  // absent flags: the checkpoint's data; other data allowed
  std::string layer = "conv5";
  int64_t queries = 8, k = 8;
  int64_t patch = 0;               // patch size; 0: whole images
  int64_t patches_per_image = 64;  // with patch > 0
  int64_t max_dims = 9216;         // features are pooled to at most this many values
  int64_t scale = 0;               // picture magnification; 0: automatic
  uint64_t seed = 0;               // patch positions
  std::string out_dir = "runs/neighbors";
  Device device = Device::cpu();
};

struct NeighborsResult {
  std::string model, layer;
  std::string data;  // the spec read
  Neighbors neighbors;
  double label_agreement = -1;  // share of neighbours with the query's label; -1 without labels
  std::string picture, json;
};

NeighborsResult run_neighbors(const NeighborsConfig& config);

}  // namespace pw::tasks
