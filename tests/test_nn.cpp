// nn: Module bookkeeping (names, state_dict, train/eval, find, printing), the layers, and the
// initializers.
#include <cmath>
#include <set>

#include "engine/nn.h"
#include "tests/support/gradcheck.h"

using namespace pw;
using pw::testing::all_close;
using pw::testing::gradcheck;

namespace {

// A features / classifier model in torchvision's shape, small enough to run.
class TinyNet : public nn::Module {
 public:
  TinyNet() {
    features = register_module("features", std::make_shared<nn::Sequential>());
    features->push_back(std::make_shared<nn::Conv2d>(3, 4, 3, 1, 1));  // features.0
    features->push_back(std::make_shared<nn::BatchNorm2d>(4));         // features.1
    features->push_back(std::make_shared<nn::ReLU>());                 // features.2
    features->push_back(std::make_shared<nn::MaxPool2d>(2));           // features.3
    features->push_back(std::make_shared<nn::Conv2d>(4, 6, 3));        // features.4
    classifier = register_module(
        "classifier",
        std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
            std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(6 * 2 * 2, 5), std::make_shared<nn::ReLU>(),
            std::make_shared<nn::Dropout>(0.5), std::make_shared<nn::Linear>(5, 3)}));
  }
  Tensor forward(const Tensor& x) override { return classifier->forward(features->forward(x)); }
  std::string type_name() const override { return "TinyNet"; }

  std::shared_ptr<nn::Sequential> features, classifier;
};

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& v) {
  std::vector<std::string> n;
  for (auto& [k, _] : v) n.push_back(k);
  return n;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The message of the pw::Error that f throws ("" if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// ---------------------------------------------------------------- names and counts

TEST(Module, NestedParameterNamesAndCounts) {
  manual_seed(1);
  auto net = std::make_shared<TinyNet>();
  EXPECT_EQ(names_of(net->named_parameters()),
            (std::vector<std::string>{"features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                                      "features.4.weight", "features.4.bias", "classifier.1.weight",
                                      "classifier.1.bias", "classifier.4.weight", "classifier.4.bias"}));
  EXPECT_EQ(names_of(net->named_buffers()),
            (std::vector<std::string>{"features.1.running_mean", "features.1.running_var"}));
  // 3*4*9+4, 4+4, 4*6*9+6, 24*5+5, 5*3+3
  EXPECT_EQ(net->num_parameters(), 112 + 8 + 222 + 125 + 18);
  EXPECT_EQ(net->parameters().size(), 10u);
  for (const Tensor& p : net->parameters()) EXPECT_TRUE(p.requires_grad());
  for (auto& [_, b] : net->named_buffers()) EXPECT_FALSE(b.requires_grad());
  EXPECT_EQ(net->state_dict().size(), 12u);

  std::vector<std::string> mods;
  for (auto& [n, _] : net->named_modules()) mods.push_back(n);
  EXPECT_EQ(mods, (std::vector<std::string>{"", "features", "features.0", "features.1", "features.2", "features.3",
                                            "features.4", "classifier", "classifier.0", "classifier.1", "classifier.2",
                                            "classifier.3", "classifier.4"}));
  EXPECT_EQ(net->named_modules()[0].second.get(), net.get());
  auto children = net->named_children();
  ASSERT_EQ(children.size(), 2u);
  EXPECT_EQ(children[0].first, "features");
  EXPECT_EQ(children[1].second.get(), net->classifier.get());

  // The registered parameters are the layers' members (same TensorImpl).
  auto conv = std::dynamic_pointer_cast<nn::Conv2d>(net->features->at(0));
  ASSERT_TRUE(conv);
  EXPECT_TRUE(net->named_parameters()[0].second.same(conv->weight));

  Tensor y = net->forward(Tensor::randn({2, 3, 8, 8}));
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
}

TEST(Module, TorchvisionAlexNetParameterCount) {
  manual_seed(0);
  using std::make_shared;
  auto features = make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      make_shared<nn::Conv2d>(3, 64, 11, 4, 2), make_shared<nn::ReLU>(), make_shared<nn::MaxPool2d>(3, 2),
      make_shared<nn::Conv2d>(64, 192, 5, 1, 2), make_shared<nn::ReLU>(), make_shared<nn::MaxPool2d>(3, 2),
      make_shared<nn::Conv2d>(192, 384, 3, 1, 1), make_shared<nn::ReLU>(), make_shared<nn::Conv2d>(384, 256, 3, 1, 1),
      make_shared<nn::ReLU>(), make_shared<nn::Conv2d>(256, 256, 3, 1, 1), make_shared<nn::ReLU>(),
      make_shared<nn::MaxPool2d>(3, 2)});
  auto classifier = make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
      make_shared<nn::Dropout>(), make_shared<nn::Linear>(256 * 6 * 6, 4096), make_shared<nn::ReLU>(),
      make_shared<nn::Dropout>(), make_shared<nn::Linear>(4096, 4096), make_shared<nn::ReLU>(),
      make_shared<nn::Linear>(4096, 1000)});
  nn::Sequential alexnet;
  alexnet.push_back("features", features);
  alexnet.push_back("avgpool", make_shared<nn::AdaptiveAvgPool2d>(6, 6));
  alexnet.push_back("classifier", classifier);
  EXPECT_EQ(alexnet.num_parameters(), 61100840);
  auto sd = alexnet.state_dict();
  EXPECT_EQ(sd.size(), 16u);
  EXPECT_EQ(sd.at("features.10.weight").shape(), (Shape{256, 256, 3, 3}));
  EXPECT_EQ(sd.at("classifier.6.bias").shape(), (Shape{1000}));
  EXPECT_EQ(alexnet.find("features.0")->extra_repr(), "3, 64, kernel_size=(11, 11), stride=(4, 4), padding=(2, 2)");
}

