// Nearest neighbours in a layer's feature space, by cosine similarity (RECIPES: evaluation):
// features are L2-normalized and compared by dot product, so retrieval shows what a layer
// considers alike, independent of activation magnitude.
#pragma once
#include <vector>

#include "engine/io/image.h"
#include "engine/tensor.h"
#include "engine/util/rng.h"

namespace pw::tasks {

struct Neighbors {
  std::vector<std::vector<int64_t>> index;       // per query: the k most similar rows of the base
  std::vector<std::vector<double>> similarity;   // their cosine similarities, descending
};

// queries [Q, D], base [N, D] (f32, cpu). exclude[q] >= 0 removes that base row from query q's
// results (a query that is itself in the base).
Neighbors nearest_neighbors(const Tensor& queries, const Tensor& base, int64_t k, const std::vector<int64_t>& exclude = {});

// `per` random size x size patches of each image [N, C, H, W] (f32 cpu), image by image: patch i
// comes from image i / per.
Tensor random_patches(const Tensor& images, int64_t per, int64_t size, Generator& gen);

// The retrieval picture: one row per query (blue frame), then the images of index[q] from `base`,
// framed green when their label matches the query's and red when not (no frame without labels),
// undone from normalization (mean, std) and scaled up by `scale`.
io::Image neighbor_grid(const Tensor& queries, const Tensor& base, const std::vector<std::vector<int64_t>>& index,
                        const std::vector<float>& mean, const std::vector<float>& std, int64_t scale,
                        const std::vector<int32_t>& query_labels = {}, const std::vector<int32_t>& base_labels = {});

}  // namespace pw::tasks
