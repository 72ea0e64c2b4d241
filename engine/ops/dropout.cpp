// dropout: draws the keep mask (rule in dropout.h), multiplies, and records dy * mask.
// cpu: the generator fills the uniforms, kernels/cpu/dropout.h applies them; cuda / simt:
// kernels/cuda/dropout.cu draws the same uniforms on the device from the generator's key.
#include "engine/ops/dropout.h"

#include <vector>

#include "engine/autograd.h"
#include "engine/device/gpu.h"
#include "engine/ops.h"
#include "engine/util/rng.h"
#include "kernels/cpu/dropout.h"

namespace pw {

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  PW_CHECK(x.defined(), "dropout: undefined input");
  PW_CHECK(p >= 0 && p < 1, "dropout: probability p must be in [0, 1), got ", p);
  PW_CHECK(is_floating(x.dtype()), "dropout: expected a floating-point input, got ", dtype_name(x.dtype()));
  if (!training || p == 0) return x;
  Generator& g = gen ? *gen : default_generator();
  const int64_t n = x.numel();
  // The mask holds the scale (0 or 1/(1-p)) so forward and backward are one multiply each.
  Tensor mask = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor xc = x.detach().contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (is_gpu(x.device())) {
    PW_CHECK(x.dtype() == DType::f32, "dropout: the ", x.device().str(), " device computes in f32 only");
    if (n > 0) {
      // The words a g.fill_uniform(float*, n, 0, 1) would use (engine/util/rng.h): it starts at
      // the offset rounded up to a multiple of 4 and leaves the offset at start + n rounded up
      // to a multiple of 4. The device draws them itself; the generator advances the same way.
      const uint64_t start = (g.offset() + 3) / 4 * 4;
      on_gpu(x.device(), [&](auto tag) {
        dropout_forward(tag, xc.data<float>(), mask.data<float>(), y.data<float>(), n, p, float(1.0 / (1.0 - p)),
                        g.seed(), g.stream(), start);
      });
      g.set_offset((start + static_cast<uint64_t>(n) + 3) / 4 * 4);
    }
  } else {
    std::vector<float> u(n);
    g.fill_uniform(u.data(), n, 0.0f, 1.0f);
    dispatch_floating(x.dtype(), "dropout", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::dropout_forward<T>(xc.data<T>(), u.data(), p, T(1.0 / (1.0 - p)), mask.data<T>(), y.data<T>(), n);
    });
  }
  return record(y, "dropout", {x},
                [mask](const Tensor& grad, const Node&) { return std::vector<Tensor>{mul(grad, mask)}; });
}

}  // namespace pw
