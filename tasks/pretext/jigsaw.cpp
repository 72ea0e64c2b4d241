// Jigsaw permutation sets and the tile sampler: see jigsaw.h.
#include "tasks/pretext/jigsaw.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <sstream>

#include "engine/util/error.h"
#include "engine/util/files.h"

namespace pw::tasks {

int hamming(const Permutation& a, const Permutation& b) {
  int d = 0;
  for (int i = 0; i < 9; ++i) d += a[i] != b[i];
  return d;
}

std::vector<Permutation> make_permutation_set(int64_t n, uint64_t seed, PermutationCriterion criterion) {
  PW_CHECK(n >= 1 && n <= 362880, "jigsaw: a permutation set has 1 to 9! = 362880 members, asked for ", n);
  std::vector<Permutation> all;
  all.reserve(362880);
  Permutation p;
  std::iota(p.begin(), p.end(), 0);
  do all.push_back(p);
  while (std::next_permutation(p.begin(), p.end()));
  Generator gen(seed, /*stream=*/0x6a16);
  std::vector<int> sum(all.size(), 0), minimum(all.size(), 10);
  std::vector<bool> taken(all.size(), false);
  std::vector<Permutation> set;
  size_t pick = (size_t)gen.randint(0, (int64_t)all.size());
  std::vector<size_t> ties;
  while (true) {
    set.push_back(all[pick]);
    taken[pick] = true;
    if ((int64_t)set.size() == n) break;
    for (size_t j = 0; j < all.size(); ++j) {
      const int d = hamming(all[j], all[pick]);
      sum[j] += d;
      minimum[j] = std::min(minimum[j], d);
    }
    // Best candidate under the criterion; ties collected and one drawn at random.
    ties.clear();
    int best_primary = -1, best_secondary = -1;
    for (size_t j = 0; j < all.size(); ++j) {
      if (taken[j]) continue;
      const int primary = criterion == PermutationCriterion::max_average ? sum[j] : minimum[j];
      const int secondary = criterion == PermutationCriterion::max_average ? 0 : sum[j];
      if (primary > best_primary || (primary == best_primary && secondary > best_secondary)) {
        best_primary = primary;
        best_secondary = secondary;
        ties.clear();
      }
      if (primary == best_primary && secondary == best_secondary) ties.push_back(j);
    }
    pick = ties[(size_t)gen.randint(0, (int64_t)ties.size())];
  }
  return set;
}

HammingStats hamming_stats(const std::vector<Permutation>& set) {
  HammingStats s;
  if (set.size() < 2) return s;
  int64_t total = 0, pairs = 0;
  s.minimum = 9;
  for (size_t i = 0; i < set.size(); ++i)
    for (size_t j = i + 1; j < set.size(); ++j) {
      const int d = hamming(set[i], set[j]);
      total += d;
      ++pairs;
      s.minimum = std::min(s.minimum, d);
    }
  s.mean = (double)total / pairs;
  return s;
}

void save_permutations(const std::string& path, const std::vector<Permutation>& set) {
  std::ostringstream os;
  HammingStats st = hamming_stats(set);
  os << "# patchwork jigsaw permutations, 0-based: slot i holds cell perm[i]; " << set.size()
     << " permutations, mean Hamming distance " << st.mean << ", minimum " << st.minimum << "\n";
  for (const Permutation& p : set) {
    for (int i = 0; i < 9; ++i) os << (i ? " " : "") << (int)p[i];
    os << "\n";
  }
  write_file_atomic(path, os.str());
}

std::vector<Permutation> load_permutations(const std::string& path) {
  std::ifstream in(path);
  PW_CHECK(in.good(), "jigsaw: cannot open permutation file '", path, "'");
  std::vector<std::array<int, 9>> rows;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::array<int, 9> r{};
    for (int i = 0; i < 9; ++i)
      PW_CHECK(ls >> r[i], "jigsaw: ", path, " line ", line_no, ": expected 9 numbers, got '", line, "'");
    std::string extra;
    PW_CHECK(!(ls >> extra), "jigsaw: ", path, " line ", line_no, ": more than 9 numbers");
    rows.push_back(r);
  }
  PW_CHECK(!rows.empty(), "jigsaw: ", path, " holds no permutations");
  // 1-based (the released files) when no row contains 0.
  bool one_based = true;
  for (auto& r : rows)
    for (int v : r) one_based &= v != 0;
  std::vector<Permutation> set;
  for (size_t k = 0; k < rows.size(); ++k) {
    Permutation p;
    bool seen[9] = {};
    for (int i = 0; i < 9; ++i) {
      const int v = rows[k][i] - (one_based ? 1 : 0);
      PW_CHECK(v >= 0 && v < 9 && !seen[v], "jigsaw: ", path, " permutation ", k + 1, " is not a permutation of ",
               one_based ? "1..9" : "0..8");
      seen[v] = true;
      p[i] = (uint8_t)v;
    }
    set.push_back(p);
  }
  return set;
}

