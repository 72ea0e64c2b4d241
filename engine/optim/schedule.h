// Learning-rate schedules as closed forms of the step index (the number of optimizer steps taken
// before the one about to run), so that resuming from a checkpoint needs only the step count:
//   opt.set_lr(schedule->lr_at(opt.step_count())); opt.step();
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pw::optim {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  virtual double lr_at(int64_t step) const = 0;  // step >= 0
  virtual std::string describe() const = 0;      // "cosine(base=0.1, total=1000, min=0)"
};

class ConstantLR : public LrSchedule {
 public:
  explicit ConstantLR(double base);
  double lr_at(int64_t step) const override;
  std::string describe() const override;
  double base;
};

// base * gamma^floor(step / step_size)   (PyTorch StepLR)
class StepLR : public LrSchedule {
 public:
  StepLR(double base, int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t step) const override;
  std::string describe() const override;
  double base;
  int64_t step_size;
  double gamma;
};

// base * gamma^(number of milestones <= step); milestones strictly increasing (PyTorch MultiStepLR)
class MultiStepLR : public LrSchedule {
 public:
  MultiStepLR(double base, std::vector<int64_t> milestones, double gamma = 0.1);
  double lr_at(int64_t step) const override;
  std::string describe() const override;
  double base;
  std::vector<int64_t> milestones;
  double gamma;
};

// min_lr + (base - min_lr) (1 + cos(pi t / total)) / 2 with t = min(step, total): PyTorch's
// CosineAnnealingLR closed form, held at min_lr after total_steps instead of rising again.
class CosineLR : public LrSchedule {
 public:
  CosineLR(double base, int64_t total_steps, double min_lr = 0);
  double lr_at(int64_t step) const override;
  std::string describe() const override;
  double base;
  int64_t total_steps;
  double min_lr;
};

// inner.lr_at(step) * f(step), f rising linearly from start_factor at step 0 to 1 at
// warmup_steps and 1 after (PyTorch LinearLR chained with the inner schedule). The inner
// schedule keeps its own step numbering (a milestone at 30 stays at 30).
class LinearWarmup : public LrSchedule {
 public:
  LinearWarmup(std::unique_ptr<LrSchedule> inner, int64_t warmup_steps, double start_factor = 0.01);
  double lr_at(int64_t step) const override;
  std::string describe() const override;
  std::unique_ptr<LrSchedule> inner;
  int64_t warmup_steps;
  double start_factor;
};

// PyTorch OneCycleLR (anneal_strategy='cos', three_phase=False, no momentum cycling):
// cosine from max_lr / div_factor up to max_lr over the first pct_start * total_steps - 1 steps,
// then cosine down to max_lr / (div_factor * final_div_factor) at step total_steps - 1. Steps
// past the end stay at the final value (PyTorch raises there).
class OneCycleLR : public LrSchedule {
 public:
  OneCycleLR(double max_lr, int64_t total_steps, double pct_start = 0.3, double div_factor = 25,
             double final_div_factor = 1e4);
  double lr_at(int64_t step) const override;
  std::string describe() const override;
  double max_lr;
  int64_t total_steps;
  double pct_start, div_factor, final_div_factor;
};

// Builds a schedule from a command-line spec, with base_lr and the run's total_steps:
//   constant                     base_lr throughout
//   step:STEP:GAMMA              StepLR(base_lr, STEP, GAMMA)
//   multistep:M1,M2,...:GAMMA    MultiStepLR(base_lr, {M1, M2, ...}, GAMMA)
//   cosine[:MIN_LR]              CosineLR(base_lr, total_steps, MIN_LR = 0)
//   onecycle[:PCT_START]         OneCycleLR(max_lr = base_lr, total_steps, PCT_START = 0.3)
//   warmup:N[:FACTOR]:INNER      LinearWarmup(INNER, N, FACTOR = 0.01), INNER any spec above
// Errors name the spec and the part that is wrong.
std::unique_ptr<LrSchedule> make_schedule(const std::string& spec, double base_lr, int64_t total_steps);

}  // namespace pw::optim
