// The SGEMM dispatcher's table and scoring function (kernels/cuda/gemm.cu runs what it picks):
// given a problem (M, N, K, batch count, transposes) and the GPU's SM count, which kernel,
// block tile and split-K count to run. Plain C++ (no CUDA types), so that the choice can be
// unit-tested for the engine's real shapes without a device (tests/test_gemm_plan.cpp), and
// bench/ can print it.
//
// The model, per candidate (a tile shape of the table below and a split count S):
//   blocks  = tiles(M / bm x N / bn) x count x S;  a block multiplies a bm x bn tile over a
//             K-slice of ceil(K / S) rounded up to BK = 16 (the last slice is shorter);
//   waves   = blocks / (SMs x blocks resident per SM), rounded up: a partly filled last wave
//             costs a whole one (a lone block cannot use the SM's idle warps);
//   a wave  = bm x bn x (slice + kBlockOverheadK) FMAs per block at the SM's FP32 rate x the
//             shape's efficiency, shared by the blocks resident on the SM;
//   split-K = + writing and reading S partial tiles and writing C at DRAM bandwidth, and one
//             more launch.
// The fastest estimate wins; a candidate must beat the best so far by kMinGain, so that ties
// keep fewer splits and larger tiles (the table's order). Workspace above kMaxWorkspaceFloats
// is never planned. The transposes do not enter the estimate: the tile loaders read along
// each operand's contiguous dimension either way.
//
// Every number here (FP32 rate, bandwidth, efficiencies, residency, overheads) is an ESTIMATE
// for an H100 SXM (132 SMs, 67 TFLOP/s FP32, 3.35 TB/s) until a GPU measures it
// (bench/bench_cuda_gemm.cpp times the dispatcher on these shapes against cuBLAS; nothing has
// run on a GPU yet, see bench/RESULTS.md).
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>

namespace pw::kernels::gemm_plan {

// One row of the table: a kernel of kernels/cuda/gemm.cu with its block tile.
struct TileShape {
  int version;        // the rung of the ladder: 2, 3 or 5 (v5 in four tile shapes)
  int bm, bn;         // block tile
  int threads;        // per block
  int blocks_per_sm;  // resident blocks per SM: its __launch_bounds__ (ptxas -v: no spills)
  double efficiency;  // fraction of the FP32 peak one full SM reaches with it: estimated
  bool splits_k;      // the kernel can run one K-slice per block (writes partial tiles)
};

// Larger tiles first (the order breaks ties). v1 is chosen by the rule in choose(), not scored.
inline constexpr TileShape kShapes[] = {
    {5, 128, 128, 256, 2, 0.85, true},  // 8 x 8 results per thread
    {5, 128, 64, 128, 3, 0.75, true},   // 8 x 8 per thread, half the tile: twice the blocks
    {5, 64, 128, 128, 3, 0.75, true},  {5, 64, 64, 128, 4, 0.60, true},  // 4 x 8 per thread
    {3, 64, 64, 512, 2, 0.35, false},                                    // 1-D blocking, no split
    {2, 32, 32, 1024, 2, 0.12, false},                                   // shared-memory tiles, no split
};

inline constexpr int kBK = 16;                                   // v5's K-step: slices are multiples of it
inline constexpr double kFmaPerSmPerUs = 67e12 / 2 / 132 / 1e6;  // H100 FP32 FMAs per SM per µs
inline constexpr double kBytesPerUs = 3.35e12 / 1e6;             // H100 DRAM bandwidth
inline constexpr double kLaunchUs = 3.0;                         // one more kernel launch
inline constexpr int kBlockOverheadK = 64;                       // prologue + epilogue, as K-depth
inline constexpr int kMaxSplits = 64;
inline constexpr int64_t kMaxWorkspaceFloats = int64_t(1) << 23;  // 32 MiB of partial tiles
inline constexpr double kMinGain = 0.97;
inline constexpr int kH100Sms = 132;

struct Plan {
  int version = 1;               // 1, 2, 3 or 5
  int bm = 0, bn = 0;            // block tile (0 for v1, whose 8 x 32 blocks are not planned)
  int splits = 1;                // K-slices; > 1: partial tiles in a workspace + a reduction
  int64_t k_slice = 0;           // K per slice (a multiple of 16 when split)
  int64_t tiles = 0;             // output tiles (x count)
  int64_t blocks = 0;            // blocks of the main launch: tiles x splits
  double waves = 0;              // blocks / (SMs x resident blocks per SM)
  double estimate_us = 0;        // the model's time
  int64_t workspace_floats = 0;  // partial tiles: splits x M x N x count (0 unsplit)