TEST(Module, RegistrationErrors) {
  class Bad : public nn::Module {
   public:
    Tensor forward(const Tensor& x) override { return x; }
    std::string type_name() const override { return "Bad"; }
    void add(const std::string& n) { register_parameter(n, Tensor::zeros({2})); }
    void add_buffer(const std::string& n) { register_buffer(n, Tensor::zeros({2})); }
    void add_int(const std::string& n) { register_parameter(n, Tensor::zeros({2}, DType::i32)); }
  };
  Bad b;
  b.add("w");
  EXPECT_TRUE(contains(error_of([&] { b.add("w"); }), "already used"));
  EXPECT_THROW(b.add_buffer("w"), Error);
  EXPECT_TRUE(contains(error_of([&] { b.add("a.b"); }), "'.'"));
  EXPECT_THROW(b.add(""), Error);
  EXPECT_THROW(b.add_int("i"), Error);
  nn::Sequential s;
  EXPECT_THROW(s.push_back(nullptr), Error);
  s.push_back("x", std::make_shared<nn::Identity>());
  EXPECT_THROW(s.push_back("x", std::make_shared<nn::Identity>()), Error);
  EXPECT_THROW(s.at(1), Error);
}

TEST(Module, SharedParametersAreListedOnce) {
  auto lin = std::make_shared<nn::Linear>(3, 3);
  nn::Sequential s;
  s.push_back(lin);
  s.push_back(std::make_shared<nn::ReLU>());
  s.push_back(lin);  // the same layer twice (tied weights)
  EXPECT_EQ(names_of(s.named_parameters()), (std::vector<std::string>{"0.weight", "0.bias"}));
  EXPECT_EQ(s.num_parameters(), 12);
  EXPECT_EQ(s.named_modules().size(), 3u);  // "", "0", "1"
  EXPECT_EQ(s.forward(Tensor::randn({2, 3})).shape(), (Shape{2, 3}));
}

// ---------------------------------------------------------------- state_dict

TEST(Module, StateDictRoundTripInPlace) {
  manual_seed(1);
  auto a = std::make_shared<TinyNet>();
  manual_seed(2);
  auto b = std::make_shared<TinyNet>();
  a->eval();
  b->eval();
  // Make a's running statistics non-trivial so that buffers matter.
  a->features->at(1)->named_buffers()[0].second.fill_(0.3);
  Tensor x = Tensor::randn({2, 3, 8, 8});
  Tensor ya = a->forward(x);
  EXPECT_FALSE(all_close(ya, b->forward(x), 1e-3));

  Tensor handle = b->named_parameters()[0].second;  // taken before the load
  const TensorImpl* impl = handle.impl_ptr();
  b->load_state_dict(a->state_dict());
  EXPECT_TRUE(all_close(b->forward(x), ya, 1e-6));
  EXPECT_EQ(b->named_parameters()[0].second.impl_ptr(), impl);  // same tensor, new values
  EXPECT_EQ(handle.to_vector_f32(), a->named_parameters()[0].second.to_vector_f32());

  // state_dict values alias the module: writing through one changes the model.
  auto sd = b->state_dict();
  sd.at("classifier.4.bias").fill_(7.0);
  EXPECT_EQ(std::dynamic_pointer_cast<nn::Linear>(b->classifier->at(4))->bias.to_vector_f32()[0], 7.0f);
  EXPECT_FALSE(sd.at("classifier.4.bias").requires_grad());
}

