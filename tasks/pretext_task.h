// Training a network on a pretext task (rotation, jigsaw, context) over a set of unlabeled
// images held in memory, with checkpoints, exact resume and a clean stop on Ctrl-C.
//
// Determinism. The images of epoch e are visited in the order Generator(seed, 10 + e)
// .permutation(N); the batch of step s is built from Generator(seed, 1'000'000 + s) alone, on a
// worker thread one step ahead of training; dropout and initialization use the default
// generator seeded with `seed`, whose state is saved in the checkpoint. So a run stopped and
// resumed from its checkpoint gives the same losses as an uninterrupted one (same device and
// thread count).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "tasks/image_source.h"
#include "tasks/pretext/context.h"
#include "tasks/pretext/jigsaw.h"

namespace pw::tasks {

struct PretextConfig {
  std::string task = "rotation";  // rotation | jigsaw | context
  std::string model;              // default: rotation-alexnet-small, jigsaw-small, context-small
  double width = 1;               // ModelConfig::width of the small networks
  bool batch_norm = true;         // ModelConfig::batch_norm (context nets; jigsaw-small)
  int64_t epochs = 1;
  int64_t samples_per_epoch = 0;  // 0: one per image; more for small photo collections
  int64_t batch_size = 64;        // images per step (rotation turns each into 4 inputs)
  std::string optimizer = "sgd";
  double lr = 0.05, momentum = 0.9, weight_decay = 5e-4;
  std::string schedule = "cosine";
  uint64_t seed = 0;
  Device device = Device::cpu();
  ContextConfig context;          // set by the caller (context_config_for gives scaled defaults)
  JigsawConfig jigsaw;
  int64_t permutations = 100;
  PermutationCriterion criterion = PermutationCriterion::max_average;
  std::string permutation_file;   // load this set instead of generating one
  std::string out_dir;            // metrics.jsonl, checkpoint.safetensors, permutations.txt
  int64_t checkpoint_every = 0;   // steps; 0: only at the end (and on Ctrl-C)
  bool resume = false;            // continue from out_dir/checkpoint.safetensors
  int64_t stop_after = -1;        // stop (with a checkpoint) after this many steps in total
  int64_t eval_images = 1000;     // pretext accuracy measured on up to this many held-out images
  bool progress = true;
};

struct PretextResult {
  std::vector<double> losses;     // every step of this run (after a resume: from where it resumed)
  int64_t first_step = 0, steps = 0;  // steps: the total, including those before a resume
  double eval_accuracy = 0;       // pretext accuracy on the held-out images (chance: 1/classes)
  bool evaluated = false;         // false when there were no held-out images (or Ctrl-C)
  int64_t classes = 0;
  double seconds = 0, samples_per_second = 0;
  bool interrupted = false;       // stopped by Ctrl-C or stop_after
  std::shared_ptr<nn::Module> model;
  HammingStats permutation_stats;  // jigsaw
};

// images and eval_images: [N, C, H, W] f32 cpu, already normalized and sized for the task.
PretextResult train_pretext(const PretextConfig& config, const Tensor& images, const Tensor& eval_images);
// The same with the training images read from a source (image files decoded on demand: fixed
// memory). Batches are identical to those of the tensor form for the same images.
PretextResult train_pretext(const PretextConfig& config, const ImageSource& images, const Tensor& eval_images);

// Builds the inputs and labels of one step (exposed for tests): rotation [4B, C, H, W];
// jigsaw [B, 9, C, t, t]; context [B, 2, C, p, p].
void make_pretext_batch(const PretextConfig& config, const std::vector<Permutation>& perms, const Tensor& images,
                        const std::vector<int64_t>& indices, Generator& gen, Tensor& x, Tensor& y);

std::string default_pretext_model(const std::string& task);

}  // namespace pw::tasks