  // "v5 64x64 split-K 58 (slice 880), 522 blocks" (appends only: GCC 12 warns falsely about
  // "literal" + std::string temporaries).
  std::string describe() const {
    std::string s = "v";
    s.append(std::to_string(version));
    if (bm) s.append(" ").append(std::to_string(bm)).append("x").append(std::to_string(bn));
    if (splits > 1)
      s.append(" split-K ")
          .append(std::to_string(splits))
          .append(" (slice ")
          .append(std::to_string(k_slice))
          .append(")");
    return s.append(", ").append(std::to_string(blocks)).append(" blocks");
  }
};

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The plan for `shape` with `splits` K-slices (normalized: slices are whole BK steps, and a
// split count that would leave a slice empty shrinks to the slices needed), with its estimate.
inline Plan evaluate(const TileShape& shape, int splits, int64_t M, int64_t N, int64_t K, int64_t count, int sms) {
  Plan p;
  p.version = shape.version;
  p.bm = shape.bm;
  p.bn = shape.bn;
  p.tiles = ceil_div(M, shape.bm) * ceil_div(N, shape.bn) * count;
  const int64_t steps = std::max<int64_t>(1, ceil_div(K, kBK));
  splits = shape.splits_k ? (int)std::clamp<int64_t>(splits, 1, steps) : 1;
  p.k_slice = splits > 1 ? ceil_div(steps, splits) * kBK : K;
  p.splits = splits > 1 ? (int)ceil_div(K, p.k_slice) : 1;
  if (p.splits == 1) p.k_slice = K;
  p.blocks = p.tiles * p.splits;
  const double resident = double(sms) * shape.blocks_per_sm;
  p.waves = double(p.blocks) / resident;
  const double fma_per_block = double(shape.bm) * shape.bn * double(p.k_slice + kBlockOverheadK);
  const double wave_us = fma_per_block * shape.blocks_per_sm / (kFmaPerSmPerUs * shape.efficiency);
  p.estimate_us = double(ceil_div(p.blocks, int64_t(sms) * shape.blocks_per_sm)) * wave_us;
  if (p.splits > 1) {
    p.workspace_floats = int64_t(p.splits) * M * N * count;
    const double bytes = 4.0 * (2.0 * double(p.workspace_floats) + 2.0 * double(M * N * count));
    p.estimate_us += bytes / kBytesPerUs + kLaunchUs;
  }
  return p;
}

// The fastest plan over the shapes of the table that `usable` accepts and every split count
// (each normalized plan once, none above the workspace cap); ties keep the earlier candidate.
template <class Usable>
Plan best_plan(int64_t M, int64_t N, int64_t K, int64_t count, int sms, Usable usable) {
  Plan best;
  bool have = false;
  for (const TileShape& shape : kShapes) {
    if (!usable(shape)) continue;
    for (int s = 1; s <= (shape.splits_k ? kMaxSplits : 1); ++s) {
      const Plan p = evaluate(shape, s, M, N, K, count, sms);
      if (p.splits != s || p.workspace_floats > kMaxWorkspaceFloats) continue;  // seen, or too big
      if (!have || p.estimate_us < best.estimate_us * kMinGain) best = p, have = true;
    }
  }
  return best;
}

// The dispatcher's choice for C[M,N] (+)= op(A) op(B) over `count` problems on a GPU with `sms`
// SMs (M, N, K, count > 0). trans_a / trans_b are accepted for when a GPU shows they matter.
inline Plan choose(int64_t M, int64_t N, int64_t K, int64_t count, bool trans_a, bool trans_b, int sms = kH100Sms) {
  (void)trans_a;
  (void)trans_b;
  // Tiny problems and K <= 8: staging tiles costs more than it saves (v1, one thread per
  // element of C, reading A and B straight from global memory).
  if (double(M) * double(N) * double(K) * double(count) <= 262144.0 || K <= 8) {
    Plan p;
    p.k_slice = K;
    p.tiles = p.blocks = ceil_div(M, 8) * ceil_div(N, 32) * count;
    p.waves = double(p.blocks) / (double(sms) * 8);
    return p;
  }
  return best_plan(M, N, K, count, sms, [](const TileShape&) { return true; });
}

// The plan for an implicit-GEMM convolution pass (kernels/cuda/conv.cu: M = channels per group,
// N = images x pixels, K = channels x taps, count = groups): its kernel has v5's 128x128 and
// 64x128 tiles only, each with K-slices, scored as choose() scores them. Its grids are often too
// small for the GPU without slices (an H100 has 132 SMs; the data gradient of a 32-channel layer
// at 14x14 and batch 16 is 25 tiles of 64 x 128), which is what the slices are for.
inline Plan choose_implicit_conv(int64_t M, int64_t N, int64_t K, int64_t count, int sms = kH100Sms) {
  return best_plan(M, N, K, count, sms, [](const TileShape& s) { return s.version == 5 && s.bn == 128; });
}

}  // namespace pw::kernels::gemm_plan
