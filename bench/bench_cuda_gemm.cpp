// GPU benchmark: what the engine runs against the vendor libraries. Our SGEMM's dispatcher
// (kernels/cuda/gemm.cu) against cublasSgemm on square row-major C = A * B at 1024 .. 8192
// and on the engine's real shapes (bench/gemm_shapes.h, with the plan each gets),
// and our conv2d (kernels/cuda/conv.cu) against cuDNN on the five conv layers of
// torchvision's AlexNet at batch 16 (forward by implicit GEMM, backward-data,
// backward-weight; against cuDNN when built with it, PW_HAVE_CUDNN). The kernel ladders --
// every SGEMM rung v1 .. v5, the im2col forward beside the implicit one -- are timed by their
// development files, bench/kernels/*.cu (./build/bench/dev_gemm_cuda, ...).
//
// Timing: CUDA events around each launch (Google Benchmark's manual time), after a warm-up.
// Each row reports GFLOP/s (2*M*N*K, or 2*N*O*(C/g)*kh*kw*Ho*Wo per conv pass) and its speed as
// a fraction of the reference (x_cuBLAS / x_cuDNN, from the reference's median time at the
// same size, measured once), and for the GEMMs the largest difference from cuBLAS's result
// relative to the largest element of C (a check that the timed kernel computes the product).
// The references run in plain FP32: cuBLAS in its default math mode (no TF32 tensor cores
// unless NVIDIA_TF32_OVERRIDE asks for them) and cuDNN with CUDNN_FMA_MATH.
//
// Built only when the CUDA build exists (bench/CMakeLists.txt, PW_HAVE_CUDA); without a GPU
// at run time it says so and exits. Needs the nvcc build of kernels/cuda (namespace
// pw::kernels::cuda), cuBLAS and the CUDA runtime.
//   ./build/bench/bench_cuda_gemm --benchmark_filter=sgemm
#include <benchmark/benchmark.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#ifdef PW_HAVE_CUDNN
#include <cudnn.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/gemm_shapes.h"

#define PW_LAUNCHER_NS cuda
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

