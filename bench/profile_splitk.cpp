// profile_splitk: simt-profile's estimates for conv weight-gradient GEMMs before and after
// split-K (issue 16): each shape runs once with the dispatcher's plan (kernels/cuda/gemm_plan.h)
// and once with the same tile unsplit, on simt with the checked kernels, and prints the two
// profiles' tables. The shapes are the weight gradients of the reference CNN's convolutions
// at batch 64 as conv.cu issues them: sgemm_batched(trans_b) with M = O, N = C x 3 x 3,
// K = images x Ho x Wo. Estimates, not measurements (kernels/simt/README.md, "Profile").
//   build/bench/profile_splitk [RESOURCES.tsv]
#include <cstdio>
#include <string>
#include <vector>

#define PW_LAUNCHER_NS simt
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS
#include "kernels/simt/profile.h"
#include "kernels/simt/runtime.h"

namespace simt_kernels = pw::kernels::simt;
using pw::simt::cudaFree;
using pw::simt::cudaMalloc;
using pw::simt::cudaMemcpy;

namespace {

struct Shape {
  const char* name;
  int64_t M, N, K;
};

float* device_floats(size_t n) {
  void* p = nullptr;
  if (cudaMalloc(&p, n * sizeof(float)) != pw::simt::cudaSuccess) throw pw::simt::Error("cudaMalloc failed");
  std::vector<float> host(n, 0.5f);
  cudaMemcpy(p, host.data(), n * sizeof(float), pw::simt::cudaMemcpyHostToDevice);
  return static_cast<float*>(p);
}

void profile_one(const Shape& s, const pw::kernels::gemm_plan::Plan& plan, const char* label) {
  float* A = device_floats(size_t(s.M * s.K));
  float* B = device_floats(size_t(s.N * s.K));
  float* C = device_floats(size_t(s.M * s.N));
  pw::simt::profile_reset();
  pw::simt::set_profiling(true);
  simt_kernels::sgemm_with_plan(simt_kernels::Tag{}, pw::kernels::GemmBatch{}, false, true, s.M, s.N, s.K, 1.0f, A, s.K,
                                B, s.K, 0.0f, C, s.N, plan);
  pw::simt::set_profiling(false);
  std::printf("### %s, M %lld N %lld K %lld: %s (%s)\n\n%s\n", s.name, (long long)s.M, (long long)s.N, (long long)s.K,
              label, plan.describe().c_str(), pw::simt::profile_table(5, 6).c_str());
  cudaFree(A);
  cudaFree(B);
  cudaFree(C);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) pw::simt::load_kernel_resources(argv[1]);
  const std::vector<Shape> shapes = {
      {"fmnist-cnn conv1 dW (1->32, 3x3, 28x28, 64 images)", 32, 9, 64 * 28 * 28},
      {"fmnist-cnn conv2 dW (32->64, 3x3, 14x14, 64 images)", 64, 288, 64 * 14 * 14},
  };
  for (const Shape& s : shapes) {
    const auto plan = simt_kernels::sgemm_plan(simt_kernels::Tag{}, s.M, s.N, s.K, 1, false, true);
    auto unsplit = plan;
    unsplit.splits = 1;
    unsplit.blocks = plan.tiles;  // (describe() prints it)
    profile_one(s, unsplit, "unsplit");
    profile_one(s, plan, "the dispatcher's plan");
  }
  return 0;
}
