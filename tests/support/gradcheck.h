// Test support: double-precision gradient checks by central differences, and helpers for
// comparing tensors and making awkward random inputs.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/ops.h"

namespace pw::testing {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradcheckOptions {
  double eps = 1e-6;
  double tol = 1e-6;  // |g - ĝ| <= tol * max(|g|, |ĝ|, 1)
  // Skip elements whose finite difference straddles a kink (ReLU at 0, max-pool ties): the
  // check compares one-sided differences and skips the element when they disagree strongly.
  bool skip_kinks = false;
};

// Checks the analytic gradient of L = sum(f(inputs) * R) (R fixed random weights, so every
// output matters) against central differences, for every input that requires grad.
// Inputs must be f64. Returns a failure message or "" on success.
::testing::AssertionResult gradcheck(const Fn& f, const std::vector<Tensor>& inputs, GradcheckOptions opt = {});

// Random f64 tensor with values in [lo, hi), from a fixed seed, requiring grad.
Tensor random_input(const Shape& shape, uint64_t seed, double lo = -1, double hi = 1, bool requires_grad = true);

// Max |a - b| / max(1, |b|) over elements; shapes must match.
double max_rel_diff(const Tensor& a, const Tensor& b);

::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double tol);

// Expects `fn` to throw a pw::Error whose message contains `part`.
template <typename F>
void expect_error(F fn, const std::string& part) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown, expected one containing: " << part;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

}  // namespace pw::testing
