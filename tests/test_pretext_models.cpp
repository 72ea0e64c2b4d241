// The pretext networks (context, jigsaw, rotation), the small variants and trunk transfer:
// parameter counts from the layer arithmetic, shapes at native and small sizes, forward and
// backward, shared towers that sum the gradients of all their tiles, and transfer that keeps
// the trunk's function (batch norm folded in where the destination has none).
#include "models/registry.h"
#include "models/summary.h"
#include "models/transfer.h"
#include "tests/support/gradcheck.h"

using namespace pw;

namespace {

int64_t conv(int64_t in, int64_t out, int64_t k, int64_t groups = 1) { return out * (in / groups) * k * k + out; }
int64_t fc(int64_t in, int64_t out) { return in * out + out; }

// max |a - b| relative to max |a|.
double max_rel_diff(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector_f64(), y = b.to_vector_f64();
  EXPECT_EQ(x.size(), y.size());
  double worst = 0, scale = 1e-30;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    worst = std::max(worst, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(x[i]));
  }
  return worst / scale;
}

// The parameter itself (state_dict() holds detached views, without .grad).
Tensor param(const nn::Module& m, const std::string& name) {
  for (auto& [n, p] : m.named_parameters())
    if (n == name) return p;
  ADD_FAILURE() << "no parameter " << name;
  return Tensor();
}

// features.conv1 .. relu1 of a FeaturesClassifier built by hand.
Tensor forward_to_relu1(const std::shared_ptr<models::FeaturesClassifier>& m, const Tensor& x) {
  Tensor h = x;
  for (auto& [name, child] : m->features->named_children()) {
    h = child->forward(h);
    if (name == "relu1") break;
  }
  return h;
}

models::ModelConfig cfg(int64_t in_channels, double dropout = -1) {
  models::ModelConfig c;
  c.in_channels = in_channels;
  c.dropout = dropout;
  return c;
}

}  // namespace

TEST(PretextModels, ParameterCountsFollowTheLayerArithmetic) {
  // Doersch et al.: CaffeNet without groups to fc6 (256x3x3 at pool5 for 96x96 patches),
  // fc7 on the 8192 concatenated, fc8 4096, fc9 8; the batch norms have no parameters.
  const int64_t context = conv(3, 96, 11) + conv(96, 256, 5) + conv(256, 384, 3) + conv(384, 384, 3) +
                          conv(384, 256, 3) + fc(2304, 4096) + fc(8192, 4096) + fc(4096, 4096) + fc(4096, 8);
  EXPECT_EQ(models::create("context-net")->num_parameters(), context);
  EXPECT_EQ(context, 63561096);
  // Noroozi and Favaro: groups 2 in conv2/4/5, fc6 per tile, fc7 on the nine concatenated.
  const int64_t trunk =
      conv(3, 96, 11) + conv(96, 256, 5, 2) + conv(256, 384, 3) + conv(384, 384, 3, 2) + conv(384, 256, 3, 2);
  EXPECT_EQ(models::create("jigsaw-net")->num_parameters(),
            trunk + fc(2304, 1024) + fc(9 * 1024, 4096) + fc(4096, 100));
  models::ModelConfig paper;
  paper.fc6 = 512;
  paper.num_classes = 1000;
  EXPECT_EQ(models::create("jigsaw-net", paper)->num_parameters(),
            trunk + fc(2304, 512) + fc(9 * 512, 4096) + fc(4096, 1000));
  // Without batch norm the context network has the same parameters and no buffers.
  models::ModelConfig no_bn;
  no_bn.batch_norm = false;
  auto plain = models::create("context-net", no_bn);
  EXPECT_EQ(plain->num_parameters(), context);
  EXPECT_TRUE(plain->named_buffers().empty());
  EXPECT_EQ(models::create("context-net")->named_buffers().size(), 10u);  // bn3..5, bn6, bn7: mean, var
}

