// The pretext tasks (rotation, jigsaw, context) as tasks of the training loop
// (tasks/train_loop.h): their batches, built from unlabeled images by the samplers in
// tasks/pretext/, and their evaluation, the pretext accuracy on held-out images.
//
// Determinism. The images of epoch e (0-based) are visited in the order
// Generator(seed, 10 + e).permutation(N); the batch of step s is sampled with
// Generator(seed, 1'000'000 + s) alone, image k of the batch drawing from its own window of that
// stream (words k·2^32 onwards), so that any rows of a batch can be built without the rows
// before them (a data-parallel rank builds only its own). Evaluation batch b (starting at
// held-out image b) is sampled with Generator(seed, 77 + b), the same samples after every epoch.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "tasks/image_source.h"
#include "tasks/pretext/context.h"
#include "tasks/pretext/jigsaw.h"
#include "tasks/train_loop.h"

namespace pw::tasks {

// A pretext task and its sampler's constants.
struct PretextSampler {
  std::string task = "rotation";  // rotation | jigsaw | context
  ContextConfig context;
  JigsawConfig jigsaw;
  std::vector<Permutation> permutations;  // jigsaw: one class per permutation
  int64_t classes() const;                // 4, 8, or the number of permutations
};

// Builds the inputs and labels of one step (exposed for tests): rotation [4B, C, H, W];
// jigsaw [B, 9, C, t, t]; context [B, 2, C, p, p]. Image i of `indices` is image first + i of
// the step's batch: it draws from words (first + i)·2^32 onwards of gen's stream.
void make_pretext_batch(const PretextSampler& sampler, const Tensor& images, const std::vector<int64_t>& indices,
                        Generator& gen, Tensor& x, Tensor& y, int64_t first = 0);
// Rows of the network's batch per image: 4 for rotation (every rotation of each image), else 1.
int64_t pretext_rows_per_image(const std::string& task);

// rotation-alexnet-small, jigsaw-small, context-small, colorization-small (its task is built by
// tasks/colorization_task.h, not here); an unknown task is an error listing them.
std::string default_pretext_model(const std::string& task);
bool is_pretext_task(const std::string& task);

struct PretextData {
  std::shared_ptr<const ImageSource> train;  // normalized, sized for the sampler
  Tensor held_out;                           // [M, C, H, W]; undefined or empty: no evaluation
};

// samples_per_epoch: absent, one per training image; more for a few large photos (positions
// past N wrap around the epoch's order).
TrainingTask pretext_task(std::shared_ptr<nn::Module> model, const PretextSampler& sampler, const PretextData& data,
                          int64_t batch_size, std::optional<int64_t> samples_per_epoch, uint64_t seed,
                          int64_t eval_images);

}  // namespace pw::tasks
