// Benchmark of CPU training of the reference CNN (fmnist-cnn) and of the non-GEMM kernels that
// share its time with the GEMMs.
//
//   BM_train_step: one full step on a random batch of 64 28x28 images (forward, cross-entropy,
//     backward, SGD with Nesterov momentum and weight decay, as `patchwork train`), reporting
//     images/s and GFLOP/s for the model's multiply-adds (computed from its layer shapes below).
//   BM_<kernel>: the per-op kernels at the sizes of the model's first block, [64, 32, 28, 28]
//     (f32; im2col/col2im at conv2's, [64, 32, 14, 14] with 3x3 pad 1), each reporting GB/s of
//     compulsory traffic (every input read once, every output written once) so that a
//     memory-bound kernel can be judged against the machine. The ReLU kernels are plain
//     streaming loops, there as the yardstick for that traffic.
//   BM_op_bn_relu_pool: batch_norm -> relu -> max_pool2d through the engine ops, forward and
//     backward, so that allocations and copies around the kernels count too.
//
// Run with the thread count you mean to compare and several repetitions, e.g.
//   OMP_NUM_THREADS=2 ./build/bench/bench_train --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "bench/bench_util.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "kernels/cpu/conv.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/norm.h"
#include "kernels/cpu/pool.h"
#include "models/registry.h"

