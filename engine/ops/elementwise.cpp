// Elementwise ops: argument checks, output allocation, kernel dispatch, backward formulas.
// Backward formulas are written with ops, so they run on whatever device the op runs on.
#include "engine/ops/elementwise.h"

#include "engine/autograd.h"
#include "engine/device/gpu.h"
#include "engine/ops.h"
#include "engine/ops/decisions.h"
#include "kernels/cpu/elementwise.h"

namespace pw {

using kernels::cpu::BinaryOp;
using kernels::cpu::UnaryOp;

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    PW_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
             " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int64_t lead = g.dim() - (int64_t)shape.size();
  PW_CHECK(lead >= 0, "sum_to: cannot reduce shape ", shape_str(g.shape()), " to ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < g.dim(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) dims.push_back(i);
  Tensor r = dims.empty() ? g : sum(g, dims, /*keepdim=*/true);
  return r.reshape(shape);
}

static void check_pair(const Tensor& a, const Tensor& b, const char* op) {
  PW_CHECK(a.defined() && b.defined(), op, ": undefined tensor argument");
  PW_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch, ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  PW_CHECK(a.device() == b.device(), op, ": tensors on different devices, ", a.device().str(), " and ",
           b.device().str());
}

static Tensor binary_forward(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  check_pair(a, b, name);
  Shape out_shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor ea = a.detach().expand(out_shape), eb = b.detach().expand(out_shape);
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  if (is_gpu(a.device())) {
    PW_CHECK(a.dtype() == DType::f32, name, ": the ", a.device().str(), " device computes in f32 only");
    PW_CHECK(out.dim() <= kernels::StridedLayout::kMaxDims, name, ": at most ", kernels::StridedLayout::kMaxDims,
             " dimensions on ", a.device().str());
    kernels::StridedLayout l;
    l.ndim = (int)out.dim();
    for (int64_t i = 0; i < out.dim(); ++i) {
      l.shape[i] = out_shape[i];
      l.src_strides[i] = ea.strides()[i];
      l.dst_strides[i] = eb.strides()[i];
    }
    on_gpu(a.device(), [&](auto tag) { binary(tag, op, ea.data<float>(), eb.data<float>(), out.data<float>(), l); });
    return out;
  }
  dispatch_floating(a.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    kernels::cpu::binary<T>(op, ea.data<T>(), ea.strides().data(), eb.data<T>(), eb.strides().data(), out.data<T>(),
                            out_shape.data(), (int)out_shape.size());
  });
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::add, a, b, "add");
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "add", {a, b}, [sa, sb](const Tensor& g, const Node& n) {
    return std::vector<Tensor>{n.needs_grad(0) ? sum_to(g, sa) : Tensor(), n.needs_grad(1) ? sum_to(g, sb) : Tensor()};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::sub, a, b, "sub");
  Shape sa = a.shape(), sb = b.shape();
  return record(out, "sub", {a, b}, [sa, sb](const Tensor& g, const Node& n) {
    return std::vector<Tensor>{n.needs_grad(0) ? sum_to(g, sa) : Tensor(),
                               n.needs_grad(1) ? sum_to(neg(g), sb) : Tensor()};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::mul, a, b, "mul");
  Tensor da = a.detach(), db = b.detach();
  return record(out, "mul", {a, b}, [da, db](const Tensor& g, const Node& n) {
    return std::vector<Tensor>{n.needs_grad(0) ? sum_to(mul(g, db), da.shape()) : Tensor(),
                               n.needs_grad(1) ? sum_to(mul(g, da), db.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward(BinaryOp::div, a, b, "div");
  Tensor da = a.detach(), db = b.detach(), dout = out.detach();
  return record(out, "div", {a, b}, [da, db, dout](const Tensor& g, const Node& n) {
    Tensor ga, gb;
    if (n.needs_grad(0)) ga = sum_to(div(g, db), da.shape());
    if (n.needs_grad(1)) gb = sum_to(neg(div(mul(g, dout), db)), db.shape());
    return std::vector<Tensor>{ga, gb};
  });
}

static Tensor unary_forward(UnaryOp op, const Tensor& x, double p, const char* name) {
  PW_CHECK(x.defined(), name, ": undefined tensor argument");
  Tensor xc = x.detach().contiguous();
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (is_gpu(x.device())) {
    PW_CHECK(x.dtype() == DType::f32, name, ": the ", x.device().str(), " device computes in f32 only");
    on_gpu(x.device(), [&](auto tag) { unary(tag, op, xc.data<float>(), out.data<float>(), x.numel(), (float)p); });
    return out;
  }
  dispatch_floating(x.dtype(), name, [&](auto tag) {
    using T = decltype(tag);
    kernels::cpu::unary<T>(op, xc.data<T>(), out.data<T>(), x.numel(), T(p));
  });
  return out;
}

Tensor add(const Tensor& a, double s) {
  Tensor out = unary_forward(UnaryOp::add_scalar, a, s, "add");
  return record(out, "add_scalar", {a}, [](const Tensor& g, const Node&) { return std::vector<Tensor>{g}; });
}
Tensor sub(const Tensor& a, double s) { return add(a, -s); }
Tensor mul(const Tensor& a, double s) {
  Tensor out = unary_forward(UnaryOp::mul_scalar, a, s, "mul");
  return record(out, "mul_scalar", {a}, [s](const Tensor& g, const Node&) { return std::vector<Tensor>{mul(g, s)}; });
}
Tensor div(const Tensor& a, double s) {
  PW_CHECK(s != 0.0, "div: division by the scalar zero");
  return mul(a, 1.0 / s);
}
Tensor rsub(double s, const Tensor& a) {
  Tensor out = unary_forward(UnaryOp::rsub_scalar, a, s, "rsub");
  return record(out, "rsub", {a}, [](const Tensor& g, const Node&) { return std::vector<Tensor>{neg(g)}; });
}
Tensor minimum(const Tensor& a, double s) {
  Tensor out = unary_forward(UnaryOp::min_scalar, a, s, "minimum");
  Tensor below = unary_forward(UnaryOp::le_scalar, a.detach(), s, "minimum");
  return record(out, "minimum", {a},
                [below](const Tensor& g, const Node&) { return std::vector<Tensor>{mul(g, below)}; });
}
Tensor rdiv(double s, const Tensor& a) {
  Tensor out = unary_forward(UnaryOp::rdiv_scalar, a, s, "rdiv");
  Tensor dout = out.detach(), da = a.detach();
  return record(out, "rdiv", {a}, [dout, da](const Tensor& g, const Node&) {
    return std::vector<Tensor>{neg(div(mul(g, dout), da))};  // d(s/a) = -(s/a)/a
  });
}

Tensor neg(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::neg, x, 0, "neg");
  return record(out, "neg", {x}, [](const Tensor& g, const Node&) { return std::vector<Tensor>{neg(g)}; });
}

Tensor exp(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::exp, x, 0, "exp");
  Tensor y = out.detach();
  return record(out, "exp", {x}, [y](const Tensor& g, const Node&) { return std::vector<Tensor>{mul(g, y)}; });
}

Tensor log(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::log, x, 0, "log");
  Tensor dx = x.detach();
  return record(out, "log", {x}, [dx](const Tensor& g, const Node&) { return std::vector<Tensor>{div(g, dx)}; });
}

Tensor sqrt(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::sqrt, x, 0, "sqrt");
  Tensor y = out.detach();
  return record(out, "sqrt", {x},
                [y](const Tensor& g, const Node&) { return std::vector<Tensor>{div(g, mul(y, 2.0))}; });
}

