// Central-difference gradient checking in double precision.
#include "tests/support/gradcheck.h"

#include <cmath>
#include <sstream>

#include "engine/util/rng.h"

namespace pw::testing {

Tensor random_input(const Shape& shape, uint64_t seed, double lo, double hi, bool requires_grad) {
  Generator gen(seed, 7);
  Tensor t = Tensor::rand(shape, lo, hi, DType::f64, &gen);
  if (requires_grad) t.set_requires_grad(true);
  return t;
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  std::vector<double> va = a.to_vector_f64(), vb = b.to_vector_f64();
  double worst = 0;
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i) {
    double d = std::abs(va[i] - vb[i]) / std::max(1.0, std::abs(vb[i]));
    if (std::isnan(d)) return INFINITY;
    worst = std::max(worst, d);
  }
  return worst;
}

::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double tol) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure() << "shapes differ: " << shape_str(a.shape()) << " vs " << shape_str(b.shape());
  double d = max_rel_diff(a, b);
  if (d <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "max relative difference " << d << " > " << tol;
}

static double evaluate(const Fn& f, const std::vector<Tensor>& inputs, const Tensor& weights) {
  NoGradGuard ng;
  Tensor out = f(inputs);
  std::vector<double> o = out.to_vector_f64(), w = weights.to_vector_f64();
  double s = 0;
  for (size_t i = 0; i < o.size(); ++i) s += o[i] * w[i];
  return s;
}

::testing::AssertionResult gradcheck(const Fn& f, const std::vector<Tensor>& inputs_in, GradcheckOptions opt) {
  // Fresh leaves, so that earlier gradients do not leak in.
  std::vector<Tensor> inputs;
  for (const Tensor& t : inputs_in) {
    if (!t.defined()) {
      inputs.push_back(t);
      continue;
    }
    if (is_floating(t.dtype()) && t.dtype() != DType::f64)
      return ::testing::AssertionFailure() << "gradcheck inputs must be f64";
    Tensor c = t.detach().clone();
    if (t.requires_grad()) c.set_requires_grad(true);
    inputs.push_back(c);
  }
  Tensor out = f(inputs);
  if (!out.requires_grad()) return ::testing::AssertionFailure() << "output does not require grad";
  Tensor weights = random_input(out.shape(), 1234, -1, 1, false);
  Tensor loss = sum(mul(out, weights));
  loss.backward();

  std::ostringstream err;
  int failures = 0, checked = 0, skipped = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    Tensor analytic = x.grad();
    if (!analytic.defined()) analytic = Tensor::zeros(x.shape(), DType::f64);
    std::vector<double> ga = analytic.to_vector_f64();
    double* p = x.data<double>();
    if (!x.is_contiguous()) return ::testing::AssertionFailure() << "input " << k << " not contiguous";
    for (int64_t i = 0; i < x.numel(); ++i) {
      double orig = p[i];
      p[i] = orig + opt.eps;
      double fp = evaluate(f, inputs, weights);
      p[i] = orig - opt.eps;
      double fm = evaluate(f, inputs, weights);
      p[i] = orig;
      double numeric = (fp - fm) / (2 * opt.eps);
      if (opt.skip_kinks) {
        double f0 = evaluate(f, inputs, weights);
        double right = (fp - f0) / opt.eps, left = (f0 - fm) / opt.eps;
        if (std::abs(right - left) > 1e-3 * std::max({std::abs(right), std::abs(left), 1.0})) {
          ++skipped;
          continue;
        }
      }
      ++checked;
      double a = ga[i];
      // Written so that a NaN anywhere fails the comparison.
      bool ok = std::isfinite(a) && std::isfinite(numeric) &&
                std::abs(a - numeric) <= opt.tol * std::max({std::abs(a), std::abs(numeric), 1.0});
      if (!ok) {
        if (++failures <= 5)
          err << "input " << k << " element " << i << ": analytic " << a << ", numeric " << numeric << "\n";
      }
    }
  }
  if (failures)
    return ::testing::AssertionFailure() << failures << " of " << checked << " gradient elements wrong:\n" << err.str();
  if (checked == 0) return ::testing::AssertionFailure() << "no element was checked";
  if (skipped > checked) return ::testing::AssertionFailure() << "too many kinks skipped: " << skipped;
  return ::testing::AssertionSuccess();
}

}  // namespace pw::testing
