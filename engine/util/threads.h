// The number of CPU threads the kernels use (OpenMP underneath).
#pragma once

namespace pw {
void set_num_threads(int n);  // n <= 0: all hardware threads
int num_threads();
}  // namespace pw
