// The figures of training steps kept on the device until the loop reads them (train_loop.h,
// "Reads of the device"): a step's loss, how many examples it got right and whether every
// gradient and buffer was finite are 0-d tensors on the training device, made without making the host wait;
// read_steps downloads those of several steps in one copy, the one wait for the device.
#pragma once
#include <vector>

#include "engine/tensor.h"

namespace pw::tasks {

struct PendingStep {
  int64_t step = 0;  // 1-based: the steps done after it
  // On the training device, 0-d f32. correct undefined: host_correct holds the count. finite:
  // finite_flag of the step's gradients and of the model's buffers after its forward. norm: the
  // total gradient norm before clipping (undefined: no clipping).
  Tensor loss, correct, finite, norm;
  int64_t host_correct = 0, count = 0;
  // From read_steps:
  bool read = false;
  double loss_value = 0;
  int64_t correct_value = 0;
  bool all_finite = true;  // every gradient and buffer
  double grad_norm = 0;
  // From the loop after the optimizer step:
  double seconds = 0, lr = 0;
};

// Fills the values of every step not yet read, with one download from the device (none on cpu).
void read_steps(std::vector<PendingStep>& steps);

// 0 when every element of every gradient of `params` and of every floating-point tensor in
// `buffers` (batch norm's running statistics) is finite, NaN otherwise (x * 0 is NaN exactly
// where x is not finite, and a sum of zeros cannot overflow); undefined when there is nothing to
// check. A buffer can overflow while the loss and every gradient stay finite (running_var of a
// diverging run), and a checkpoint must not keep it.
Tensor finite_flag(const std::vector<Tensor>& params, const std::vector<Tensor>& buffers);

// How many rows of logits [N, K] (or [N, K, ...]: along dimension 1) have their largest value at
// labels[n] (i32 [N], or [N, ...]; the same device), as a 0-d f32 tensor on that device: exact
// below 2^24 rows. Records no graph.
Tensor count_correct(const Tensor& logits, const Tensor& labels);

}  // namespace pw::tasks