Tensor pow(const Tensor& x, double p) {
  Tensor out = unary_forward(UnaryOp::pow, x, p, "pow");
  Tensor dx = x.detach();
  return record(out, "pow", {x}, [dx, p](const Tensor& g, const Node&) {
    return std::vector<Tensor>{mul(g, mul(pow(dx, p - 1.0), p))};
  });
}

Tensor abs(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::abs, x, 0, "abs");
  Tensor sign = unary_forward(UnaryOp::sign, x.detach(), 0, "abs");  // 0 at the kink
  return record(out, "abs", {x}, [sign](const Tensor& g, const Node&) { return std::vector<Tensor>{mul(g, sign)}; });
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::sigmoid, x, 0, "sigmoid");
  Tensor y = out.detach();
  return record(out, "sigmoid", {x},
                [y](const Tensor& g, const Node&) { return std::vector<Tensor>{mul(g, mul(y, rsub(1.0, y)))}; });
}

Tensor tanh(const Tensor& x) {
  Tensor out = unary_forward(UnaryOp::tanh, x, 0, "tanh");
  Tensor y = out.detach();
  return record(out, "tanh", {x},
                [y](const Tensor& g, const Node&) { return std::vector<Tensor>{mul(g, rsub(1.0, mul(y, y)))}; });
}