namespace {

namespace cpu = pw::kernels::cpu;
using pw::Tensor;

constexpr int64_t kBatch = 64;

// Multiply-adds (x2) of fmnist-cnn for one image, forward + backward. Forward: conv1 1->32 on
// 28x28, conv2 32->64 on 14x14 (3x3 kernels), fc 3136->128, fc 128->10. Backward costs twice the
// forward for every layer except conv1, whose input (the image) needs no gradient: once.
double fmnist_cnn_flops_per_image() {
  const double conv1 = 2.0 * 32 * 1 * 9 * 28 * 28, conv2 = 2.0 * 64 * 32 * 9 * 14 * 14;
  const double fc1 = 2.0 * 3136 * 128, fc2 = 2.0 * 128 * 10;
  return 2 * conv1 + 3 * (conv2 + fc1 + fc2);
}

using pw::bench::random_vec;

void BM_train_step(benchmark::State& state) {
  pw::manual_seed(0);
  pw::models::ModelPtr model = pw::models::create("fmnist-cnn", {10, 1});
  model->train();
  pw::optim::SGD opt(model->parameters(), 0.01, 0.9, 5e-4, /*nesterov=*/true);
  pw::Generator gen(1);
  Tensor x = Tensor::randn({kBatch, 1, 28, 28}, pw::DType::f32, &gen);
  std::vector<int32_t> labels(kBatch);
  for (int64_t i = 0; i < kBatch; ++i) labels[i] = int32_t(i % 10);
  Tensor y = Tensor::from_vector(labels, {kBatch});
  auto step = [&] {
    opt.zero_grad();
    Tensor loss = pw::cross_entropy((*model)(x), y);
    loss.backward();
    opt.step();
    benchmark::DoNotOptimize(loss.item());
  };
  step();  // warm-up: thread pool, GEMM packing buffers, first allocations
  for (auto _ : state) step();
  state.counters["images/s"] = benchmark::Counter(double(kBatch), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(kBatch * fmnist_cnn_flops_per_image() * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_train_step)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---------------------------------------------------------------- per-op kernels

constexpr int64_t kC = 32, kH = 28, kW = 28;
constexpr int64_t kElems = kBatch * kC * kH * kW;
constexpr int64_t kPooled = kBatch * kC * (kH / 2) * (kW / 2);

void set_bytes(benchmark::State& state, double bytes) {
  state.counters["GB/s"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

const cpu::Pool2dShape kPool2{kBatch * kC, kH, kW, kH / 2, kW / 2, 2, 2, 2, 2, 0, 0, 1, 1};

void BM_max_pool2d_forward(benchmark::State& state) {
  std::vector<float> x = random_vec(kElems, 1), y(kPooled);
  std::vector<int32_t> idx(kPooled);
  for (auto _ : state) {
    cpu::max_pool2d_forward<float>(kPool2, x.data(), y.data(), idx.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 4.0 * (kElems + 2 * kPooled));
}
BENCHMARK(BM_max_pool2d_forward)->UseRealTime();

void BM_max_pool2d_backward(benchmark::State& state) {
  std::vector<float> x = random_vec(kElems, 1), y(kPooled), dy = random_vec(kPooled, 2), dx(kElems);
  std::vector<int32_t> idx(kPooled);
  cpu::max_pool2d_forward<float>(kPool2, x.data(), y.data(), idx.data());
  for (auto _ : state) {
    cpu::max_pool2d_backward<float>(kPool2, dy.data(), idx.data(), dx.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 4.0 * (kElems + 2 * kPooled));
}
BENCHMARK(BM_max_pool2d_backward)->UseRealTime();

// Statistics and normalization, as batch_norm runs them in training.
void BM_batch_norm_train_forward(benchmark::State& state) {
  std::vector<float> x = random_vec(kElems, 1, 0.5f, 2.f), y(kElems), mean(kC), var(kC);
  std::vector<float> w = random_vec(kC, 2), b = random_vec(kC, 3);
  for (auto _ : state) {
    cpu::batch_norm_stats<float>(x.data(), mean.data(), var.data(), kBatch, kC, kH * kW);
    cpu::batch_norm_forward<float>(x.data(), mean.data(), var.data(), w.data(), b.data(), y.data(), kBatch, kC, kH * kW,
                                   1e-5);
    benchmark::ClobberMemory();
  }
  set_bytes(state, 4.0 * 2 * kElems);
}
BENCHMARK(BM_batch_norm_train_forward)->UseRealTime();

void BM_batch_norm_train_backward(benchmark::State& state) {
  std::vector<float> x = random_vec(kElems, 1, 0.5f, 2.f), dy = random_vec(kElems, 2), dx(kElems), mean(kC), var(kC),
                     dw(kC), db(kC);
  std::vector<float> w = random_vec(kC, 3);
  cpu::batch_norm_stats<float>(x.data(), mean.data(), var.data(), kBatch, kC, kH * kW);
  for (auto _ : state) {
    cpu::batch_norm_backward<float>(x.data(), dy.data(), mean.data(), var.data(), w.data(), dx.data(), dw.data(),
                                    db.data(), kBatch, kC, kH * kW, 1e-5,
                                    /*batch_stats=*/true);
    benchmark::ClobberMemory();
  }
  set_bytes(state, 4.0 * 3 * kElems);
}
BENCHMARK(BM_batch_norm_train_backward)->UseRealTime();

// conv1 of the model: 1->32 channels, 3x3, padding 1, on 28x28.
const pw::kernels::ConvGeometry kConv1{kBatch, 1, kH, kW, kC, 3, 3, kH, kW, 1, 1, 1, 1, 1, 1, 1};
// conv2 of the model: 32->64 channels on 14x14 (its im2col is the larger one).
const pw::kernels::ConvGeometry kConv2{kBatch, 32, 14, 14, 64, 3, 3, 14, 14, 1, 1, 1, 1, 1, 1, 1};

void BM_conv2d_backward_bias(benchmark::State& state) {
  std::vector<float> dy = random_vec(kElems, 1), db(kC);
  for (auto _ : state) {
    cpu::conv2d_backward_bias<float>(kConv1, dy.data(), db.data());
    benchmark::ClobberMemory();
  }
  set_bytes(state, 4.0 * kElems);
}
BENCHMARK(BM_conv2d_backward_bias)->UseRealTime();

// im2col / col2im of conv2 for the whole batch, images spread over the threads with a column
// buffer each, as the conv drivers run them.
void BM_im2col(benchmark::State& state) {
  const pw::kernels::ConvGeometry& s = kConv2;
  const int64_t in = s.C * s.H * s.W, cols = s.C * 9 * s.Ho * s.Wo;
  std::vector<float> x = random_vec(s.N * in, 1);
  for (auto _ : state) {
#pragma omp parallel
    {
      std::vector<float> col(cols);
#pragma omp for schedule(static)
      for (int64_t n = 0; n < s.N; ++n)
        cpu::im2col<float>(x.data() + n * in, s.C, s.H, s.W, 3, 3, 1, 1, 1, 1, 1, 1, s.Ho, s.Wo, col.data());
    }
    benchmark::ClobberMemory();
  }
  set_bytes(state, 4.0 * s.N * (in + cols));
}
BENCHMARK(BM_im2col)->UseRealTime();

void BM_col2im(benchmark::State& state) {
  const pw::kernels::ConvGeometry& s = kConv2;
  const int64_t in = s.C * s.H * s.W, cols = s.C * 9 * s.Ho * s.Wo;
  std::vector<float> col = random_vec(cols, 1), x(s.N * in);
  for (auto _ : state) {
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < s.N; ++n)
      cpu::col2im<float>(col.data(), s.C, s.H, s.W, 3, 3, 1, 1, 1, 1, 1, 1, s.Ho, s.Wo, x.data() + n * in);
    benchmark::ClobberMemory();
  }
  set_bytes(state, 4.0 * s.N * (2 * in + cols));
}
BENCHMARK(BM_col2im)->UseRealTime();

void BM_relu_forward(benchmark::State& state) {
  std::vector<float> x = random_vec(kElems, 1), y(kElems);
  for (auto _ : state) {
    cpu::unary<float>(cpu::UnaryOp::relu, x.data(), y.data(), kElems, 0.f);
    benchmark::ClobberMemory();
  }
  set_bytes(state, 4.0 * 2 * kElems);
}
BENCHMARK(BM_relu_forward)->UseRealTime();

void BM_relu_backward(benchmark::State& state) {
  std::vector<float> y = random_vec(kElems, 1), g = random_vec(kElems, 2), dx(kElems);
  for (auto _ : state) {
    cpu::relu_backward<float>(0, y.data(), g.data(), dx.data(), kElems);
    benchmark::ClobberMemory();
  }
  set_bytes(state, 4.0 * 3 * kElems);
}
BENCHMARK(BM_relu_backward)->UseRealTime();

// The engine ops with their allocations and graph recording, forward + backward, so that
// copies and zero-fills around the kernels show up too.
void BM_op_bn_relu_pool(benchmark::State& state) {
  pw::Generator gen(3);
  Tensor x = Tensor::randn({kBatch, kC, kH, kW}, pw::DType::f32, &gen).set_requires_grad(true);
  Tensor w = Tensor::ones({kC}).set_requires_grad(true);
  Tensor b = Tensor::zeros({kC}).set_requires_grad(true);
  Tensor rm = Tensor::zeros({kC}), rv = Tensor::ones({kC});
  const pw::Pool2dParams p{2, 2, 2, 2};
  for (auto _ : state) {
    Tensor out = pw::max_pool2d(pw::relu(pw::batch_norm(x, rm, rv, w, b, true)), p);
    pw::sum(out).backward();
    x.zero_grad();
    w.zero_grad();
    b.zero_grad();
  }
}
BENCHMARK(BM_op_bn_relu_pool)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
