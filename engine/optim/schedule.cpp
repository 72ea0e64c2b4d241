// Learning-rate schedules (closed forms) and the spec parser behind --lr-schedule.
#include "engine/optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <numbers>
#include <sstream>

#include "engine/util/error.h"

namespace pw::optim {

namespace {

void check_step(int64_t step, const char* who) { PW_CHECK(step >= 0, who, ": step must be >= 0, got ", step); }

// PyTorch's _annealing_cos: from `start` at pct 0 to `end` at pct 1.
double anneal_cos(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
}

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

// ---------------------------------------------------------------- schedules

ConstantLR::ConstantLR(double base) : base(base) {
  PW_CHECK(base >= 0, "ConstantLR: learning rate must be >= 0, got ", base);
}
double ConstantLR::lr_at(int64_t step) const {
  check_step(step, "ConstantLR");
  return base;
}
std::string ConstantLR::describe() const { return "constant(lr=" + num(base) + ")"; }

StepLR::StepLR(double base, int64_t step_size, double gamma) : base(base), step_size(step_size), gamma(gamma) {
  PW_CHECK(base >= 0, "StepLR: base learning rate must be >= 0, got ", base);
  PW_CHECK(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
  PW_CHECK(gamma > 0, "StepLR: gamma must be positive, got ", gamma);
}
double StepLR::lr_at(int64_t step) const {
  check_step(step, "StepLR");
  return base * std::pow(gamma, (double)(step / step_size));
}
std::string StepLR::describe() const {
  return "step(base=" + num(base) + ", step_size=" + std::to_string(step_size) + ", gamma=" + num(gamma) + ")";
}

MultiStepLR::MultiStepLR(double base, std::vector<int64_t> milestones, double gamma)
    : base(base), milestones(std::move(milestones)), gamma(gamma) {
  PW_CHECK(base >= 0, "MultiStepLR: base learning rate must be >= 0, got ", base);
  PW_CHECK(gamma > 0, "MultiStepLR: gamma must be positive, got ", gamma);
  PW_CHECK(!this->milestones.empty(), "MultiStepLR: needs at least one milestone");
  for (size_t i = 0; i < this->milestones.size(); ++i) {
    PW_CHECK(this->milestones[i] > 0, "MultiStepLR: milestones must be positive, got ", this->milestones[i]);
    PW_CHECK(i == 0 || this->milestones[i] > this->milestones[i - 1],
             "MultiStepLR: milestones must be strictly increasing, got ", this->milestones[i - 1], " then ",
             this->milestones[i]);
  }
}
double MultiStepLR::lr_at(int64_t step) const {
  check_step(step, "MultiStepLR");
  int passed = 0;
  for (int64_t m : milestones) passed += step >= m;
  return base * std::pow(gamma, passed);
}
std::string MultiStepLR::describe() const {
  std::string ms;
  for (size_t i = 0; i < milestones.size(); ++i) ms += (i ? "," : "") + std::to_string(milestones[i]);
  return "multistep(base=" + num(base) + ", milestones=" + ms + ", gamma=" + num(gamma) + ")";
}

CosineLR::CosineLR(double base, int64_t total_steps, double min_lr)
    : base(base), total_steps(total_steps), min_lr(min_lr) {
  PW_CHECK(base >= 0, "CosineLR: base learning rate must be >= 0, got ", base);
  PW_CHECK(total_steps > 0, "CosineLR: total_steps must be positive, got ", total_steps);
  PW_CHECK(min_lr >= 0, "CosineLR: min_lr must be >= 0, got ", min_lr);
}
double CosineLR::lr_at(int64_t step) const {
  check_step(step, "CosineLR");
  double t = (double)std::min(step, total_steps);
  return min_lr + (base - min_lr) * (1.0 + std::cos(std::numbers::pi * t / (double)total_steps)) / 2.0;
}
std::string CosineLR::describe() const {
  return "cosine(base=" + num(base) + ", total=" + std::to_string(total_steps) + ", min=" + num(min_lr) + ")";
}

LinearWarmup::LinearWarmup(std::unique_ptr<LrSchedule> inner, int64_t warmup_steps, double start_factor)
    : inner(std::move(inner)), warmup_steps(warmup_steps), start_factor(start_factor) {
  PW_CHECK(this->inner != nullptr, "LinearWarmup: inner schedule is null");
  PW_CHECK(warmup_steps > 0, "LinearWarmup: warmup_steps must be positive, got ", warmup_steps);
  PW_CHECK(start_factor > 0 && start_factor <= 1, "LinearWarmup: start_factor must be in (0, 1], got ", start_factor);
}
double LinearWarmup::lr_at(int64_t step) const {
  check_step(step, "LinearWarmup");
  double f = step >= warmup_steps ? 1.0 : start_factor + (1.0 - start_factor) * (double)step / (double)warmup_steps;
  return inner->lr_at(step) * f;
}
std::string LinearWarmup::describe() const {
  return "warmup(steps=" + std::to_string(warmup_steps) + ", start_factor=" + num(start_factor) + ", " +
         inner->describe() + ")";
}

OneCycleLR::OneCycleLR(double max_lr, int64_t total_steps, double pct_start, double div_factor, double final_div_factor)
    : max_lr(max_lr),
      total_steps(total_steps),
      pct_start(pct_start),
      div_factor(div_factor),
      final_div_factor(final_div_factor) {
  PW_CHECK(max_lr >= 0, "OneCycleLR: max_lr must be >= 0, got ", max_lr);
  PW_CHECK(total_steps > 0, "OneCycleLR: total_steps must be positive, got ", total_steps);
  PW_CHECK(pct_start > 0 && pct_start < 1, "OneCycleLR: pct_start must be in (0, 1), got ", pct_start);
  PW_CHECK(div_factor > 0, "OneCycleLR: div_factor must be positive, got ", div_factor);
  PW_CHECK(final_div_factor > 0, "OneCycleLR: final_div_factor must be positive, got ", final_div_factor);
}
double OneCycleLR::lr_at(int64_t step) const {
  check_step(step, "OneCycleLR");
  const double initial = max_lr / div_factor, final_lr = initial / final_div_factor;
  // Phase boundaries exactly as PyTorch computes them (the first is a float step index).
  const double warm_end = pct_start * (double)total_steps - 1.0;
  const double last = (double)total_steps - 1.0;
  const double s = (double)std::min<int64_t>(step, total_steps - 1);
  // A degenerate phase (no steps in it) jumps to its end value instead of dividing by zero.
  auto pct = [](double at, double from, double to) { return to > from ? (at - from) / (to - from) : 1.0; };
  if (s <= warm_end) return anneal_cos(initial, max_lr, pct(s, 0.0, warm_end));
  return anneal_cos(max_lr, final_lr, pct(s, warm_end, last));
}
std::string OneCycleLR::describe() const {
  return "onecycle(max=" + num(max_lr) + ", total=" + std::to_string(total_steps) + ", pct_start=" + num(pct_start) +
         ", div=" + num(div_factor) + ", final_div=" + num(final_div_factor) + ")";
}

// ---------------------------------------------------------------- parsing

namespace {

const char* kSpecHelp =
    "expected one of: constant, step:STEP:GAMMA, multistep:M1,M2,...:GAMMA, cosine[:MIN_LR], "
    "onecycle[:PCT_START], warmup:N[:FACTOR]:<schedule>";

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t at = s.find(sep, start);
    parts.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

bool parse_double(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(out);
}

double need_double(const std::string& s, const std::string& spec, const char* what) {
  double v;
  PW_CHECK(parse_double(s, v), "lr schedule '", spec, "': ", what, " must be a number, got '", s, "'");
  return v;
}

int64_t need_int(const std::string& s, const std::string& spec, const char* what) {
  PW_CHECK(!s.empty() && s.find_first_not_of("0123456789") == std::string::npos, "lr schedule '", spec, "': ", what,
           " must be a non-negative integer, got '", s, "'");
  return std::stoll(s);
}

void need_fields(const std::vector<std::string>& parts, size_t lo, size_t hi, const std::string& spec,
                 const char* form) {
  PW_CHECK(parts.size() >= lo && parts.size() <= hi, "lr schedule '", spec, "': expected ", form);
}

}  // namespace

std::unique_ptr<LrSchedule> make_schedule(const std::string& spec, double base_lr, int64_t total_steps) {
  const std::vector<std::string> parts = split(spec, ':');
  const std::string& kind = parts[0];
  try {
    if (kind == "constant") {
      need_fields(parts, 1, 1, spec, "'constant'");
      return std::make_unique<ConstantLR>(base_lr);
    }
    if (kind == "step") {
      need_fields(parts, 3, 3, spec, "'step:STEP:GAMMA'");
      return std::make_unique<StepLR>(base_lr, need_int(parts[1], spec, "STEP"), need_double(parts[2], spec, "GAMMA"));
    }
    if (kind == "multistep") {
      need_fields(parts, 3, 3, spec, "'multistep:M1,M2,...:GAMMA'");
      std::vector<int64_t> ms;
      for (const auto& m : split(parts[1], ',')) ms.push_back(need_int(m, spec, "each milestone"));
      return std::make_unique<MultiStepLR>(base_lr, ms, need_double(parts[2], spec, "GAMMA"));
    }
    if (kind == "cosine") {
      need_fields(parts, 1, 2, spec, "'cosine' or 'cosine:MIN_LR'");
      double min_lr = parts.size() == 2 ? need_double(parts[1], spec, "MIN_LR") : 0.0;
      return std::make_unique<CosineLR>(base_lr, total_steps, min_lr);
    }
    if (kind == "onecycle") {
      need_fields(parts, 1, 2, spec, "'onecycle' or 'onecycle:PCT_START'");
      double pct = parts.size() == 2 ? need_double(parts[1], spec, "PCT_START") : 0.3;
      return std::make_unique<OneCycleLR>(base_lr, total_steps, pct);
    }
    if (kind == "warmup") {
      need_fields(parts, 3, SIZE_MAX, spec, "'warmup:N:<schedule>' or 'warmup:N:FACTOR:<schedule>'");
      int64_t n = need_int(parts[1], spec, "N");
      double factor = 0.01;
      size_t inner_at = 2;
      // Every inner spec starts with a name, so a number here is the start factor.
      if (parse_double(parts[2], factor))
        inner_at = 3;
      else
        factor = 0.01;
      PW_CHECK(inner_at < parts.size(), "lr schedule '", spec,
               "': warmup needs an inner schedule "
               "after the numbers ('warmup:N:cosine')");
      std::string inner;
      for (size_t i = inner_at; i < parts.size(); ++i) inner += (i > inner_at ? ":" : "") + parts[i];
      return std::make_unique<LinearWarmup>(make_schedule(inner, base_lr, total_steps), n, factor);
    }
  } catch (const Error& e) {
    // Constructor errors ("StepLR: step_size must be positive") get the spec in front.
    std::string msg = e.what();
    if (msg.rfind("lr schedule '", 0) == 0) throw;
    PW_FAIL("lr schedule '", spec, "': ", msg);
  }
  PW_FAIL("lr schedule '", spec, "': unknown schedule '", kind, "'; ", kSpecHelp);
}

}  // namespace pw::optim
