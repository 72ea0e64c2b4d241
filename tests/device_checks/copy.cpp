// Device checks: copies, views and fills against the CPU.
#include "tests/support/device_test.h"

using namespace pw;
using pw::testing::DeviceTest;

class CopyOnDevice : public DeviceTest {};

TEST_P(CopyOnDevice, StridedCopiesMatchTheCpu) {
  Tensor x = cpu_random({6, 5, 7}, 1);
  Tensor d = x.to(device());
  for (auto view : {std::function<Tensor(Tensor)>([](Tensor t) {
                      return t.permute({2, 0, 1});
                    }),
                    std::function<Tensor(Tensor)>([](Tensor t) { return t.slice(1, 1, 5, 3); }),
                    std::function<Tensor(Tensor)>([](Tensor t) { return t.transpose(0, 2).select(1, 4); }),
                    std::function<Tensor(Tensor)>([](Tensor t) {
                      return t.slice(0, 0, 6, 5).expand({2, 5, 7});
                    })}) {
    EXPECT_EQ(view(d).contiguous().to_vector_f32(), view(x).contiguous().to_vector_f32());
  }
  EXPECT_EQ(x.to(DType::i32).to_vector_i32(), d.to(DType::i32).to_vector_i32());
}

TEST_P(CopyOnDevice, FillWritesEveryElement) {
  Tensor t = Tensor::empty({1237}, DType::f32, device());
  t.fill_(-0.75);
  EXPECT_EQ(t.to_vector_f32(), std::vector<float>(1237, -0.75f));
}

PW_INSTANTIATE_DEVICE_TEST(CopyOnDevice);
