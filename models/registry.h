// The model registry: every network by name, built in code (no config language), plus the
// generic features → flatten → classifier container the torchvision-style models share.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"

namespace pw::models {

using ModelPtr = std::shared_ptr<nn::Module>;

// What a model is built for. Zero / negative values mean "the model's default".
struct ModelConfig {
  int64_t num_classes = 0;  // 0: 1000 for the ImageNet networks, 10 for the small ones,
                            // 8 for the context networks (which accept no other), 100 for jigsaw
  int64_t in_channels = 3;
  double dropout = -1;     // probability of every Dropout layer (-1: the paper's, usually 0.5)
  int64_t fc6 = 0;         // jigsaw: per-tile fc6 width (0: 1024 as released; the paper used 512)
  bool batch_norm = true;  // context nets: batch norm without affine on conv3-5, fc6, fc7; jigsaw-small: conv3-5
  double width = 1;        // the small networks: every channel and hidden width times this
};

// The model's value of a config field: `value` when set, else `fallback`.
inline int64_t classes_or(const ModelConfig& c, int64_t fallback) {
  return c.num_classes > 0 ? c.num_classes : fallback;
}
inline double dropout_or(const ModelConfig& c, double fallback) { return c.dropout >= 0 ? c.dropout : fallback; }
// A small network's width `n` scaled by config.width (at least 1).
int64_t scaled(const ModelConfig& c, int64_t n);

// features (a Sequential) → optional avgpool → flatten → classifier (a Sequential);
// parameter names are "features.N.*" and "classifier.N.*" as in torchvision's AlexNet and VGG.
class FeaturesClassifier : public nn::Module {
 public:
  FeaturesClassifier(std::shared_ptr<nn::Sequential> features, std::shared_ptr<nn::Sequential> classifier,
                     std::shared_ptr<nn::Module> avgpool = nullptr, std::string type = "FeaturesClassifier");
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return type_; }
  std::shared_ptr<nn::Sequential> features, classifier;
  std::shared_ptr<nn::Module> avgpool;

 private:
  std::string type_;
};

// The siamese pretext networks (context: 2 tiles, jigsaw: 9). One tower with shared weights runs
// on every tile: input [N, T, C, H, W] is folded to [N*T, C, H, W], run through features →
// optional avgpool → flatten → tower (fc6 ...), unfolded to [N, T*F] (tile 0's features first:
// the concatenation of the papers) and run through head (fc7 ... classifier). Because one
// module serves every tile, its parameters receive the sum of the gradients of all uses, as
// Caffe's shared blobs do. A batch-norm layer in the tower sees the statistics of all N*T tiles
// together.
class TiledNet : public nn::Module {
 public:
  TiledNet(int64_t tiles, std::shared_ptr<nn::Sequential> features, std::shared_ptr<nn::Module> avgpool,
           std::shared_ptr<nn::Sequential> tower, std::shared_ptr<nn::Sequential> head, std::string type);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return type_; }
  // The per-tile features [N*T, F] after the tower, for probes and nearest neighbours.
  Tensor tower_forward(const Tensor& tiles_nchw);
  int64_t tiles;
  std::shared_ptr<nn::Sequential> features, tower, head;
  std::shared_ptr<nn::Module> avgpool;

 private:
  std::string type_;
};

ModelPtr create(const std::string& name, const ModelConfig& config = {});

struct ModelInfo {
  std::string name, description;
  Shape input;  // one sample at the native size: C,H,W, or T,C,H,W for the tiled networks
};
std::vector<ModelInfo> list();
// The registry entry of `name` (rotation-<trunk> included); unknown names are an error listing
// the known ones.
ModelInfo info(const std::string& name);

// Networks, one file each.
ModelPtr make_fmnist_cnn(const ModelConfig& config);
ModelPtr make_alexnet(const ModelConfig& config);                          // torchvision AlexNet
ModelPtr make_caffenet(const ModelConfig& config);                         // Caffe: pool then LRN, groups 2
ModelPtr make_alexnet_original(const ModelConfig& config);                 // 2012 paper: LRN then pool, groups 2
ModelPtr make_caffenet_nogroups(const ModelConfig& config);                // the context tower's net, as a classifier
ModelPtr make_vgg(int depth, bool batch_norm, const ModelConfig& config);  // 11, 13, 16, 19
ModelPtr make_alexnet_small(const ModelConfig& config);                    // AlexNet-style, 28-64 px inputs
ModelPtr make_vgg_small(const ModelConfig& config);                        // VGG-style with batch norm, 28-64 px
ModelPtr make_context_net(const ModelConfig& config);                      // Doersch et al. 2015, 2 x 96x96 patches
ModelPtr make_context_small(const ModelConfig& config);                    // the same on alexnet-small's trunk
ModelPtr make_jigsaw_net(const ModelConfig& config);                       // Noroozi and Favaro 2016, 9 x 64x64 tiles
ModelPtr make_jigsaw_small(const ModelConfig& config);                     // the same on alexnet-small's trunk
ModelPtr make_colorization_small(const ModelConfig& config);  // Zhang et al. 2016's head on alexnet-small, L in

}  // namespace pw::models
