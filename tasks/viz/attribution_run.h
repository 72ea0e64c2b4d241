// `patchwork viz gradcam | smoothgrad | integrated-gradients` as library calls: the images of a
// data set, the network, the attribution (tasks/viz/attribution.h), and the picture (one row per
// image) with the numbers behind it as JSON, for the command to write as PNG + sidecar.
#pragma once
#include <string>
#include <vector>

#include "engine/device/device.h"
#include "engine/io/image.h"
#include "engine/io/json.h"
#include "tasks/datasets.h"
#include "tasks/load_model.h"
#include "tasks/run_record.h"
#include "tasks/viz/attribution.h"

namespace pw::tasks::viz {

struct AttributionConfig {
  std::string method;  // gradcam, smoothgrad or integrated-gradients
  ModelSource source;
  // The test split (the training images of unlabeled data) of the checkpoint's data, normalized as
  // it was trained (tasks/run_record: choose_data), unless the request says otherwise.
  DataRequest data;
  std::vector<int64_t> images;       // indices into that split; empty: the first 8 (all of a smaller split)
  std::vector<int64_t> classes{-1};  // one value for all images, or one per image; -1: predicted
  GradCamOptions gradcam;
  SmoothGradOptions smoothgrad;
  IntegratedGradientsOptions integrated_gradients;
  std::string baseline = "black";  // integrated gradients: black (pixel 0) or mean (the mean image)
  Device device = Device::cpu();
};

struct AttributionOutput {
  io::Image picture;
  io::Json results;
  std::vector<std::string> lines;  // one line per image for the terminal
};

// The methods run_attribution knows, for help texts and errors.
const std::vector<std::string>& attribution_methods();

AttributionOutput run_attribution(const AttributionConfig& config);

}  // namespace pw::tasks::viz
