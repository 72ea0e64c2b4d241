// What the kernel development files bench/kernels/*.cu share (llm.c's dev/cuda/common.h):
// the command line, device buffers, poisoning, the comparison with a CPU reference, timing
// with CUDA events and the results table. Like every kernel file it is compiled twice: by
// nvcc for a GPU, and by the host compiler against kernels/simt for the CPU, where launches
// are synchronous and an event records the host clock, so the same timing code measures
// wall-clock time there (simt timings are CPU timings: they say nothing about a GPU).
#pragma once
#include "kernels/cuda/compat.cuh"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace pw::kernels::PW_KERNEL_NS::dev {

#ifdef __CUDACC__
constexpr bool kSimt = false;
#else
constexpr bool kSimt = true;
#endif

// The build and the device, for the first line of the output; false when there is no GPU to
// run on (the nvcc build on a machine without one).
inline bool describe_device(const char* program) {
  if (kSimt) {
#ifndef __CUDACC__
    std::printf(
        "%s: simt, the CUDA execution model on the CPU (%d workers). Timings here are "
        "CPU timings, not GPU timings.\n",
        program, ::pw::simt::workers());
#endif
    return true;
  }
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    std::printf("%s: no CUDA GPU present; the simt build of this file runs on the CPU\n", program);
    return false;
  }
  cudaDeviceProp prop;
  PW_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("%s: %s, %d SMs, sm_%d%d\n", program, prop.name, prop.multiProcessorCount, prop.major, prop.minor);
  return true;
}

// `prog [VERSION|all] [SIZES...] [--iters N]`: one version or every one, the timed problem's
// sizes (none for the defaults, else exactly as many as the file names), timed runs per
// version after one warm-up run.
struct Options {
  int version = 0;  // 0: every version
  std::vector<int64_t> sizes;
  int iters = kSimt ? 2 : 10;
};

inline Options parse_options(int argc, char** argv, const std::vector<int64_t>& default_sizes, const char* usage) {
  Options o;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::printf("usage: %s %s\n", argv[0], usage);
      std::exit(0);
    } else if (a == "--iters" && i + 1 < argc) {
      o.iters = std::atoi(argv[++i]);
    } else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr, "%s: unknown option %s\nusage: %s %s\n", argv[0], a.c_str(), argv[0], usage);
      std::exit(2);
    } else {
      positional.push_back(a);
    }
  }
  size_t first_size = 0;
  if (!positional.empty() && positional[0] == "all") {
    first_size = 1;
  } else if (!positional.empty() && positional.size() != default_sizes.size()) {
    o.version = std::atoi(positional[0].c_str());
    first_size = 1;
  }
  for (size_t i = first_size; i < positional.size(); ++i) o.sizes.push_back(std::atoll(positional[i].c_str()));
  if (o.sizes.empty()) o.sizes = default_sizes;
  bool ok = o.sizes.size() == default_sizes.size() && o.iters >= 1 && o.version >= 0;
  for (int64_t s : o.sizes) ok = ok && s >= 1;
  if (!ok) {
    std::fprintf(stderr, "usage: %s %s\n", argv[0], usage);
    std::exit(2);
  }
  return o;
}

// n floats of device memory.
class DeviceFloats {
 public:
  explicit DeviceFloats(size_t n) : n_(n) {
    PW_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), std::max<size_t>(n, 1) * sizeof(float)));
  }
  explicit DeviceFloats(const std::vector<float>& host) : DeviceFloats(host.size()) { upload(host); }
  ~DeviceFloats() { cudaFree(p_); }
  DeviceFloats(const DeviceFloats&) = delete;
  DeviceFloats& operator=(const DeviceFloats&) = delete;

  float* get() const { return p_; }
  size_t size() const { return n_; }
  void upload(const std::vector<float>& host) {
    if (host.size() != n_) throw std::logic_error("DeviceFloats::upload: wrong size");
    PW_CUDA_CHECK(cudaMemcpy(p_, host.data(), n_ * sizeof(float), cudaMemcpyHostToDevice));
  }
  std::vector<float> download() const {
    std::vector<float> host(n_);
    PW_CUDA_CHECK(cudaMemcpy(host.data(), p_, n_ * sizeof(float), cudaMemcpyDeviceToHost));
    return host;
  }
  // Every byte 0xFF: every float a NaN, so an output element a kernel forgets to write fails
  // the comparison.
  void poison() { PW_CUDA_CHECK(cudaMemset(p_, 0xFF, n_ * sizeof(float))); }

 private:
  float* p_ = nullptr;
  size_t n_;
};

