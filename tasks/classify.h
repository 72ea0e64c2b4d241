// `patchwork classify`: image files through a trained classifier. Each file is decoded, converted
// to the network's channels, shrunk and centre-cropped to its input size and normalized with the
// mean and std of the data it was trained on (all read from the checkpoint's run record, as
// load_dataset prepares folder images), then the top classes and their softmax probabilities.
#pragma once
#include <string>
#include <vector>

#include "engine/device/device.h"
#include "engine/io/json.h"
#include "tasks/load_model.h"

namespace pw::tasks {

struct ClassifyConfig {
  ModelSource source;               // a checkpoint of a supervised `patchwork train` run
  std::vector<std::string> images;  // image files (JPEG, PNG, BMP, ...)
  int64_t top = 5;                  // classes per image (at most the network's)
  Device device = Device::cpu();
};

struct ClassScore {
  int64_t index = 0;
  std::string name;
  double probability = 0;
};

struct ClassifyResult {
  std::string model, data;                           // the network, and the data it was trained on
  std::vector<std::vector<ClassScore>> predictions;  // per image, most probable first
};

ClassifyResult run_classify(const ClassifyConfig& config);

// {"model", "checkpoint", "data", "images": [{"file", "top": [{"class", "name", "probability"}]}]}
io::Json classify_json(const ClassifyConfig& config, const ClassifyResult& result);

}  // namespace pw::tasks
