// Benchmark of the CPU's memory-bound kernels against the machine's measured bandwidth: ReLU
// forward and backward, 3x3/2 max pooling forward and backward, batch norm (statistics,
// normalization, backward), LRN forward and backward, dropout, each on the output of AlexNet's
// conv1 at batch 16 (16 x 64 x 55 x 55 floats, 12.4 MB). Each reports GB/s for the bytes it must
// read and write (counted per kernel below) and the share of the streaming-triad bandwidth
// measured at start (engine/util/machine.h), the floor issue 15 asks >= 70% of. Run with the
// thread count you mean, e.g. OMP_NUM_THREADS=2 ./bench_memory --benchmark_repetitions=3.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdio>
#include <vector>

#include "bench/bench_util.h"
#include "engine/util/machine.h"
#include "kernels/cpu/dropout.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/lrn.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/pool.h"

namespace {

namespace cpu = pw::kernels::cpu;
constexpr int64_t N = 16, C = 64, H = 55, W = 55, S = H * W, kElems = N * C * S;
double g_bandwidth = 0;  // measured in main

using pw::bench::random_vec;

// Times f() and reports GB/s for `bytes` per call and its share of the measured bandwidth.
template <typename F>
void run(benchmark::State& state, double bytes, F f) {
  f();  // warm-up
  for (auto _ : state) {
    f();
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["of_bw"] =
      benchmark::Counter(bytes * 1e-9 / g_bandwidth, benchmark::Counter::kIsIterationInvariantRate);
}

const pw::kernels::cpu::Pool2dShape kPool{N * C, H, W, 27, 27, 3, 3, 2, 2, 0, 0, 1, 1};

void BM_relu_forward(benchmark::State& state) {
  std::vector<float> x = random_vec(kElems, 1), y(kElems);
  run(state, 8.0 * kElems, [&] { cpu::unary<float>(pw::kernels::UnaryOp::relu, x.data(), y.data(), kElems, 0.f); });
}

void BM_relu_backward(benchmark::State& state) {
  std::vector<float> y = random_vec(kElems, 1), g = random_vec(kElems, 2), dx(kElems);
  run(state, 12.0 * kElems, [&] { cpu::relu_backward<float>(0, y.data(), g.data(), dx.data(), kElems); });
}

void BM_max_pool_forward(benchmark::State& state) {
  const int64_t out = N * C * 27 * 27;
  std::vector<float> x = random_vec(kElems, 1), y(out);
  std::vector<int32_t> idx(out);
  run(state, 4.0 * kElems + 8.0 * out, [&] { cpu::max_pool2d_forward<float>(kPool, x.data(), y.data(), idx.data()); });
}

void BM_max_pool_backward(benchmark::State& state) {
  const int64_t out = N * C * 27 * 27;
  std::vector<float> x = random_vec(kElems, 1), y(out), dy = random_vec(out, 2), dx(kElems);
  std::vector<int32_t> idx(out);
  cpu::max_pool2d_forward<float>(kPool, x.data(), y.data(), idx.data());
  run(state, 8.0 * out + 4.0 * kElems,
      [&] { cpu::max_pool2d_backward<float>(kPool, dy.data(), idx.data(), dx.data()); });
}

void BM_batch_norm_train_forward(benchmark::State& state) {
  std::vector<float> x = random_vec(kElems, 1), y(kElems), mean(C), var(C), w(C, 1.f), b(C, 0.f);
  // Statistics (one read of x) and normalization (a read and a write).
  run(state, 12.0 * kElems, [&] {
    cpu::batch_norm_stats<float>(x.data(), mean.data(), var.data(), N, C, S);
    cpu::batch_norm_forward<float>(x.data(), mean.data(), var.data(), w.data(), b.data(), y.data(), N, C, S, 1e-5);
  });
}

void BM_batch_norm_train_backward(benchmark::State& state) {
  std::vector<float> x = random_vec(kElems, 1), dy = random_vec(kElems, 2), dx(kElems), mean(C), var(C), w(C, 1.f),
                     dw(C), db(C);
  cpu::batch_norm_stats<float>(x.data(), mean.data(), var.data(), N, C, S);
  // The reductions read x and dy, the gradient reads them again and writes dx.
  run(state, 20.0 * kElems, [&] {
    cpu::batch_norm_backward<float>(x.data(), dy.data(), mean.data(), var.data(), w.data(), dx.data(), dw.data(),
                                    db.data(), N, C, S, 1e-5, true);
  });
}

void BM_lrn_forward(benchmark::State& state) {
  std::vector<float> x = random_vec(kElems, 1), y(kElems), scale(kElems);
  run(state, 12.0 * kElems,
      [&] { cpu::lrn_forward<float>(x.data(), y.data(), scale.data(), N, C, S, 5, 1e-4, 0.75, 1.0); });
}

void BM_lrn_backward(benchmark::State& state) {
  std::vector<float> x = random_vec(kElems, 1), y(kElems), scale(kElems), dy = random_vec(kElems, 2), dx(kElems);
  cpu::lrn_forward<float>(x.data(), y.data(), scale.data(), N, C, S, 5, 1e-4, 0.75, 1.0);
  run(state, 20.0 * kElems, [&] {
    cpu::lrn_backward<float>(x.data(), y.data(), scale.data(), dy.data(), dx.data(), N, C, S, 5, 1e-4, 0.75);
  });
}

void BM_dropout_forward(benchmark::State& state) {
  std::vector<float> x = random_vec(kElems, 1), u = random_vec(kElems, 2, 0.f, 1.f), mask(kElems), y(kElems);
  run(state, 16.0 * kElems,
      [&] { cpu::dropout_forward<float>(x.data(), u.data(), 0.5, 2.f, mask.data(), y.data(), kElems); });
}

}  // namespace

#define PW_BENCH(f) BENCHMARK(f)->UseRealTime()->Unit(benchmark::kMillisecond)
PW_BENCH(BM_relu_forward);
PW_BENCH(BM_relu_backward);
PW_BENCH(BM_max_pool_forward);
PW_BENCH(BM_max_pool_backward);
PW_BENCH(BM_batch_norm_train_forward);
PW_BENCH(BM_batch_norm_train_backward);
PW_BENCH(BM_lrn_forward);
PW_BENCH(BM_lrn_backward);
PW_BENCH(BM_dropout_forward);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  g_bandwidth = pw::measure_bandwidth_gbs();
  std::printf("threads: %d, measured bandwidth %.1f GB/s (streaming triad); of_bw = GB/s over it\n",
              omp_get_max_threads(), g_bandwidth);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
