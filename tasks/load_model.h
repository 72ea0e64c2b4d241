// Building a network from a file: a checkpoint written by `patchwork train` (its model, width,
// batch norm and fc6 width are read from its run record, tasks/run_record.h) or a plain weight
// file with torchvision names, or a randomly initialized network (the baseline of probes). Used
// by every command that reads a trained model and by fine-tuning.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "engine/nn.h"
#include "tasks/run_record.h"

namespace pw::tasks {

struct ModelSource {
  std::string checkpoint;         // empty: random initialization (then `model` is needed)
  std::string model;              // needed for plain weight files and random networks; with a
                                  // checkpoint that records its model, it must agree
  std::optional<double> width;    // likewise (absent: the record's, else 1)
  std::optional<double> dropout;  // every dropout layer's probability (absent: the network's)
  uint64_t seed = 0;              // initialization of anything the file does not hold
};

struct LoadedModel {
  std::shared_ptr<nn::Module> model;
  std::string name;
  double width = 1;
  RunRecord record;  // what the checkpoint says of its run (recorded = false for weight files)
};

// The number of classes is read from the last layer's bias in the weights; a rotation or context
// network keeps its own head size. Errors name the file and what is missing; a --model or
// --width that contradicts the checkpoint's record names both values. `command` prefixes errors.
LoadedModel load_model(const ModelSource& source, int64_t in_channels, const std::string& command = "load");

// The input channels of the network a source names: the record's, else `fallback`.
int64_t input_channels(const RunRecord& record, int64_t fallback);

}  // namespace pw::tasks
