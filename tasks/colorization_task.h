// Colorization (Zhang, Isola, Efros 2016) as a task of the training loop (tasks/train_loop.h): the
// network sees the lightness L of a crop of a colour photo and predicts, at every cell of its
// output grid, a distribution over the ab bins (tasks/pretext/colorization.h). The loss is the
// multinomial cross-entropy against the soft-encoded true colour of the cell (the crop's ab
// averaged over the cell), weighted by the rebalancing weight of the colour's nearest bin.
//
// Inputs: (L - 50) / 25, one channel, so the trunk also reads gray images (Fashion-MNIST probes).
// A batch is x = inputs [B, 1, c, c] and y = the crops' true ab [B, 2, c, c]; the targets are
// made in the loss, at the output's grid. Accuracy counts output cells whose most likely bin is
// the true colour's nearest bin; a cell is a sample (samples/s counts cells).
//
// Held out: the data's test split when it has one (folder:DIR), else every fifth photo (the
// 5th, 10th, ...), never trained on. Evaluation crops are fixed: crop k comes from held-out photo
// k mod M at a place drawn by Generator(seed, 77 + k).
//
// Determinism, as the other pretext tasks: the photos of epoch e are visited in the order
// Generator(seed, 10 + e).permutation(N) of the training photos; the crops of step s are drawn
// with Generator(seed, 1'000'000 + s).
#pragma once
#include <memory>
#include <optional>
#include <vector>

#include "engine/nn.h"
#include "tasks/image_source.h"
#include "tasks/pretext/colorization.h"
#include "tasks/train_loop.h"

namespace pw::tasks {

// The training photos and the held-out ones of a run.
struct ColorizationSplit {
  std::vector<int64_t> train;  // indices into the training source
  Tensor held_out;             // [M, 3, S, S] normalized as the source; may be empty
};
ColorizationSplit colorization_split(const ImageSource& train, const Tensor& test_images);

// Crops of normalized RGB images [B, 3, S, S] at (top[i], left[i]), side `crop`: the network's
// inputs [B, 1, crop, crop] and the true ab [B, 2, crop, crop].
void make_colorization_crops(const Tensor& images, const std::vector<float>& mean, const std::vector<float>& std,
                             int64_t crop, const std::vector<int64_t>& top, const std::vector<int64_t>& left, Tensor& x,
                             Tensor& ab);

// Rebalancing weights (one per bin) from the colours of up to `max_photos` training photos
// (spread evenly through `train`), whole photos at the data's size.
std::vector<double> colorization_weights(const ImageSource& source, const std::vector<int64_t>& train,
                                         const std::vector<float>& mean, const std::vector<float>& std,
                                         int64_t max_photos = 256);

// The loss's targets for true ab [B, 2, c, c] at an output grid of h x w: each cell's ab (the
// crop's averaged over the cell) soft-encoded and multiplied by the weight of its nearest bin,
// [B, Q, h, w]; modes (optional) gets each cell's nearest bin, in [B, h, w] order.
Tensor colorization_targets(const Tensor& ab, int64_t h, int64_t w, const std::vector<double>& weights,
                            std::vector<int32_t>* modes = nullptr);

// -sum(targets * log_softmax(logits over the bins)) / (B h w), by autograd ops (logits [B, Q, h, w]).
Tensor colorization_loss(const Tensor& logits, const Tensor& targets);

// Annealed-mean ab [B, 2, h, w] of logits [B, Q, h, w] (any device; computed on the cpu).
Tensor decode_ab(const Tensor& logits, double temperature = kAnnealedMeanT);

// The numbers of an evaluation on held-out crops.
struct ColorizationEval {
  int64_t crops = 0;
  double loss = 0, accuracy = 0;  // weighted cross-entropy, cells whose top bin is the true one
  // Mean over pixels of the Euclidean ab distance to the truth, at the crop's full resolution: of
  // the annealed-mean prediction (upsampled bilinearly from the output grid), and of gray (a = b = 0).
  double ab_error = 0, gray_ab_error = 0;
};
ColorizationEval evaluate_colorization(nn::Module& model, const Tensor& x, const Tensor& ab,
                                       const std::vector<double>& weights, int64_t batch_size,
                                       double temperature = kAnnealedMeanT);

// The fixed evaluation crops of the held-out photos (see above): inputs and true ab.
void held_out_crops(const Tensor& held_out, const std::vector<float>& mean, const std::vector<float>& std, int64_t crop,
                    int64_t count, uint64_t seed, Tensor& x, Tensor& ab);

struct ColorizationData {
  std::shared_ptr<const ImageSource> source;
  std::vector<int64_t> train;  // the photos trained on
  std::vector<float> mean, std;
  Tensor eval_x, eval_ab;  // the evaluation crops; undefined: no evaluation
};

// The task. `last` (when given) receives every evaluation's numbers.
TrainingTask colorization_task(std::shared_ptr<nn::Module> model, const ColorizationData& data,
                               const std::vector<double>& weights, int64_t crop, int64_t batch_size,
                               std::optional<int64_t> samples_per_epoch, uint64_t seed,
                               std::shared_ptr<ColorizationEval> last = nullptr);

}  // namespace pw::tasks