TEST(Module, LoadStateDictErrors) {
  manual_seed(3);
  auto net = std::make_shared<TinyNet>();
  auto good = net->state_dict();
  std::map<std::string, Tensor> sd;
  for (auto& [k, v] : good) sd[k] = v.clone();
  Tensor before = net->state_dict().at("features.0.weight").clone();

  auto missing = sd;
  missing.erase("classifier.4.bias");
  std::string msg = error_of([&] { net->load_state_dict(missing); });
  EXPECT_TRUE(contains(msg, "missing")) << msg;
  EXPECT_TRUE(contains(msg, "classifier.4.bias")) << msg;
  EXPECT_NO_THROW(net->load_state_dict(missing, /*strict=*/false));

  auto extra = sd;
  extra["classifier.9.weight"] = Tensor::zeros({2});
  msg = error_of([&] { net->load_state_dict(extra); });
  EXPECT_TRUE(contains(msg, "unexpected")) << msg;
  EXPECT_TRUE(contains(msg, "classifier.9.weight")) << msg;
  EXPECT_NO_THROW(net->load_state_dict(extra, false));

  // torchvision checkpoints carry BatchNorm's num_batches_tracked, which is ignored.
  auto tv = sd;
  tv["features.1.num_batches_tracked"] = Tensor::zeros({}, DType::i32);
  EXPECT_NO_THROW(net->load_state_dict(tv));

  // A shape mismatch is an error even when not strict, and names both shapes; nothing changes.
  auto wrong = sd;
  wrong["features.0.weight"] = Tensor::randn({4, 3, 5, 5});
  wrong["features.0.bias"] = Tensor::full({4}, 9.0);
  for (bool strict : {true, false}) {
    msg = error_of([&] { net->load_state_dict(wrong, strict); });
    EXPECT_TRUE(contains(msg, "features.0.weight")) << msg;
    EXPECT_TRUE(contains(msg, "[4, 3, 5, 5]")) << msg;
    EXPECT_TRUE(contains(msg, "[4, 3, 3, 3]")) << msg;
  }
  EXPECT_EQ(net->state_dict().at("features.0.weight").to_vector_f32(), before.to_vector_f32());
  EXPECT_NE(net->state_dict().at("features.0.bias").to_vector_f32()[0], 9.0f);

  auto bad_type = sd;
  bad_type["features.0.bias"] = Tensor::zeros({4}, DType::i32);
  EXPECT_THROW(net->load_state_dict(bad_type), Error);

  // f64 values convert into the f32 model.
  auto f64 = sd;
  f64["classifier.4.bias"] = Tensor::from_vector(std::vector<double>{1, 2, 3}, {3});
  net->load_state_dict(f64);
  EXPECT_EQ(net->classifier->at(4)->named_parameters()[1].second.to_vector_f32(), (std::vector<float>{1, 2, 3}));
}

// ---------------------------------------------------------------- modes, grads, find

TEST(Module, TrainEvalRecursion) {
  auto net = std::make_shared<TinyNet>();
  for (auto& [_, m] : net->named_modules()) EXPECT_TRUE(m->is_training());
  net->eval();
  for (auto& [n, m] : net->named_modules()) EXPECT_FALSE(m->is_training()) << n;
  net->classifier->train();
  EXPECT_FALSE(net->is_training());
  EXPECT_FALSE(net->features->at(1)->is_training());
  EXPECT_TRUE(net->classifier->at(3)->is_training());
  net->train();
  for (auto& [n, m] : net->named_modules()) EXPECT_TRUE(m->is_training()) << n;
}

