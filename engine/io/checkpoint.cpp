// Checkpoints and weight files on top of safetensors: the name prefixes, the metadata keys, and
// restoring everything or nothing.
#include "engine/io/checkpoint.h"

#include <charconv>
#include <cstdio>
#include <type_traits>

#include "engine/io/safetensors.h"

namespace pw::io {

namespace {

const std::string kModelPrefix = "model.", kOptimPrefix = "optim.", kConfigPrefix = "config.";
const char* const kRngKeys[3] = {"rng.seed", "rng.stream", "rng.offset"};

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// The whole of `text` as a decimal integer of type T, or an error naming the key.
template <typename T>
T parse_decimal(const std::string& text, const std::string& key, const std::string& what) {
  T v{};
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  PW_CHECK(!text.empty() && ec == std::errc() && p == end, what, ": metadata '", key, "' is '", text,
           "', expected a decimal ", sizeof(T) * 8, "-bit ", std::is_signed_v<T> ? "" : "unsigned ", "integer");
  return v;
}

// Runs f, prefixing the message of a pw::Error it throws with `context`.
template <typename F>
void with_context(const std::string& context, F&& f) {
  try {
    f();
  } catch (const Error& e) {
    PW_FAIL(context, ": ", e.what());
  }
}

}  // namespace

void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer* opt, int64_t step,
                     const Generator* rng, const std::map<std::string, std::string>& config) {
  PW_CHECK(step >= 0, "save_checkpoint '", path, "': step is ", step, ", expected >= 0");
  std::map<std::string, Tensor> tensors;
  for (const auto& [name, t] : model.state_dict()) tensors[kModelPrefix + name] = t;
  std::map<std::string, std::string> metadata;
  metadata["format"] = kCheckpointFormat;
  metadata["step"] = std::to_string(step);
  if (opt) {
    for (const auto& [name, t] : opt->state(kOptimPrefix)) tensors[name] = t;
    metadata["optimizer"] = opt->name();
  }
  if (rng) {
    const uint64_t values[3] = {rng->seed(), rng->stream(), rng->offset()};
    for (int k = 0; k < 3; ++k) metadata[kRngKeys[k]] = std::to_string(values[k]);
  }
  for (const auto& [key, value] : config) metadata[kConfigPrefix + key] = value;
  with_context("save_checkpoint '" + path + "'", [&] { write_safetensors(path, tensors, metadata); });
}

Checkpoint read_checkpoint(const std::string& path) {
  SafetensorsFile file = read_safetensors(path);
  const std::string what = "checkpoint '" + path + "'";
  const auto& md = file.metadata;
  auto format = md.find("format");
  PW_CHECK(format != md.end() && format->second == kCheckpointFormat, what,
           ": not a patchwork checkpoint (metadata 'format' is ",
           format == md.end() ? "missing" : "'" + format->second + "'", ", expected '", kCheckpointFormat,
           "'); read_weights reads plain weight files");
  Checkpoint ckpt;
  for (auto& [name, t] : file.tensors) {
    if (starts_with(name, kModelPrefix))
      ckpt.model[name.substr(kModelPrefix.size())] = t;
    else if (starts_with(name, kOptimPrefix))
      ckpt.optimizer[name.substr(kOptimPrefix.size())] = t;
    else
      PW_FAIL(what, ": unexpected tensor '", name, "' (expected names starting with 'model.' or 'optim.')");
  }
  auto step = md.find("step");
  PW_CHECK(step != md.end(), what, ": metadata 'step' is missing");
  ckpt.step = parse_decimal<int64_t>(step->second, "step", what);
  PW_CHECK(ckpt.step >= 0, what, ": metadata 'step' is negative (", ckpt.step, ")");
  int rng_keys = 0;
  for (const char* key : kRngKeys) rng_keys += md.count(key) ? 1 : 0;
  PW_CHECK(rng_keys == 0 || rng_keys == 3, what, ": the generator state is incomplete (", rng_keys,
           " of rng.seed, rng.stream, rng.offset are present)");
  if (rng_keys == 3) {
    ckpt.has_rng = true;
    ckpt.rng_seed = parse_decimal<uint64_t>(md.at(kRngKeys[0]), kRngKeys[0], what);
    ckpt.rng_stream = parse_decimal<uint64_t>(md.at(kRngKeys[1]), kRngKeys[1], what);
    ckpt.rng_offset = parse_decimal<uint64_t>(md.at(kRngKeys[2]), kRngKeys[2], what);
  }
  if (auto it = md.find("optimizer"); it != md.end()) ckpt.optimizer_name = it->second;
  for (const auto& [key, value] : md)
    if (starts_with(key, kConfigPrefix)) ckpt.config[key.substr(kConfigPrefix.size())] = value;
  return ckpt;
}

