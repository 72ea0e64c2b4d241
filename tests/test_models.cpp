// The published networks: parameter counts and names against torchvision's, and output shapes
// at their native input sizes.
#include "models/registry.h"
#include "models/summary.h"
#include "tests/support/gradcheck.h"

using namespace pw;

static int64_t count(const std::string& name) { return models::create(name, {1000, 3})->num_parameters(); }

TEST(Models, ParameterCountsMatchTheReferenceNetworks) {
  // torchvision's figures (models.alexnet(), models.vgg*(), 1000 classes).
  EXPECT_EQ(count("alexnet"), 61100840);
  EXPECT_EQ(count("vgg11"), 132863336);
  EXPECT_EQ(count("vgg13"), 133047848);
  EXPECT_EQ(count("vgg16"), 138357544);
  EXPECT_EQ(count("vgg19"), 143667240);
  EXPECT_EQ(count("vgg11_bn"), 132868840);
  EXPECT_EQ(count("vgg13_bn"), 133053736);
  EXPECT_EQ(count("vgg16_bn"), 138365992);
  EXPECT_EQ(count("vgg19_bn"), 143678248);
  // Caffe's bvlc_reference_caffenet; the paper's one-tower AlexNet has the same layers.
  EXPECT_EQ(count("caffenet"), 60965224);
  EXPECT_EQ(count("alexnet-original"), 60965224);
}

TEST(Models, TorchvisionNamesAndLayerPaths) {
  auto alex = models::create("alexnet", {1000, 3});
  std::map<std::string, Tensor> sd = alex->state_dict();
  EXPECT_EQ(sd.at("features.0.weight").shape(), (Shape{64, 3, 11, 11}));
  EXPECT_EQ(sd.at("features.10.bias").shape(), (Shape{256}));
  EXPECT_EQ(sd.at("classifier.1.weight").shape(), (Shape{4096, 9216}));
  EXPECT_EQ(sd.at("classifier.6.bias").shape(), (Shape{1000}));
  EXPECT_EQ(sd.size(), 16u);
  auto vgg = models::create("vgg16_bn", {10, 3});
  std::map<std::string, Tensor> vsd = vgg->state_dict();
  EXPECT_EQ(vsd.at("features.1.running_mean").shape(), (Shape{64}));
  EXPECT_EQ(vsd.at("features.41.weight").shape(), (Shape{512}));
  EXPECT_EQ(vsd.at("classifier.6.weight").shape(), (Shape{10, 4096}));
  auto caffe = models::create("caffenet", {1000, 3});
  EXPECT_EQ(caffe->find("features.conv2")->type_name(), "Conv2d");
  EXPECT_EQ(caffe->state_dict().at("features.conv2.weight").shape(), (Shape{256, 48, 5, 5}));
  EXPECT_EQ(caffe->find("classifier.fc6")->type_name(), "Linear");
  EXPECT_THROW(models::create("resnet50"), Error);
}

TEST(Models, OutputShapesAtNativeInputSizes) {
  NoGradGuard ng;
  Generator g(3);
  auto alex = models::create("alexnet", {1000, 3});
  alex->eval();
  EXPECT_EQ((*alex)(Tensor::randn({1, 3, 224, 224}, DType::f32, &g)).shape(), (Shape{1, 1000}));
  for (const char* name : {"caffenet", "alexnet-original"}) {
    auto m = std::dynamic_pointer_cast<models::FeaturesClassifier>(models::create(name, {1000, 3}));
    m->eval();
    Tensor x = Tensor::randn({2, 3, 227, 227}, DType::f32, &g);
    EXPECT_EQ(m->features->forward(x).shape(), (Shape{2, 256, 6, 6})) << name;
    EXPECT_EQ((*m)(x).shape(), (Shape{2, 1000})) << name;
  }
  auto vgg = models::create("vgg11", {1000, 3});
  vgg->eval();
  EXPECT_EQ((*vgg)(Tensor::randn({1, 3, 224, 224}, DType::f32, &g)).shape(), (Shape{1, 1000}));
  // The adaptive pool lets VGG take other sizes, as in torchvision.
  EXPECT_EQ((*vgg)(Tensor::randn({1, 3, 64, 64}, DType::f32, &g)).shape(), (Shape{1, 1000}));
}

TEST(Models, SummaryMatchesPublishedMultiplyAdds) {
  // torchvision's published figures: AlexNet 0.71 G, VGG-16 15.47 G multiply-adds at 224x224.
  auto alex = models::create("alexnet", {1000, 3});
  std::vector<models::LayerSummary> a = models::summarize(*alex, {3, 224, 224});
  int64_t macs = 0, params = 0;
  for (const auto& l : a) {
    macs += l.macs;
    params += l.parameters;
  }
  EXPECT_NEAR(macs / 1e9, 0.714, 0.714 * 0.01);
  EXPECT_EQ(params, 61100840);
  EXPECT_EQ(a.front().path, "features.0");
  EXPECT_EQ(a.front().output, (Shape{1, 64, 55, 55}));
  EXPECT_EQ(a.back().output, (Shape{1, 1000}));
  auto vgg = models::create("vgg16", {1000, 3});
  int64_t vmacs = 0;
  for (const auto& l : models::summarize(*vgg, {3, 224, 224})) vmacs += l.macs;
  EXPECT_NEAR(vmacs / 1e9, 15.47, 15.47 * 0.01);
  EXPECT_THROW(models::summarize(*alex, {3, 224}), Error);
}