TEST(Module, ZeroGradAndFreeze) {
  auto net = std::make_shared<TinyNet>();
  sum(net->forward(Tensor::randn({2, 3, 8, 8}))).backward();
  for (auto& [n, p] : net->named_parameters()) EXPECT_TRUE(p.grad().defined()) << n;
  net->zero_grad();
  for (auto& [n, p] : net->named_parameters()) EXPECT_FALSE(p.grad().defined()) << n;

  net->features->set_requires_grad(false);
  sum(net->forward(Tensor::randn({2, 3, 8, 8}))).backward();
  for (auto& [n, p] : net->named_parameters()) EXPECT_EQ(p.grad().defined(), n.rfind("classifier", 0) == 0) << n;
}

TEST(Module, FindByPath) {
  auto net = std::make_shared<TinyNet>();
  EXPECT_EQ(net->find("features.1")->type_name(), "BatchNorm2d");
  EXPECT_EQ(net->find("features.1").get(), net->features->at(1).get());
  EXPECT_EQ(net->find("classifier").get(), net->classifier.get());
  EXPECT_EQ(net->find("").get(), net.get());
  std::string msg = error_of([&] { net->find("features.9"); });
  EXPECT_TRUE(contains(msg, "features.9")) << msg;
  EXPECT_TRUE(contains(msg, "0, 1, 2, 3, 4")) << msg;
  msg = error_of([&] { net->find("fc6"); });
  EXPECT_TRUE(contains(msg, "features, classifier")) << msg;
  EXPECT_THROW(net->find("features.0.weight"), Error);  // a parameter, not a module
  // A model on the stack can still find itself.
  nn::Sequential s;
  EXPECT_EQ(s.find("").get(), &s);
}

TEST(Module, Repr) {
  nn::Sequential s;
  s.push_back(std::make_shared<nn::Conv2d>(3, 64, 11, 4, 2));
  s.push_back(std::make_shared<nn::ReLU>());
  s.push_back(std::make_shared<nn::MaxPool2d>(3, 2));
  auto inner = std::make_shared<nn::Sequential>();
  inner->push_back(std::make_shared<nn::Linear>(2, 3, false));
  s.push_back("head", inner);
  EXPECT_EQ(s.repr(),
            "Sequential(\n"
            "  (0): Conv2d(3, 64, kernel_size=(11, 11), stride=(4, 4), padding=(2, 2))\n"
            "  (1): ReLU()\n"
            "  (2): MaxPool2d(kernel_size=3, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
            "  (head): Sequential(\n"
            "    (0): Linear(in_features=2, out_features=3, bias=False)\n"
            "  )\n"
            ")");
  EXPECT_EQ(nn::Identity().repr(), "Identity()");
  EXPECT_EQ(nn::Sequential().repr(), "Sequential()");
}

TEST(Module, ToDoubleKeepsIdentityAndGradchecks) {
  manual_seed(4);
  nn::Sequential s;
  auto l1 = std::make_shared<nn::Linear>(3, 4);
  s.push_back(l1);
  s.push_back(std::make_shared<nn::ReLU>());
  s.push_back(std::make_shared<nn::Linear>(4, 2));
  std::vector<float> w32 = l1->weight.to_vector_f32();
  s.to(DType::f64);
  EXPECT_EQ(l1->weight.dtype(), DType::f64);  // the member sees the conversion
  EXPECT_EQ(s.parameters()[0].dtype(), DType::f64);
  EXPECT_TRUE(l1->weight.requires_grad());
  EXPECT_NEAR(l1->weight.to_vector_f64()[5], w32[5], 0);
  auto x = pw::testing::random_input({5, 3}, 11);
  EXPECT_TRUE(gradcheck([&](auto v) { return s.forward(v[0]); }, {x}, {.skip_kinks = true}));
  EXPECT_THROW(s.to(DType::i32), Error);
}

// ---------------------------------------------------------------- layers

