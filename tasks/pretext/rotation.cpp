// Exact quarter-turn rotations: see rotation.h.
#include "tasks/pretext/rotation.h"

#include <cstring>

#include "engine/util/error.h"

namespace pw::tasks {

void rotate90(const float* in, int64_t channels, int64_t n, int k, float* out) {
  k = ((k % 4) + 4) % 4;
  for (int64_t c = 0; c < channels; ++c) {
    const float* src = in + c * n * n;
    float* dst = out + c * n * n;
    if (k == 0) {
      std::memcpy(dst, src, n * n * sizeof(float));
      continue;
    }
    for (int64_t y = 0; y < n; ++y)
      for (int64_t x = 0; x < n; ++x) {
        // torch.rot90 with k = 1 on dims (H, W): out[y][x] = in[x][n - 1 - y].
        float v;
        if (k == 1)
          v = src[x * n + (n - 1 - y)];
        else if (k == 2)
          v = src[(n - 1 - y) * n + (n - 1 - x)];
        else
          v = src[(n - 1 - x) * n + y];
        dst[y * n + x] = v;
      }
  }
}

void make_rotation_batch(const Tensor& images, Tensor& out, Tensor& labels) {
  PW_CHECK(
      images.dim() == 4 && images.size(2) == images.size(3) && images.dtype() == DType::f32 && images.device().is_cpu(),
      "rotation: images must be square f32 cpu [N, C, n, n], got ", shape_str(images.shape()));
  Tensor x = images.contiguous();
  const int64_t n = x.size(0), c = x.size(1), s = x.size(2), per = c * s * s;
  out = Tensor::empty({4 * n, c, s, s});
  labels = Tensor::empty({4 * n}, DType::i32);
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  int32_t* lab = labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < 4; ++k) {
      rotate90(src + i * per, c, s, k, dst + (4 * i + k) * per);
      lab[4 * i + k] = k;
    }
}

}  // namespace pw::tasks
