// Thread count and wait policy: one place that talks to OpenMP.
#include "engine/util/threads.h"

#include <omp.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

namespace pw {
void set_num_threads(int n) {
  if (n <= 0) n = (int)std::max(1u, std::thread::hardware_concurrency());
  omp_set_num_threads(n);
}
int num_threads() { return omp_get_max_threads(); }

void choose_wait_policy(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  ::setenv("OMP_WAIT_POLICY", "passive", 1);
  ::setenv("GOMP_SPINCOUNT", "10000", 1);
  ::execv("/proc/self/exe", argv);  // returns only on failure
  ::unsetenv("OMP_WAIT_POLICY");
  ::unsetenv("GOMP_SPINCOUNT");
}

std::string wait_policy() {
  const char* p = std::getenv("OMP_WAIT_POLICY");
  const char* spins = std::getenv("GOMP_SPINCOUNT");
  std::string s = p && *p ? p : "default";
  if (spins && *spins) s += std::string(", ") + spins + " spins";
  return s;
}
}  // namespace pw
