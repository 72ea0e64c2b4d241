// The pretext networks of the seed papers, on TiledNet (models/registry.h):
//   context-net  (Doersch, Gupta, Efros 2015): CaffeNet towers without groups, conv1 pad 5, batch
//                norm without affine on conv3-5, fc6 and fc7; the two fc6 outputs concatenated
//                -> fc7 4096 -> fc8 4096 -> fc9, 8 neighbour positions. Input [N, 2, 3, 96, 96].
//   jigsaw-net   (Noroozi and Favaro 2016, the context-free network): nine CaffeNet towers with
//                conv1 stride 2 for 64x64 tiles, fc6 per tile (1024 released / 512 paper),
//                concatenated -> fc7 4096 -> fc8, one class per permutation; dropout 0.5 after
//                fc6 and fc7. Input [N, 9, 3, 64, 64].
//   context-small, jigsaw-small: the same heads on alexnet-small's trunk, for 8-64 px tiles.
#include "models/registry.h"
#include "models/trunks.h"

namespace pw::models {

using namespace nn;

TiledNet::TiledNet(int64_t t, std::shared_ptr<Sequential> f, std::shared_ptr<Module> pool,
                   std::shared_ptr<Sequential> tw, std::shared_ptr<Sequential> h, std::string type)
    : tiles(t), type_(std::move(type)) {
  features = register_module("features", std::move(f));
  if (pool) avgpool = register_module("avgpool", std::move(pool));
  tower = register_module("tower", std::move(tw));
  head = register_module("head", std::move(h));
}

Tensor TiledNet::tower_forward(const Tensor& x) {
  Tensor h = features->forward(x);
  if (avgpool) h = avgpool->forward(h);
  return tower->forward(h.flatten(1));
}

Tensor TiledNet::forward(const Tensor& x) {
  PW_CHECK(x.dim() == 5 && x.size(1) == tiles, type_, ": input must be [N, ", tiles, ", C, H, W] (", tiles,
           " tiles per sample), got ", shape_str(x.shape()));
  const int64_t n = x.size(0);
  Tensor h = tower_forward(x.reshape({n * tiles, x.size(2), x.size(3), x.size(4)}));
  return head->forward(h.reshape({n, tiles * h.size(1)}));
}

namespace {

std::shared_ptr<BatchNorm1d> plain_bn(int64_t n) { return std::make_shared<BatchNorm1d>(n, 1e-5, 0.1, false); }

// fc6 -> [bn6] -> relu6 per tile; fc7 -> [bn7] -> relu7 -> fc8 -> relu8 -> fc9 (8 positions).
ModelPtr context_heads(const ModelConfig& cfg, std::shared_ptr<Sequential> features, std::shared_ptr<Module> pool,
                       int64_t tower_in, int64_t fc_width, const char* type) {
  PW_CHECK(cfg.num_classes <= 0 || cfg.num_classes == 8, type,
           ": predicts one of the 8 neighbour positions, so it has 8 classes, not ", cfg.num_classes);
  auto tower = std::make_shared<Sequential>();
  tower->push_back("fc6", std::make_shared<Linear>(tower_in, fc_width));
  if (cfg.batch_norm) tower->push_back("bn6", plain_bn(fc_width));
  tower->push_back("relu6", std::make_shared<ReLU>());
  auto head = std::make_shared<Sequential>();
  head->push_back("fc7", std::make_shared<Linear>(2 * fc_width, fc_width));
  if (cfg.batch_norm) head->push_back("bn7", plain_bn(fc_width));
  head->push_back("relu7", std::make_shared<ReLU>());
  head->push_back("fc8", std::make_shared<Linear>(fc_width, fc_width));
  head->push_back("relu8", std::make_shared<ReLU>());
  head->push_back("fc9", std::make_shared<Linear>(fc_width, 8));
  return std::make_shared<TiledNet>(2, std::move(features), std::move(pool), tower, head, type);
}

// fc6 -> relu6 -> drop6 per tile; fc7 -> relu7 -> drop7 -> fc8 (one class per permutation).
ModelPtr jigsaw_heads(const ModelConfig& cfg, std::shared_ptr<Sequential> features, std::shared_ptr<Module> pool,
                      int64_t tower_in, int64_t fc6, int64_t fc7, const char* type) {
  const double p = dropout_or(cfg, 0.5);
  auto tower = std::make_shared<Sequential>();
  tower->push_back("fc6", std::make_shared<Linear>(tower_in, fc6));
  tower->push_back("relu6", std::make_shared<ReLU>());
  tower->push_back("drop6", std::make_shared<Dropout>(p));
  auto head = std::make_shared<Sequential>();
  head->push_back("fc7", std::make_shared<Linear>(9 * fc6, fc7));
  head->push_back("relu7", std::make_shared<ReLU>());
  head->push_back("drop7", std::make_shared<Dropout>(p));
  head->push_back("fc8", std::make_shared<Linear>(fc7, classes_or(cfg, 100)));
  return std::make_shared<TiledNet>(9, std::move(features), std::move(pool), tower, head, type);
}

}  // namespace

ModelPtr make_context_net(const ModelConfig& cfg) {
  CaffeTrunk t;
  t.conv1_padding = 5;  // 96x96 -> 24x24 after conv1 -> 3x3 at pool5
  t.groups = 1;
  t.batch_norm = cfg.batch_norm;
  return context_heads(cfg, caffenet_features(cfg.in_channels, t), nullptr, 256 * 3 * 3, 4096, "ContextNet");
}

ModelPtr make_context_small(const ModelConfig& cfg) {
  return context_heads(cfg, alexnet_small_features(cfg, cfg.batch_norm), std::make_shared<AdaptiveAvgPool2d>(2, 2),
                       alexnet_small_channels(cfg) * 2 * 2, scaled(cfg, 256), "ContextSmall");
}

ModelPtr make_jigsaw_net(const ModelConfig& cfg) {
  CaffeTrunk t;
  t.conv1_stride = 2;  // 64x64 tiles -> 27x27 after conv1 -> 3x3 at pool5
  const int64_t fc6 = cfg.fc6 > 0 ? cfg.fc6 : 1024;
  return jigsaw_heads(cfg, caffenet_features(cfg.in_channels, t), nullptr, 256 * 3 * 3, fc6, 4096, "JigsawNet");
}

ModelPtr make_jigsaw_small(const ModelConfig& cfg) {
  const int64_t fc6 = cfg.fc6 > 0 ? cfg.fc6 : scaled(cfg, 128);
  // Unlike the paper's CFN, batch norm (without affine, on conv3-5 as in context-small) by default:
  // without it the small network often sits at chance for hundreds of steps and its ReLUs die
  // (seen on Fashion-MNIST at seed 2); --no-batch-norm builds the BN-free original.
  return jigsaw_heads(cfg, alexnet_small_features(cfg, cfg.batch_norm), std::make_shared<AdaptiveAvgPool2d>(2, 2),
                      alexnet_small_channels(cfg) * 2 * 2, fc6, scaled(cfg, 512), "JigsawSmall");
}

}  // namespace pw::models
