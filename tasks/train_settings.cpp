// The settings of a training run: one table of (key, flag, read, write) that checks them,
// records them in a checkpoint and reads them back. See train.h.
#include <charconv>
#include <cmath>
#include <functional>

#include "engine/io/checkpoint.h"
#include "engine/util/error.h"
#include "tasks/pretext_task.h"
#include "tasks/train.h"

namespace pw::tasks {

namespace {

// ---- values as checkpoint strings, and back ("" is an absent optional) ----

std::string text(const std::string& v) { return v; }
std::string text(double v) { return io::config_number(v); }
std::string text(int64_t v) { return std::to_string(v); }
std::string text(uint64_t v) { return std::to_string(v); }
std::string text(bool v) { return v ? "true" : "false"; }
template <class T>
std::string text(const std::optional<T>& v) {
  return v ? text(*v) : "";
}

[[noreturn]] void bad_value(const std::string& key, const std::string& s, const char* expected) {
  PW_FAIL("the setting '", key, "' is '", s, "', expected ", expected);
}
void parse(const std::string& key, const std::string& s, std::string& out) { out = s; }
void parse(const std::string& key, const std::string& s, double& out) {
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  if (s.empty() || *end != '\0' || !std::isfinite(out)) bad_value(key, s, "a number");
}
template <class I>
void parse_integer(const std::string& key, const std::string& s, I& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) bad_value(key, s, "an integer");
}
void parse(const std::string& key, const std::string& s, int64_t& out) { parse_integer(key, s, out); }
void parse(const std::string& key, const std::string& s, uint64_t& out) { parse_integer(key, s, out); }
void parse(const std::string& key, const std::string& s, bool& out) {
  if (s != "true" && s != "false") bad_value(key, s, "true or false");
  out = s == "true";
}
template <class T>
void parse(const std::string& key, const std::string& s, std::optional<T>& out) {
  if (s.empty()) {
    out.reset();
    return;
  }
  T v{};
  parse(key, s, v);
  out = v;
}

struct Entry {
  TrainSetting name;
  std::function<std::string(const TrainConfig&)> get;
  std::function<void(TrainConfig&, const std::string&)> set;
};

template <class T>
Entry entry(const char* key, const char* flag, T TrainConfig::*member) {
  return {{key, flag},
          [member](const TrainConfig& c) { return text(c.*member); },
          [member, key](TrainConfig& c, const std::string& s) { parse(key, s, c.*member); }};
}

const std::vector<Entry>& entries() {
  static const std::vector<Entry> table = {
      entry("task", "task", &TrainConfig::task),
      entry("model", "model", &TrainConfig::model),
      entry("width", "width", &TrainConfig::width),
      entry("dropout", "dropout", &TrainConfig::dropout),
      entry("fc6", "fc6", &TrainConfig::fc6),
      entry("batch_norm", "no-batch-norm", &TrainConfig::batch_norm),
      entry("sync_batch_norm", "sync-batch-norm", &TrainConfig::sync_batch_norm),
      entry("data", "data", &TrainConfig::data),
      entry("image_size", "image-size", &TrainConfig::image_size),
      entry("limit_train", "limit-train", &TrainConfig::limit_train),
      entry("limit_test", "limit-test", &TrainConfig::limit_test),
      entry("skip_bad", "skip-bad", &TrainConfig::skip_bad),
      entry("stream", "stream", &TrainConfig::stream),
      entry("crop_padding", "crop-padding", &TrainConfig::crop_padding),
      entry("flip", "flip", &TrainConfig::flip),
      entry("label_smoothing", "label-smoothing", &TrainConfig::label_smoothing),
      entry("epochs", "epochs", &TrainConfig::epochs),
      entry("samples_per_epoch", "samples-per-epoch", &TrainConfig::samples_per_epoch),
      entry("batch_size", "batch-size", &TrainConfig::batch_size),
      entry("optimizer", "optimizer", &TrainConfig::optimizer),
      entry("lr", "lr", &TrainConfig::lr),
      entry("momentum", "momentum", &TrainConfig::momentum),
      entry("weight_decay", "weight-decay", &TrainConfig::weight_decay),
      entry("schedule", "schedule", &TrainConfig::schedule),
      entry("clip_grad_norm", "clip-grad-norm", &TrainConfig::clip_grad_norm),
      entry("seed", "seed", &TrainConfig::seed),
      entry("init_from", "init-from", &TrainConfig::init_from),
      entry("transfer_layers", "transfer-layers", &TrainConfig::transfer_layers),
      entry("freeze", "freeze", &TrainConfig::freeze),
      entry("patch", "patch", &TrainConfig::patch),
      entry("gap", "gap", &TrainConfig::gap),
      entry("jitter", "jitter", &TrainConfig::jitter),
      entry("color_defense", "color-defense", &TrainConfig::color_defense),
      entry("pixelate", "pixelate", &TrainConfig::pixelate),
      entry("grid", "grid", &TrainConfig::grid),
      entry("tile", "tile", &TrainConfig::tile),
      entry("grayscale", "grayscale", &TrainConfig::grayscale),
      entry("permutations", "permutations", &TrainConfig::permutations),
      entry("permutation_criterion", "permutation-criterion", &TrainConfig::permutation_criterion),
      entry("permutation_file", "permutation-file", &TrainConfig::permutation_file),
      entry("crop", "crop", &TrainConfig::crop),
      entry("eval_images", "", &TrainConfig::eval_images),
  };
  return table;
}

// ---- checks ----

template <class T>
void positive(const char* flag, const std::optional<T>& v) {
  PW_CHECK(!v || *v > 0, "train: --", flag, " must be positive, got ", *v, " (leave it out for the default)");
}
template <class T>
void positive(const char* flag, const T& v) {
  PW_CHECK(v > 0, "train: --", flag, " must be positive, got ", v);
}
void not_negative(const char* flag, const std::optional<int64_t>& v) {
  PW_CHECK(!v || *v >= 0, "train: --", flag, " must be 0 or more, got ", *v);
}
void fraction(const char* flag, double v) {
  PW_CHECK(v >= 0 && v <= 1, "train: --", flag, " must lie in [0, 1], got ", v);
}
void one_of(const char* flag, const std::string& v, std::initializer_list<const char*> allowed) {
  std::string list;
  for (const char* a : allowed) {
    if (v == a) return;
    list += (list.empty() ? "" : ", ") + std::string(a);
  }
  PW_FAIL("train: --", flag, " must be one of ", list, ", got '", v, "'");
}

void check_sizes(const TrainConfig& c) {
  positive("batch-size", c.batch_size);
  positive("epochs", c.epochs);
  positive("limit-train", c.limit_train);
  positive("limit-test", c.limit_test);
  positive("image-size", c.image_size);
  positive("samples-per-epoch", c.samples_per_epoch);
  positive("stop-after", c.stop_after);
  positive("checkpoint-every", c.checkpoint_every);
  positive("log-every", c.log_every);
  positive("workers", c.workers);
  positive("width", c.width);
  positive("lr", c.lr);
  positive("fc6", c.fc6);
  positive("clip-grad-norm", c.clip_grad_norm);
  positive("transfer-layers", c.transfer_layers);
  positive("patch", c.patch);
  positive("grid", c.grid);
  positive("tile", c.tile);
  positive("permutations", c.permutations);
  positive("crop", c.crop);
  not_negative("gap", c.gap);
  not_negative("jitter", c.jitter);
  PW_CHECK(c.crop_padding >= 0, "train: --crop-padding must be 0 or more, got ", c.crop_padding);
  PW_CHECK(c.eval_images >= 0, "train: eval_images must be 0 or more, got ", c.eval_images);
  PW_CHECK(c.momentum >= 0, "train: --momentum must be 0 or more, got ", c.momentum);
  PW_CHECK(c.weight_decay >= 0, "train: --weight-decay must be 0 or more, got ", c.weight_decay);
  PW_CHECK(!c.dropout || (*c.dropout >= 0 && *c.dropout < 1), "train: --dropout must lie in [0, 1), got ",
           c.dropout.value_or(0));
  PW_CHECK(!c.label_smoothing || (*c.label_smoothing >= 0 && *c.label_smoothing < 1),
           "train: --label-smoothing must lie in [0, 1), got ", c.label_smoothing.value_or(0));
  fraction("pixelate", c.pixelate);
  fraction("grayscale", c.grayscale);
}

// A flag that only one kind of task reads is an error on another: it would be silently ignored.
void check_task_flags(const TrainConfig& c) {
  const TrainConfig d;
  const bool supervised = c.task == "supervised";
  auto set = [&](const char* key, bool differs) { return differs || c.given.count(key) > 0; };
  const std::pair<const char*, bool> supervised_only[] = {{"init_from", !c.init_from.empty()},
                                                          {"transfer_layers", c.transfer_layers.has_value()},
                                                          {"freeze", c.freeze},
                                                          {"crop_padding", c.crop_padding != 0},
                                                          {"flip", c.flip.value_or(false)},
                                                          {"label_smoothing", c.label_smoothing.value_or(0) != 0}};
  const std::pair<const char*, bool> pretext_only[] = {
      {"samples_per_epoch", c.samples_per_epoch.has_value()},
      {"patch", c.patch.has_value()},
      {"gap", c.gap.has_value()},
      {"jitter", c.jitter.has_value()},
      {"color_defense", c.color_defense != d.color_defense},
      {"pixelate", c.pixelate != d.pixelate},
      {"grid", c.grid.has_value()},
      {"tile", c.tile.has_value()},
      {"grayscale", c.grayscale != d.grayscale},
      {"permutations", c.permutations != d.permutations},
      {"permutation_criterion", c.permutation_criterion != d.permutation_criterion},
      {"permutation_file", !c.permutation_file.empty()},
      {"crop", c.crop.has_value()}};
  auto flag_of = [](const char* key) {
    for (const Entry& e : entries())
      if (std::string(e.name.key) == key) return std::string(e.name.flag);
    return std::string(key);
  };
  for (const auto& [key, differs] : supervised_only)
    PW_CHECK(supervised || !set(key, differs), "train: --", flag_of(key),
             " applies to supervised training, not to the ", c.task, " task");
  for (const auto& [key, differs] : pretext_only)
    PW_CHECK(!supervised || !set(key, differs), "train: --", flag_of(key),
             " applies to the pretext tasks (rotation, jigsaw, context, colorization), not to supervised training");
  PW_CHECK(c.task == "colorization" || !set("crop", c.crop.has_value()),
           "train: --crop applies to the colorization task, not to the ", c.task, " task");
  PW_CHECK(!c.init_from.empty() || (!c.transfer_layers && !c.freeze),
           "train: --transfer-layers and --freeze need --init-from");
  PW_CHECK(!c.flip.value_or(false) || c.data.rfind("mnist:", 0) != 0, "train: --flip on '", c.data,
           "': a mirrored digit is not the same digit (flips suit fashion-mnist, CIFAR and photos)");
}

}  // namespace

