// Benchmark of the CPU SGEMM: our blocked kernel, the reference triple loop, and OpenBLAS
// (when built with PW_HAVE_OPENBLAS), on square row-major C = A * B at 256 .. 2048.
// Each benchmark reports GFLOP/s (2*M*N*K flops per iteration, over wall-clock time since the
// kernels are multi-threaded); at the end a table gives ours / OpenBLAS per size.
// Run with the thread count you mean to compare (OpenBLAS is set to the same number), e.g.
//   OMP_NUM_THREADS=2 ./bench_gemm --benchmark_repetitions=5
//                     --benchmark_enable_random_interleaving=true
#include <benchmark/benchmark.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/gemm.h"

#ifdef PW_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace {

namespace cpu = pw::kernels::cpu;

struct Operands {
  std::vector<float> A, B, C;
  explicit Operands(int64_t n) : A(n * n), B(n * n), C(n * n) {
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    for (float& x : A) x = dist(rng);
    for (float& x : B) x = dist(rng);
  }
};

// Runs `gemm(n, A, B, C)` in the timing loop and reports GFLOP/s.
template <typename Gemm>
void run(benchmark::State& state, Gemm gemm) {
  const int64_t n = state.range(0);
  Operands op(n);
  gemm(n, op.A.data(), op.B.data(), op.C.data());  // warm-up: thread pool, packing buffers
  for (auto _ : state) {
    gemm(n, op.A.data(), op.B.data(), op.C.data());
    benchmark::DoNotOptimize(op.C.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2e-9 * double(n) * n * n, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_sgemm_ours(benchmark::State& state) {
  run(state, [](int64_t n, const float* A, const float* B, float* C) {
    cpu::sgemm(false, false, n, n, n, 1.f, A, n, B, n, 0.f, C, n);
  });
}

void BM_sgemm_reference(benchmark::State& state) {
  run(state, [](int64_t n, const float* A, const float* B, float* C) {
    cpu::gemm_reference<float>(false, false, n, n, n, 1.f, A, n, B, n, 0.f, C, n);
  });
}

#ifdef PW_HAVE_OPENBLAS
void BM_sgemm_openblas(benchmark::State& state) {
  run(state, [](int64_t n, const float* A, const float* B, float* C) {
    const int m = int(n);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, m, 1.f, A, m, B, m, 0.f, C, m);
  });
}
#endif

}  // namespace

// Wall-clock time: the kernels are multi-threaded, CPU time of the main thread would flatter them.
BENCHMARK(BM_sgemm_ours)->RangeMultiplier(2)->Range(256, 2048)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_sgemm_reference)->Arg(256)->Arg(512)->UseRealTime()->Unit(benchmark::kMillisecond);
#ifdef PW_HAVE_OPENBLAS
BENCHMARK(BM_sgemm_openblas)->RangeMultiplier(2)->Range(256, 2048)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif

namespace {

// The console reporter, also remembering GFLOP/s per (function, size) for the ratio table.
// With --benchmark_repetitions the table uses the median, which shrugs off a repetition that
// shared the cores with something else (add --benchmark_enable_random_interleaving=true so
// that such noise hits ours and OpenBLAS alike).
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  // Colors only on a terminal, so that redirected output stays plain text.
  RatioReporter() : ConsoleReporter(isatty(fileno(stdout)) ? OO_ColorTabular : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.error_occurred) continue;
      auto it = r.counters.find("GFLOP/s");
      if (it == r.counters.end()) continue;
      gflops_[r.run_name.function_name][std::stol(r.run_name.args)].push_back(it->second.value);
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void PrintRatios() const {
    auto ours = gflops_.find("BM_sgemm_ours"), blas = gflops_.find("BM_sgemm_openblas");
    if (ours == gflops_.end() || blas == gflops_.end()) {
      std::printf("\n(no ratio table: needs both BM_sgemm_ours and BM_sgemm_openblas)\n");
      return;
    }
    std::printf("\n%-6s %14s %18s %18s\n", "size", "ours GFLOP/s", "OpenBLAS GFLOP/s", "ratio_vs_openblas");
    for (const auto& [size, runs] : ours->second) {
      auto b = blas->second.find(size);
      if (b == blas->second.end()) continue;
      const double o = median(runs), r = median(b->second);
      std::printf("%-6ld %14.1f %18.1f %18.2f\n", size, o, r, o / r);
    }
  }

 private:
  static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t h = v.size() / 2;
    return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
  }
  // function -> size -> GFLOP/s of each repetition
  std::map<std::string, std::map<long, std::vector<double>>> gflops_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const int threads = omp_get_max_threads();
#ifdef PW_HAVE_OPENBLAS
  openblas_set_num_threads(threads);  // compare like with like
  std::printf("threads: %d (OpenMP for ours, OpenBLAS set to the same)\n", threads);
#else
  std::printf("threads: %d (built without OpenBLAS: no comparison)\n", threads);
#endif
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
