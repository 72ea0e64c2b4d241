// Evaluating a classifier on a labeled split: loss, top-1 and top-5 accuracy and the confusion
// matrix (used by training after each epoch), and `patchwork eval`, which does it for a saved
// model on a dataset's test split and writes confusion.png (with class names) and confusion.json.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "tasks/datasets.h"
#include "tasks/load_model.h"

namespace pw::tasks {

struct Evaluation {
  int64_t images = 0, classes = 0;
  double loss = 0, accuracy = 0, top5 = 0;  // accuracy is top-1
  std::vector<int64_t> confusion;           // [true * classes + predicted]
};

// Loss and accuracy of `model` (in eval mode for the call, no graph; every module's own mode is
// restored) over images [N, C, H, W] / labels [N] i32, in batches on the model's device. Every
// label must lie in [0, num_classes) (checked before the pass).
Evaluation evaluate(nn::Module& model, const Tensor& images, const Tensor& labels, int64_t batch_size,
                    int64_t num_classes);

struct EvalConfig {
  ModelSource source;
  DataRequest data;  // absent flags: the checkpoint's data, size and normalization
  std::string out_dir = "runs/eval";
  Device device = Device::cpu();
  int64_t batch_size = 256;
};

struct EvalResult {
  std::string model;
  std::string data;  // the spec read
  Evaluation evaluation;
  std::vector<std::string> class_names;  // the dataset's, where it has one per output, else empty
  std::string picture, json;             // the files written
};

// Loads the model and the data it was trained on (or a labeled dataset for a weight file without
// a run record), evaluates on the test split, writes the picture and the JSON. A checkpoint that
// is not a classifier, or data whose classes differ from the network's outputs, is an error.
EvalResult run_eval(const EvalConfig& config);

}  // namespace pw::tasks