TEST(PretextModels, NativeSizesRunForwardAndBackward) {
  Generator g(11);
  {
    auto m = models::create("context-net");
    Tensor x = Tensor::randn({2, 2, 3, 96, 96}, DType::f32, &g);
    Tensor y = (*m)(x);
    ASSERT_EQ(y.shape(), (Shape{2, 8}));
    sum(y * Tensor::randn({2, 8}, DType::f32, &g)).backward();
    for (auto& [name, p] : m->named_parameters()) ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_GT(sum(abs(param(*m, "features.conv1.weight").grad())).item(), 0);
  }
  {
    auto m = models::create("jigsaw-net");
    Tensor x = Tensor::randn({2, 9, 3, 64, 64}, DType::f32, &g);
    Tensor y = (*m)(x);
    ASSERT_EQ(y.shape(), (Shape{2, 100}));
    sum(y * Tensor::randn({2, 100}, DType::f32, &g)).backward();
    for (auto& [name, p] : m->named_parameters()) ASSERT_TRUE(p.grad().defined()) << name;
  }
  // The tower's layers are where the papers put them.
  auto j = std::dynamic_pointer_cast<models::TiledNet>(models::create("jigsaw-net"));
  ASSERT_TRUE(j);
  NoGradGuard ng;
  j->eval();
  EXPECT_EQ(j->features->forward(Tensor::randn({1, 3, 64, 64}, DType::f32, &g)).shape(), (Shape{1, 256, 3, 3}));
  EXPECT_EQ(j->find("tower.drop6")->type_name(), "Dropout");
  EXPECT_EQ(j->find("head.drop7")->type_name(), "Dropout");
  EXPECT_THROW((*j)(Tensor::randn({1, 8, 3, 64, 64}, DType::f32, &g)), Error);  // 8 tiles, not 9
}

TEST(PretextModels, SmallVariantsTakeSmallInputs) {
  NoGradGuard ng;
  Generator g(5);
  for (const char* name : {"alexnet-small", "vgg-small", "rotation-alexnet-small", "rotation-vgg-small"}) {
    for (int64_t size : {28, 32, 64}) {
      auto m = models::create(name, cfg(1));
      m->eval();
      Tensor y = (*m)(Tensor::randn({3, 1, size, size}, DType::f32, &g));
      EXPECT_EQ(y.shape(), (Shape{3, std::string(name).rfind("rotation", 0) == 0 ? 4 : 10})) << name << " " << size;
    }
  }
  for (int64_t size : {8, 12, 20, 32, 64}) {
    auto c = models::create("context-small", cfg(3));
    auto j = models::create("jigsaw-small", cfg(3));
    c->eval();
    j->eval();
    EXPECT_EQ((*c)(Tensor::randn({2, 2, 3, size, size}, DType::f32, &g)).shape(), (Shape{2, 8})) << size;
    EXPECT_EQ((*j)(Tensor::randn({2, 9, 3, size, size}, DType::f32, &g)).shape(), (Shape{2, 100})) << size;
  }
  // The small networks share alexnet-small's layer names, so probes and transfer address them alike.
  EXPECT_EQ(models::create("jigsaw-small")->find("features.conv5")->type_name(), "Conv2d");
  EXPECT_EQ(models::create("alexnet-small")->find("features.conv5")->type_name(), "Conv2d");
}

TEST(PretextModels, RotationHeadsAndBadNames) {
  EXPECT_EQ(models::info("rotation-alexnet").input, (Shape{3, 224, 224}));
  EXPECT_EQ(models::create("rotation-alexnet")->state_dict().at("classifier.6.weight").shape(), (Shape{4, 4096}));
  models::ModelConfig ten;
  ten.num_classes = 10;
  EXPECT_THROW(models::create("rotation-alexnet", ten), Error);
  EXPECT_THROW(models::create("context-net", ten), Error);
  EXPECT_THROW(models::create("rotation-jigsaw-net"), Error);
  EXPECT_THROW(models::create("rotation-nonsense"), Error);
}

// One tower serving every tile must get the sum of the gradients of nine separate towers with
// the same weights (Caffe's shared blobs).
TEST(PretextModels, SharedTowersSumTheGradientsOfAllTiles) {
  for (const char* name : {"jigsaw-small", "context-small"}) {
    SCOPED_TRACE(name);
    Generator g(21);
    auto net = std::dynamic_pointer_cast<models::TiledNet>(models::create(name, cfg(1, 0.0)));
    ASSERT_TRUE(net);
    net->to(DType::f64);
    net->eval();  // batch norm on running statistics, so tiles do not interact through it
    const int64_t tiles = net->tiles;
    Tensor x = Tensor::randn({3, tiles, 1, 12, 12}, DType::f64, &g);
    Tensor w = Tensor::randn({3, tiles == 9 ? 100 : 8}, DType::f64, &g);
    sum((*net)(x)*w).backward();

    std::vector<std::shared_ptr<models::TiledNet>> copies;
    std::vector<Tensor> outs;
    for (int64_t t = 0; t < tiles; ++t) {
      auto c = std::dynamic_pointer_cast<models::TiledNet>(models::create(name, cfg(1, 0.0)));
      c->to(DType::f64);
      c->load_state_dict(net->state_dict());
      c->eval();
      outs.push_back(c->tower_forward(x.select(1, t)));
      copies.push_back(c);
    }
    // The same loss through separate towers (the head of copy 0 joins them).
    sum(copies[0]->head->forward(concat(outs, 1)) * w).backward();
    for (const char* name : {"features.conv1.weight", "features.conv5.bias", "tower.fc6.weight"}) {
      Tensor summed;
      for (auto& c : copies) {
        Tensor gi = param(*c, name).grad();
        ASSERT_TRUE(gi.defined()) << name;
        summed = summed.defined() ? summed + gi : gi;
      }
      EXPECT_LT(max_rel_diff(param(*net, name).grad(), summed), 1e-10) << name;
    }
  }
}

