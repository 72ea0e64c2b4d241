// Device checks: dropout draws the same mask on the device as on the CPU for the same
// generator state (several seeds, streams, offsets, sizes and probabilities), advances the
// generator identically, and back-propagates through that mask.
#include "tests/support/device_test.h"

using namespace pw;
using pw::testing::DeviceTest;

class DropoutOnDevice : public DeviceTest {};

TEST_P(DropoutOnDevice, SameMaskAndGeneratorStateAsTheCpu) {
  uint64_t seed_x = 600;
  for (uint64_t seed : {0ull, 1ull, 0x123456789abcdefull})
    for (uint64_t offset : {0ull, 1ull, 3ull, 4ull, 6ull, 1001ull})
      for (int64_t n : {1, 3, 4, 5, 31, 1029, 4099})
        for (double p : {0.1, 0.5, 0.9}) {
          Tensor x = cpu_random({n}, seed_x++, 0.5, 2);  // nonzero, so y == 0 only where dropped
          Generator gc(seed, 7), gd(seed, 7);
          gc.set_offset(offset);
          gd.set_offset(offset);
          Tensor yc = dropout(x, p, true, &gc);
          Tensor yd = dropout(x.to(device()), p, true, &gd);
          EXPECT_EQ(yd.device(), device());
          EXPECT_EQ(yd.to_vector_f32(), yc.to_vector_f32())
              << "seed " << seed << " offset " << offset << " n " << n << " p " << p;
          EXPECT_EQ(gd.offset(), gc.offset()) << "seed " << seed << " offset " << offset << " n " << n;
        }
}

TEST_P(DropoutOnDevice, ConsecutiveCallsAndShapesFollowTheCpu) {
  // A generator shared by several calls (as in a network with two dropout layers), on a 4-d
  // tensor and through a non-contiguous input: every mask is the CPU's.
  Generator gc(42), gd(42);
  Tensor a = cpu_random({2, 3, 5, 7}, 700, 0.5, 2), b = cpu_random({9, 13}, 701, 0.5, 2).t();
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(dropout(a.to(device()), 0.3, true, &gd).to_vector_f32(), dropout(a, 0.3, true, &gc).to_vector_f32());
    EXPECT_EQ(dropout(b.to(device()), 0.6, true, &gd).to_vector_f32(), dropout(b, 0.6, true, &gc).to_vector_f32());
    EXPECT_EQ(gd.offset(), gc.offset());
  }
  // The default generator, as the layers use it.
  manual_seed(9);
  std::vector<float> cpu_mask = dropout(a, 0.5, true).to_vector_f32();
  manual_seed(9);
  EXPECT_EQ(dropout(a.to(device()), 0.5, true).to_vector_f32(), cpu_mask);
}

TEST_P(DropoutOnDevice, BackwardUsesTheForwardMask) {
  Tensor x = cpu_random({3, 1031}, 800, 0.5, 2), g = cpu_random({3, 1031}, 801);
  Generator gc(5, 1), gd(5, 1);
  gc.set_offset(2);
  gd.set_offset(2);
  Tensor xc = x.detach(), xd = x.to(device()).detach();
  xc.set_requires_grad(true);
  xd.set_requires_grad(true);
  dropout(xc, 0.25, true, &gc).backward(g);
  dropout(xd, 0.25, true, &gd).backward(g.to(device()));
  EXPECT_EQ(xd.grad().device(), device());
  EXPECT_EQ(xd.grad().to_vector_f32(), xc.grad().to_vector_f32());
}

TEST_P(DropoutOnDevice, EvalZeroProbabilityAndErrors) {
  Tensor x = cpu_random({17}, 900).to(device());
  Generator g(3);
  EXPECT_TRUE(dropout(x, 0.5, false, &g).same(x));
  EXPECT_TRUE(dropout(x, 0.0, true, &g).same(x));
  EXPECT_EQ(g.offset(), 0u);
  Tensor empty = dropout(Tensor::ones({0}).to(device()), 0.5, true, &g);
  EXPECT_EQ(empty.numel(), 0);
  EXPECT_EQ(g.offset(), 0u);  // a fill of 0 elements changes nothing, on the CPU too
  EXPECT_THROW(dropout(x, 1.0, true, &g), Error);
  EXPECT_THROW(dropout(Tensor::ones({4}, DType::f64).to(device()), 0.5, true, &g), Error);
}

PW_INSTANTIATE_DEVICE_TEST(DropoutOnDevice);
