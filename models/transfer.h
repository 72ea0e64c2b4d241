// Transfer of a trained trunk into another network, as in the seed papers' transfer
// experiments: the first n convolutions of a pretext network's shared tower (context-net,
// jigsaw-net, their small variants, a rotation network) are copied into the matching
// classification network (caffenet-nogroups, caffenet, alexnet-small, ...), then frozen or
// left to fine-tune.
#pragma once
#include <string>
#include <vector>

#include "engine/nn.h"

namespace pw::models {

struct TransferResult {
  std::vector<std::string> lines;  // one per copied convolution: "features.conv3 <- features.conv3 (+ bn3 folded)"
  int64_t tensors_copied = 0;
  int64_t parameters_frozen = 0;
};

// Copies the first `convolutions` Conv2d layers found in order under src's "features" into
// those under dst's "features" (-1: all of dst's). Shapes must match layer for layer; a
// mismatch is an error naming both layers and shapes, and nothing is changed. A batch norm that
// follows a source convolution goes into the destination's batch norm at the same place, or,
// when the destination has none there, is folded into the copied weights with its running
// statistics (w·γ/√(var+ε), (b − mean)·γ/√(var+ε) + β) -- how Doersch et al. moved their
// batch-normalized towers into plain networks. `freeze` turns off requires_grad on what was
// copied (linear-probe style); otherwise everything fine-tunes.
TransferResult transfer_features(const nn::Module& src, nn::Module& dst, int64_t convolutions, bool freeze);

}  // namespace pw::models
