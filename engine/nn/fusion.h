// Inference fusion in nn::Sequential: a Conv2d followed by an eval-mode BatchNorm2d and/or a
// ReLU runs as one op, conv2d_inference (engine/ops/conv.h), whose batch norm and ReLU cost no
// pass over the output of their own. The result equals the layers run one by one (bit for bit
// on the cpu; on the GPU devices to the rounding of their own batch norm, within 2e-5 as checked).
//
// It applies while grad mode is off (no graph is being built: `patchwork time --mode eval`,
// evaluation, feature extraction), on every device, to a BatchNorm2d in eval mode with running
// statistics, and not while decisions are recorded or replayed (engine/ops/decisions.h: ReLU's
// decisions are its own op's) or anomaly detection checks every op's output.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

#include "engine/nn/module.h"

namespace pw::nn {

// Process-wide, on by default; off runs every layer on its own (tests and `patchwork time
// --no-fusion` compare the two).
void set_inference_fusion(bool on);
bool inference_fusion();

// If mods[i..] starts a run that fuses now, runs it on x and returns how many modules it
// covered (2 or 3); else returns 0 and leaves x alone.
size_t run_fused(const std::vector<std::shared_ptr<Module>>& mods, size_t i, Tensor& x);

// Sets the switch for its scope and restores the previous value.
class InferenceFusionGuard {
 public:
  explicit InferenceFusionGuard(bool on) : prev_(inference_fusion()) { set_inference_fusion(on); }
  ~InferenceFusionGuard() { set_inference_fusion(prev_); }
  InferenceFusionGuard(const InferenceFusionGuard&) = delete;
  InferenceFusionGuard& operator=(const InferenceFusionGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace pw::nn
