// Ctrl-C during long work: an InterruptScope installs a SIGINT handler that only raises a flag,
// so a training loop can finish its step, save a checkpoint and return cleanly.
#pragma once

namespace pw {

class InterruptScope {
 public:
  InterruptScope();   // clears the flag and installs the handler
  ~InterruptScope();  // puts the previous handler back
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
  static bool interrupted();

 private:
  void (*previous_)(int);
};

}  // namespace pw
