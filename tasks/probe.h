// Linear probes: how linearly separable the classes are in a frozen layer's features, the
// standard measure of what a self-supervised network learned (RECIPES: Evaluation protocols).
//
// Protocol. The trunk runs in eval mode without gradients. A layer's output [N, C, H, W] is
// average-pooled (adaptively) to at most `max_dims` values (s x s cells with
// s = floor(sqrt(max_dims / C)), as VISSL and the AlexNet probes do: conv1 96x10x10, ...);
// [N, D] outputs are kept. Features are standardized with the training set's mean and
// standard deviation (batch norm without affine, in eval mode), then a linear classifier is
// trained on them: softmax regression (default) or a one-vs-rest linear SVM with squared hinge
// loss, by Adam on mini-batches. Train and test accuracy are reported.
#pragma once
#include <string>
#include <vector>

#include "engine/nn.h"
#include "tasks/features.h"
#include "tasks/load_model.h"
#include "tasks/run_record.h"

namespace pw::tasks {

struct ProbeConfig {
  int64_t max_dims = 9216;
  std::string classifier = "softmax";  // softmax | svm
  int64_t epochs = 10;
  int64_t batch_size = 256;
  double lr = 1e-3;
  double weight_decay = 1e-4;
  double svm_c = 1.0;  // svm: weight of the hinge term against ||W||^2 / 2
  uint64_t seed = 0;
  Device device = Device::cpu();  // where the linear classifier trains
  bool progress = false;
};

struct ProbeResult {
  std::string layer;  // the probe point's name, "features.conv3"
  Shape pooled;       // per image, after pooling: {C, s, s} or {D}
  int64_t dims = 0;
  double train_accuracy = 0, test_accuracy = 0, seconds = 0;
};

// Features of `points` for every image, pooled as above, as [N, dims] f32 cpu tensors (one per
// point), computed in batches in one pass per batch.
std::vector<Tensor> extract_features(nn::Module& trunk, const std::vector<ProbePoint>& points, const Tensor& images,
                                     int64_t max_dims, int64_t batch_size = 256);

// One probe per point; labels are i32 class indices in [0, classes).
std::vector<ProbeResult> linear_probe(nn::Module& trunk, const std::vector<ProbePoint>& points, const Tensor& train_x,
                                      const Tensor& train_y, const Tensor& test_x, const Tensor& test_y,
                                      int64_t classes, const ProbeConfig& config);

// The linear classifier alone, on given features [N, D] (exposed for tests).
struct LinearFit {
  double train_accuracy = 0, test_accuracy = 0;
};
LinearFit fit_linear(const Tensor& train_f, const Tensor& train_y, const Tensor& test_f, const Tensor& test_y,
                     int64_t classes, const ProbeConfig& config);

// `patchwork probe`: loads the network (a checkpoint, or random) and the data (the checkpoint's
// own unless --data names other labeled data), probes `layer` (or every convolution and linear
// layer: "all") and, with `out`, writes one JSON line per layer.
struct ProbeRunConfig {
  ModelSource source;
  DataRequest data = other_data_allowed();
  std::string layer = "all";
  ProbeConfig probe;
  std::string out;  // JSON lines; empty: none
};

struct ProbeRunResult {
  std::string model, data;
  std::string data_summary;  // one line: what was loaded
  std::vector<ProbeResult> rows;
};

ProbeRunResult run_probe(const ProbeRunConfig& config);

}  // namespace pw::tasks
