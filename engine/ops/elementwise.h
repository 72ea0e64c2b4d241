// Elementwise ops with broadcasting, forward and backward.
#pragma once
#include "engine/tensor.h"

namespace pw {

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Sums g over the broadcast dimensions so that it has `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& g, const Shape& shape);

Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor sub(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor div(const Tensor& a, double s);
Tensor rsub(double s, const Tensor& a);  // s - a
Tensor rdiv(double s, const Tensor& a);  // s / a
// min(a, s) elementwise (torch.clamp(a, max=s)); NaN stays NaN. Gradient: g where a <= s, else 0.
Tensor minimum(const Tensor& a, double s);

Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor pow(const Tensor& x, double p);
Tensor abs(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);

// ReLU's backward rule (DESIGN: Autograd): ordinary gradient, deconvnet (pass positive
// gradients), guided backpropagation (both). The rule is fixed when the op is recorded:
// explicitly, or from the innermost ReluRuleGuard of this thread (default: grad).
enum class ReluRule { grad = 0, deconvnet = 1, guided = 2 };
const char* relu_rule_name(ReluRule r);
ReluRule parse_relu_rule(const std::string& name);

class ReluRuleGuard {
 public:
  explicit ReluRuleGuard(ReluRule rule);
  ~ReluRuleGuard();
  ReluRuleGuard(const ReluRuleGuard&) = delete;
  ReluRuleGuard& operator=(const ReluRuleGuard&) = delete;
  static ReluRule current();

 private:
  ReluRule prev_;
};

Tensor relu(const Tensor& x);
Tensor relu(const Tensor& x, ReluRule rule);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return sub(a, s); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return div(a, s); }
inline Tensor operator+(double s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(double s, const Tensor& a) { return rsub(s, a); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(double s, const Tensor& a) { return rdiv(s, a); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

}  // namespace pw