namespace {

namespace gpu = pw::kernels::cuda;
constexpr gpu::Tag kTag{};

[[noreturn]] void die(const char* what, const char* file, int line, const std::string& why) {
  std::fprintf(stderr, "%s:%d: %s failed: %s\n", file, line, what, why.c_str());
  std::exit(1);
}
#define CHECK_CUDA(call)                                                               \
  do {                                                                                 \
    const cudaError_t err_ = (call);                                                   \
    if (err_ != cudaSuccess) die(#call, __FILE__, __LINE__, cudaGetErrorString(err_)); \
  } while (0)
#define CHECK_CUBLAS(call)                                                                      \
  do {                                                                                          \
    const cublasStatus_t st_ = (call);                                                          \
    if (st_ != CUBLAS_STATUS_SUCCESS) die(#call, __FILE__, __LINE__, std::to_string(int(st_))); \
  } while (0)
#ifdef PW_HAVE_CUDNN
#define CHECK_CUDNN(call)                                                                      \
  do {                                                                                         \
    const cudnnStatus_t st_ = (call);                                                          \
    if (st_ != CUDNN_STATUS_SUCCESS) die(#call, __FILE__, __LINE__, cudnnGetErrorString(st_)); \
  } while (0)
#endif

bool have_gpu() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return n > 0;
}

// A device buffer of n floats, uniform in [-1, 1] (or uninitialized when seed is 0).
class DeviceBuffer {
 public:
  DeviceBuffer(size_t n, uint32_t seed) : n_(n) {
    CHECK_CUDA(cudaMalloc(&p_, std::max<size_t>(n, 1) * sizeof(float)));
    if (seed == 0) return;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    std::vector<float> h(n);
    for (float& x : h) x = dist(rng);
    CHECK_CUDA(cudaMemcpy(p_, h.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  }
  ~DeviceBuffer() { cudaFree(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  float* get() const { return p_; }
  size_t size() const { return n_; }
  std::vector<float> read() const {
    std::vector<float> h(n_);
    CHECK_CUDA(cudaMemcpy(h.data(), p_, n_ * sizeof(float), cudaMemcpyDeviceToHost));
    return h;
  }

 private:
  float* p_ = nullptr;
  size_t n_;
};

// Milliseconds of GPU time that f's launches take, from CUDA events on the default stream.
template <class F>
float time_ms(F&& f) {
  static cudaEvent_t start = nullptr, stop = nullptr;
  if (!start) {
    CHECK_CUDA(cudaEventCreate(&start));
    CHECK_CUDA(cudaEventCreate(&stop));
  }
  CHECK_CUDA(cudaEventRecord(start));
  f();
  CHECK_CUDA(cudaEventRecord(stop));
  CHECK_CUDA(cudaEventSynchronize(stop));
  float ms = 0;
  CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
  return ms;
}

// The median of `reps` timings after one warm-up run.
template <class F>
double median_ms(F&& f, int reps = 7) {
  f();
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) t.push_back(time_ms(f));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// Runs f in the benchmark loop with event timing; sets GFLOP/s and, when ref_ms > 0, the
// speed as a fraction of the reference ("x_<name>").
template <class F>
void timed_loop(benchmark::State& state, double flops, double ref_ms, const char* ref_name, F&& f) {
  f();  // warm-up
  CHECK_CUDA(cudaDeviceSynchronize());
  double total_ms = 0;
  for (auto _ : state) {
    const double ms = time_ms(f);
    total_ms += ms;
    state.SetIterationTime(ms * 1e-3);
  }
  const double mean_ms = total_ms / double(state.iterations());
  state.counters["GFLOP/s"] = flops / (mean_ms * 1e6);
  if (ref_ms > 0) state.counters[std::string("x_") + ref_name] = ref_ms / mean_ms;
}

// ---------------------------------------------------------------------------- SGEMM

cublasHandle_t cublas() {
  static cublasHandle_t h = [] {
    cublasHandle_t handle;
    CHECK_CUBLAS(cublasCreate(&handle));
    CHECK_CUBLAS(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));  // FP32, no TF32
    return handle;
  }();
  return h;
}

// Row-major C = A B is column-major C^T = B^T A^T: cuBLAS gets the operands swapped.
void cublas_sgemm(int n, const float* A, const float* B, float* C) {
  const float alpha = 1.f, beta = 0.f;
  CHECK_CUBLAS(cublasSgemm(cublas(), CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, B, n, A, n, &beta, C, n));
}

struct GemmOperands {
  DeviceBuffer A, B, C, Cref;
  explicit GemmOperands(int n)
      : A(size_t(n) * n, 1), B(size_t(n) * n, 2), C(size_t(n) * n, 0), Cref(size_t(n) * n, 0) {}
};

// One set of operands per size, shared by every benchmark of that size, and cuBLAS's median
// time and result for it.
struct GemmSize {
  GemmOperands ops;
  double cublas_ms;
  explicit GemmSize(int n) : ops(n) {
    cublas_ms = median_ms([&] { cublas_sgemm(n, ops.A.get(), ops.B.get(), ops.Cref.get()); });
  }
};
GemmSize& gemm_size(int n) {
  static std::map<int, std::unique_ptr<GemmSize>> sizes;
  auto& s = sizes[n];
  if (!s) s = std::make_unique<GemmSize>(n);
  return *s;
}

void BM_cublas_sgemm(benchmark::State& state) {
  const int n = int(state.range(0));
  GemmSize& s = gemm_size(n);
  timed_loop(state, 2.0 * n * n * n, s.cublas_ms, "cuBLAS",
             [&] { cublas_sgemm(n, s.ops.A.get(), s.ops.B.get(), s.ops.C.get()); });
}

// The dispatcher: what the engine runs.
void BM_our_sgemm(benchmark::State& state) {
  const int n = int(state.range(0));
  GemmSize& s = gemm_size(n);
  auto run = [&] {
    gpu::sgemm(kTag, false, false, n, n, n, 1.f, s.ops.A.get(), n, s.ops.B.get(), n, 0.f, s.ops.C.get(), n);
  };
  run();
  const std::vector<float> c = s.ops.C.read(), ref = s.ops.Cref.read();
  double err = 0, scale = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    err = std::max(err, double(std::abs(c[i] - ref[i])));
    scale = std::max(scale, double(std::abs(ref[i])));
  }
  state.counters["err_vs_cuBLAS"] = err / std::max(scale, 1e-30);
  timed_loop(state, 2.0 * n * n * n, s.cublas_ms, "cuBLAS", run);
}

// ---------------------------------------------------------------------------- real shapes
// The engine's GEMMs (bench/gemm_shapes.h: conv weight gradients, small-batch Linear layers),
// with their transposes, the dispatcher's plan printed beside cuBLAS's time.

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T.
void cublas_sgemm_shape(const pw::bench::GemmShape& s, const float* A, const float* B, float* C) {
  const float alpha = 1.f, beta = 0.f;
  const int lda = int(s.ta ? s.M : s.K), ldb = int(s.tb ? s.K : s.N);
  CHECK_CUBLAS(cublasSgemm(cublas(), s.tb ? CUBLAS_OP_T : CUBLAS_OP_N, s.ta ? CUBLAS_OP_T : CUBLAS_OP_N, int(s.N),
                           int(s.M), int(s.K), &alpha, B, ldb, A, lda, &beta, C, int(s.N)));
}

void BM_real_shape(benchmark::State& state, const pw::bench::GemmShape& s) {
  DeviceBuffer A(size_t(s.M * s.K), 1), B(size_t(s.K * s.N), 2), C(size_t(s.M * s.N), 0), Cref(size_t(s.M * s.N), 0);
  const double ref_ms = median_ms([&] { cublas_sgemm_shape(s, A.get(), B.get(), Cref.get()); });
  auto run = [&] {
    gpu::sgemm(kTag, s.ta, s.tb, s.M, s.N, s.K, 1.f, A.get(), s.ta ? s.M : s.K, B.get(), s.tb ? s.K : s.N, 0.f, C.get(),
               s.N);
  };
  run();
  const std::vector<float> c = C.read(), ref = Cref.read();
  double err = 0, scale = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    err = std::max(err, double(std::abs(c[i] - ref[i])));
    scale = std::max(scale, double(std::abs(ref[i])));
  }
  state.counters["err_vs_cuBLAS"] = err / std::max(scale, 1e-30);
  const auto plan = gpu::sgemm_plan(kTag, s.M, s.N, s.K, s.count, s.ta, s.tb);
  state.counters["blocks"] = double(plan.blocks);
  state.counters["splits"] = plan.splits;
  state.SetLabel(plan.describe());
  timed_loop(state, 2.0 * s.M * s.N * s.K, ref_ms, "cuBLAS", run);
}

// ---------------------------------------------------------------------------- conv2d

struct Layer {
  const char* name;
  int64_t C, O, k, stride, pad, H;
};
// torchvision AlexNet features: conv1 .. conv5 with their input sizes (as bench/bench_conv.cpp).
const Layer kLayers[] = {
    {"conv1", 3, 64, 11, 4, 2, 224},  {"conv2", 64, 192, 5, 1, 2, 27},  {"conv3", 192, 384, 3, 1, 1, 13},
    {"conv4", 384, 256, 3, 1, 1, 13}, {"conv5", 256, 256, 3, 1, 1, 13},
};
constexpr int64_t kBatch = 16;
enum class Pass { forward, backward_data, backward_weight };
const char* pass_name(Pass p) {
  switch (p) {
    case Pass::forward: return "forward";
    case Pass::backward_data: return "backward_data";
    default: return "backward_weight";
  }
}

pw::kernels::ConvGeometry geometry_of(const Layer& l) {
  const int64_t out = (l.H + 2 * l.pad - l.k) / l.stride + 1;
  return {kBatch, l.C, l.H, l.H, l.O, l.k, l.k, out, out, l.stride, l.stride, l.pad, l.pad, 1, 1, 1};
}
double conv_flops(const pw::kernels::ConvGeometry& g) {
  return 2.0 * g.N * g.O * (g.C / g.groups) * g.kh * g.kw * g.Ho * g.Wo;
}

struct ConvBuffers {
  DeviceBuffer x, w, y, dx, dw, ws;
  ConvBuffers(const pw::kernels::ConvGeometry& g, int64_t ws_floats)
      : x(size_t(g.N * g.C * g.H * g.W), 1),
        w(size_t(g.O * (g.C / g.groups) * g.kh * g.kw), 2),
        y(size_t(g.N * g.O * g.Ho * g.Wo), 3),  // doubles as dy in the backward passes
        dx(size_t(g.N * g.C * g.H * g.W), 0),
        dw(size_t(g.O * (g.C / g.groups) * g.kh * g.kw), 0),
        ws(size_t(ws_floats), 0) {}
};

#ifdef PW_HAVE_CUDNN
cudnnHandle_t cudnn() {
  static cudnnHandle_t h = [] {
    cudnnHandle_t handle;
    CHECK_CUDNN(cudnnCreate(&handle));
    return handle;
  }();
  return h;
}

// cuDNN's fastest algorithm for the pass (by its own heuristics), with its workspace, timed.
double cudnn_ms(const pw::kernels::ConvGeometry& g, Pass pass, ConvBuffers& b) {
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  CHECK_CUDNN(cudnnCreateTensorDescriptor(&xd));
  CHECK_CUDNN(cudnnCreateTensorDescriptor(&yd));
  CHECK_CUDNN(cudnnCreateFilterDescriptor(&wd));
  CHECK_CUDNN(cudnnCreateConvolutionDescriptor(&cd));
  CHECK_CUDNN(
      cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(g.N), int(g.C), int(g.H), int(g.W)));
  CHECK_CUDNN(
      cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(g.N), int(g.O), int(g.Ho), int(g.Wo)));
  CHECK_CUDNN(cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(g.O), int(g.C / g.groups),
                                         int(g.kh), int(g.kw)));
  CHECK_CUDNN(cudnnSetConvolution2dDescriptor(cd, int(g.pad_h), int(g.pad_w), int(g.stride_h), int(g.stride_w),
                                              int(g.dilation_h), int(g.dilation_w), CUDNN_CROSS_CORRELATION,
                                              CUDNN_DATA_FLOAT));
  CHECK_CUDNN(cudnnSetConvolutionGroupCount(cd, int(g.groups)));
  CHECK_CUDNN(cudnnSetConvolutionMathType(cd, CUDNN_FMA_MATH));  // FP32, no TF32
  const float one = 1.f, zero = 0.f;
  void* ws = nullptr;
  size_t ws_bytes = 0;
  double ms = 0;
  int found = 0;
  if (pass == Pass::forward) {
    cudnnConvolutionFwdAlgoPerf_t perf[8];
    CHECK_CUDNN(cudnnGetConvolutionForwardAlgorithm_v7(cudnn(), xd, wd, cd, yd, 8, &found, perf));
    const cudnnConvolutionFwdAlgo_t algo = perf[0].algo;
    CHECK_CUDNN(cudnnGetConvolutionForwardWorkspaceSize(cudnn(), xd, wd, cd, yd, algo, &ws_bytes));
    if (ws_bytes) CHECK_CUDA(cudaMalloc(&ws, ws_bytes));
    ms = median_ms([&] {
      CHECK_CUDNN(cudnnConvolutionForward(cudnn(), &one, xd, b.x.get(), wd, b.w.get(), cd, algo, ws, ws_bytes, &zero,
                                          yd, b.y.get()));
    });
  } else if (pass == Pass::backward_data) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[8];
    CHECK_CUDNN(cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnn(), wd, yd, cd, xd, 8, &found, perf));
    const cudnnConvolutionBwdDataAlgo_t algo = perf[0].algo;
    CHECK_CUDNN(cudnnGetConvolutionBackwardDataWorkspaceSize(cudnn(), wd, yd, cd, xd, algo, &ws_bytes));
    if (ws_bytes) CHECK_CUDA(cudaMalloc(&ws, ws_bytes));
    ms = median_ms([&] {
      CHECK_CUDNN(cudnnConvolutionBackwardData(cudnn(), &one, wd, b.w.get(), yd, b.y.get(), cd, algo, ws, ws_bytes,
                                               &zero, xd, b.dx.get()));
    });
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[8];
    CHECK_CUDNN(cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnn(), xd, yd, cd, wd, 8, &found, perf));
    const cudnnConvolutionBwdFilterAlgo_t algo = perf[0].algo;
    CHECK_CUDNN(cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnn(), xd, yd, cd, wd, algo, &ws_bytes));
    if (ws_bytes) CHECK_CUDA(cudaMalloc(&ws, ws_bytes));
    ms = median_ms([&] {
      CHECK_CUDNN(cudnnConvolutionBackwardFilter(cudnn(), &one, xd, b.x.get(), yd, b.y.get(), cd, algo, ws, ws_bytes,
                                                 &zero, wd, b.dw.get()));
    });
  }
  if (ws) cudaFree(ws);
  cudnnDestroyConvolutionDescriptor(cd);
  cudnnDestroyFilterDescriptor(wd);
  cudnnDestroyTensorDescriptor(yd);
  cudnnDestroyTensorDescriptor(xd);
  return ms;
}
#endif

