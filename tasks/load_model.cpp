#include "tasks/load_model.h"

#include "engine/io/checkpoint.h"
#include "engine/util/rng.h"
#include "models/registry.h"

namespace pw::tasks {

namespace {

bool has_batch_norm_statistics(const std::map<std::string, Tensor>& weights) {
  for (const auto& [name, t] : weights)
    if (name.size() > 13 && name.compare(name.size() - 13, 13, ".running_mean") == 0) return true;
  return false;
}

}  // namespace

LoadedModel load_model(const ModelSource& src, int64_t in_channels, const std::string& command) {
  LoadedModel out;
  out.record = read_run_record(src.checkpoint);
  const RunRecord& r = out.record;
  out.name = src.model;
  out.width = src.width.value_or(1);
  // Checkpoints record their model and width (config.model, config.width): given flags must agree.
  if (!r.model.empty()) {
    if (!src.model.empty()) check_agrees(r, command, "model", src.model, r.model);
    out.name = r.model;
  }
  if (r.width) {
    if (src.width) check_agrees(r, command, "width", io::config_number(*src.width), io::config_number(*r.width));
    out.width = *r.width;
  }
  std::map<std::string, Tensor> weights;
  if (!src.checkpoint.empty()) weights = io::read_weights(src.checkpoint);
  PW_CHECK(!out.name.empty(), src.checkpoint.empty()
                                  ? command + ": a model name is needed for a random network (--model)"
                                  : command + ": '" + src.checkpoint + "' does not name its model: give --model");
  models::ModelConfig mc;
  mc.in_channels = in_channels;
  mc.width = out.width;
  mc.dropout = src.dropout.value_or(-1);
  // Files without the key (plain weight files): batch norm is there when its statistics are.
  mc.batch_norm = r.config.count("batch_norm") ? r.config.at("batch_norm") != "false"
                                               : src.checkpoint.empty() || has_batch_norm_statistics(weights);
  if (r.config.count("fc6") && !r.config.at("fc6").empty()) mc.fc6 = std::stoll(r.config.at("fc6"));
  for (const char* head :
       {"head.fc8.bias", "classifier.fc8.bias", "classifier.6.bias", "classifier.4.bias", "head.conv8.bias"})
    if (weights.count(head)) mc.num_classes = weights.at(head).size(0);
  if (out.name.rfind("rotation-", 0) == 0 || out.name.rfind("context", 0) == 0) mc.num_classes = 0;
  manual_seed(src.seed);
  out.model = models::create(out.name, mc);
  if (!weights.empty()) out.model->load_state_dict(weights);
  return out;
}

int64_t input_channels(const RunRecord& record, int64_t fallback) {
  return record.image.size() == 3 ? record.image[0] : fallback;
}

}  // namespace pw::tasks
