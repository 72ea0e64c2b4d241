// Test support: a whole network's f32 run (on cpu or simt) against an f64 run of the same
// weights and input on the reference kernels, tensor by tensor: logits, loss, the input's
// gradient and every parameter's gradient (issue 12's sweep, tests/test_sweep_model_gradients).
//
// The f64 run replays the f32 run's max-pooling and ReLU decisions (engine/ops/decisions.h), so
// both differentiate the same branch of the network and agree to rounding error; without it a
// pooling window whose two largest values differ by 1e-8 can route a gradient differently in the
// two precisions and no tolerance would separate that from a kernel bug.
//
// Error of a tensor: max |f32 - f64| / max |f64|, except for a gradient that is exactly zero in
// f64 up to rounding (max |f64| <= 1e-10 of the model's largest gradient, as a conv bias before
// train-mode batch norm), which is compared on the scale of that largest gradient.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "engine/tensor.h"

namespace pw::testing {

struct TensorError {
  std::string name;  // "logits", "loss", "input.grad", or a parameter name
  double error = 0;
  double scale = 0;  // the denominator used
};

struct ModelGradientReport {
  std::string model, mode, device;
  Shape input;  // the whole batch
  std::vector<TensorError> tensors;
  size_t decisions = 0;                     // max-pool and ReLU decisions replayed
  double seconds_f32 = 0, seconds_f64 = 0;  // the f32 run (with set-up), the f64 run
  bool reused_f64 = false;                  // the previous run's f64 reference served
  const TensorError& worst() const;
};

// One network, its f32 copy and its f64 copy built once (the ImageNet networks take seconds to
// initialize), compared on any device and mode in turn.
class ModelGradientSweep {
 public:
  // Dropout 0; the input channels of the registry's native size.
  explicit ModelGradientSweep(const std::string& model, uint64_t seed = 1);
  // A batch of seeded normal inputs of `sample` (C,H,W or T,C,H,W; empty: the native size),
  // cross-entropy against fixed labels; train mode runs batch norm on batch statistics. The f32
  // copy moves to `device` (and stays there).
  ModelGradientReport run(Device device, bool train, Shape sample = {}, int64_t batch = 2);
  bool has_batch_norm() const;
  bool has_batch_norm_1d() const;  // batch norm over the batch (context networks' fc6, fc7)
  // Whether the cpu computes any of its convolutions by Winograd (engine/ops/conv.h's
  // conv2d_uses_winograd) for `batch` samples of `sample` (empty: the native size).
  bool uses_winograd(Shape sample, int64_t batch) const;

 private:
  std::string model_;
  Shape native_;
  uint64_t seed_;
  std::shared_ptr<nn::Module> m32_, m64_;
  // The last f64 run, reused when the next run has the same mode, input and decisions (cpu and
  // simt mostly decide alike, and the f64 run is the slow half).
  struct Reference;
  std::shared_ptr<Reference> last_;
};

// One row of a Markdown table: model | mode | device | batch shape | worst tensor | its error |
// decisions replayed | seconds of the f32 and f64 runs.
std::string report_row(const ModelGradientReport& r);

}  // namespace pw::testing
