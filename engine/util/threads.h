// The number of CPU threads the kernels use, and how idle threads wait (OpenMP underneath).
#pragma once
#include <string>

namespace pw {
void set_num_threads(int n);  // n <= 0: all hardware threads
int num_threads();

// How idle OpenMP threads wait between parallel regions. Spinning (libgomp's default: spin
// about 300,000 times, then sleep) saves the few microseconds of a wake-up per region but, on a
// machine whose cores other processes also use, a spinning or descheduled thread holds up
// every barrier: on the shared 2-core development machine at load 5, AlexNet's batch-1
// inference took 57-478 ms spinning against 37 ms passive (`patchwork time --step-only`,
// 2026-12-07). Commands therefore wait passively unless OMP_WAIT_POLICY says otherwise.
//
// libgomp reads OMP_WAIT_POLICY once, when it loads, so the command line calls this first in
// main: when the environment does not set OMP_WAIT_POLICY, it sets it to passive and executes
// the program again (same arguments, same process id); if that fails, the run goes on spinning.
void choose_wait_policy(char** argv);
std::string wait_policy();  // OMP_WAIT_POLICY as this process started, or "default (spin, then sleep)"
}  // namespace pw
