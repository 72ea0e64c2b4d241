// check_torch_fixture: see torch_fixture.h.
#include "tests/support/torch_fixture.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "engine/io/safetensors.h"
#include "models/registry.h"
#include "tasks/forward.h"

namespace pw::testing {

void check_torch_fixture(const std::string& name, const std::string& mode, Device device) {
  const char* root = std::getenv("PW_SOURCE_DIR");
  if (!root) root = PW_SOURCE_DIR_BUILT;
  const std::string stem = std::string(root) + "/tests/fixtures/" + name;
  io::SafetensorsFile weights = io::read_safetensors(stem + ".weights.safetensors");
  io::SafetensorsFile input = io::read_safetensors(stem + ".input.safetensors");
  io::SafetensorsFile expected = io::read_safetensors(stem + "." + mode + ".expected.safetensors");

  models::ModelConfig cfg;
  cfg.num_classes = std::stoll(weights.metadata.at("classes"));
  cfg.in_channels = std::stoll(weights.metadata.at("in_channels"));
  cfg.width = std::stod(weights.metadata.at("width"));
  cfg.dropout = 0;  // the fixtures were made with p = 0 (the frameworks draw different masks)
  auto model = models::create(name, cfg);
  model->load_state_dict(weights.tensors);
  model->to(device);
  model->train(mode == "train");
  std::map<std::string, Tensor> got =
      tasks::forward_with_gradients(*model, input.tensors.at("input"), input.tensors.at("labels"));

  ASSERT_GT(expected.tensors.size(), 10u);
  for (const auto& [key, want] : expected.tensors) {
    auto it = got.find(key);
    ASSERT_NE(it, got.end()) << key << " is missing from patchwork's results";
    ASSERT_EQ(it->second.shape(), want.shape()) << key;
    // Relative to the tensor's largest expected magnitude, so that small gradients are held to
    // the same relative standard as large ones; floored at 1e-3, because some gradients are zero
    // in exact arithmetic (a conv bias before a training-mode batch norm) and only rounding
    // noise remains of them in both frameworks.
    std::vector<double> a = it->second.to_vector_f64(), b = want.to_vector_f64();
    double worst = 0, scale = 1e-3;
    size_t at = 0;
    for (size_t i = 0; i < a.size(); ++i) scale = std::max(scale, std::abs(b[i]));
    for (size_t i = 0; i < a.size(); ++i) {
      const double d = std::abs(a[i] - b[i]) / scale;
      if (!(d <= worst)) worst = d, at = i;  // NaN counts as the worst
    }
    EXPECT_LE(worst, 1e-4) << name << " " << mode << " on " << device.str() << ": " << key << "[" << at
                           << "] patchwork " << a[at] << ", PyTorch " << b[at] << " (largest |value| " << scale << ")";
  }
}

}  // namespace pw::testing
