// Benchmark of the CPU conv2d (im2col + SGEMM, the f32 training path) on the five conv
// layers of torchvision's AlexNet at batch 16 and 1: forward, backward-data and backward-weight,
// each reporting GFLOP/s for 2*N*O*(C/g)*kh*kw*Ho*Wo flops per pass (wall-clock time: the
// GEMM is multi-threaded). Run with the thread count you mean to compare, e.g.
// OMP_NUM_THREADS=2 ./bench_conv; compare with bench_gemm's GFLOP/s at similar sizes.
// BM_vgg_*: the 3x3 stride-1 layers of VGG-11 at 64 px, batch 8, forward and backward-data
// by im2col and by Winograd F(4x4, 3x3) (kernels/cpu/winograd.h), GFLOP/s counted as for a
// direct convolution (so a faster algorithm shows more). Compare them with
//   --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
// (runs of the two algorithms alternate; read the medians): engine/ops/conv.cpp's dispatch
// rule comes from these.
// With OpenBLAS present, the forward pass is also timed with OpenBLAS's GEMM (Caffe's scheme).
// Run with OMP_WAIT_POLICY=PASSIVE when comparing: otherwise our OpenMP threads spin after
// each parallel region and steal the cores from OpenBLAS's own threads.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/winograd.h"

#ifdef PW_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace {

namespace cpu = pw::kernels::cpu;

struct Layer {
  const char* name;
  int64_t C, O, k, stride, pad, H;
};

// torchvision AlexNet features: conv1 .. conv5 with their input sizes.
const Layer kLayers[] = {
    {"conv1", 3, 64, 11, 4, 2, 224},  {"conv2", 64, 192, 5, 1, 2, 27},  {"conv3", 192, 384, 3, 1, 1, 13},
    {"conv4", 384, 256, 3, 1, 1, 13}, {"conv5", 256, 256, 3, 1, 1, 13},
};
constexpr int64_t kBatch = 16;

// VGG-11's convolutions at 64 px (conv8 is conv7 again), batch 8: `patchwork time --model
// vgg11 --batch 8 --input 3,64,64`.
const Layer kVggLayers[] = {
    {"vgg conv1", 3, 64, 3, 1, 1, 64},    {"vgg conv2", 64, 128, 3, 1, 1, 32}, {"vgg conv3", 128, 256, 3, 1, 1, 16},
    {"vgg conv4", 256, 256, 3, 1, 1, 16}, {"vgg conv5", 256, 512, 3, 1, 1, 8}, {"vgg conv6", 512, 512, 3, 1, 1, 8},
    {"vgg conv7", 512, 512, 3, 1, 1, 4},
};
constexpr int64_t kVggBatch = 8;

pw::kernels::ConvGeometry shape_of(const Layer& l, int64_t batch = kBatch) {
  const int64_t out = (l.H + 2 * l.pad - l.k) / l.stride + 1;
  // N, C, H, W, O, kh, kw, Ho, Wo, stride, stride, pad, pad, dilation 1, 1, groups 1
  pw::kernels::ConvGeometry s{batch, l.C, l.H, l.H, l.O, l.k, l.k, out, out, l.stride, l.stride, l.pad, l.pad, 1, 1, 1};
  return s;
}

using pw::bench::random_vec;

enum class Pass { forward, backward_data, backward_weight };
enum class Algo { im2col, winograd };

