// `patchwork time`, as Caffe's `caffe time`: where a network's time goes. Every layer is timed on
// its own, forward and (in train mode) backward, on the activations the network gives it, and
// reported against the machine's measured limits: GFLOP/s against the FMA peak and bytes moved
// against the memory bandwidth, with its share of the sum over layers. The whole step is timed
// too (forward with the loss, backward, optimizer step: SGD with momentum), as images/s.
//
// Counting. A convolution or linear layer's forward does 2·MACs·batch FLOPs (MACs from
// models::summarize); its backward twice that (input and weight gradients; the first layer,
// whose input needs no gradient, once). Other layers count no FLOPs. Bytes moved are an estimate
// of the minimum: forward reads the input and the parameters and writes the output; backward
// reads the output gradient, the input and the parameters and writes the input gradient and the
// parameter gradients. Times are medians over the iterations, after one warm-up.
#pragma once
#include <string>
#include <vector>

#include "engine/device/device.h"
#include "engine/tensor.h"
#include "engine/util/machine.h"

namespace pw::tasks {

struct TimeConfig {
  std::string model = "alexnet";
  double width = 1;  // small networks' width
  int64_t batch = 16;
  Shape input;        // one sample C,H,W (T,C,H,W tiled); empty: the network's native size
  bool train = true;  // false: forward only, in eval mode
  Device device = Device::cpu();
  int64_t iterations = 5;  // timed runs per measurement (median), after one warm-up
  MachinePeaks peaks;      // gflops / bandwidth_gbs 0: measured
  uint64_t seed = 0;
  bool per_layer = true;  // false: only the whole step (bench/compare_torch.py)
  // Inference fusion (engine/nn/fusion.h) in the eval step: a Conv2d with the BatchNorm2d and/or
  // ReLU after it as one op. The per-layer table always times every layer on its own.
  bool fusion = true;
};

struct LayerTime {
  std::string path, type;
  Shape output;  // for the whole batch
  double forward_ms = 0, backward_ms = 0;
  double forward_flops = 0, backward_flops = 0;
  double forward_bytes = 0, backward_bytes = 0;
  double ms() const { return forward_ms + backward_ms; }
  double gflops() const;  // (forward + backward FLOPs) / (forward + backward time)
  double gbs() const;     // likewise for bytes
};

struct StepTime {
  double forward_ms = 0, backward_ms = 0, optimizer_ms = 0;
  double ms() const { return forward_ms + backward_ms + optimizer_ms; }
};

struct TimeResult {
  TimeConfig config;  // with the input and the peaks resolved
  std::vector<LayerTime> layers;
  StepTime step;
  double step_flops = 0;     // the layers' forward (and backward) FLOPs
  double layers_ms() const;  // the sum over layers
  double images_per_second() const;
};

TimeResult run_time(const TimeConfig& config);

// The table `patchwork time` prints: a row per layer, the sum over layers, the step and the machine.
std::string format_time_table(const TimeResult& result);

}  // namespace pw::tasks