// ---------------------------------------------------------------- relu

namespace {
thread_local ReluRule g_relu_rule = ReluRule::grad;
}

const char* relu_rule_name(ReluRule r) {
  switch (r) {
    case ReluRule::grad: return "grad";
    case ReluRule::deconvnet: return "deconvnet";
    case ReluRule::guided: return "guided";
  }
  return "?";
}

ReluRule parse_relu_rule(const std::string& name) {
  if (name == "grad") return ReluRule::grad;
  if (name == "deconvnet" || name == "deconv") return ReluRule::deconvnet;
  if (name == "guided") return ReluRule::guided;
  PW_FAIL("relu: unknown backward rule '", name, "' (expected grad, deconvnet or guided)");
}

ReluRuleGuard::ReluRuleGuard(ReluRule rule) : prev_(g_relu_rule) { g_relu_rule = rule; }
ReluRuleGuard::~ReluRuleGuard() { g_relu_rule = prev_; }
ReluRule ReluRuleGuard::current() { return g_relu_rule; }

Tensor relu(const Tensor& x) { return relu(x, g_relu_rule); }

// Decision replay (decisions.h): x times the recorded run's active set, so values and gradient
// follow that run's choices even where x itself is on the other side of zero.
static Tensor replay_relu(const Tensor& x, ReluRule rule) {
  PW_CHECK(rule == ReluRule::grad, "relu: decision replay supports the grad rule only, got ", relu_rule_name(rule));
  PW_CHECK(!is_gpu(x.device()), "relu: decision replay runs on cpu, the input is on ", x.device().str());
  const Tensor recorded = detail::next_decision("relu", x.shape()).to(DType::f64);
  Tensor active = Tensor::empty(x.shape(), x.dtype());
  const double* r = recorded.data<double>();
  dispatch_floating(x.dtype(), "relu", [&](auto tag) {
    using T = decltype(tag);
    T* a = active.data<T>();
    for (int64_t i = 0; i < active.numel(); ++i) a[i] = r[i] > 0 ? T(1) : T(0);
  });
  return mul(x, active);
}

Tensor relu(const Tensor& x, ReluRule rule) {
  if (detail::replaying_decisions()) return replay_relu(x, rule);
  Tensor out = unary_forward(UnaryOp::relu, x, 0, "relu");
  if (detail::recording_decisions()) detail::record_decision("relu", out);
  Tensor y = out.detach();
  return record(out, "relu", {x}, [y, rule](const Tensor& g, const Node&) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(y.shape(), y.dtype(), y.device());
    if (is_gpu(y.device())) {
      on_gpu(y.device(), [&](auto tag) {
        relu_backward(tag, (int)rule, y.data<float>(), gc.data<float>(), dx.data<float>(), y.numel());
      });
      return std::vector<Tensor>{dx};
    }
    dispatch_floating(y.dtype(), "relu_backward", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::relu_backward<T>((int)rule, y.data<T>(), gc.data<T>(), dx.data<T>(), y.numel());
    });
    return std::vector<Tensor>{dx};
  });
}

}  // namespace pw
