// Thread count control: one place that talks to OpenMP.
#include "engine/util/threads.h"

#include <omp.h>

#include <thread>

namespace pw {
void set_num_threads(int n) {
  if (n <= 0) n = (int)std::max(1u, std::thread::hardware_concurrency());
  omp_set_num_threads(n);
}
int num_threads() { return omp_get_max_threads(); }
}  // namespace pw