// The workspace our pass wants (the implicit forward needs none).
int64_t workspace_floats(const pw::kernels::ConvGeometry& g, Pass p) {
  switch (p) {
    case Pass::forward: return 0;
    case Pass::backward_data: return gpu::conv2d_workspace_floats(kTag, g, pw::kernels::ConvPass::backward_data);
    default: return gpu::conv2d_workspace_floats(kTag, g, pw::kernels::ConvPass::backward_weight);
  }
}

void BM_our_conv(benchmark::State& state, const Layer& l, Pass pass) {
  const pw::kernels::ConvGeometry g = geometry_of(l);
  const int64_t ws_floats = workspace_floats(g, pass);
  ConvBuffers b(g, ws_floats);
  double ref_ms = 0;
#ifdef PW_HAVE_CUDNN
  ref_ms = cudnn_ms(g, pass, b);
#endif
  timed_loop(state, conv_flops(g), ref_ms, "cuDNN", [&] {
    if (pass == Pass::forward)
      gpu::conv2d_forward_implicit(kTag, g, b.x.get(), b.w.get(), nullptr, b.y.get());
    else if (pass == Pass::backward_data)
      gpu::conv2d_backward_data(kTag, g, b.y.get(), b.w.get(), b.dx.get(), b.ws.get(), ws_floats);
    else
      gpu::conv2d_backward_weight(kTag, g, b.x.get(), b.y.get(), b.dw.get(), b.ws.get(), ws_floats);
  });
}

