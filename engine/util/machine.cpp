#include "engine/util/machine.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "engine/util/threads.h"

namespace pw {

namespace {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
#else
constexpr int kLanes = 8;
#endif
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));
constexpr int kChains = 12;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// kChains independent a = a * b + c chains (one FMA each with -march=native), `iterations` times.
__attribute__((noinline)) float fma_chains(int64_t iterations, float seed) {
  Vec a[kChains];
  Vec b, c;
  for (int l = 0; l < kLanes; ++l) {
    b[l] = 0.999999f;
    c[l] = 1e-7f * seed;
  }
  for (int k = 0; k < kChains; ++k)
    for (int l = 0; l < kLanes; ++l) a[k][l] = seed + 0.01f * (float)(k + l);
  for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (int k = 0; k < kChains; ++k) a[k] = a[k] * b + c;
  }
  float sum = 0;
  for (int k = 0; k < kChains; ++k)
    for (int l = 0; l < kLanes; ++l) sum += a[k][l];
  return sum;
}

// One timed parallel run of `iterations` per thread: GFLOP/s.
double fma_run(int64_t iterations) {
  volatile float sink = 0;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel
  {
    const float s = fma_chains(iterations, 1.0f + (float)omp_get_thread_num());
#pragma omp critical
    sink = sink + s;
  }
  const double t = seconds_since(t0);
  const double flops = 2.0 * kLanes * kChains * (double)iterations * omp_get_max_threads();
  return flops / t / 1e9;
}

}  // namespace

double measure_fma_gflops(double seconds) {
  // Double the iteration count until a run takes a quarter of `seconds` (thread start-up then
  // counts for little), scale it to `seconds`, then take the best of three.
  int64_t iterations = 1 << 14;
  double t = 0;
  while (true) {
    const auto t0 = std::chrono::steady_clock::now();
    fma_run(iterations);
    t = seconds_since(t0);
    if (t >= seconds / 4 || iterations > (int64_t(1) << 40)) break;
    iterations *= 2;
  }
  iterations = std::max<int64_t>(iterations, (int64_t)((double)iterations * seconds / t));
  double best = 0;
  for (int r = 0; r < 3; ++r) best = std::max(best, fma_run(iterations));
  return best;
}

double measure_bandwidth_gbs() {
  const int64_t n = (64 << 20) / sizeof(float);
  std::vector<float> a((size_t)n), b((size_t)n, 1.0f), c((size_t)n, 2.0f);
  const float s = 0.5f;
  double best = 0;
  for (int r = 0; r < 4; ++r) {  // the first pass also faults the pages in: not counted
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) a[(size_t)i] = b[(size_t)i] + s * c[(size_t)i];
    const double t = seconds_since(t0);
    if (r > 0) best = std::max(best, 12.0 * (double)n / t / 1e9);
  }
  volatile float sink = a[(size_t)n / 2];
  (void)sink;
  return best;
}

int fma_vector_bits() { return kLanes * 32; }

MachinePeaks measure_machine() {
  MachinePeaks p;
  p.threads = num_threads();
  p.vector_bits = fma_vector_bits();
  p.gflops = measure_fma_gflops();
  p.bandwidth_gbs = measure_bandwidth_gbs();
  return p;
}

}  // namespace pw
