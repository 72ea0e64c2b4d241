// Device checks: elementwise ops, broadcasting and the ReLU rules, forward and backward,
// against the CPU on awkward sizes.
#include "tests/support/device_test.h"

using namespace pw;
using pw::testing::DeviceTest;
using pw::testing::max_rel_diff_any_device;

class ElementwiseOnDevice : public DeviceTest {};

TEST_P(ElementwiseOnDevice, UnaryOpsMatchTheCpu) {
  Tensor x = cpu_random({3, 1031}, 1), pos = cpu_random({3, 1031}, 2, 0.1, 3);
  Tensor dx = x.to(device()), dpos = pos.to(device());
  EXPECT_LE(max_rel_diff_any_device(neg(dx), neg(x)), 0);
  EXPECT_LE(max_rel_diff_any_device(exp(dx), exp(x)), 1e-6);
  EXPECT_LE(max_rel_diff_any_device(log(dpos), log(pos)), 1e-6);
  EXPECT_LE(max_rel_diff_any_device(sqrt(dpos), sqrt(pos)), 1e-6);
  EXPECT_LE(max_rel_diff_any_device(pow(dpos, 1.7), pow(pos, 1.7)), 1e-5);
  EXPECT_LE(max_rel_diff_any_device(sigmoid(dx), sigmoid(x)), 1e-6);
  EXPECT_LE(max_rel_diff_any_device(tanh(dx), tanh(x)), 1e-6);
  EXPECT_LE(max_rel_diff_any_device(relu(dx), relu(x)), 0);
  EXPECT_LE(max_rel_diff_any_device(abs(dx), abs(x)), 0);
  EXPECT_LE(max_rel_diff_any_device(dx * 3.0 + 2.0, x * 3.0 + 2.0), 1e-6);
  EXPECT_LE(max_rel_diff_any_device(rsub(2.0, dx), rsub(2.0, x)), 1e-6);
  EXPECT_LE(max_rel_diff_any_device(rdiv(2.0, dpos), rdiv(2.0, pos)), 1e-6);
  EXPECT_LE(max_rel_diff_any_device(minimum(dx, 0.25), minimum(x, 0.25)), 0);
}

TEST_P(ElementwiseOnDevice, BroadcastingBinaryOpsMatchTheCpu) {
  Tensor a = cpu_random({5, 7, 13}, 3), b = cpu_random({7, 1}, 4, 0.5, 2), c = cpu_random({5, 1, 13}, 5);
  Tensor da = a.to(device()), db = b.to(device()), dc = c.to(device());
  EXPECT_LE(max_rel_diff_any_device(add(da, db), add(a, b)), 1e-6);
  EXPECT_LE(max_rel_diff_any_device(sub(dc, da), sub(c, a)), 1e-6);
  EXPECT_LE(max_rel_diff_any_device(mul(db, dc), mul(b, c)), 1e-6);
  EXPECT_LE(max_rel_diff_any_device(div(da, db), div(a, b)), 1e-6);
  // Strided operands (transposed views) go through the broadcast path.
  EXPECT_LE(
      max_rel_diff_any_device(add(da.transpose(0, 2), da.transpose(0, 2)), add(a.transpose(0, 2), a.transpose(0, 2))),
      1e-6);
  EXPECT_THROW(add(da, a), Error);  // different devices
}

TEST_P(ElementwiseOnDevice, ReluRulesBackward) {
  Tensor x = cpu_random({2, 517}, 6), g = cpu_random({2, 517}, 7);
  for (ReluRule rule : {ReluRule::grad, ReluRule::deconvnet, ReluRule::guided}) {
    Tensor xc = x.detach();
    xc.set_requires_grad(true);
    relu(xc, rule).backward(g);
    Tensor xd = x.to(device()).detach();
    xd.set_requires_grad(true);
    relu(xd, rule).backward(g.to(device()));
    EXPECT_EQ(xd.grad().device(), device());
    EXPECT_LE(max_rel_diff_any_device(xd.grad(), xc.grad()), 0) << relu_rule_name(rule);
  }
}

TEST_P(ElementwiseOnDevice, F64IsRefusedClearly) {
  Tensor x = Tensor::ones({3}, DType::f64).to(device());
  EXPECT_THROW(exp(x), Error);
}

PW_INSTANTIATE_DEVICE_TEST(ElementwiseOnDevice);
