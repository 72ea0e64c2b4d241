// The standard layers as nn::Modules, with torchvision's parameter names (weight, bias;
// BatchNorm adds the buffers running_mean, running_var), PyTorch's default initialization and
// PyTorch-like printouts.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "engine/nn/module.h"
#include "engine/ops/conv.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/pool.h"
#include "engine/util/rng.h"

namespace pw::nn {

// y = x W^T + b, weight [out, in], bias [out]. Init as PyTorch: kaiming_uniform_(W, a = sqrt(5)),
// i.e. U(-1/sqrt(in), 1/sqrt(in)), and b ~ U(-1/sqrt(in), 1/sqrt(in)), from default_generator().
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;
  void reset_parameters(Generator* gen = nullptr);

  Tensor weight, bias;  // bias undefined when built without one
  int64_t in_features, out_features;
};

// 2-D convolution, weight [out, in/groups, kh, kw], bias [out]. Init as PyTorch:
// kaiming_uniform_(W, a = sqrt(5)) and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
// fan_in = in/groups * kh * kw, from default_generator().
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1, int64_t padding = 0,
         int64_t dilation = 1, int64_t groups = 1, bool bias = true);
  // Rectangular kernels and per-axis stride / padding / dilation.
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_h, int64_t kernel_w, const Conv2dParams& params,
         bool bias = true);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Conv2d"; }
  std::string extra_repr() const override;
  void reset_parameters(Generator* gen = nullptr);

  Tensor weight, bias;  // bias undefined when built without one
  Conv2dParams params;
  int64_t in_channels, out_channels, kernel_h, kernel_w;
};

// ReLU. With no rule set, the backward rule comes from the thread's ReluRuleGuard when the op is
// recorded (DESIGN: Autograd); set `rule` to pin one for this layer.
class ReLU : public Module {
 public:
  ReLU() = default;
  explicit ReLU(ReluRule r) : rule(r) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ReLU"; }
  std::string extra_repr() const override;

  std::optional<ReluRule> rule;
};

// x.flatten(start_dim, end_dim); the default keeps the batch dimension.
class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& x) override { return x.flatten(start_dim, end_dim); }
  std::string type_name() const override { return "Flatten"; }
  std::string extra_repr() const override;

  int64_t start_dim, end_dim;
};

// Max pooling; stride defaults to the kernel size, as in PyTorch.
class MaxPool2d : public Module {
 public:
  MaxPool2d(int64_t kernel_size, std::optional<int64_t> stride = std::nullopt, int64_t padding = 0,
            bool ceil_mode = false);
  explicit MaxPool2d(const Pool2dParams& params);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "MaxPool2d"; }
  std::string extra_repr() const override;

  Pool2dParams params;
};

// Average pooling; stride defaults to the kernel size. Dilation must be 1.
class AvgPool2d : public Module {
 public:
  AvgPool2d(int64_t kernel_size, std::optional<int64_t> stride = std::nullopt, int64_t padding = 0,
            bool ceil_mode = false, bool count_include_pad = true);
  explicit AvgPool2d(const Pool2dParams& params);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "AvgPool2d"; }
  std::string extra_repr() const override;

  Pool2dParams params;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(int64_t output_size) : AdaptiveAvgPool2d(output_size, output_size) {}
  AdaptiveAvgPool2d(int64_t out_h, int64_t out_w);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  std::string extra_repr() const override;

  int64_t out_h, out_w;
};

// Cross-channel local response normalization (AlexNet), PyTorch's LocalResponseNorm.
class LocalResponseNorm : public Module {
 public:
  explicit LocalResponseNorm(int64_t size, double alpha = 1e-4, double beta = 0.75, double k = 1.0);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "LocalResponseNorm"; }
  std::string extra_repr() const override;

  int64_t size;
  double alpha, beta, k;
};

// Inverted dropout in training mode, the identity in eval mode. Draws its masks from `gen`
// (not owned; must outlive the layer) or, when null, from default_generator().
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Dropout"; }
  std::string extra_repr() const override;

  double p;
  Generator* gen;
};

// Batch normalization over channel dimension 1. Parameters weight (ones) and bias (zeros) when
// affine; buffers running_mean (zeros) and running_var (ones) when track_running_stats. Training
// mode normalizes with batch statistics and updates the running ones (momentum as PyTorch:
// running = (1 - momentum) running + momentum batch, unbiased variance); eval mode uses the
// running statistics. Without running statistics the batch is used in both modes (as PyTorch).
// PyTorch's num_batches_tracked buffer is not kept (see Module::named_buffers).
class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;
  void reset_parameters();     // weight 1, bias 0
  void reset_running_stats();  // mean 0, var 1

  Tensor weight, bias, running_mean, running_var;  // undefined when not affine / not tracking
  int64_t num_features;
  double eps, momentum;
  bool affine, track_running_stats;

 protected:
  BatchNorm(int64_t num_features, double eps, double momentum, bool affine, bool track_running_stats);
  virtual void check_input(const Tensor& x) const = 0;
};

// Input [N, C] or [N, C, L].
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true,
                       bool track_running_stats = true)
      : BatchNorm(num_features, eps, momentum, affine, track_running_stats) {}
  std::string type_name() const override { return "BatchNorm1d"; }

 protected:
  void check_input(const Tensor& x) const override;
};

// Input [N, C, H, W].
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true,
                       bool track_running_stats = true)
      : BatchNorm(num_features, eps, momentum, affine, track_running_stats) {}
  std::string type_name() const override { return "BatchNorm2d"; }

 protected:
  void check_input(const Tensor& x) const override;
};

class Identity : public Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Identity"; }
};

}  // namespace pw::nn
