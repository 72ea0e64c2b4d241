// t-SNE (van der Maaten and Hinton 2008) and its Barnes-Hut approximation (van der Maaten 2014),
// as in the reference implementation (bhtsne): input affinities from a binary search for each
// point's Gaussian bandwidth to a given perplexity, symmetrized; exact gradients for small N and
// Barnes-Hut (a quadtree, theta) for thousands of points over the 3 * perplexity nearest
// neighbours; early exaggeration; momentum with per-coordinate gains. Maps are 2-D. And the
// measures of a map: the KL divergence it reaches, its trustworthiness (Venna and Kaski 2001) and
// the share of each point's nearest map neighbours that share its class.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace pw::tasks {

// Joint input affinities P as a symmetric sparse matrix (rows sorted by column), summing to 1.
struct Affinities {
  int64_t n = 0;
  std::vector<int64_t> row_start;  // n + 1 offsets into col / val
  std::vector<int64_t> col;
  std::vector<double> val;
};

// Squared Euclidean distances between the rows of x [N, D] (f32 cpu), all pairs, row-major N x N.
std::vector<double> squared_distances(const Tensor& x);

// The k nearest rows of each row of x [N, D] (itself excluded), nearest first, with their squared
// distances (computed in blocks by matrix products, then exactly in double for the k kept).
struct NearestRows {
  int64_t k = 0;
  std::vector<int64_t> index;     // N * k
  std::vector<double> distance2;  // N * k
};
NearestRows nearest_rows(const Tensor& x, int64_t k);

// p_{j|i} ~ exp(-beta_i d_ij) over the given candidates of each point (d: squared distances,
// row i holds `per_row` values), beta_i by bisection so that the row's perplexity 2^H is
// `perplexity` (to 1e-5 in H, at most 200 steps, as bhtsne). Returns the conditional rows.
std::vector<double> conditional_affinities(const std::vector<double>& distance2, int64_t n, int64_t per_row,
                                           double perplexity);

// P = (P_{j|i} + P_{i|j}) / 2N: from all pairs (exact) or from the 3 * perplexity nearest rows.
Affinities exact_affinities(const Tensor& x, double perplexity);
Affinities sparse_affinities(const Tensor& x, double perplexity);

// The KL divergence sum p_ij log(p_ij / q_ij) of a map y (N * 2, point i at y[2i], y[2i + 1]),
// with q from every pair (Student-t kernel, one degree of freedom).
double kl_divergence(const Affinities& p, const std::vector<double>& y);

// The gradient dKL/dy of the map (N * 2), with P multiplied by `exaggeration`: exactly over all
// pairs (theta = 0), or with the repulsion from a quadtree, cells taken whole when their
// half-width / distance < theta.
std::vector<double> tsne_gradient(const Affinities& p, const std::vector<double>& y, double theta,
                                  double exaggeration = 1);

struct TsneOptions {
  double perplexity = 30;
  double theta = 0.5;           // Barnes-Hut accuracy; 0 with method exact
  std::string method = "auto";  // exact, barnes-hut, or auto: exact up to exact_up_to points
  int64_t exact_up_to = 1000;
  int64_t iterations = 1000;              // bhtsne's max_iter
  double exaggeration = 12;               // early exaggeration of P ...
  int64_t exaggeration_iterations = 250;  // ... for the first 250 iterations (stop_lying_iter)
  double momentum = 0.5, final_momentum = 0.8;
  int64_t momentum_switch = 250;  // mom_switch_iter
  // The step on the exact gradient (which has the factor 4 that bhtsne's omits); <= 0: "auto",
  // max(N / exaggeration / 4, 50) (scikit-learn's; Belkina et al. 2019's N / 12 in bhtsne's units).
  double learning_rate = 0;
  int64_t kl_every = 50;  // record the KL divergence every this many iterations (0: only at the end)
  uint64_t seed = 0;      // the start: N(0, 1e-4^2) per coordinate
};

struct TsneResult {
  std::vector<double> y;  // N * 2
  bool exact = true;
  double learning_rate = 0, kl = 0;                  // the final KL (with the P the map was fitted to)
  std::vector<std::pair<int64_t, double>> kl_curve;  // (iteration, KL) every kl_every iterations
};

// The map of the rows of x [N, D] (f32 cpu); N >= 2 and perplexity < N.
TsneResult tsne(const Tensor& x, const TsneOptions& options);
// The optimization alone, on given affinities.
TsneResult tsne_optimize(const Affinities& p, bool exact, double theta, const TsneOptions& options);

// Trustworthiness T(k) = 1 - 2 / (n k (2n - 3k - 1)) * sum_i sum_{j in U_i} (r(i, j) - k): U_i are
// the k nearest map neighbours of i that are not among its k nearest input neighbours and r(i, j)
// is j's rank among i's input neighbours (1: the nearest; ties broken by index). 1: no intrusions.
// Needs k < n / 2.
double trustworthiness(const Tensor& x, const std::vector<double>& y, int64_t k);

// The mean over points of the share of their k nearest map neighbours with the same label.
double neighbor_agreement(const std::vector<double>& y, const std::vector<int32_t>& labels, int64_t k);

}  // namespace pw::tasks