void restore_checkpoint(const Checkpoint& ckpt, nn::Module& model, optim::Optimizer* opt, Generator* rng) {
  // The checks that need no loading come first.
  if (opt) {
    PW_CHECK(!ckpt.optimizer.empty(), "restore_checkpoint: the checkpoint holds no optimizer state");
    PW_CHECK(ckpt.optimizer_name.empty() || ckpt.optimizer_name == opt->name(),
             "restore_checkpoint: the checkpoint holds the state of ", ckpt.optimizer_name, ", the optimizer is ",
             opt->name());
  }
  PW_CHECK(!rng || ckpt.has_rng, "restore_checkpoint: the checkpoint holds no generator state");

  // load_state_dict and load_state each check everything before they change anything; a model
  // snapshot covers the case where the model loads and the optimizer then refuses its state.
  std::map<std::string, Tensor> snapshot;
  if (opt)
    for (const auto& [name, t] : model.state_dict()) snapshot[name] = t.clone();
  with_context("restore_checkpoint", [&] { model.load_state_dict(ckpt.model, /*strict=*/true); });
  if (opt) {
    try {
      opt->load_state(ckpt.optimizer);
    } catch (const Error& e) {
      model.load_state_dict(snapshot);
      PW_FAIL("restore_checkpoint: ", e.what(), " (the model was left as it was)");
    }
  }
  if (rng) {
    *rng = Generator(ckpt.rng_seed, ckpt.rng_stream);
    rng->set_offset(ckpt.rng_offset);
  }
}

std::map<std::string, Tensor> read_weights(const std::string& path) {
  SafetensorsFile file = read_safetensors(path);
  auto format = file.metadata.find("format");
  if (format == file.metadata.end() || format->second != kCheckpointFormat) return std::move(file.tensors);
  std::map<std::string, Tensor> weights;
  for (auto& [name, t] : file.tensors)
    if (starts_with(name, kModelPrefix)) weights[name.substr(kModelPrefix.size())] = t;
  return weights;
}

void load_state_dict_file(nn::Module& model, const std::string& path, bool strict) {
  std::map<std::string, Tensor> weights = read_weights(path);
  with_context("loading '" + path + "'", [&] { model.load_state_dict(weights, strict); });
}

void save_state_dict_file(const nn::Module& model, const std::string& path) {
  write_safetensors(path, model.state_dict());
}

std::string config_number(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

void check_same_run(const Checkpoint& ckpt, const std::map<std::string, std::string>& now,
                    const std::vector<std::string>& keys) {
  for (const std::string& key : keys) {
    const auto a = now.find(key);
    const auto b = ckpt.config.find(key);
    PW_CHECK(a != now.end() && b != ckpt.config.end() && a->second == b->second, "resume: ", key, " is ",
             a == now.end() ? std::string("not known") : "'" + a->second + "'", " now but ",
             b == ckpt.config.end() ? std::string("not recorded") : "'" + b->second + "'", " in the checkpoint's run");
  }
}

}  // namespace pw::io