TEST(Layers, Conv2dShapesNamesAndErrors) {
  nn::Conv2d c(6, 8, 3, 2, 1, 1, 2);
  EXPECT_EQ(c.weight.shape(), (Shape{8, 3, 3, 3}));
  EXPECT_EQ(c.bias.shape(), (Shape{8}));
  EXPECT_EQ(c.extra_repr(), "6, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), groups=2");
  EXPECT_EQ(c.forward(Tensor::randn({2, 6, 9, 7})).shape(), (Shape{2, 8, 5, 4}));

  Conv2dParams p;
  p.stride_h = 1;
  p.stride_w = 2;
  p.dilation_h = 2;
  nn::Conv2d r(3, 5, 3, 1, p, /*bias=*/false);
  EXPECT_FALSE(r.bias.defined());
  EXPECT_EQ(names_of(r.named_parameters()), (std::vector<std::string>{"weight"}));
  EXPECT_EQ(r.extra_repr(), "3, 5, kernel_size=(3, 1), stride=(1, 2), dilation=(2, 1), bias=False");
  EXPECT_EQ(r.forward(Tensor::randn({1, 3, 10, 10})).shape(), (Shape{1, 5, 6, 5}));

  EXPECT_THROW(nn::Conv2d(3, 8, 0), Error);
  EXPECT_THROW(nn::Conv2d(3, 8, 3, 0), Error);
  EXPECT_THROW(nn::Conv2d(3, 8, 3, 1, -1), Error);
  EXPECT_THROW(nn::Conv2d(3, 8, 3, 1, 0, 0), Error);
  EXPECT_TRUE(contains(error_of([] { nn::Conv2d(3, 8, 3, 1, 0, 1, 2); }), "divisible by groups"));
  EXPECT_THROW(nn::Conv2d(0, 8, 3), Error);
  EXPECT_THROW(c.forward(Tensor::randn({2, 5, 9, 7})), Error);  // wrong channel count
}

TEST(Layers, LinearDefaultInitBounds) {
  manual_seed(5);
  nn::Linear l(50, 400);
  double bound = 1.0 / std::sqrt(50.0);  // kaiming_uniform(a = sqrt(5)) gives 1/sqrt(fan_in)
  double mx = 0, sum_sq = 0;
  for (float v : l.weight.to_vector_f32()) {
    mx = std::max(mx, (double)std::abs(v));
    sum_sq += (double)v * v;
  }
  EXPECT_LE(mx, bound);
  EXPECT_GT(mx, 0.99 * bound);
  EXPECT_NEAR(sum_sq / (50 * 400), bound * bound / 3, 0.05 * bound * bound / 3);
  for (float v : l.bias.to_vector_f32()) EXPECT_LE(std::abs(v), bound);
  EXPECT_EQ(l.extra_repr(), "in_features=50, out_features=400, bias=True");
  EXPECT_EQ(l.forward(Tensor::randn({3, 50})).shape(), (Shape{3, 400}));
  EXPECT_THROW(l.forward(Tensor::randn({3, 49})), Error);
  EXPECT_THROW(nn::Linear(0, 3), Error);

  // Reproducible after manual_seed; a different seed gives different weights.
  manual_seed(5);
  nn::Linear again(50, 400);
  EXPECT_EQ(again.weight.to_vector_f32(), l.weight.to_vector_f32());
  EXPECT_EQ(again.bias.to_vector_f32(), l.bias.to_vector_f32());
  manual_seed(6);
  EXPECT_NE(nn::Linear(50, 400).weight.to_vector_f32(), l.weight.to_vector_f32());
}

