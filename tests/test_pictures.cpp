// Pictures: normalization undone, grids with frames, heat maps.
#include <gtest/gtest.h>

#include "engine/util/error.h"
#include "tasks/pictures.h"

using namespace pw;

TEST(Pictures, ToImageUndoesNormalizationAndClamps) {
  Tensor t = Tensor::from_vector(std::vector<float>{-1, 0, 1, 5}, {1, 2, 2});
  io::Image img = tasks::to_image(t, {0.5f}, {0.25f});
  EXPECT_EQ(img.pixels, (std::vector<float>{0.25f, 0.5f, 0.75f, 1.f}));
  io::Image mm = tasks::to_image_minmax(t);
  EXPECT_FLOAT_EQ(mm.pixels[0], 0.f);
  EXPECT_FLOAT_EQ(mm.pixels[3], 1.f);
  EXPECT_FLOAT_EQ(mm.pixels[1], 1.f / 6);
}

TEST(Pictures, GridPlacesCellsAndFrames) {
  io::Image a{1, 2, 2, {0.1f, 0.2f, 0.3f, 0.4f}}, b{1, 2, 2, {0.5f, 0.6f, 0.7f, 0.8f}};
  io::Image g = tasks::grid({a, b, a}, 2, 2, 1.f, {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}});
  ASSERT_EQ(g.channels, 3);
  EXPECT_EQ(g.height, 2 * 6);
  EXPECT_EQ(g.width, 2 * 6);
  EXPECT_FLOAT_EQ(g.at(0, 2, 2), 0.1f);      // cell 0 at (pad, pad)
  EXPECT_FLOAT_EQ(g.at(2, 3, 8 + 1), 0.8f);  // cell 1, bottom-right pixel, blue channel (gray copied)
  EXPECT_FLOAT_EQ(g.at(0, 1, 1), 1.f);       // red frame of cell 0
  EXPECT_FLOAT_EQ(g.at(1, 1, 1), 0.f);
  EXPECT_FLOAT_EQ(g.at(1, 1, 7), 1.f);  // cell 1 has no frame: background
  EXPECT_FLOAT_EQ(g.at(1, 7, 1), 1.f);  // green frame of cell 2
  EXPECT_FLOAT_EQ(g.at(0, 7, 1), 0.f);
  io::Image up = tasks::upscale(a, 3);
  EXPECT_EQ(up.height, 6);
  EXPECT_FLOAT_EQ(up.at(0, 5, 5), 0.4f);
  EXPECT_THROW(tasks::grid({}, 2), Error);
}

TEST(Pictures, HeatmapIsBrighterForLargerValues) {
  io::Image h = tasks::heatmap({0, 1, 4, 9}, 2, 2, 4);
  EXPECT_EQ(h.height, 8);
  auto brightness = [&](int64_t r, int64_t c) {
    return h.at(0, r * 4 + 2, c * 4 + 2) + h.at(1, r * 4 + 2, c * 4 + 2) + h.at(2, r * 4 + 2, c * 4 + 2);
  };
  EXPECT_LT(brightness(0, 0), brightness(0, 1));
  EXPECT_LT(brightness(0, 1), brightness(1, 0));
  EXPECT_LT(brightness(1, 0), brightness(1, 1));
  EXPECT_THROW(tasks::heatmap({1, 2, 3}, 2, 2), Error);
}
