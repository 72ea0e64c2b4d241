// The pretext samplers: context labels against the geometry of all 8 positions, jigsaw tiles
// where the permutation says, permutation sets (distance, determinism, files), exact rotations.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>

#include "engine/util/error.h"
#include "tasks/pretext/context.h"
#include "tasks/pretext/jigsaw.h"
#include "tasks/pretext/rotation.h"

using namespace pw;
using namespace pw::tasks;

namespace {
// An image whose pixel (c, y, x) holds a value that encodes where it came from.
std::vector<float> coordinate_image(int64_t c, int64_t h, int64_t w) {
  std::vector<float> v(c * h * w);
  for (int64_t k = 0; k < c; ++k)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) v[(k * h + y) * w + x] = (float)(k * 1000000 + y * 1000 + x);
  return v;
}
int64_t y_of(float v) { return ((int64_t)v % 1000000) / 1000; }
int64_t x_of(float v) { return (int64_t)v % 1000; }
}  // namespace

TEST(ContextSampler, LabelsMatchTheGeometryForAllEightPositions) {
  ContextConfig c;
  c.patch = 12;
  c.gap = 6;
  c.jitter = 2;
  c.color = ColorDefense::none;
  c.normalize = false;
  const int64_t h = 70, w = 81;
  std::vector<float> img = coordinate_image(1, h, w);
  ImageView view{img.data(), 1, h, w};
  Generator gen(4);
  std::vector<float> out(2 * 12 * 12);
  std::set<int> seen;
  for (int trial = 0; trial < 400; ++trial) {
    ContextPlacement pl = sample_context(view, gen, c, out.data());
    seen.insert(pl.label);
    // Where the patches came from, read from their pixels.
    const int64_t y0 = y_of(out[0]), x0 = x_of(out[0]), y1 = y_of(out[144]), x1 = x_of(out[144]);
    ASSERT_EQ(y0, pl.top[0]);
    ASSERT_EQ(x1, pl.left[1]);
    const int64_t step = c.patch + c.gap;
    const int64_t dy = y1 - y0, dx = x1 - x0;
    // Undo the jitter: the offset is within `jitter` of a multiple of the step.
    const int gx = (int)std::lround((double)dx / step), gy = (int)std::lround((double)dy / step);
    ASSERT_LE(std::abs(dx - gx * step), c.jitter);
    ASSERT_LE(std::abs(dy - gy * step), c.jitter);
    ASSERT_EQ(context_label(gx, gy), pl.label) << "dx " << dx << " dy " << dy;
  }
  EXPECT_EQ(seen.size(), 8u);
  // The table, row by row with the centre skipped.
  EXPECT_EQ(context_label(-1, -1), 0);
  EXPECT_EQ(context_label(1, -1), 2);
  EXPECT_EQ(context_label(-1, 0), 3);
  EXPECT_EQ(context_label(1, 0), 4);
  EXPECT_EQ(context_label(1, 1), 7);
  EXPECT_EQ(context_label(0, 0), -1);
}

TEST(ContextSampler, ColorDefensesAndNormalization) {
  const std::array<float, 9> b = green_magenta_projection();
  const float want[9] = {5.f / 6, 1.f / 3, -1.f / 6, 1.f / 3, 1.f / 3, 1.f / 3, -1.f / 6, 1.f / 3, 5.f / 6};
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(b[i], want[i], 1e-6);
  // The projection removes the green-magenta component: a = [-1, 2, -1] maps to zero.
  EXPECT_NEAR(b[0] * -1 + b[1] * 2 + b[2] * -1, 0, 1e-6);

  const int64_t s = 60;
  Generator pix(3);
  std::vector<float> img(3 * s * s);
  pix.fill_uniform(img.data(), (int64_t)img.size(), 0.f, 1.f);
  ContextConfig c = context_config_for(s);
  EXPECT_LE(context_min_size(c), s);
  std::vector<float> out(2 * 3 * c.patch * c.patch);
  Generator gen(1);
  c.color = ColorDefense::drop;
  c.normalize = true;
  sample_context({img.data(), 3, s, s}, gen, c, out.data());
  double mean = 0, sq = 0;
  const int64_t n = 3 * c.patch * c.patch;
  for (int64_t i = 0; i < n; ++i) mean += out[i], sq += out[i] * out[i];
  EXPECT_NEAR(mean / n, 0, 1e-4);
  EXPECT_NEAR(std::sqrt(sq / n), 1, 1e-3);
  c.pixelate = 1;
  sample_context({img.data(), 3, s, s}, gen, c, out.data());  // runs at every size
  EXPECT_THROW(sample_context({img.data(), 3, 20, 20}, gen, context_config_for(400), out.data()), Error);
  EXPECT_THROW(parse_color_defense("purple"), Error);
}