TEST(Layers, PoolingFlattenIdentityLrn) {
  Tensor x = Tensor::randn({2, 3, 13, 13});
  EXPECT_EQ(nn::MaxPool2d(3, 2).forward(x).shape(), (Shape{2, 3, 6, 6}));
  EXPECT_EQ(nn::MaxPool2d(2).forward(x).shape(), (Shape{2, 3, 6, 6}));
  EXPECT_EQ(nn::MaxPool2d(2, 2, 0, true).forward(x).shape(), (Shape{2, 3, 7, 7}));
  EXPECT_EQ(nn::AvgPool2d(3, 2, 1).forward(x).shape(), (Shape{2, 3, 7, 7}));
  EXPECT_EQ(nn::AvgPool2d(3, 2, 1).extra_repr(), "kernel_size=3, stride=2, padding=1");
  EXPECT_EQ(nn::AdaptiveAvgPool2d(6, 4).forward(x).shape(), (Shape{2, 3, 6, 4}));
  EXPECT_EQ(nn::AdaptiveAvgPool2d(5).extra_repr(), "output_size=(5, 5)");
  Pool2dParams p{.kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 1};
  nn::MaxPool2d rect(p);
  EXPECT_EQ(rect.forward(x).shape(), (Shape{2, 3, 6, 12}));
  EXPECT_EQ(rect.extra_repr(), "kernel_size=(3, 2), stride=(2, 1), padding=0, dilation=1, ceil_mode=False");
  EXPECT_THROW(nn::MaxPool2d(0), Error);
  EXPECT_THROW(nn::MaxPool2d(3, 0), Error);
  EXPECT_THROW(nn::AvgPool2d(2, 2, -1), Error);
  EXPECT_THROW(nn::AdaptiveAvgPool2d(0, 2), Error);

  EXPECT_EQ(nn::Flatten().forward(x).shape(), (Shape{2, 507}));
  EXPECT_EQ(nn::Flatten(0, 1).forward(x).shape(), (Shape{6, 13, 13}));
  EXPECT_TRUE(nn::Identity().forward(x).same(x));

  nn::LocalResponseNorm lrn(5, 1e-4, 0.75, 2.0);
  EXPECT_EQ(lrn.extra_repr(), "5, alpha=0.0001, beta=0.75, k=2.0");
  Tensor y = lrn.forward(x);
  EXPECT_EQ(y.shape(), x.shape());
  EXPECT_TRUE(all_close(y, local_response_norm(x, 5, 1e-4, 0.75, 2.0), 0));
  EXPECT_THROW(nn::LocalResponseNorm(0), Error);
}

TEST(Layers, ReluRuleSelection) {
  Tensor x = Tensor::from_vector(std::vector<double>{-1, 2, 3, -4}, {4});
  Tensor g = Tensor::from_vector(std::vector<double>{5, -6, 7, 8}, {4});
  auto grad_with = [&](nn::ReLU& r) {
    Tensor xi = x.clone().detach();
    xi.set_requires_grad(true);
    r.forward(xi).backward(g);
    return xi.grad().to_vector_f64();
  };
  nn::ReLU plain, guided(ReluRule::guided);
  EXPECT_EQ(grad_with(plain), (std::vector<double>{0, -6, 7, 0}));
  EXPECT_EQ(grad_with(guided), (std::vector<double>{0, 0, 7, 0}));
  {
    ReluRuleGuard guard(ReluRule::deconvnet);  // an unset rule follows the guard
    EXPECT_EQ(grad_with(plain), (std::vector<double>{5, 0, 7, 8}));
    EXPECT_EQ(grad_with(guided), (std::vector<double>{0, 0, 7, 0}));
  }
  EXPECT_EQ(plain.repr(), "ReLU()");
  EXPECT_EQ(guided.repr(), "ReLU(rule=guided)");
}

TEST(Layers, DropoutTrainEval) {
  Generator gen(9);
  nn::Dropout d(0.5, &gen);
  Tensor x = Tensor::full({1000}, 3.0);
  std::vector<float> y = d.forward(x).to_vector_f32();
  int zeros = 0;
  for (float v : y) {
    EXPECT_TRUE(v == 0.0f || v == 6.0f) << v;
    zeros += v == 0.0f;
  }
  EXPECT_GT(zeros, 400);
  EXPECT_LT(zeros, 600);
  Generator gen2(9);
  nn::Dropout d2(0.5, &gen2);
  EXPECT_EQ(d2.forward(x).to_vector_f32(), y);  // the same generator state gives the same mask
  d.eval();
  EXPECT_EQ(d.forward(x).to_vector_f32(), x.to_vector_f32());
  EXPECT_EQ(d.repr(), "Dropout(p=0.5)");
  EXPECT_THROW(nn::Dropout(1.0), Error);
  EXPECT_THROW(nn::Dropout(-0.1), Error);
}

