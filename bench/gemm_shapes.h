// The GEMM shapes the engine runs for the networks it trains, shared by the dispatcher's test
// (tests/test_gemm_plan.cpp: which plan each gets on an H100) and the GPU benchmark
// (bench/bench_cuda_gemm.cpp: the dispatcher against cuBLAS on each). Plain data.
#pragma once
#include <cstdint>

namespace pw::bench {

struct GemmShape {
  const char* what;
  int64_t M, N, K, count;
  bool ta, tb;
};

// The GEMMs the engine runs for them (engine/ops/linalg.cpp, kernels/cuda/conv.cu). A conv
// weight gradient is dW [O][C*k*k] = dyT [O][L] @ col^T with L = (images per im2col chunk) *
// Ho*Wo, the chunk being what fits conv.cu's 64 MiB workspace (batch 128). A Linear layer of
// batch B: forward y = x W^T (B x out x in), input gradient dy W (B x in x out), weight
// gradient dy^T x (out x in x B).
inline constexpr GemmShape kRealGemmShapes[] = {
    {"AlexNet conv1 dW (3->64, 11x11, 55x55, 12 images)", 64, 363, 12 * 3025, 1, false, true},
    {"AlexNet conv2 dW (64->192, 5x5, 27x27, 12 images)", 192, 1600, 12 * 729, 1, false, true},
    {"AlexNet conv5 dW (256->256, 3x3, 13x13, 38 images)", 256, 2304, 38 * 169, 1, false, true},
    {"VGG-16 conv1_2 dW (64->64, 3x3, 224x224, 1 image)", 64, 576, 50176, 1, false, true},
    {"VGG-16 conv3_3 dW (256->256, 3x3, 56x56, 2 images)", 256, 2304, 2 * 3136, 1, false, true},
    {"VGG-16 conv5_3 dW (512->512, 3x3, 14x14, 16 images)", 512, 4608, 16 * 196, 1, false, true},
    {"Linear 4096->1000, batch 32, forward", 32, 1000, 4096, 1, false, true},
    {"Linear 4096->1000, batch 32, input gradient", 32, 4096, 1000, 1, false, false},
    {"Linear 4096->1000, batch 32, weight gradient", 1000, 4096, 32, 1, true, false},
    {"Linear 9216->4096, batch 32, forward", 32, 4096, 9216, 1, false, true},
    {"Linear 9216->4096, batch 32, weight gradient", 4096, 9216, 32, 1, true, false},
    {"square 1024", 1024, 1024, 1024, 1, false, false},
    {"square 4096", 4096, 4096, 4096, 1, false, false},
    {"square 8192", 8192, 8192, 8192, 1, false, false},
};

}  // namespace pw::bench