TEST(JigsawPermutations, MaximalHammingSetIsFarApartAndDeterministic) {
  std::vector<Permutation> a = make_permutation_set(100, 7), b = make_permutation_set(100, 7);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, make_permutation_set(100, 8));
  HammingStats st = hamming_stats(a);
  EXPECT_GT(st.mean, 8.0);  // the released sets average about 8.0
  EXPECT_GE(st.minimum, 2);
  std::set<Permutation> unique(a.begin(), a.end());
  EXPECT_EQ(unique.size(), 100u);
  for (const Permutation& p : a) {
    std::set<int> cells(p.begin(), p.end());
    EXPECT_EQ(cells.size(), 9u);
  }
  // The max-min variant trades a little average distance for a larger minimum.
  HammingStats mm = hamming_stats(make_permutation_set(100, 7, PermutationCriterion::max_min));
  std::printf("100 permutations, seed 7: max-average mean %.3f min %d; max-min mean %.3f min %d\n", st.mean, st.minimum,
              mm.mean, mm.minimum);
  EXPECT_GE(mm.minimum, st.minimum);
  EXPECT_GE(mm.minimum, 6);
  EXPECT_THROW(make_permutation_set(0, 1), Error);
}

TEST(JigsawPermutations, FilesRoundTripAndReleasedOneBasedFilesLoad) {
  std::vector<Permutation> a = make_permutation_set(20, 3);
  const std::string path = ::testing::TempDir() + "pw_perms.txt";
  save_permutations(path, a);
  EXPECT_EQ(load_permutations(path), a);
  {
    std::ofstream f(path);
    f << "9 8 7 6 5 4 3 2 1\n1 2 3 4 5 6 7 8 9\n";
  }
  std::vector<Permutation> r = load_permutations(path);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0][0], 8);
  EXPECT_EQ(r[1][8], 8);
  {
    std::ofstream f(path);
    f << "0 1 2 3 4 5 6 7 7\n";
  }
  try {
    load_permutations(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("permutation 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_permutations("/nonexistent/perms.txt"), Error);
}

TEST(JigsawSampler, TilesLandWhereThePermutationSays) {
  JigsawConfig c;
  c.grid = 45;
  c.tile = 11;
  c.grayscale = 0;
  c.channel_jitter = 0;
  c.normalize = false;
  const int64_t h = 50, w = 53;
  std::vector<float> img = coordinate_image(1, h, w);
  std::vector<Permutation> perms = make_permutation_set(30, 2);
  Generator gen(6);
  std::vector<float> out(9 * 11 * 11);
  std::set<int> labels;
  for (int trial = 0; trial < 100; ++trial) {
    JigsawPlacement pl = sample_jigsaw({img.data(), 1, h, w}, gen, c, perms, out.data());
    labels.insert(pl.label);
    const Permutation& p = perms[pl.label];
    for (int slot = 0; slot < 9; ++slot) {
      const float* t = out.data() + slot * 121;
      const int64_t top = y_of(t[0]), left = x_of(t[0]);
      // The tile in slot i lies inside cell p[i] of the grid.
      const int64_t cell = 15, cy = (top - pl.grid_top) / cell, cx = (left - pl.grid_left) / cell;
      ASSERT_EQ(cy * 3 + cx, p[slot]) << "slot " << slot;
      ASSERT_LE(top + 11, pl.grid_top + (cy + 1) * cell);
      ASSERT_LE(left + 11, pl.grid_left + (cx + 1) * cell);
      ASSERT_EQ(top, pl.tile_top[p[slot]]);
      // The whole tile is one contiguous window.
      ASSERT_EQ(y_of(t[120]), top + 10);
      ASSERT_EQ(x_of(t[120]), left + 10);
    }
  }
  EXPECT_GT(labels.size(), 20u);
}

TEST(JigsawSampler, GrayscaleJitterAndNormalization) {
  const int64_t s = 40;
  Generator pix(9);
  std::vector<float> img(3 * s * s);
  pix.fill_uniform(img.data(), (int64_t)img.size(), 0.f, 1.f);
  JigsawConfig c = jigsaw_config_for(s);
  EXPECT_EQ(c.grid % 3, 0);
  EXPECT_LE(c.grid, s);
  c.grayscale = 1;
  std::vector<Permutation> perms = make_permutation_set(10, 1);
  std::vector<float> out(9 * 3 * c.tile * c.tile);
  Generator gen(2);
  JigsawPlacement pl = sample_jigsaw({img.data(), 3, s, s}, gen, c, perms, out.data());
  EXPECT_TRUE(pl.gray);
  const int64_t tp = c.tile * c.tile;
  for (int64_t i = 0; i < tp; ++i) ASSERT_NEAR(out[i], out[tp + i], 1e-5);  // gray: channels equal
  double mean = 0;
  for (int64_t i = 0; i < 3 * tp; ++i) mean += out[i];
  EXPECT_NEAR(mean / (3 * tp), 0, 1e-4);
  EXPECT_THROW(sample_jigsaw({img.data(), 3, 20, 20}, gen, c, perms, out.data()), Error);
}

TEST(Rotation, CopiesAreExactQuarterTurns) {
  // torch.rot90(torch.tensor([[1, 2], [3, 4]]), 1, (0, 1)) = [[2, 4], [1, 3]].
  const float in[4] = {1, 2, 3, 4};
  float out[4];
  rotate90(in, 1, 2, 1, out);
  EXPECT_EQ(std::vector<float>(out, out + 4), (std::vector<float>{2, 4, 1, 3}));
  rotate90(in, 1, 2, 2, out);
  EXPECT_EQ(std::vector<float>(out, out + 4), (std::vector<float>{4, 3, 2, 1}));
  rotate90(in, 1, 2, 3, out);
  EXPECT_EQ(std::vector<float>(out, out + 4), (std::vector<float>{3, 1, 4, 2}));

  Generator g(5);
  Tensor x = Tensor::rand({3, 2, 7, 7}, 0, 1, DType::f32, &g);
  Tensor batch, labels;
  make_rotation_batch(x, batch, labels);
  ASSERT_EQ(batch.shape(), (Shape{12, 2, 7, 7}));
  EXPECT_EQ(labels.to_vector_i32(), (std::vector<int32_t>{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3}));
  // Copy 0 is the image; four quarter turns of copy 1 give it back exactly.
  const float* b = batch.data<float>();
  const int64_t per = 2 * 49;
  std::vector<float> cur(b + 5 * per, b + 6 * per), next(per);  // image 1, rotated once
  for (int k = 0; k < 3; ++k) {
    rotate90(cur.data(), 2, 7, 1, next.data());
    cur = next;
  }
  EXPECT_EQ(cur, std::vector<float>(b + 4 * per, b + 5 * per));
  EXPECT_EQ(std::vector<float>(b + 4 * per, b + 5 * per), x.select(0, 1).contiguous().to_vector_f32());
  EXPECT_THROW(make_rotation_batch(Tensor::rand({1, 1, 4, 5}, 0, 1, DType::f32, &g), batch, labels), Error);
}
