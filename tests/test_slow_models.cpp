// Every network of the registry built and run once at its native size (slow: the ImageNet
// networks have up to 144M parameters to initialize).
#include "models/registry.h"
#include "models/summary.h"
#include "tests/support/gradcheck.h"

using namespace pw;

// Every network in the registry (and a rotation head) runs at its native input size and ends in
// its number of classes; the summary's parameter total equals the model's.
TEST(Models, EveryRegistryModelRunsAtItsNativeSize) {
  std::vector<models::ModelInfo> all = models::list();
  all.push_back(models::info("rotation-alexnet-small"));
  for (const models::ModelInfo& info : all) {
    SCOPED_TRACE(info.name);
    models::ModelConfig cfg;
    cfg.in_channels = info.input[info.input.size() - 3];
    auto m = models::create(info.name, cfg);
    std::vector<models::LayerSummary> rows = models::summarize(*m, info.input);
    int64_t params = 0;
    for (const auto& r : rows) params += r.parameters;
    EXPECT_EQ(params, m->num_parameters());
    const int64_t classes = info.name.rfind("rotation", 0) == 0  ? 4
                            : info.name.rfind("context", 0) == 0 ? 8
                            : info.name.rfind("jigsaw", 0) == 0  ? 100
                            : info.input[1] >= 224               ? 1000
                                                                 : 10;
    if (info.name.rfind("colorization", 0) == 0)  // 262 ab bins per cell at a quarter of the input
      EXPECT_EQ(rows.back().output, (Shape{1, 262, info.input[1] / 4, info.input[2] / 4}));
    else
      EXPECT_EQ(rows.back().output, (Shape{1, classes}));
  }
}
