// The convolution problems of the conv development files (bench/kernels/conv2d_*.cu): a
// geometry from the layer's sizes, and its one-line description. After kernels/cuda/conv.cu.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

#include "kernels/common/conv_geometry.h"

namespace pw::kernels::PW_KERNEL_NS::dev {

inline int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t pad, int64_t d) {
  return (in + 2 * pad - d * (k - 1) - 1) / s + 1;
}
inline ConvGeometry geometry(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t kh, int64_t kw,
                             int64_t sh = 1, int64_t sw = 1, int64_t ph = 0, int64_t pw = 0, int64_t dh = 1,
                             int64_t dw = 1, int64_t groups = 1) {
  return {N,  C,  H,  W,  O,  kh, kw,    out_size(H, kh, sh, ph, dh), out_size(W, kw, sw, pw, dw),
          sh, sw, ph, pw, dh, dw, groups};
}
inline std::string describe(const ConvGeometry& g, bool bias = false) {
  char s[200];
  std::snprintf(s, sizeof s,
                "N=%ld C=%ld %ldx%ld O=%ld k=%ldx%ld stride %ld,%ld pad %ld,%ld dilation %ld,%ld "
                "groups %ld%s",
                long(g.N), long(g.C), long(g.H), long(g.W), long(g.O), long(g.kh), long(g.kw), long(g.stride_h),
                long(g.stride_w), long(g.pad_h), long(g.pad_w), long(g.dilation_h), long(g.dilation_w), long(g.groups),
                bias ? " bias" : "");
  return s;
}

}  // namespace pw::kernels::PW_KERNEL_NS::dev
