#include "engine/util/interrupt.h"

#include <atomic>
#include <csignal>

namespace pw {

namespace {
std::atomic<bool> g_interrupted{false};
// The first Ctrl-C asks the loop to stop cleanly; the handler then steps aside, so a second one
// ends a program that is stuck somewhere the loop does not look.
extern "C" void on_sigint(int) {
  g_interrupted = true;
  std::signal(SIGINT, SIG_DFL);
}
}  // namespace

InterruptScope::InterruptScope() {
  g_interrupted = false;
  previous_ = std::signal(SIGINT, on_sigint);
}

InterruptScope::~InterruptScope() { std::signal(SIGINT, previous_); }

bool InterruptScope::interrupted() { return g_interrupted; }

}  // namespace pw
