// The number of CPU threads the kernels use, and how idle threads wait (OpenMP underneath).
#pragma once
#include <string>

namespace pw {
void set_num_threads(int n);  // n <= 0: all hardware threads
int num_threads();

// How idle OpenMP threads wait between parallel regions. libgomp's default spins about 300,000
// times before sleeping: on a machine whose cores other processes also use, a spinning or
// descheduled thread then holds up every barrier (under load on the 2-core development machine,
// AlexNet's batch-1 inference took 57-478 ms so against 37 ms passive). Sleeping at once
// (passive) costs a wake-up per barrier instead: 25.1-25.7 ms against 20.3-21.3 ms spinning on
// the idle machine, the GEMM's barriers adding up. Passive after a short spin (GOMP_SPINCOUNT
// 10,000) had both: 20.1-20.2 ms idle, and with three busy processes on the two cores 63-64 ms
// against 53-74 ms passive and 108 ms for the default (`patchwork time --step-only`,
// 2026-12-07). So commands wait that way unless OMP_WAIT_POLICY or GOMP_SPINCOUNT says otherwise.
//
// libgomp reads both once, when it loads, so the command line calls this first in main: when
// the environment sets neither, it sets OMP_WAIT_POLICY=passive and GOMP_SPINCOUNT=10000 and
// executes the program again (same arguments, same process id); if that fails, the run goes on
// with libgomp's default.
void choose_wait_policy(char** argv);
std::string wait_policy();  // "passive, 10000 spins", "active", "default", ... as this process started
}  // namespace pw
