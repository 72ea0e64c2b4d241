// Nearest neighbours in a layer's feature space, by cosine similarity (RECIPES: evaluation):
// features are L2-normalized and compared by dot product, so retrieval shows what a layer
// considers alike, independent of activation magnitude.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace pw::tasks {

struct Neighbors {
  std::vector<std::vector<int64_t>> index;       // per query: the k most similar rows of the base
  std::vector<std::vector<double>> similarity;   // their cosine similarities, descending
};

// queries [Q, D], base [N, D] (f32, cpu). exclude[q] >= 0 removes that base row from query q's
// results (a query that is itself in the base).
Neighbors nearest_neighbors(const Tensor& queries, const Tensor& base, int64_t k, const std::vector<int64_t>& exclude = {});

}  // namespace pw::tasks
