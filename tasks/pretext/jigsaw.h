// Jigsaw puzzles (Noroozi and Favaro 2016): a 3x3 grid of cells over the image, one smaller
// tile at a random offset in each cell, the tiles shuffled by one permutation of a fixed set;
// the label is the permutation's index. Input slot i holds the tile from cell perm[i].
//
// Permutation sets follow the paper's Algorithm 1: start from one random permutation of 9 and
// repeatedly add, from all 9! permutations not yet chosen, the one whose average Hamming
// distance to the chosen set is largest (ties broken at random). The max-min variant maximizes
// the minimum distance instead (ties by the average, then at random). Deterministic from the seed.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "engine/util/rng.h"
#include "tasks/pretext/image_view.h"

namespace pw::tasks {

using Permutation = std::array<uint8_t, 9>;

enum class PermutationCriterion { max_average, max_min };

std::vector<Permutation> make_permutation_set(int64_t n, uint64_t seed,
                                              PermutationCriterion criterion = PermutationCriterion::max_average);

struct HammingStats {
  double mean = 0;  // over all pairs
  int minimum = 0;
};
HammingStats hamming_stats(const std::vector<Permutation>& set);
int hamming(const Permutation& a, const Permutation& b);

// Text file: a comment line, then one permutation per line, 9 numbers separated by spaces,
// 0-based. Reading also accepts the released 1-based files (every line a permutation of 1..9).
// Errors name the file and line.
void save_permutations(const std::string& path, const std::vector<Permutation>& set);
std::vector<Permutation> load_permutations(const std::string& path);

struct JigsawConfig {
  int64_t grid = 255;          // the centre square cut into 3x3 cells (85 px each)
  int64_t tile = 64;           // one tile per cell, at a random offset in 0 .. cell - tile
  double grayscale = 0.3;      // fraction of images made gray (paper 30%; a later release 50%)
  int64_t channel_jitter = 2;  // each color channel moves by up to this many px (paper 0-2)
  bool normalize = true;       // per-tile mean/std normalization
};

// The paper's constants scaled to a shorter side of `image_size` (grid = the largest multiple
// of 3 that fits, tile = 64/85 of a cell, jitter scaled); the paper's for >= 255 px.
JigsawConfig jigsaw_config_for(int64_t image_size);

struct JigsawPlacement {
  int64_t grid_top = 0, grid_left = 0;
  std::array<int64_t, 9> tile_top{}, tile_left{};  // per cell (not per slot), in image coordinates
  int label = 0;
  bool gray = false;
};

// Draws a permutation index, offsets and colour changes; writes 9 tiles (C x tile x tile each,
// slot order) to out. The grid lies at a random position in the image (the paper crops 255 of
// 256, so nearly centred; on larger photos it wanders).
JigsawPlacement sample_jigsaw(const ImageView& img, Generator& gen, const JigsawConfig& c,
                              const std::vector<Permutation>& perms, float* out);

}  // namespace pw::tasks
