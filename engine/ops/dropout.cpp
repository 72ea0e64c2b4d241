// dropout: draws the keep mask (rule in dropout.h), multiplies, and records dy * mask.
#include "engine/ops/dropout.h"

#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/util/rng.h"

namespace pw {

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  PW_CHECK(x.defined(), "dropout: undefined input");
  PW_CHECK(p >= 0 && p < 1, "dropout: probability p must be in [0, 1), got ", p);
  PW_CHECK(is_floating(x.dtype()), "dropout: expected a floating-point input, got ", dtype_name(x.dtype()));
  if (!training || p == 0) return x;
  Generator& g = gen ? *gen : default_generator();
  const int64_t n = x.numel();
  std::vector<float> u(n);
  g.fill_uniform(u.data(), n, 0.0f, 1.0f);
  // The mask holds the scale (0 or 1/(1-p)) so forward and backward are one multiply each.
  Tensor mask = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor xc = x.detach().contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch_floating(x.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    const T scale = T(1.0 / (1.0 - p));
    const T* xp = xc.data<T>();
    T* m = mask.data<T>();
    T* yp = y.data<T>();
    for (int64_t i = 0; i < n; ++i) {
      m[i] = double(u[i]) >= p ? scale : T(0);
      yp[i] = xp[i] * m[i];
    }
  });
  return record(y, "dropout", {x}, [mask](const Tensor& grad, const Node&) {
    return std::vector<Tensor>{mul(grad, mask)};
  });
}

}  // namespace pw
