#include "engine/util/interrupt.h"

#include <atomic>
#include <csignal>

namespace pw {

namespace {
std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) { g_interrupted = true; }
}  // namespace

InterruptScope::InterruptScope() {
  g_interrupted = false;
  previous_ = std::signal(SIGINT, on_sigint);
}

InterruptScope::~InterruptScope() { std::signal(SIGINT, previous_); }

bool InterruptScope::interrupted() { return g_interrupted; }

}  // namespace pw