void run(benchmark::State& state, Pass pass, const Layer& l = kLayers[0], int64_t batch = kBatch,
         Algo algo = Algo::im2col) {
  const pw::kernels::ConvGeometry s = shape_of(l, batch);
  const int64_t nx = s.N * s.C * s.H * s.W, nw = s.O * s.C * s.kh * s.kw, ny = s.N * s.O * s.Ho * s.Wo;
  std::vector<float> x = random_vec(nx, 1), w = random_vec(nw, 2), b = random_vec(s.O, 3), y = random_vec(ny, 4),
                     dx(nx), dw(nw);
  auto once = [&] {
    // y doubles as the upstream gradient in the backward passes.
    if (algo == Algo::winograd && pass == Pass::forward)
      cpu::conv2d_forward_winograd(s, x.data(), w.data(), {b.data()}, y.data());
    else if (algo == Algo::winograd && pass == Pass::backward_data)
      cpu::conv2d_backward_data_winograd(s, y.data(), w.data(), dx.data());
    else if (pass == Pass::forward)
      cpu::conv2d_forward_im2col<float>(s, x.data(), w.data(), {b.data()}, y.data());
    else if (pass == Pass::backward_data)
      cpu::conv2d_backward_data_im2col<float>(s, y.data(), w.data(), dx.data());
    else
      cpu::conv2d_backward_weight_im2col<float>(s, x.data(), y.data(), dw.data());
  };
  once();  // warm-up: thread pool, GEMM packing buffers
  for (auto _ : state) {
    once();
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * s.N * s.O * (s.C / s.groups) * s.kh * s.kw * s.Ho * s.Wo;
  state.SetLabel(std::string(l.name) + " batch " + std::to_string(s.N) + (algo == Algo::winograd ? " (winograd)" : ""));
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_conv2d_forward(benchmark::State& state) { run(state, Pass::forward, kLayers[state.range(0)], state.range(1)); }

#ifdef PW_HAVE_OPENBLAS
// The named reference: Caffe's scheme, image by image im2col (our kernel) and OpenBLAS's
// multi-threaded cblas_sgemm, plus the bias. Only the GEMM differs from the forward above when
// that one runs its images one after another; ours runs images in parallel instead.
void BM_conv2d_forward_openblas(benchmark::State& state) {
  const Layer& l = kLayers[state.range(0)];
  const pw::kernels::ConvGeometry s = shape_of(l, state.range(1));
  const int64_t K = s.C * s.kh * s.kw, P = s.Ho * s.Wo;
  std::vector<float> x = random_vec(s.N * s.C * s.H * s.W, 1), w = random_vec(s.O * K, 2), b = random_vec(s.O, 3),
                     y(s.N * s.O * P), col(K * P);
  openblas_set_num_threads(omp_get_max_threads());
  auto once = [&] {
    for (int64_t n = 0; n < s.N; ++n) {
      cpu::im2col<float>(x.data() + n * s.C * s.H * s.W, s.C, s.H, s.W, s.kh, s.kw, s.stride_h, s.stride_w, s.pad_h,
                         s.pad_w, 1, 1, s.Ho, s.Wo, col.data());
      float* yn = y.data() + n * s.O * P;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s.O, (int)P, (int)K, 1.f, w.data(), (int)K,
                  col.data(), (int)P, 0.f, yn, (int)P);
      for (int64_t o = 0; o < s.O; ++o)
        for (int64_t p = 0; p < P; ++p) yn[o * P + p] += b[o];
    }
  };
  once();
  for (auto _ : state) {
    once();
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * s.N * s.O * s.C * s.kh * s.kw * s.Ho * s.Wo;
  state.SetLabel(std::string(l.name) + " batch " + std::to_string(s.N) + " (OpenBLAS)");
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
#endif
void BM_conv2d_backward_data(benchmark::State& state) {
  run(state, Pass::backward_data, kLayers[state.range(0)], state.range(1));
}
void BM_conv2d_backward_weight(benchmark::State& state) {
  run(state, Pass::backward_weight, kLayers[state.range(0)], state.range(1));
}

void BM_vgg_forward_im2col(benchmark::State& state) {
  run(state, Pass::forward, kVggLayers[state.range(0)], kVggBatch, Algo::im2col);
}
void BM_vgg_forward_winograd(benchmark::State& state) {
  run(state, Pass::forward, kVggLayers[state.range(0)], kVggBatch, Algo::winograd);
}
void BM_vgg_backward_data_im2col(benchmark::State& state) {
  run(state, Pass::backward_data, kVggLayers[state.range(0)], kVggBatch, Algo::im2col);
}
void BM_vgg_backward_data_winograd(benchmark::State& state) {
  run(state, Pass::backward_data, kVggLayers[state.range(0)], kVggBatch, Algo::winograd);
}

}  // namespace

// Arguments: the layer index 0..4 (conv1..conv5) and the batch; the label names both.
constexpr benchmark::TimeUnit kMs = benchmark::kMillisecond;
#define PW_LAYERS ArgsProduct({{0, 1, 2, 3, 4}, {16, 1}})->UseRealTime()->Unit(kMs)
BENCHMARK(BM_conv2d_forward)->PW_LAYERS;
#ifdef PW_HAVE_OPENBLAS
BENCHMARK(BM_conv2d_forward_openblas)->PW_LAYERS;
#endif
BENCHMARK(BM_conv2d_backward_data)->PW_LAYERS;
BENCHMARK(BM_conv2d_backward_weight)->PW_LAYERS;
// Argument: the VGG layer index 0..6 (conv1..conv7).
BENCHMARK(BM_vgg_forward_im2col)->DenseRange(0, 6)->UseRealTime()->Unit(kMs);
BENCHMARK(BM_vgg_forward_winograd)->DenseRange(0, 6)->UseRealTime()->Unit(kMs);
BENCHMARK(BM_vgg_backward_data_im2col)->DenseRange(0, 6)->UseRealTime()->Unit(kMs);
BENCHMARK(BM_vgg_backward_data_winograd)->DenseRange(0, 6)->UseRealTime()->Unit(kMs);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("threads: %d, gemm kernel %s\n", omp_get_max_threads(), cpu::gemm_kernel_name(cpu::gemm_kernel()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