JigsawConfig jigsaw_config_for(int64_t size) {
  JigsawConfig c;
  if (size >= 255) return c;
  const int64_t cell = std::max<int64_t>(2, size / 3);
  c.grid = 3 * cell;
  c.tile = std::max<int64_t>(1, cell * 64 / 85);
  c.channel_jitter = std::min<int64_t>(2, (cell - c.tile) / 4);
  return c;
}

JigsawPlacement sample_jigsaw(const ImageView& img, Generator& gen, const JigsawConfig& c,
                              const std::vector<Permutation>& perms, float* out) {
  PW_CHECK(!perms.empty(), "jigsaw: no permutations");
  PW_CHECK(c.grid % 3 == 0 && c.tile >= 1 && c.tile <= c.grid / 3, "jigsaw: grid ", c.grid,
           " must be a multiple of 3 and tile ", c.tile, " at most a cell (", c.grid / 3, ")");
  PW_CHECK(img.height >= c.grid && img.width >= c.grid, "jigsaw: a ", img.height, "x", img.width,
           " image is smaller than the ", c.grid, "x", c.grid, " grid");
  const int64_t cell = c.grid / 3, slack = cell - c.tile, tp = c.tile * c.tile, per_tile = img.channels * tp;
  JigsawPlacement pl;
  pl.grid_top = gen.randint(0, img.height - c.grid + 1);
  pl.grid_left = gen.randint(0, img.width - c.grid + 1);
  pl.label = (int)gen.randint(0, (int64_t)perms.size());
  pl.gray = img.channels == 3 && gen.uniform() < c.grayscale;
  for (int cellk = 0; cellk < 9; ++cellk) {
    pl.tile_top[cellk] = pl.grid_top + (cellk / 3) * cell + gen.randint(0, slack + 1);
    pl.tile_left[cellk] = pl.grid_left + (cellk % 3) * cell + gen.randint(0, slack + 1);
  }
  const Permutation& perm = perms[pl.label];
  for (int slot = 0; slot < 9; ++slot) {
    const int k = perm[slot];
    float* t = out + slot * per_tile;
    for (int64_t ch = 0; ch < img.channels; ++ch) {
      // Each channel of a colour tile shifts by its own small offset (clamped to the image),
      // so that chromatic aberration cannot locate the tile.
      int64_t top = pl.tile_top[k], left = pl.tile_left[k];
      if (img.channels == 3 && c.channel_jitter > 0) {
        top = std::clamp<int64_t>(top + gen.randint(-c.channel_jitter, c.channel_jitter + 1), 0, img.height - c.tile);
        left = std::clamp<int64_t>(left + gen.randint(-c.channel_jitter, c.channel_jitter + 1), 0, img.width - c.tile);
      }
      ImageView one{img.data + ch * img.height * img.width, 1, img.height, img.width};
      copy_window(one, top, left, c.tile, c.tile, t + ch * tp);
    }
    if (pl.gray) {
      for (int64_t i = 0; i < tp; ++i) {
        const float y = 0.299f * t[i] + 0.587f * t[tp + i] + 0.114f * t[2 * tp + i];
        t[i] = t[tp + i] = t[2 * tp + i] = y;
      }
    }
    if (c.normalize) normalize_patch(t, img.channels, tp);
  }
  return pl;
}

}  // namespace pw::tasks
