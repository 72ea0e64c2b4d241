// Supervised classification as a task of the training loop (tasks/train_loop.h): its batches
// (a seeded shuffle per epoch, optional random crops with padding and horizontal flips) and
// its evaluation on the test split (tasks/evaluate.h's `evaluate`).
#pragma once
#include <memory>
#include <vector>

#include "engine/nn.h"
#include "engine/tensor.h"
#include "engine/util/rng.h"
#include "tasks/image_source.h"
#include "tasks/train_loop.h"

namespace pw::tasks {

// Standard augmentation of a training batch, as torchvision's RandomCrop(size, padding) and
// RandomHorizontalFlip: each image is padded by `crop_padding` pixels on every side with the
// value black has after normalization, and a window of its own size is cut at
// top = randint(0, 2P + 1), left = randint(0, 2P + 1); then mirrored when uniform() < 0.5.
struct Augmentation {
  int64_t crop_padding = 0;  // 0: no crop
  bool flip = false;
  std::vector<float> black;  // per channel: (0 - mean) / std
  bool any() const { return crop_padding > 0 || flip; }
};

// Augments images [B, C, H, W] (f32, cpu, contiguous) in place; draws per image, in order:
// top, left (when cropping), then the flip (when flipping).
void augment(Tensor& images, const Augmentation& augmentation, Generator& gen);

struct SupervisedData {
  std::shared_ptr<const ImageSource> train;  // normalized images
  Tensor train_labels;                       // [N] i32
  Tensor test_images, test_labels;           // may be undefined: no evaluation
  int64_t classes = 0;
};

// The task: epoch e visits the training images in the e-th permutation drawn from
// Generator(seed, 1) (every epoch's drawn in turn, also on resume), in batches of batch_size
// (the last one smaller); step s augments with Generator(seed, 3'000'000 + s). Evaluation:
// `evaluate` on the test split, in batches of 256. The loss: cross-entropy with this label
// smoothing (0: none; the evaluation's loss is always plain cross-entropy).
TrainingTask supervised_task(std::shared_ptr<nn::Module> model, const SupervisedData& data, int64_t batch_size,
                             uint64_t seed, const Augmentation& augmentation, double label_smoothing = 0);

}  // namespace pw::tasks
