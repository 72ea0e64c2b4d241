// `patchwork classify` (see classify.h).
#include "tasks/classify.h"

#include <algorithm>
#include <numeric>

#include "engine/ops.h"
#include "tasks/image_source.h"
#include "tasks/run_record.h"

namespace pw::tasks {

namespace {

// The record must say how the network's inputs were prepared.
void check_record(const RunRecord& r) {
  require_classifier(r, "classify");
  PW_CHECK(r.recorded, "classify: '", r.path, "' is ", describe(r), ": classify needs a checkpoint of a supervised ",
           "`patchwork train` run, which records the input size, the normalization and the class names");
  PW_CHECK(r.image.size() == 3 && r.mean.size() == (size_t)r.image[0] && r.std.size() == (size_t)r.image[0],
           "classify: the record of '", r.path, "' does not give the input size and normalization (data.image, ",
           "data.mean, data.std)");
  PW_CHECK(r.image[1] == r.image[2], "classify: the network's inputs are ", r.image[1], "x", r.image[2],
           "; only square inputs are supported");
}

std::vector<ClassScore> top_classes(const float* p, int64_t classes, int64_t top,
                                    const std::vector<std::string>& names) {
  std::vector<int64_t> order((size_t)classes);
  std::iota(order.begin(), order.end(), 0);
  const int64_t k = std::min(top, classes);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int64_t a, int64_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
  std::vector<ClassScore> out;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t c = order[(size_t)i];
    out.push_back({c, (size_t)c < names.size() ? names[(size_t)c] : "class " + std::to_string(c), p[c]});
  }
  return out;
}

}  // namespace

ClassifyResult run_classify(const ClassifyConfig& c) {
  PW_CHECK(!c.images.empty(), "classify: give one or more image files");
  PW_CHECK(c.top > 0, "classify: --top must be positive, got ", c.top);
  const RunRecord record = read_run_record(c.source.checkpoint);
  check_record(record);
  StreamOptions o;
  o.image_size = record.image[1];
  o.channels = (int)record.image[0];
  o.workers = 1;
  const FileSource files(c.images, o, record.mean, record.std);
  std::vector<int64_t> all((size_t)files.size());
  std::iota(all.begin(), all.end(), 0);
  const Tensor images = files.gather(all);  // errors name the file that does not decode

  LoadedModel loaded = load_model(c.source, record.image[0], "classify");
  loaded.model->to(c.device);
  NoGradGuard no_grad;
  nn::EvalModeScope eval_mode(*loaded.model);
  const Tensor probs = softmax((*loaded.model)(images.to(c.device)), 1).to(Device::cpu()).contiguous();
  ClassifyResult r;
  r.model = loaded.name;
  r.data = record.data;
  const int64_t classes = probs.size(1);
  for (int64_t i = 0; i < probs.size(0); ++i)
    r.predictions.push_back(top_classes(probs.data<float>() + i * classes, classes, c.top, record.classes));
  return r;
}

io::Json classify_json(const ClassifyConfig& c, const ClassifyResult& r) {
  io::Json images = io::Json::array();
  for (size_t i = 0; i < r.predictions.size(); ++i) {
    io::Json top = io::Json::array();
    for (const ClassScore& s : r.predictions[i])
      top.push(io::Json::object({{"class", s.index}, {"name", s.name}, {"probability", s.probability}}));
    images.push(io::Json::object({{"file", c.images[i]}, {"top", top}}));
  }
  return io::Json::object(
      {{"model", r.model}, {"checkpoint", c.source.checkpoint}, {"data", r.data}, {"images", images}});
}

}  // namespace pw::tasks
