// Dropout's mask-and-multiply: one flat loop, each element independent (threads for large n).
#include "kernels/cpu/dropout.h"

namespace pw::kernels::cpu {

template <typename T>
void dropout_forward(const T* x, const float* uniform, double p, T scale, T* mask, T* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    mask[i] = double(uniform[i]) >= p ? scale : T(0);
    y[i] = x[i] * mask[i];
  }
}

template void dropout_forward<float>(const float*, const float*, double, float, float*, float*, int64_t);
template void dropout_forward<double>(const double*, const float*, double, double, double*, double*, int64_t);

}  // namespace pw::kernels::cpu