const std::vector<TrainSetting>& train_settings() {
  static const std::vector<TrainSetting> names = [] {
    std::vector<TrainSetting> v;
    for (const Entry& e : entries()) v.push_back(e.name);
    return v;
  }();
  return names;
}

bool default_flip(const std::string& data, const std::string& kind) {
  return data == "fashion-mnist" || kind == "cifar10" || kind == "cifar100" || kind == "folder";
}

void check_train_config(const TrainConfig& c) {
  PW_CHECK(c.task == "supervised" || is_pretext_task(c.task), "train: unknown task '", c.task,
           "' (supervised, rotation, jigsaw, context or colorization)");
  check_sizes(c);
  one_of("optimizer", c.optimizer, {"sgd", "adam", "adamw"});
  one_of("permutation-criterion", c.permutation_criterion, {"max-average", "max-min"});
  one_of("color-defense", c.color_defense, {"auto", "none", "project", "drop"});
  check_task_flags(c);
  PW_CHECK(!(c.resume && c.force), "train: --resume continues the run in --out and --force replaces it; give one");
  PW_CHECK(!c.resume || !c.out_dir.empty(), "train: --resume needs --out, the folder of the run to continue");
}

std::map<std::string, std::string> settings_record(const TrainConfig& c) {
  std::map<std::string, std::string> record;
  for (const Entry& e : entries()) record[e.name.key] = e.get(c);
  return record;
}

void apply_settings_record(TrainConfig& c, const std::map<std::string, std::string>& record, const std::string& where) {
  // Every flag the caller gave must agree with the run it continues.
  for (const Entry& e : entries()) {
    const auto it = record.find(e.name.key);
    PW_CHECK(it != record.end(), "train: the checkpoint in '", where, "' does not record its ", e.name.key,
             " (written by an older patchwork?); start a new run with --force");
    if (!c.given.count(e.name.key)) continue;
    const std::string mine = e.get(c);
    PW_CHECK(mine == it->second, "train: --", e.name.flag, " gives ", e.name.key, " ",
             mine.empty() ? "none" : "'" + mine + "'", " but the run in '", where, "' has ",
             it->second.empty() ? "none" : "'" + it->second + "'", "; leave the flag out to continue that run");
  }
  for (const Entry& e : entries()) {
    try {
      e.set(c, record.at(e.name.key));
    } catch (const Error& err) {
      PW_FAIL("train: the checkpoint in '", where, "': ", err.what());
    }
  }
}

}  // namespace pw::tasks
