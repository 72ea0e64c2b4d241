// The network, input space and images of a viz run: see run_support.h.
#include "tasks/viz/run_support.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <tuple>

#include "engine/io/checkpoint.h"
#include "engine/ops.h"
#include "engine/util/error.h"
#include "models/registry.h"

namespace pw::tasks::viz {

namespace {

std::string floats_text(const std::vector<float>& v) {
  std::ostringstream s;
  for (size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
  return s.str();
}

// One value for every channel, or one per channel.
std::vector<float> per_channel(std::vector<float> v, int64_t channels, const std::string& flag,
                               const std::string& command) {
  if (v.size() == 1) v.assign((size_t)channels, v[0]);
  const std::string wanted = channels == 1 ? "1 value (the network has 1 input channel)"
                                           : "1 or " + std::to_string(channels) + " values (one per input channel)";
  PW_CHECK((int64_t)v.size() == channels, command, ": --", flag, " needs ", wanted, ", got ", v.size());
  return v;
}

bool same_values(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::fabs(a[i] - b[i]) > 1e-4f * std::max(1.f, std::fabs(b[i]))) return false;
  return true;
}

// The split images are read from: the test split, or the training images of unlabeled data.
struct Split {
  Tensor images, labels;
};
Split split_of(const Dataset& d) {
  if (d.test_images.defined()) return {d.test_images, d.test_labels};
  return {d.train_images, d.train_labels};
}

VizImages load_images(const RunRecord& record, const DataRequest& request, const std::string& command) {
  const DataChoice choice = choose_data(record, request, command);
  VizImages v;
  v.spec = choice.spec;
  v.data = load_dataset(choice.spec, choice.options);
  return v;
}

}  // namespace

int64_t network_channels(const RunRecord& r, const VizCommon& c, const std::string& command) {
  if (c.channels) PW_CHECK(*c.channels > 0, command, ": --channels must be positive, got ", *c.channels);
  if (r.image.size() == 3) {
    if (c.channels) check_agrees(r, command, "channels", std::to_string(*c.channels), std::to_string(r.image[0]));
    return r.image[0];
  }
  if (c.channels) return *c.channels;
  if (c.source.checkpoint.empty()) return 1;
  const std::map<std::string, Tensor> w = io::read_weights(c.source.checkpoint);
  for (const char* name : {"features.conv1.weight", "features.0.weight", "tower.features.conv1.weight"})
    if (w.count(name) && w.at(name).dim() == 4) return w.at(name).size(1);
  for (const auto& [name, t] : w)
    if (t.dim() == 4) return t.size(1);
  return 1;
}

LoadedModel load_network(const VizCommon& c, int64_t channels, const std::string& command) {
  LoadedModel m = load_model(c.source, channels, command);
  m.model->to(c.device);
  m.model->eval();
  return m;
}

void resolve_normalization(const RunRecord& r, int64_t channels, const std::vector<float>& mean,
                           const std::vector<float>& std, const std::string& command, InputSpace& space) {
  default_normalization(r, channels, space.mean, space.std);
  const bool recorded = r.recorded && (int64_t)r.mean.size() == channels && (int64_t)r.std.size() == channels;
  for (const auto& [flag, given, target, record_values] :
       {std::tuple{"mean", &mean, &space.mean, &r.mean}, std::tuple{"std", &std, &space.std, &r.std}}) {
    if (given->empty()) continue;
    const std::vector<float> v = per_channel(*given, channels, flag, command);
    if (recorded && !same_values(v, *record_values))
      PW_FAIL(command, ": --", flag, " ", floats_text(*given), " contradicts the checkpoint '", r.path,
              "', which records ", flag, " ", floats_text(*record_values), "; leave --", flag,
              " out to use the checkpoint's");
    *target = v;
  }
}

InputSpace resolve_space(const LoadedModel& network, int64_t channels, const SpaceRequest& q,
                         const std::string& command) {
  const RunRecord& r = network.record;
  InputSpace s;
  s.channels = channels;
  resolve_normalization(r, channels, q.mean, q.std, command, s);
  if (q.image_size) PW_CHECK(*q.image_size > 0, command, ": --image-size must be positive, got ", *q.image_size);
  int64_t size = 0;
  if (r.image.size() == 3) {
    if (q.image_size) check_agrees(r, command, "image-size", std::to_string(*q.image_size), std::to_string(r.image[1]));
    size = r.image[1];
  } else {
    size = q.image_size ? *q.image_size : models::info(network.name).input.back();
  }
  s.height = s.width = size;
  return s;
}

VizImages pick_images(const RunRecord& record, const DataRequest& request, const std::vector<int64_t>& chosen,
                      int64_t first, const std::string& command) {
  VizImages v = load_images(record, request, command);
  const Split split = split_of(v.data);
  const int64_t n = split.images.size(0);
  std::vector<int64_t> index = chosen;
  for (int64_t i = 0; chosen.empty() && i < std::min(first, n); ++i) index.push_back(i);
  PW_CHECK(!index.empty(), command, ": ", v.spec, " has no images");
  std::vector<Tensor> rows;
  const std::vector<int32_t> labels = split.labels.defined() ? split.labels.to_vector_i32() : std::vector<int32_t>{};
  for (int64_t i : index) {
    PW_CHECK(i >= 0 && i < n, command, ": --images: image ", i, " is out of range (", n, " images in ", v.spec, ")");
    rows.push_back(split.images.select(0, i));
    if (!labels.empty()) v.labels.push_back(labels[(size_t)i]);
  }
  v.index = index;
  v.images = stack(rows, 0).contiguous();
  return v;
}

VizImages first_images(const RunRecord& record, const DataRequest& request, int64_t limit, const std::string& command) {
  PW_CHECK(limit > 0, command, ": --limit must be positive, got ", limit);
  DataRequest q = request;
  q.limit_test = limit;
  VizImages v = load_images(record, q, command);
  const Split split = split_of(v.data);
  const int64_t n = std::min(limit, split.images.size(0));
  v.images = split.images.slice(0, 0, n).contiguous();
  for (int64_t i = 0; i < n; ++i) v.index.push_back(i);
  if (split.labels.defined()) {
    const std::vector<int32_t> labels = split.labels.slice(0, 0, n).contiguous().to_vector_i32();
    v.labels.assign(labels.begin(), labels.end());
  }
  return v;
}

InputSpace space_of(const VizImages& v) {
  InputSpace s;
  s.channels = v.images.size(1);
  s.height = v.images.size(2);
  s.width = v.images.size(3);
  s.mean = v.data.mean;
  s.std = v.data.std;
  return s;
}

std::vector<std::string> class_names(const RunRecord& record, int64_t outputs,
                                     const std::vector<std::string>& data_classes) {
  if ((int64_t)record.classes.size() == outputs) return record.classes;
  if ((int64_t)data_classes.size() == outputs) return data_classes;
  return {};
}

int64_t upscale_factor(int64_t side) { return std::max<int64_t>(1, 112 / std::max<int64_t>(1, side)); }

std::string class_name(const std::vector<std::string>& names, int64_t index) {
  if (index >= 0 && index < (int64_t)names.size() && !names[(size_t)index].empty()) return names[(size_t)index];
  return "class " + std::to_string(index);
}

}  // namespace pw::tasks::viz
