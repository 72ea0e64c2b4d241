// Test support: the conv2d configurations every conv test runs over (stride, padding,
// dilation, groups, bias, awkward sizes), shared by the CPU tests and the device checks.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/ops.h"

namespace pw::testing {

struct ConvCase {
  const char* name;
  int64_t N, C, H, W, O, kh, kw;
  Conv2dParams p;
  bool bias;
};

// Conv2dParams from stride, padding, dilation (h, w) and groups, in that order.
inline Conv2dParams P(int64_t sh = 1, int64_t sw = 1, int64_t ph = 0, int64_t pw = 0, int64_t dh = 1, int64_t dw = 1,
                      int64_t groups = 1) {
  return {sh, sw, ph, pw, dh, dw, groups};
}

// Every configuration the gradient checks and the fast/reference comparisons run over.
// Fields: name, N, C, H, W, O, kh, kw, P(stride h/w, pad h/w, dilation h/w, groups), bias.
inline const std::vector<ConvCase>& conv_cases() {
  // clang-format off
  static const std::vector<ConvCase> cases = {
      {"basic 3x3", 2, 3, 7, 6, 4, 3, 3, P(), true},
      {"stride 2 pad 1", 2, 3, 7, 8, 4, 3, 3, P(2, 2, 1, 1), true},
      {"stride 3 pad 2 k5", 1, 2, 11, 9, 3, 5, 5, P(3, 3, 2, 2), true},
      {"unequal stride/pad/kernel", 2, 3, 9, 7, 2, 3, 2, P(2, 3, 1), true},
      {"dilation", 1, 2, 9, 8, 3, 3, 3, P(1, 1, 2, 1, 2), true},
      {"dilation and stride", 2, 2, 10, 9, 2, 2, 3, P(2, 1, 1, 2, 3, 2), true},
      {"groups 2", 2, 4, 6, 5, 6, 3, 3, P(1, 1, 1, 1, 1, 1, 2), true},
      {"groups 2 strided no bias", 1, 6, 7, 7, 4, 3, 2, P(2, 2, 1, 1, 1, 1, 2), false},
      {"depthwise", 2, 3, 6, 7, 3, 3, 3, P(1, 1, 1, 1, 1, 1, 3), true},
      {"depthwise x2", 1, 3, 5, 6, 6, 3, 3, P(2, 1, 1, 0, 1, 1, 3), true},
      {"no bias", 2, 5, 5, 7, 3, 2, 2, P(), false},
      {"pointwise 1x1", 2, 5, 4, 3, 7, 1, 1, P(), true},
      {"1x1 stride 2", 2, 3, 5, 6, 4, 1, 1, P(2, 2), true},
      {"1x1 padded", 1, 3, 3, 4, 2, 1, 1, P(1, 1, 1, 1), false},
      {"kernel = input", 2, 3, 4, 5, 2, 4, 5, P(), true},
      {"kernel > stride, odd", 1, 5, 13, 11, 3, 7, 5, P(2, 3, 3, 2), true},
      // More than 64 output channels per group: the GPU's implicit forward in 128-row tiles
      // (two, the second partial), and per group.
      {"130 channels", 2, 3, 6, 5, 130, 3, 3, P(1, 1, 1, 1), true},
      {"groups 2, 66 channels each", 1, 4, 5, 6, 132, 3, 3, P(1, 1, 1, 1, 1, 1, 2), true},
  };
  // clang-format on
  return cases;
}

}  // namespace pw::testing