#ifdef PW_HAVE_CUDNN
void BM_cudnn_conv(benchmark::State& state, const Layer& l, Pass pass) {
  const pw::kernels::ConvGeometry g = geometry_of(l);
  ConvBuffers b(g, 0);
  // cuDNN's own timing loop (median of 7 launches) per benchmark iteration.
  double total = 0;
  for (auto _ : state) {
    const double ms = cudnn_ms(g, pass, b);
    total += ms;
    state.SetIterationTime(ms * 1e-3);
  }
  state.counters["GFLOP/s"] = conv_flops(g) / (total / double(state.iterations()) * 1e6);
}
#endif

void register_benchmarks() {
  for (int n : {1024, 2048, 4096, 8192}) {
    benchmark::RegisterBenchmark(("sgemm/cuBLAS/" + std::to_string(n)).c_str(), BM_cublas_sgemm)
        ->Arg(n)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("sgemm/dispatcher/" + std::to_string(n)).c_str(), BM_our_sgemm)
        ->Arg(n)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
  for (const pw::bench::GemmShape& shape : pw::bench::kRealGemmShapes)
    benchmark::RegisterBenchmark((std::string("sgemm/real/") + shape.what).c_str(),
                                 [&shape](benchmark::State& st) { BM_real_shape(st, shape); })
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  for (const Layer& l : kLayers)
    for (Pass p : {Pass::forward, Pass::backward_data, Pass::backward_weight}) {
      const std::string suffix = std::string(l.name) + "/" + pass_name(p);
      benchmark::RegisterBenchmark(("conv2d/ours/" + suffix).c_str(),
                                   [&l, p](benchmark::State& s) { BM_our_conv(s, l, p); })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
#ifdef PW_HAVE_CUDNN
      benchmark::RegisterBenchmark(("conv2d/cuDNN/" + suffix).c_str(),
                                   [&l, p](benchmark::State& s) { BM_cudnn_conv(s, l, p); })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
#endif
    }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (!have_gpu()) {
    std::printf("bench_cuda_gemm: no CUDA GPU present, nothing measured (skipped)\n");
    return 0;
  }
  cudaDeviceProp prop;
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("GPU: %s, %d SMs, sm_%d%d\n", prop.name, prop.multiProcessorCount, prop.major, prop.minor);
#ifndef PW_HAVE_CUDNN
  std::printf("built without cuDNN: conv2d rows have no x_cuDNN ratio\n");
#endif
  register_benchmarks();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
