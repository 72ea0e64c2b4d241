// Device test helpers.
#include "tests/support/device_test.h"

#include <cmath>

namespace pw::testing {

double max_rel_diff_any_device(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return INFINITY;
  std::vector<double> va = a.to_vector_f64(), vb = b.to_vector_f64();
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    double d = std::abs(va[i] - vb[i]) / std::max(1.0, std::abs(vb[i]));
    if (!(d <= worst)) worst = std::isnan(d) ? INFINITY : d;
  }
  return worst;
}

}  // namespace pw::testing