TEST(Layers, BatchNormTrainEval) {
  nn::BatchNorm2d bn(3);
  EXPECT_EQ(names_of(bn.named_parameters()), (std::vector<std::string>{"weight", "bias"}));
  EXPECT_EQ(names_of(bn.named_buffers()), (std::vector<std::string>{"running_mean", "running_var"}));
  EXPECT_EQ(bn.repr(), "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
  EXPECT_EQ(bn.weight.to_vector_f32(), (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(bn.running_var.to_vector_f32(), (std::vector<float>{1, 1, 1}));

  Generator gen(3);
  Tensor x = Tensor::rand({4, 3, 2, 2}, 1, 3, DType::f32, &gen);  // channel means near 2
  std::vector<float> xv = x.to_vector_f32();
  double mean0 = 0;
  for (int n = 0; n < 4; ++n)
    for (int i = 0; i < 4; ++i) mean0 += xv[n * 12 + i];
  mean0 /= 16;

  // Training: batch statistics (each channel of the output has mean 0) and running updates.
  Tensor y = bn.forward(x);
  std::vector<float> ch_mean = mean(y, {0, 2, 3}).to_vector_f32();
  for (float m : ch_mean) EXPECT_NEAR(m, 0, 1e-5);
  EXPECT_NEAR(bn.running_mean.to_vector_f32()[0], 0.1 * mean0, 1e-5);

  // Eval: the running statistics, y = (x - rm) / sqrt(rv + eps) * w + b.
  bn.weight.fill_(2.0);
  bn.bias.fill_(0.5);
  bn.eval();
  float rm = bn.running_mean.to_vector_f32()[0], rv = bn.running_var.to_vector_f32()[0];
  std::vector<float> ye = bn.forward(x).to_vector_f32();
  EXPECT_NEAR(ye[0], (xv[0] - rm) / std::sqrt(rv + 1e-5) * 2 + 0.5, 1e-5);
  EXPECT_EQ(bn.running_mean.to_vector_f32()[0], rm);  // eval does not update

  // Without running statistics the batch is used in both modes and no buffers exist.
  nn::BatchNorm1d plain(3, 1e-5, 0.1, /*affine=*/false, /*track_running_stats=*/false);
  EXPECT_TRUE(plain.named_parameters().empty());
  EXPECT_TRUE(plain.named_buffers().empty());
  plain.eval();
  Tensor z = plain.forward(Tensor::rand({5, 3}, 1, 3, DType::f32, &gen));
  for (float m : mean(z, {0}).to_vector_f32()) EXPECT_NEAR(m, 0, 1e-5);

  nn::BatchNorm1d bn1(3);
  EXPECT_EQ(bn1.forward(Tensor::randn({4, 3, 5})).shape(), (Shape{4, 3, 5}));
  EXPECT_TRUE(contains(error_of([&] { bn.forward(Tensor::randn({4, 2, 2, 2})); }), "2 channels"));
  EXPECT_THROW(bn.forward(Tensor::randn({4, 3})), Error);
  EXPECT_THROW(bn1.forward(Tensor::randn({4, 3, 2, 2})), Error);
  EXPECT_THROW(nn::BatchNorm2d(0), Error);
}

// ---------------------------------------------------------------- initializers

namespace {
struct Stats {
  double mean, var, max_abs;
};
Stats stats_of(const Tensor& t) {
  std::vector<double> v = t.to_vector_f64();
  double s = 0, s2 = 0, mx = 0;
  for (double x : v) {
    s += x;
    s2 += x * x;
    mx = std::max(mx, std::abs(x));
  }
  double m = s / v.size();
  return {m, s2 / v.size() - m * m, mx};
}
}  // namespace

TEST(Init, FansAndGains) {
  auto [fi, fo] = nn::init::calculate_fan_in_and_fan_out(Tensor::empty({64, 3, 11, 11}));
  EXPECT_EQ(fi, 3 * 121);
  EXPECT_EQ(fo, 64 * 121);
  auto [li, lo] = nn::init::calculate_fan_in_and_fan_out(Tensor::empty({10, 20}));
  EXPECT_EQ(li, 20);
  EXPECT_EQ(lo, 10);
  EXPECT_THROW(nn::init::calculate_fan_in_and_fan_out(Tensor::empty({5})), Error);
  using nn::init::Nonlinearity;
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(Nonlinearity::relu), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(Nonlinearity::tanh), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(Nonlinearity::leaky_relu, std::sqrt(5.0)), std::sqrt(1.0 / 3.0));
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(Nonlinearity::linear), 1.0);
}

TEST(Init, KaimingAndXavierStatistics) {
  using namespace nn::init;
  Generator gen(21);
  const int64_t out = 200, in = 30, k = 3;  // fan_in 270, fan_out 1800, 54000 values
  const double fan_in = in * k * k, fan_out = out * k * k;
  for (double a : {0.0, std::sqrt(5.0)}) {
    Tensor w = kaiming_uniform_(Tensor::empty({out, in, k, k}), a, FanMode::fan_in, Nonlinearity::leaky_relu, &gen);
    double bound = std::sqrt(6.0 / ((1 + a * a) * fan_in));
    Stats s = stats_of(w);
    EXPECT_LE(s.max_abs, bound);
    EXPECT_GT(s.max_abs, 0.999 * bound);
    EXPECT_NEAR(s.mean, 0, 0.02 * bound);
    EXPECT_NEAR(s.var, bound * bound / 3, 0.03 * bound * bound / 3);
  }
  Tensor wo =
      kaiming_uniform_(Tensor::empty({out, in, k, k}, DType::f64), 0, FanMode::fan_out, Nonlinearity::relu, &gen);
  EXPECT_NEAR(stats_of(wo).var, 2.0 / fan_out, 0.03 * 2.0 / fan_out);

  Tensor kn = kaiming_normal_(Tensor::empty({out, in, k, k}), 0, FanMode::fan_out, Nonlinearity::relu, &gen);
  EXPECT_NEAR(stats_of(kn).var, 2.0 / fan_out, 0.03 * 2.0 / fan_out);

  Tensor xu = xavier_uniform_(Tensor::empty({out, in, k, k}), 2.0, &gen);
  double xb = 2.0 * std::sqrt(6.0 / (fan_in + fan_out));
  Stats su = stats_of(xu);
  EXPECT_LE(su.max_abs, xb);
  EXPECT_GT(su.max_abs, 0.999 * xb);
  EXPECT_NEAR(su.var, xb * xb / 3, 0.03 * xb * xb / 3);

  Tensor xn = xavier_normal_(Tensor::empty({out, in, k, k}), 1.0, &gen);
  EXPECT_NEAR(stats_of(xn).var, 2.0 / (fan_in + fan_out), 0.03 * 2.0 / (fan_in + fan_out));

  Stats sn = stats_of(normal_(Tensor::empty({20000}, DType::f64), 3.0, 0.5, &gen));
  EXPECT_NEAR(sn.mean, 3.0, 0.02);
  EXPECT_NEAR(sn.var, 0.25, 0.01);
  Stats sr = stats_of(uniform_(Tensor::empty({20000}), -1.0, 3.0, &gen));
  EXPECT_NEAR(sr.mean, 1.0, 0.05);
  EXPECT_LE(sr.max_abs, 3.0);
  EXPECT_EQ(constant_(Tensor::empty({3}), 2.5).to_vector_f32(), (std::vector<float>{2.5, 2.5, 2.5}));

  EXPECT_THROW(kaiming_uniform_(Tensor::empty({5})), Error);
  EXPECT_THROW(uniform_(Tensor::empty({5}, DType::i32)), Error);
  EXPECT_THROW(normal_(Tensor::empty({5}), 0, -1), Error);
  EXPECT_THROW(uniform_(Tensor::empty({5}), 2, 1), Error);
}

TEST(Init, InPlaceOnViewsAndUnderGradMode) {
  Tensor w = Tensor::zeros({4, 6});
  w.set_requires_grad(true);
  Tensor handle = w;
  nn::init::uniform_(w, 1, 2);  // a leaf requiring grad is filled in place, no graph
  EXPECT_TRUE(w.is_leaf());
  EXPECT_GE(handle.to_vector_f32()[0], 1.0f);
  // A non-contiguous view (every other column) gets filled; the other columns stay.
  Tensor z = Tensor::zeros({4, 6});
  nn::init::constant_(z.slice(1, 0, 6, 2), 5.0);
  nn::init::uniform_(z.slice(1, 1, 6, 2), 10.0, 10.0);
  std::vector<float> v = z.to_vector_f32();
  for (int i = 0; i < 24; ++i) EXPECT_EQ(v[i], i % 2 == 0 ? 5.0f : 10.0f) << i;
  // Same seed, same values, from the default generator.
  manual_seed(77);
  Tensor a = nn::init::normal_(Tensor::empty({10}));
  manual_seed(77);
  Tensor b = nn::init::normal_(Tensor::empty({10}));
  EXPECT_EQ(a.to_vector_f32(), b.to_vector_f32());
}
