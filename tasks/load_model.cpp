#include "tasks/load_model.h"

#include "engine/io/checkpoint.h"
#include "engine/io/safetensors.h"
#include "engine/util/rng.h"
#include "models/registry.h"

namespace pw::tasks {

LoadedModel load_model(const ModelSource& src, int64_t in_channels) {
  LoadedModel out;
  out.name = src.model;
  out.width = src.width;
  std::map<std::string, Tensor> weights;
  bool batch_norm = true;
  int64_t fc6 = 0;  // the network's default
  if (!src.checkpoint.empty()) {
    io::SafetensorsFile f = io::read_safetensors(src.checkpoint);
    if (out.name.empty() && f.metadata.count("config.model")) out.name = f.metadata.at("config.model");
    if (f.metadata.count("config.width")) out.width = std::stod(f.metadata.at("config.width"));
    if (f.metadata.count("config.batch_norm")) batch_norm = f.metadata.at("config.batch_norm") != "false";
    if (f.metadata.count("config.fc6") && !f.metadata.at("config.fc6").empty()) fc6 = std::stoll(f.metadata.at("config.fc6"));
    weights = io::read_weights(src.checkpoint);
    // Files without the key (older checkpoints, plain weight files): batch norm is there when its
    // statistics are.
    if (!f.metadata.count("config.batch_norm")) {
      batch_norm = false;
      for (const auto& [name, t] : weights)
        batch_norm |= name.size() > 13 && name.compare(name.size() - 13, 13, ".running_mean") == 0;
    }
  }
  PW_CHECK(!out.name.empty(), src.checkpoint.empty() ? std::string("a model name is needed for a random network")
                                                     : "'" + src.checkpoint + "' does not name its model: give the model name");
  models::ModelConfig mc;
  mc.in_channels = in_channels;
  mc.width = out.width;
  mc.batch_norm = batch_norm;
  mc.fc6 = fc6;
  for (const char* head : {"head.fc8.bias", "classifier.fc8.bias", "classifier.6.bias", "classifier.4.bias"})
    if (weights.count(head)) mc.num_classes = weights.at(head).size(0);
  if (out.name.rfind("rotation-", 0) == 0 || out.name.rfind("context", 0) == 0) mc.num_classes = 0;
  manual_seed(src.seed);
  out.model = models::create(out.name, mc);
  if (!weights.empty()) out.model->load_state_dict(weights);
  return out;
}

}  // namespace pw::tasks
