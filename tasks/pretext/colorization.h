// Colorization as a pretext task (Zhang, Isola, Efros, "Colorful Image Colorization", ECCV 2016):
// the arithmetic. sRGB <-> CIE Lab (D65), the quantized ab output space, soft encoding of a
// colour over its nearest bins, class rebalancing weights from the empirical colour distribution,
// and annealed-mean decoding of a predicted distribution back to one ab colour.
//
// The bins. The ab plane is cut into squares of side 10 centred on multiples of 10; a square is
// a bin when some sRGB colour's ab falls in it. ab_bins() computes the set, it does not copy
// theirs: ab of the colours on the surface of the RGB cube (the gamut's projection onto the ab
// plane is the projection of its boundary), sampled at 1/511 steps on every face. Bins are
// ordered by a, then b, as in their pts_in_hull.
//
// The count is 262, not the paper's 313 ("we keep the Q = 313 values which are in-gamut"). Both
// sets span the same extremes (a from -90 to 100, b from -110 to 90: the bins of green, magenta,
// blue and yellow), but no sRGB colour, at any lightness, reaches the other 51 squares inside that
// box: their set is larger than the sRGB gamut's projection (their file's name, pts_in_hull,
// suggests the points inside a hull of it; the paper does not say). Q here is what this
// computation gives, and everything downstream (the network's head, the weights) follows it.
#pragma once
#include <cstdint>
#include <vector>

namespace pw::tasks {

// ---- constants of Zhang, Isola, Efros 2016 (RECIPES.md, Colorization) ----
constexpr double kAbGridStep = 10;        // "quantize the ab output space into bins with grid size 10"
constexpr int64_t kSoftNeighbours = 5;    // soft encoding over the 5 nearest neighbours
constexpr double kSoftSigma = 5;          // ... weighted by a Gaussian kernel with sigma = 5
constexpr double kPriorSigma = 5;         // the empirical distribution smoothed with sigma = 5
constexpr double kRebalanceLambda = 0.5;  // mixed with the uniform distribution, lambda = 1/2
constexpr double kAnnealedMeanT = 0.38;   // annealed-mean temperature T = 0.38
constexpr double kLabLCenter = 50;        // their network's input is L - 50 (released code)
constexpr double kLabLScale = 25;         // ours: divided by 25 too, roughly unit spread like other inputs

// ---- colour spaces: sRGB in [0, 1] with its gamma, D65 white, CIE 1976 L*a*b* ----
struct Lab {
  double L = 0, a = 0, b = 0;
};
struct Rgb3 {
  double r = 0, g = 0, b = 0;
};
Lab srgb_to_lab(const Rgb3& rgb);
Rgb3 lab_to_srgb(const Lab& lab);  // not clamped: out-of-gamut colours leave [0, 1]

// Planes of one image, CHW: rgb (3 x n floats in [0, 1]) -> L (n) and ab (2 x n), and back
// (rgb clamped to [0, 1]).
void rgb_to_lab_planes(const float* rgb, int64_t n, float* L, float* ab);
void lab_planes_to_rgb(const float* L, const float* ab, int64_t n, float* rgb);

// ---- the bins ----
struct AbBins {
  std::vector<double> a, b;  // centres, ordered by a then b
  int64_t size() const { return (int64_t)a.size(); }
};
// The in-gamut bins of grid kAbGridStep, computed once per process.
const AbBins& ab_bins();
// The same computation with other sampling or grid (exposed for tests).
AbBins compute_ab_bins(double step, int64_t samples_per_edge);

// Index of the bin whose centre is nearest to (a, b).
int64_t nearest_bin(const AbBins& bins, double a, double b);

// Soft encoding of (a, b): `neighbours` nearest bins weighted by exp(-d^2 / (2 sigma^2)),
// normalized to sum 1, written into out (bins.size() values, the others 0). Returns the nearest
// bin (the mode).
int64_t soft_encode(const AbBins& bins, double a, double b, float* out, int64_t neighbours = kSoftNeighbours,
                    double sigma = kSoftSigma);

// ---- class rebalancing ----
// The empirical distribution of nearest bins over ab pixel pairs (ab: 2 x n planes), added into
// counts (bins.size() values).
void count_bins(const AbBins& bins, const float* ab, int64_t n, std::vector<double>& counts);
// Counts (or probabilities) smoothed over the bins by a Gaussian of sigma in ab units: each bin's
// mass is spread over all bins in proportion to exp(-d^2 / (2 sigma^2)), so the result sums to 1.
std::vector<double> smooth_distribution(const AbBins& bins, const std::vector<double>& counts,
                                        double sigma = kPriorSigma);
// w_q proportional to 1 / ((1 - lambda) p_q + lambda / Q), scaled so that sum_q p_q w_q = 1.
std::vector<double> rebalancing_weights(const std::vector<double>& smoothed, double lambda = kRebalanceLambda);

// ---- decoding ----
// The annealed mean of one location's distribution, given its logits (one per bin, `stride`
// apart): softmax(logits / T) averaged over the bin centres. T = 1 is the mean of the predicted
// distribution, T -> 0 its mode.
void annealed_mean(const AbBins& bins, const float* logits, int64_t stride, double temperature, double& a, double& b);

}  // namespace pw::tasks
