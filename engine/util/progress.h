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
  // Reports that `step` steps are done, with metrics shown as name=value and, when positive,
  // the caller's measured throughput in samples per second (measured by the caller so that
  // the bar, the log and the summary show one number).
  void update(int64_t step, const std::vector<std::pair<std::string, double>>& metrics, double samples_per_second = 0);
  // The last line: at `step` (-1: the total, the work is complete).
  void finish(const std::vector<std::pair<std::string, double>>& metrics = {}, int64_t step = -1);
  // Prints a line of its own (an epoch's results) without breaking the bar on a terminal.
  void note(const std::string& text);
  double elapsed_seconds() const;

  static bool stderr_is_terminal();

 private:
  std::string line(int64_t step, const std::vector<std::pair<std::string, double>>& metrics) const;
  int64_t total_;
  std::string label_;
  bool enabled_, tty_;
  double samples_per_second_ = 0;
  std::chrono::steady_clock::time_point start_, last_print_;
};

std::string format_duration(double seconds);

}  // namespace pw
