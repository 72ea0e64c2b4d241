// Building a network from a file: a checkpoint written by `patchwork train` (its model name,
// width, batch norm and fc6 width are read from the metadata) or a plain weight file with torchvision names, or a randomly
// initialized network (the baseline of probes). Used by every command that reads a trained model
// and by fine-tuning.
#pragma once
#include <memory>
#include <string>

#include "engine/nn.h"

namespace pw::tasks {

struct ModelSource {
  std::string checkpoint;  // empty: random initialization (then `model` is needed)
  std::string model;       // overrides the checkpoint's model name; needed for plain weight files
  double width = 1;        // small networks, when the checkpoint does not say
  uint64_t seed = 0;       // initialization of anything the file does not hold
};

struct LoadedModel {
  std::shared_ptr<nn::Module> model;
  std::string name;
  double width = 1;
};

// The number of classes is read from the last layer's bias in the weights; a rotation or context
// network keeps its own head size. Errors name the file and what is missing.
LoadedModel load_model(const ModelSource& source, int64_t in_channels);

}  // namespace pw::tasks
