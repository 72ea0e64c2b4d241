// Progress reporting. On a terminal the line is redrawn at most 10 times a second; in a log
// (CI, a pipe) a line is printed at most every 10 seconds so logs stay short.
#include "engine/util/progress.h"

#include <unistd.h>

#include <cstdio>

namespace pw {

std::string format_duration(double s) {
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%dm%02ds", (int)s / 60, (int)s % 60);
  else
    std::snprintf(buf, sizeof buf, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
  return buf;
}

bool Progress::stderr_is_terminal() { return isatty(STDERR_FILENO); }

Progress::Progress(int64_t total, std::string label, bool enabled)
    : total_(total), label_(std::move(label)), enabled_(enabled), tty_(stderr_is_terminal()) {
  start_ = std::chrono::steady_clock::now();
  last_print_ = start_ - std::chrono::hours(1);
}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::line(int64_t step, const std::vector<std::pair<std::string, double>>& metrics) const {
  double el = elapsed_seconds();
  std::string s = label_ + " ";
  if (total_ > 0) {
    int width = 24, filled = (int)(width * step / total_);
    if (tty_) s += "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
    s += std::to_string(step) + "/" + std::to_string(total_);
  } else {
    s += "step " + std::to_string(step);
  }
  char buf[64];
  for (const auto& [name, v] : metrics) {
    std::snprintf(buf, sizeof buf, " %s=%.4g", name.c_str(), v);
    s += buf;
  }
  if (samples_per_second_ > 0) {
    std::snprintf(buf, sizeof buf, " %.0f samples/s", samples_per_second_);
    s += buf;
  }
  if (total_ > 0 && step > 0 && step < total_)
    s += " ETA " + format_duration(el / step * (total_ - step));
  else
    s += " " + format_duration(el);
  return s;
}

void Progress::update(int64_t step, const std::vector<std::pair<std::string, double>>& metrics,
                      double samples_per_second) {
  if (!enabled_) return;
  if (samples_per_second > 0) samples_per_second_ = samples_per_second;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_print_).count();
  if (since < (tty_ ? 0.1 : 10.0)) return;
  last_print_ = now;
  std::string l = line(step, metrics);
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s", l.c_str());
  else
    std::fprintf(stderr, "%s\n", l.c_str());
  std::fflush(stderr);
}

void Progress::finish(const std::vector<std::pair<std::string, double>>& metrics, int64_t step) {
  if (!enabled_) return;
  std::string l = line(step >= 0 ? step : total_ > 0 ? total_ : 0, metrics);
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s\n", l.c_str());
  else
    std::fprintf(stderr, "%s\n", l.c_str());
  std::fflush(stderr);
}

void Progress::note(const std::string& text) {
  if (!enabled_) return;
  if (tty_)
    std::fprintf(stderr, "\r\033[K%s\n", text.c_str());
  else
    std::fprintf(stderr, "%s\n", text.c_str());
  std::fflush(stderr);
  if (tty_) last_print_ = std::chrono::steady_clock::now() - std::chrono::hours(1);  // redraw the bar at once
}

}  // namespace pw
