// Checkpoints: a model, its optimizer, the step, the random generator and the run's
// configuration in one safetensors file, so that a run resumes exactly where it stopped; and
// reading plain weight files with torchvision names.
//
// Layout of a checkpoint file (a plain safetensors file; PyTorch can read it):
//   tensors   "model.<state_dict name>"  the model's parameters and buffers
//             "optim.<state name>"       Optimizer::state("optim."), when an optimizer is saved
//   metadata  "format"  = "patchwork-checkpoint"
//             "step"    = the training step, decimal
//             "optimizer" = Optimizer::name(), when one is saved
//             "rng.seed", "rng.stream", "rng.offset" = the Generator, decimal u64, when saved
//             "config.<key>" = the caller's configuration strings
// Stripping "model." from the tensor names gives a weight file with torchvision's names.
// Every write is atomic: a failed save leaves the previous file untouched.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "engine/optim/optimizer.h"
#include "engine/tensor.h"
#include "engine/util/rng.h"

namespace pw::io {

constexpr const char* kCheckpointFormat = "patchwork-checkpoint";

struct Checkpoint {
  std::map<std::string, Tensor> model;      // state_dict names ("model." stripped)
  std::map<std::string, Tensor> optimizer;  // Optimizer::state names ("optim." stripped); empty if none
  std::string optimizer_name;               // "SGD", ...; empty if none was saved
  int64_t step = 0;
  bool has_rng = false;
  uint64_t rng_seed = 0, rng_stream = 0, rng_offset = 0;
  std::map<std::string, std::string> config;  // "config." stripped
};

// Writes a checkpoint. `opt` and `rng` may be null (then nothing of them is saved).
void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer* opt, int64_t step,
                     const Generator* rng, const std::map<std::string, std::string>& config = {});

// Reads and checks a checkpoint (format key, step and generator numbers, tensor name prefixes).
Checkpoint read_checkpoint(const std::string& path);

// Puts a checkpoint back: the model strictly (every name, every shape), the optimizer's state
// (when `opt` is given; the checkpoint must then hold state of an optimizer of the same kind)
// and the generator's seed, stream and offset (when `rng` is given; the checkpoint must hold
// them). On any error nothing is changed: the model is loaded first, and put back as it was if
// the optimizer then refuses its state.
void restore_checkpoint(const Checkpoint& ckpt, nn::Module& model, optim::Optimizer* opt, Generator* rng);

// A number as a configuration string that reads back to the same double ("%.17g").
std::string config_number(double v);

// Resuming must continue the same run: throws unless each of `keys` has the same value in `now`
// (the resuming run's configuration) and in the checkpoint's, naming the first key that differs
// and both values.
void check_same_run(const Checkpoint& ckpt, const std::map<std::string, std::string>& now,
                    const std::vector<std::string>& keys);

// The model weights of a file: a checkpoint (names with "model." stripped) or a plain weight
// file (names as they are, e.g. torchvision's "features.0.weight").
std::map<std::string, Tensor> read_weights(const std::string& path);
// read_weights, then model.load_state_dict(weights, strict).
void load_state_dict_file(nn::Module& model, const std::string& path, bool strict = true);
// Writes model.state_dict() as a plain weight file (torchvision names, no metadata).
void save_state_dict_file(const nn::Module& model, const std::string& path);

}  // namespace pw::io
