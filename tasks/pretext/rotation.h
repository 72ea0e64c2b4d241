// Rotation prediction (Gidaris, Singh, Komodakis 2018): every image in four copies, rotated by
// 0, 90, 180 and 270 degrees counter-clockwise (torch.rot90(x, k, dims=(2, 3)) for k = 0..3),
// all four in the same batch, labels 0..3. Rotations are exact (index permutations, no
// interpolation), so the network cannot detect a rotation from resampling artifacts.
#pragma once
#include "engine/tensor.h"

namespace pw::tasks {

// One square image (C x n x n) rotated by k quarter turns counter-clockwise into out.
void rotate90(const float* in, int64_t channels, int64_t n, int k, float* out);

// images [N, C, n, n] (square, f32, cpu) -> [4N, C, n, n] with image i's copies at 4i .. 4i+3,
// and labels [4N] i32 = 0, 1, 2, 3, 0, 1, ...
void make_rotation_batch(const Tensor& images, Tensor& out, Tensor& labels);

}  // namespace pw::tasks
