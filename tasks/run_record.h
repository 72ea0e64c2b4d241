// What a checkpoint says about the run that wrote it, for the commands that read one (eval,
// classify, probe, neighbors, viz, forward, train --init-from). A checkpoint of `patchwork train`
// records its whole run (tasks/train.h): task, model, width, the data spec, the classes and
// their names, the normalization and the input size. Those commands read them from it, so a
// user repeats no flag; a flag that contradicts the record is an error naming both values; and
// a checkpoint of the wrong kind for a command says what it is and what to do with it.
// A plain weight file (torchvision names) records nothing: the flags, or their defaults, say
// what it is.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "tasks/datasets.h"

namespace pw::tasks {

struct RunRecord {
  std::string path;
  bool recorded = false;                      // written by `patchwork train` (it holds config.task)
  std::string task;                           // supervised | rotation | jigsaw | context
  std::string model;                          // the registry name
  std::optional<double> width;                // config.width
  std::string data;                           // the data spec the run trained on
  std::string data_kind;                      // mnist, cifar10, cifar100, folder, images, memory
  Shape image;                                // C, H, W of the network's inputs (data.image); empty if unknown
  std::vector<std::string> classes;           // class names (supervised runs)
  std::vector<float> mean, std;               // the normalization its inputs had
  std::map<std::string, std::string> config;  // every config.* string, "config." stripped
};

// Reads the record of a checkpoint; a plain weight file gives recorded = false. An empty path
// (a random network) gives an empty record.
RunRecord read_run_record(const std::string& path);

// "a rotation pretext network (rotation-alexnet-small, trained on fashion-mnist)", "a supervised
// classifier (fmnist-cnn, 10 classes of fashion-mnist)", "a weight file without a run record".
std::string describe(const RunRecord& r);

// Commands that explain or score classes (eval, classify, viz class/saliency/...): the record must
// be a supervised run's, else an error saying what the checkpoint is and what to do with it.
void require_classifier(const RunRecord& r, const std::string& command);

// `flag` given as `given` against the record's `recorded`: an error naming both values unless equal.
void check_agrees(const RunRecord& r, const std::string& command, const std::string& flag, const std::string& given,
                  const std::string& recorded);

// The data flags of a command that reads data through a network.
struct DataRequest {
  std::optional<std::string> data;     // --data, when given
  std::optional<int64_t> image_size;   // --image-size, when given
  std::optional<int64_t> limit_train;  // --limit-train (absent: all; must be positive)
  std::optional<int64_t> limit_test;   // --limit-test, likewise
  bool skip_bad = false;
  // Whether the command may read other data than the run's (probe and neighbors: measuring
  // features on another dataset is what they are for). Other data is then resized to the
  // network's input size, converted to its channels and normalized by its own statistics.
  bool other_data = false;
};

// A request with other_data set: the default of probe and neighbors.
inline DataRequest other_data_allowed() {
  DataRequest q;
  q.other_data = true;
  return q;
}

struct DataChoice {
  std::string spec;       // what load_dataset reads
  DataOptions options;    // the run's normalization and size when it is the run's data
  bool runs_data = true;  // the data the checkpoint was trained on (or no record to compare with)
};

// The data a command reads for a checkpoint: the run's own (spec, size, normalization) unless
// flags say otherwise. Errors: --data or --image-size contradicting the record (naming both),
// a limit that is 0 or negative.
DataChoice choose_data(const RunRecord& r, const DataRequest& request, const std::string& command);

// The normalization of a network's inputs for pictures: the record's, else Fashion-MNIST's
// (1 channel) or ImageNet's (3 channels), the conventions of the registry's networks.
void default_normalization(const RunRecord& r, int64_t channels, std::vector<float>& mean, std::vector<float>& std);

}  // namespace pw::tasks