TEST(PretextModels, TransferCopiesTheTrunkAndKeepsItsFunction) {
  Generator g(9);
  // jigsaw-small -> alexnet-small: same trunk, so the features are identical afterwards.
  models::ModelConfig plain = cfg(1);
  plain.batch_norm = false;  // the CFN-faithful jigsaw-small: the same trunk exactly
  auto jig = std::dynamic_pointer_cast<models::TiledNet>(models::create("jigsaw-small", plain));
  auto alex = std::dynamic_pointer_cast<models::FeaturesClassifier>(models::create("alexnet-small", cfg(1)));
  models::TransferResult r = models::transfer_features(*jig, *alex, -1, /*freeze=*/true);
  EXPECT_EQ(r.lines.size(), 5u);
  EXPECT_EQ(r.tensors_copied, 10);
  EXPECT_EQ(param(*alex, "features.conv3.weight").requires_grad(), false);
  EXPECT_EQ(param(*alex, "classifier.fc6.weight").requires_grad(), true);
  {
    NoGradGuard ng;
    jig->eval();
    alex->eval();
    Tensor x = Tensor::randn({2, 1, 28, 28}, DType::f32, &g);
    EXPECT_LT(max_rel_diff(jig->features->forward(x), alex->features->forward(x)), 1e-6);
  }
  // context-small has non-affine batch norm after conv3..5; alexnet-small has none, so the
  // statistics are folded into the copied convolutions.
  auto ctx = std::dynamic_pointer_cast<models::TiledNet>(models::create("context-small", cfg(1)));
  ctx->train();
  {
    NoGradGuard ng;  // a few batches give the batch norms non-trivial running statistics
    for (int i = 0; i < 5; ++i) (*ctx)(Tensor::randn({4, 2, 1, 16, 16}, DType::f32, &g) * 3.0 + 1.0);
  }
  auto alex2 = std::dynamic_pointer_cast<models::FeaturesClassifier>(models::create("alexnet-small", cfg(1)));
  r = models::transfer_features(*ctx, *alex2, 5, false);
  EXPECT_NE(r.lines[2].find("bn3 folded"), std::string::npos) << r.lines[2];
  {
    NoGradGuard ng;
    ctx->eval();
    alex2->eval();
    Tensor x = Tensor::randn({2, 1, 28, 28}, DType::f32, &g) * 3.0 + 1.0;
    EXPECT_LT(max_rel_diff(ctx->features->forward(x), alex2->features->forward(x)), 1e-5);
  }
  // The first n only.
  auto alex3 = models::create("alexnet-small", cfg(1));
  Tensor before = alex3->state_dict().at("features.conv3.weight").clone();
  EXPECT_EQ(models::transfer_features(*jig, *alex3, 2, false).lines.size(), 2u);
  EXPECT_EQ(max_rel_diff(alex3->state_dict().at("features.conv3.weight"), before), 0.0);
  EXPECT_EQ(
      max_rel_diff(alex3->state_dict().at("features.conv2.weight"), jig->state_dict().at("features.conv2.weight")),
      0.0);
}

TEST(PretextModels, TransferMismatchIsAnErrorAndChangesNothing) {
  auto ctx = models::create("context-net");
  auto caffe = models::create("caffenet");  // groups 2: conv2 does not fit
  Tensor conv1 = caffe->state_dict().at("features.conv1.weight").clone();
  try {
    models::transfer_features(*ctx, *caffe, 5, false);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("features.conv2"), std::string::npos) << e.what();
  }
  EXPECT_EQ(max_rel_diff(caffe->state_dict().at("features.conv1.weight"), conv1), 0.0);
  // Into the network built for it, it fits (conv1 padding differs, weights do not).
  auto target = models::create("caffenet-nogroups");
  EXPECT_EQ(models::transfer_features(*ctx, *target, 5, true).lines.size(), 5u);
  EXPECT_THROW(models::transfer_features(*ctx, *target, 6, true), Error);
  // jigsaw-net's tower is CaffeNet's (conv1 stride 2 instead of 4: same weights).
  auto jig = models::create("jigsaw-net");
  EXPECT_EQ(models::transfer_features(*jig, *models::create("caffenet"), -1, false).lines.size(), 5u);
}

