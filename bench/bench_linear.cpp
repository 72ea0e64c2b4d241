// Benchmark of the CPU SGEMM on the products of a Linear layer, y = x W^T with W [out, in], at
// the small batches where they are bound by reading or writing W: AlexNet's fc6 (9216 -> 4096)
// and fc7 (4096 -> 4096) and VGG's first classifier layer (25088 -> 4096), at batch 1 and 16.
// Each shape is timed in the three passes the layer runs:
//   forward  y = x W^T       sgemm(N, T, batch, out, in)   reads W
//   data     dx = dy W       sgemm(N, N, batch, in, out)   reads W
//   weight   dW = dy^T x     sgemm(T, N, out, in, batch)   writes W
// The counters give GFLOP/s and "W GB/s", W's bytes over the time: against the machine's
// bandwidth (`patchwork time` measures it) that says how close a pass is to its limit. With
// OpenBLAS (PW_HAVE_OPENBLAS) the same products are timed through cblas_sgemm as a reference.
//   OMP_NUM_THREADS=2 ./bench_linear --benchmark_repetitions=5
//                     --benchmark_enable_random_interleaving=true
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "kernels/cpu/gemm.h"

#ifdef PW_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace {

namespace cpu = pw::kernels::cpu;

enum Pass { forward = 0, data = 1, weight = 2 };

struct Product {
  bool ta, tb;
  int64_t M, N, K, lda, ldb, ldc;
};

// The sgemm arguments of one pass of a Linear layer in -> out at `batch`.
Product product(Pass pass, int64_t in, int64_t out, int64_t batch) {
  switch (pass) {
    case forward: return {false, true, batch, out, in, in, in, out};
    case data: return {false, false, batch, in, out, out, in, in};
    default: return {true, false, out, in, batch, out, in, in};
  }
}

// A 64-byte-aligned float array, as the engine's tensors are (engine/device/allocator.cpp): the
// kernels' vector loads and stores straddle cache lines otherwise, which is not what a layer sees.
struct Buffer {
  explicit Buffer(int64_t n) : p(static_cast<float*>(std::aligned_alloc(64, size_t(n + 16) / 16 * 64))), size(n) {}
  ~Buffer() { std::free(p); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  float* p;
  int64_t size;
};

// Operands: x [batch, in], W [out, in], dy [batch, out] (A and B of each pass are among them).
struct Layer {
  Buffer x, w, dy;
  Layer(int64_t in, int64_t out, int64_t batch) : x(batch * in), w(out * in), dy(batch * out) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    for (Buffer* v : {&x, &w, &dy})
      for (int64_t i = 0; i < v->size; ++i) v->p[i] = dist(rng);
  }
  const float* a(Pass p) const { return p == forward ? x.p : dy.p; }
  const float* b(Pass p) const { return p == weight ? x.p : w.p; }
};

template <typename Gemm>
void run(benchmark::State& state, Gemm gemm) {
  const int64_t in = state.range(0), out = state.range(1), batch = state.range(2);
  const Pass pass = Pass(state.range(3));
  const Layer layer(in, out, batch);
  Buffer result(in * out);
  const Product p = product(pass, in, out, batch);
  gemm(p, layer.a(pass), layer.b(pass), result.p);  // warm-up: threads, buffers, page faults
  for (auto _ : state) {
    gemm(p, layer.a(pass), layer.b(pass), result.p);
    benchmark::DoNotOptimize(result.p);
    benchmark::ClobberMemory();
  }
  const double macs = double(in) * double(out) * double(batch);
  state.counters["GFLOP/s"] = benchmark::Counter(2e-9 * macs, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["W GB/s"] =
      benchmark::Counter(4e-9 * double(in) * double(out), benchmark::Counter::kIsIterationInvariantRate);
  static const char* names[] = {"forward", "data", "weight"};
  state.SetLabel(names[pass]);
}

void BM_linear_ours(benchmark::State& state) {
  run(state, [](const Product& p, const float* A, const float* B, float* C) {
    cpu::sgemm(p.ta, p.tb, p.M, p.N, p.K, 1.f, A, p.lda, B, p.ldb, 0.f, C, p.ldc);
  });
}

#ifdef PW_HAVE_OPENBLAS
void BM_linear_openblas(benchmark::State& state) {
  run(state, [](const Product& p, const float* A, const float* B, float* C) {
    cblas_sgemm(CblasRowMajor, p.ta ? CblasTrans : CblasNoTrans, p.tb ? CblasTrans : CblasNoTrans, int(p.M), int(p.N),
                int(p.K), 1.f, A, int(p.lda), B, int(p.ldb), 0.f, C, int(p.ldc));
  });
}
#endif

// {in, out, batch, pass}
void shapes(benchmark::internal::Benchmark* b) {
  for (int64_t batch : {1, 16})
    for (auto [in, out] : {std::pair<int64_t, int64_t>{9216, 4096}, {4096, 4096}, {25088, 4096}})
      for (int pass : {forward, data, weight}) b->Args({in, out, batch, pass});
  b->ArgNames({"in", "out", "batch", "pass"});
}

}  // namespace

// Wall-clock time: the kernels are multi-threaded, CPU time of the main thread would flatter them.
BENCHMARK(BM_linear_ours)->Apply(shapes)->UseRealTime()->Unit(benchmark::kMillisecond);
#ifdef PW_HAVE_OPENBLAS
BENCHMARK(BM_linear_openblas)->Apply(shapes)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
#ifdef PW_HAVE_OPENBLAS
  openblas_set_num_threads(omp_get_max_threads());  // compare like with like
#endif
  std::printf("threads: %d\n", omp_get_max_threads());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
