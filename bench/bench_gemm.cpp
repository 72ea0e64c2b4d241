// Benchmark of the CPU SGEMM: our blocked kernel, the reference triple loop, and OpenBLAS
// (when built with PW_HAVE_OPENBLAS), on square row-major C = A * B at 256 .. 2048.
// Each benchmark reports GFLOP/s (2*M*N*K flops per iteration, over wall-clock time since the
// kernels are multi-threaded); at the end a table gives ours / OpenBLAS per size.
// Run with the thread count you mean to compare, e.g. OMP_NUM_THREADS=2 ./bench_gemm;
// OpenBLAS is set to the same number of threads.
#include <benchmark/benchmark.h>
#include <omp.h>
#include <unistd.h>

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

BENCHMARK(BM_sgemm_ours)->Arg(256)->Arg(512)->Arg(1024)->Arg(2048)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_sgemm_reference)->Arg(256)->Arg(512)->UseRealTime()->Unit(benchmark::kMillisecond);
#ifdef PW_HAVE_OPENBLAS
BENCHMARK(BM_sgemm_openblas)->Arg(256)->Arg(512)->Arg(1024)->Arg(2048)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif

namespace {

// The console reporter, also remembering GFLOP/s per (function, size) for the ratio table.
// With --benchmark_repetitions the mean of the repetitions is used.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  // Colors only on a terminal, so that redirected output stays plain text.
  RatioReporter() : ConsoleReporter(isatty(fileno(stdout)) ? OO_ColorTabular : OO_Tabular) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.run_type != Run::RT_Iteration || r.error_occurred) continue;
      auto it = r.counters.find("GFLOP/s");
      if (it == r.counters.end()) continue;
      Sum& s = gflops_[r.run_name.function_name][std::stol(r.run_name.args)];
      s.total += it->second.value;
      s.count += 1;
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void PrintRatios() const {
    auto ours = gflops_.find("BM_sgemm_ours"), blas = gflops_.find("BM_sgemm_openblas");
    if (ours == gflops_.end() || blas == gflops_.end()) {
      std::printf("\n(no ratio table: needs both BM_sgemm_ours and BM_sgemm_openblas)\n");
      return;
    }
    std::printf("\n%-6s %14s %18s %18s\n", "size", "ours GFLOP/s", "OpenBLAS GFLOP/s",
                "ratio_vs_openblas");
    for (const auto& [size, s] : ours->second) {
      auto b = blas->second.find(size);
      if (b == blas->second.end()) continue;
      const double o = s.total / s.count, r = b->second.total / b->second.count;
      std::printf("%-6ld %14.1f %18.1f %18.2f\n", size, o, r, o / r);
    }
  }

 private:
  struct Sum {
    double total = 0;
    int count = 0;
  };
  std::map<std::string, std::map<long, Sum>> gflops_;  // function -> size -> GFLOP/s
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