TEST(PretextModels, SummaryOfTiledNetworks) {
  auto m = models::create("jigsaw-net");
  std::vector<models::LayerSummary> rows = models::summarize(*m, models::info("jigsaw-net").input);
  int64_t params = 0, macs = 0;
  for (const auto& l : rows) params += l.parameters, macs += l.macs;
  EXPECT_EQ(params, m->num_parameters());
  EXPECT_EQ(rows.front().path, "features.conv1");
  EXPECT_EQ(rows.front().output, (Shape{9, 96, 27, 27}));
  EXPECT_EQ(rows.back().output, (Shape{1, 100}));
  // conv1 runs on nine tiles: 9 x 96 x 27 x 27 outputs x 3 x 11 x 11 multiply-adds each.
  EXPECT_EQ(rows.front().macs, 9LL * 96 * 27 * 27 * 3 * 11 * 11);
  EXPECT_GT(macs, rows.front().macs);
  EXPECT_THROW(models::summarize(*m, {3, 64, 64}), Error);
}

TEST(PretextModels, BatchNormAndDropoutSitWhereThePapersPutThem) {
  auto ctx = models::create("context-net");
  for (const char* path : {"features.bn3", "features.bn4", "features.bn5", "tower.bn6", "head.bn7"}) {
    auto bn = std::dynamic_pointer_cast<nn::BatchNorm>(ctx->find(path));
    ASSERT_TRUE(bn) << path;
    EXPECT_FALSE(bn->affine) << path;
    EXPECT_TRUE(bn->track_running_stats) << path;
  }
  EXPECT_THROW(ctx->find("features.bn2"), Error);  // conv1/conv2 have LRN instead
  EXPECT_THROW(ctx->find("head.bn8"), Error);
  // conv -> bn -> relu, in that order.
  auto children = ctx->find("features")->named_children();
  for (size_t i = 0; i + 2 < children.size(); ++i)
    if (children[i].first == "conv3") {
      EXPECT_EQ(children[i + 1].first, "bn3");
      EXPECT_EQ(children[i + 2].first, "relu3");
    }
  auto jig = models::create("jigsaw-net");
  for (const char* path : {"tower.drop6", "head.drop7"}) {
    auto d = std::dynamic_pointer_cast<nn::Dropout>(jig->find(path));
    ASSERT_TRUE(d) << path;
    EXPECT_EQ(d->p, 0.5) << path;
  }
  EXPECT_TRUE(jig->named_buffers().empty());  // no batch norm in the context-free network
  auto conv1 = std::dynamic_pointer_cast<nn::Conv2d>(jig->find("features.conv1"));
  EXPECT_EQ(conv1->params.stride_h, 2);
}

TEST(PretextModels, FoldingABiaslessConvAndAFailedTransferChangesNothing) {
  using namespace nn;
  Generator g(4);
  auto make = [](bool src) {
    auto f = std::make_shared<Sequential>();
    f->push_back("conv1", std::make_shared<Conv2d>(2, 4, 3, 1, 1, 1, 1, /*bias=*/!src));
    if (src) f->push_back("bn1", std::make_shared<BatchNorm2d>(4, 1e-5, 0.1, false));
    f->push_back("relu1", std::make_shared<ReLU>());
    f->push_back("conv2", std::make_shared<Conv2d>(4, src ? 5 : 6, 3, 1, 1));
    auto cl = std::make_shared<Sequential>();
    cl->push_back("fc", std::make_shared<Linear>(1, 1));
    return std::make_shared<models::FeaturesClassifier>(f, cl);
  };
  auto src = make(true), dst = make(false);
  {
    NoGradGuard ng;
    src->train();
    for (int i = 0; i < 3; ++i) src->features->forward(Tensor::randn({3, 2, 5, 5}, DType::f32, &g) * 2.0 + 0.5);
  }
  // conv1 without bias + bn1 folds into conv1 with a bias.
  EXPECT_EQ(models::transfer_features(*src, *dst, 1, true).parameters_frozen, 4 * 2 * 9 + 4);
  {
    NoGradGuard ng;
    src->eval();
    dst->eval();
    Tensor x = Tensor::randn({2, 2, 5, 5}, DType::f32, &g);
    EXPECT_LT(max_rel_diff(forward_to_relu1(src, x), forward_to_relu1(dst, x)), 1e-5);
  }
  // conv2 does not fit (5 vs 6 outputs): an error, and conv1 is not touched either.
  auto dst2 = make(false);
  Tensor before = dst2->state_dict().at("features.conv1.weight").clone();
  EXPECT_THROW(models::transfer_features(*src, *dst2, 2, false), Error);
  EXPECT_EQ(max_rel_diff(dst2->state_dict().at("features.conv1.weight"), before), 0.0);
}
