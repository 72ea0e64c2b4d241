// Device check, end to end: a few SGD steps of the reference CNN on the device follow the CPU
// run step by step (same initialization, same batches, same dropout masks).
#include "engine/nn.h"
#include "engine/optim.h"
#include "models/registry.h"
#include "tests/support/device_test.h"

using namespace pw;
using pw::testing::DeviceTest;
using pw::testing::max_rel_diff_any_device;

class TrainingOnDevice : public DeviceTest {};

namespace {
struct TrainRun {
  std::vector<double> losses;
  std::map<std::string, Tensor> state;
};

TrainRun train_steps(Device device, int steps) {
  manual_seed(21);
  auto model = models::create("fmnist-cnn", {10, 1});
  model->to(device);
  optim::SGD opt(model->parameters(), 0.05, 0.9, 5e-4, /*nesterov=*/true);
  Generator data(5, 1);
  TrainRun r;
  for (int s = 0; s < steps; ++s) {
    Tensor x = Tensor::randn({6, 1, 28, 28}, DType::f32, &data);
    std::vector<int32_t> labels(6);
    for (auto& l : labels) l = (int32_t)data.randint(0, 10);
    Tensor y = Tensor::from_vector(labels, {6});
    opt.zero_grad();
    Tensor loss = cross_entropy((*model)(x.to(device)), y.to(device));
    loss.backward();
    opt.step();
    r.losses.push_back(loss.item());
  }
  r.state = model->state_dict();
  return r;
}
}  // namespace

TEST_P(TrainingOnDevice, SgdStepsFollowTheCpu) {
  TrainRun cpu = train_steps(Device::cpu(), 3);
  TrainRun dev = train_steps(device(), 3);
  ASSERT_EQ(cpu.losses.size(), dev.losses.size());
  for (size_t i = 0; i < cpu.losses.size(); ++i)
    EXPECT_NEAR(dev.losses[i], cpu.losses[i], 1e-4 * std::max(1.0, std::abs(cpu.losses[i]))) << "step " << i;
  for (const auto& [name, t] : cpu.state) {
    ASSERT_TRUE(dev.state.count(name)) << name;
    EXPECT_EQ(dev.state.at(name).device(), device()) << name;
    EXPECT_LE(max_rel_diff_any_device(dev.state.at(name), t), 1e-4) << name;
  }
}

PW_INSTANTIATE_DEVICE_TEST(TrainingOnDevice);