inline std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// out[i] against ref[i] within tol[i] (NaN never matches). Prints the first few mismatches,
// each prefixed by `what` and named [row][column] when row_length > 0, and returns whether
// every element matched.
inline bool matches(const float* out, const double* ref, const double* tol, size_t n, const std::string& what,
                    size_t row_length = 0) {
  int bad = 0;
  for (size_t i = 0; i < n; ++i) {
    if (std::abs(double(out[i]) - ref[i]) <= tol[i]) continue;
    if (++bad > 3) continue;
    char where[64];
    if (row_length)
      std::snprintf(where, sizeof where, "[%zu][%zu]", i / row_length, i % row_length);
    else
      std::snprintf(where, sizeof where, " element %zu", i);
    std::printf("    MISMATCH %s%s = %.9g, expected %.9g (tolerance %.3g)\n", what.c_str(), where, double(out[i]),
                ref[i], tol[i]);
  }
  if (bad > 3) std::printf("    ... %d mismatches in all (%s)\n", bad, what.c_str());
  return bad == 0;
}

// The float error bound of a sum of `terms` products: with mag the same sum over absolute
// values (computed in double), |result - exact| <= 2 (terms + 2) eps mag, plus a tiny floor.
inline double sum_tolerance(int64_t terms, double mag) {
  return 2.0 * double(terms + 2) * std::numeric_limits<float>::epsilon() * mag + 1e-30;
}

// Mean milliseconds per call of f over `iters` calls after one warm-up call, between two CUDA
// events (on simt: the host clock around synchronous launches).
template <class F>
double time_ms(F&& f, int iters) {
  f();
  PW_CUDA_CHECK(cudaDeviceSynchronize());
  cudaEvent_t start, stop;
  PW_CUDA_CHECK(cudaEventCreate(&start));
  PW_CUDA_CHECK(cudaEventCreate(&stop));
  PW_CUDA_CHECK(cudaEventRecord(start));
  for (int i = 0; i < iters; ++i) f();
  PW_CUDA_CHECK(cudaEventRecord(stop));
  PW_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  PW_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  PW_CUDA_CHECK(cudaEventDestroy(start));
  PW_CUDA_CHECK(cudaEventDestroy(stop));
  return double(ms) / iters;
}

// One row of the results table. A reference row (a vendor library) is not a version: the
// ratios are to the best version, and each version's fraction of the reference is a column
// of its own.
struct Timing {
  std::string name;
  double ms;
  bool reference = false;
};

inline void print_timings(const std::vector<Timing>& rows, double flops) {
  if (rows.empty()) return;
  double best = 0;
  const Timing* ref = nullptr;
  for (const Timing& t : rows) {
    if (t.reference)
      ref = &t;
    else if (best == 0 || t.ms < best)
      best = t.ms;
  }
  std::printf("  %-34s %12s %12s %9s", "version", "ms", "GFLOP/s", "vs best");
  if (ref) std::printf(" %12s", ("vs " + ref->name).c_str());
  std::printf("\n");
  for (const Timing& t : rows) {
    std::printf("  %-34s %12.4f %12.1f", t.name.c_str(), t.ms, flops / (t.ms * 1e6));
    if (t.reference)
      std::printf(" %9s", "-");
    else
      std::printf(" %9.3f", best / t.ms);
    if (ref) std::printf(" %12.3f", ref->ms / t.ms);
    std::printf("\n");
  }
}

}  // namespace pw::kernels::PW_KERNEL_NS::dev
