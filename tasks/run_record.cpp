#include "tasks/run_record.h"

#include "engine/io/json.h"
#include "engine/io/safetensors.h"
#include "engine/util/error.h"

namespace pw::tasks {

namespace {

std::vector<std::string> strings_of(const std::map<std::string, std::string>& config, const std::string& key,
                                    const std::string& path) {
  std::vector<std::string> out;
  const auto it = config.find(key);
  if (it == config.end()) return out;
  for (const io::JsonValue& x : io::parse_json(it->second, path + ": the record's " + key).items) out.push_back(x.text);
  return out;
}

std::vector<float> floats_of(const std::map<std::string, std::string>& config, const std::string& key,
                             const std::string& path) {
  std::vector<float> out;
  for (const std::string& s : strings_of(config, key, path)) out.push_back(std::stof(s));
  return out;
}

Shape image_of(const std::map<std::string, std::string>& config) {
  Shape s;
  const auto it = config.find("data.image");
  if (it == config.end()) return s;
  size_t start = 0;
  while (start <= it->second.size()) {
    const size_t comma = it->second.find(',', start);
    s.push_back(std::stoll(it->second.substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return s;
}

std::string get(const std::map<std::string, std::string>& config, const std::string& key) {
  const auto it = config.find(key);
  return it == config.end() ? "" : it->second;
}

std::string limit_text(const std::optional<int64_t>& v) { return v ? std::to_string(*v) : ""; }

}  // namespace

RunRecord read_run_record(const std::string& path) {
  RunRecord r;
  r.path = path;
  if (path.empty()) return r;
  for (const auto& [key, value] : io::read_safetensors_metadata(path))  // the header only
    if (key.rfind("config.", 0) == 0) r.config[key.substr(7)] = value;
  r.recorded = r.config.count("task") > 0;
  r.task = get(r.config, "task");
  r.model = get(r.config, "model");
  if (!get(r.config, "width").empty()) r.width = std::stod(get(r.config, "width"));
  r.data = get(r.config, "data");
  r.data_kind = get(r.config, "data.kind");
  r.image = image_of(r.config);
  r.classes = strings_of(r.config, "data.classes", path);
  r.mean = floats_of(r.config, "data.mean", path);
  r.std = floats_of(r.config, "data.std", path);
  return r;
}

std::string describe(const RunRecord& r) {
  if (!r.recorded) return "a weight file without a run record";
  const std::string on = r.data.empty() ? "" : " on " + r.data;
  if (r.task == "supervised")
    return "a supervised classifier (" + r.model + ", " + std::to_string(r.classes.size()) + " classes" + on + ")";
  return "a " + r.task + " pretext network (" + r.model + ", trained" + on + ")";
}

void require_classifier(const RunRecord& r, const std::string& command) {
  if (!r.recorded || r.task == "supervised") return;
  PW_FAIL(command, ": '", r.path, "' is ", describe(r), ": it predicts its pretext task's labels, not classes. ",
          "Fine-tune it into a classifier with `patchwork train --init-from ", r.path,
          "`, or measure its features with `patchwork probe --checkpoint ", r.path, "`");
}

void check_agrees(const RunRecord& r, const std::string& command, const std::string& flag, const std::string& given,
                  const std::string& recorded) {
  PW_CHECK(given == recorded, command, ": --", flag, " ", given, " contradicts the checkpoint '", r.path,
           "', which records ", flag, " ", recorded, "; leave --", flag, " out to use the checkpoint's");
}

DataChoice choose_data(const RunRecord& r, const DataRequest& q, const std::string& command) {
  for (const auto& [flag, v] : {std::pair{"limit-train", q.limit_train}, std::pair{"limit-test", q.limit_test}})
    PW_CHECK(!v || *v > 0, command, ": --", flag, " must be positive, got ", limit_text(v),
             " (leave it out for every image)");
  PW_CHECK(!q.image_size || *q.image_size > 0, command, ": --image-size must be positive, got ", *q.image_size);
  DataChoice c;
  c.options.limit_train = q.limit_train.value_or(-1);
  c.options.limit_test = q.limit_test.value_or(-1);
  c.options.skip_bad = q.skip_bad;
  c.options.image_size = q.image_size.value_or(0);
  const bool recorded_data = r.recorded && !r.data.empty() && r.image.size() == 3;
  c.spec = q.data.value_or(recorded_data ? r.data : "fashion-mnist");
  if (!recorded_data) return c;
  c.runs_data = c.spec == r.data;
  if (!c.runs_data && !q.other_data) check_agrees(r, command, "data", c.spec, r.data);
  // The network's input size: the record's, whatever data is read.
  if (q.image_size) check_agrees(r, command, "image-size", std::to_string(*q.image_size), std::to_string(r.image[1]));
  c.options.image_size = r.image[1];
  if (c.runs_data) {
    c.options.mean = r.mean;
    c.options.std = r.std;
  } else {
    c.options.channels = (int)r.image[0];
  }
  return c;
}

void default_normalization(const RunRecord& r, int64_t channels, std::vector<float>& mean, std::vector<float>& std) {
  if (r.recorded && (int64_t)r.mean.size() == channels && (int64_t)r.std.size() == channels) {
    mean = r.mean;
    std = r.std;
  } else if (channels == 1) {
    mean = {0.2860f};
    std = {0.3530f};
  } else {
    mean = std::vector<float>{0.485f, 0.456f, 0.406f};
    std = std::vector<float>{0.229f, 0.224f, 0.225f};
    mean.resize((size_t)channels, 0.45f);
    std.resize((size_t)channels, 0.225f);
  }
}

}  // namespace pw::tasks
