// Progress for long work: a redrawn bar on a terminal, plain log lines otherwise.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pw {

class Progress {
 public:
  // total: number of steps (0 if unknown); label: what is being done ("epoch 1/3").
  Progress(int64_t total, std::string label, bool enabled = true);
  // Reports that `step` steps are done, with metrics shown as name=value.
  void update(int64_t step, const std::vector<std::pair<std::string, double>>& metrics,
              double items_per_step = 0);
  void finish(const std::vector<std::pair<std::string, double>>& metrics = {});
  double elapsed_seconds() const;

  static bool stderr_is_terminal();

 private:
  std::string line(int64_t step, const std::vector<std::pair<std::string, double>>& metrics) const;
  int64_t total_;
  std::string label_;
  bool enabled_, tty_;
  double items_per_step_ = 0;
  std::chrono::steady_clock::time_point start_, last_print_;
};

std::string format_duration(double seconds);

}  // namespace pw
