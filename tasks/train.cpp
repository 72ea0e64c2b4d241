// A training run from its settings: the output folder's rules, resuming from what the
// checkpoint recorded, defaults resolved against the data, the task built and handed to the one
// loop, and summary.json. See train.h.
#include "tasks/train.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "engine/device/gpu.h"
#include "engine/dist/comm.h"
#include "engine/io/checkpoint.h"
#include "engine/io/json.h"
#include "engine/util/error.h"
#include "engine/util/files.h"
#include "engine/util/rng.h"
#include "engine/util/threads.h"
#include "models/registry.h"
#include "models/transfer.h"
#include "tasks/data_parallel.h"
#include "tasks/load_model.h"
#include "tasks/pretext_task.h"
#include "tasks/supervised.h"

namespace pw::tasks {

namespace fs = std::filesystem;

namespace {

// The precision of the run's matrix products (--precision, PW_PRECISION): that of the GPU
// GEMMs on a GPU device; the cpu computes in fp32.
std::string precision_of(Device d) {
  return is_gpu(d) ? kernels::matmul_precision_name(kernels::matmul_precision()) : "fp32";
}

// The files a run writes in --out; --force removes them before a new run starts.
const char* const kRunFiles[] = {"checkpoint.safetensors", "metrics.jsonl", "summary.json", "permutations.txt"};

std::string in_out(const TrainConfig& c, const char* name) { return (fs::path(c.out_dir) / name).string(); }

// --out: a new run needs it empty, or --force (which removes a run's files); --resume needs its
// checkpoint, which it returns.
std::optional<io::Checkpoint> prepare_out_dir(const TrainConfig& c) {
  if (c.out_dir.empty()) {
    PW_CHECK(!c.resume, "train: --resume needs --out, the folder of the run to continue");
    return std::nullopt;
  }
  if (c.resume) {
    // A run killed while it wrote a file leaves that file's temporary beside it (files.h).
    for (const char* name : kRunFiles) remove_stale_temporaries(c.out_dir, name);
    const std::string path = in_out(c, "checkpoint.safetensors");
    PW_CHECK(fs::exists(path), "train: --resume: there is no run to continue in '", c.out_dir, "' (no ", path, ")");
    return io::read_checkpoint(path);
  }
  if (!fs::exists(c.out_dir)) return std::nullopt;
  PW_CHECK(fs::is_directory(c.out_dir), "train: --out '", c.out_dir, "' is a file, not a folder");
  std::string first;
  for (const auto& e : fs::directory_iterator(c.out_dir))
    if (first.empty()) first = e.path().filename().string();
  if (first.empty()) return std::nullopt;
  PW_CHECK(c.force, "train: --out '", c.out_dir, "' is not empty (it holds ", first,
           "): continue that run with --resume, or replace it with --force");
  for (const char* name : kRunFiles) fs::remove(in_out(c, name));
  return std::nullopt;
}

std::vector<float> floats_of(const io::Checkpoint& ck, const std::string& key) {
  const auto it = ck.config.find(key);
  PW_CHECK(it != ck.config.end(), "train: the checkpoint does not record '", key, "'; start a new run with --force");
  std::vector<float> v;
  for (const io::JsonValue& x : io::parse_json(it->second, "the checkpoint's " + key).items)
    v.push_back(std::stof(x.text));
  return v;
}

// The defaults that depend on the task and the data, made explicit so that the checkpoint
// records them and a resumed run reads them back.
void resolve_defaults(TrainConfig& c, const TrainData& d) {
  const bool supervised = c.task == "supervised";
  if (c.model.empty()) c.model = supervised ? "fmnist-cnn" : default_pretext_model(c.task);
  if (!c.epochs) c.epochs = supervised ? kSupervisedEpochs : 1;
  if (c.schedule.empty()) c.schedule = supervised ? "onecycle" : "cosine";
  if (!c.flip) c.flip = supervised && default_flip(c.data, d.kind);
  if (!c.label_smoothing) c.label_smoothing = supervised ? kSupervisedLabelSmoothing : 0.0;
  if (supervised) return;
  const Shape s = d.train->image_shape();
  const int64_t size = std::min(s[1], s[2]);
  const ContextConfig context = context_config_for(size);
  const JigsawConfig jigsaw = jigsaw_config_for(size);
  if (!c.patch) c.patch = context.patch;
  if (!c.gap) c.gap = context.gap;
  if (!c.jitter) c.jitter = context.jitter;
  if (c.color_defense == "auto") c.color_defense = s[0] == 3 ? "project" : "none";
  if (!c.grid) c.grid = jigsaw.grid;
  if (!c.tile) c.tile = jigsaw.tile;
  // Crops of 32 px: the small trunks' size; Zhang et al. trained on 176 px crops of ImageNet.
  if (c.task == "colorization" && !c.crop) c.crop = std::min<int64_t>(32, size);
}

// What the data must be for the task, checked before anything trains.
void check_data(const TrainConfig& c, const TrainData& d) {
  PW_CHECK(d.train && d.train->size() > 0, "train: no training images in '", c.data, "'");
  PW_CHECK(c.task != "colorization" || d.train->channels() == 3, "train: colorization needs colour photos; '", c.data,
           "' has ", d.train->channels(), "-channel images");
  if (c.task != "supervised") return;
  PW_CHECK(d.train_labels.defined() && !d.classes.empty(), "train: supervised training needs labeled data; '", c.data,
           "' (", d.kind, ") has no labels (folder:DIR has one sub-folder per class)");
  const Shape s = d.train->image_shape();
  PW_CHECK(c.crop_padding < std::min(s[1], s[2]), "train: --crop-padding ", c.crop_padding,
           " must be below the image size ", s[1], "x", s[2]);
}

std::string json_text(const io::Json& j) { return j.dump(io::JsonStyle::compact); }

// The facts of the data a checkpoint records beside the settings; a resumed run must find the same.
// data.image is the network's input (C, H, W): the data's images, or `input` when given (colorization
// reads L crops of the photos).
void add_data_record(std::map<std::string, std::string>& r, const TrainData& d, int64_t outputs, const Shape& input) {
  const Shape s = input.empty() ? d.train->image_shape() : input;
  r["data.kind"] = d.kind;
  r["data.classes"] = json_text(io::Json(d.classes));
  r["data.mean"] = json_text(io::Json(d.mean));
  r["data.std"] = json_text(io::Json(d.std));
  r["data.train_images"] = std::to_string(d.train->size());
  r["data.test_images"] = std::to_string(d.test_images.defined() ? d.test_images.size(0) : 0);
  r["data.image"] = std::to_string(s[0]) + "," + std::to_string(s[1]) + "," + std::to_string(s[2]);
  r["outputs"] = std::to_string(outputs);
}

models::ModelConfig model_config(const TrainConfig& c, int64_t in_channels, int64_t classes) {
  models::ModelConfig mc;
  mc.num_classes = classes;
  mc.in_channels = in_channels;
  mc.width = c.width;
  mc.dropout = c.dropout.value_or(-1);
  mc.fc6 = c.fc6.value_or(0);
  mc.batch_norm = c.batch_norm;
  return mc;
}

struct Built {
  std::shared_ptr<nn::Module> model;
  TrainingTask task;
  int64_t outputs = 0;
  std::vector<std::string> transfer;
  HammingStats permutation_stats;
  Shape input;                                     // the network's input when not the data's images
  std::shared_ptr<ColorizationEval> colorization;  // written by every evaluation of colorization
};

Built build_supervised(const TrainConfig& c, const TrainData& d) {
  Built b;
  b.outputs = (int64_t)d.classes.size();
  manual_seed(c.seed);
  b.model = models::create(c.model, model_config(c, d.train->channels(), b.outputs));
  if (!c.init_from.empty()) {
    // Loading the source builds a network too; the default generator (dropout) goes on as if it had not.
    const Generator kept = default_generator();
    ModelSource src;
    src.checkpoint = c.init_from;
    const LoadedModel from = load_model(src, d.train->channels());
    default_generator() = kept;
    b.transfer = models::transfer_features(*from.model, *b.model, c.transfer_layers.value_or(-1), c.freeze).lines;
  }
  b.model->to(c.device);
  SupervisedData sd{d.train, d.train_labels, d.test_images, d.test_labels, b.outputs};
  Augmentation aug;
  aug.crop_padding = c.crop_padding;
  aug.flip = c.flip.value();  // resolved
  for (size_t ch = 0; ch < d.mean.size(); ++ch) aug.black.push_back(-d.mean[ch] / d.std[ch]);
  b.task = supervised_task(b.model, sd, c.batch_size, c.seed, aug, c.label_smoothing.value());
  return b;
}

// Jigsaw's classes: a resumed run keeps the set its classifier was trained on.
std::vector<Permutation> permutation_set(const TrainConfig& c) {
  const std::string saved = c.out_dir.empty() ? "" : in_out(c, "permutations.txt");
  std::vector<Permutation> perms =
      c.resume && !saved.empty() && fs::exists(saved) ? load_permutations(saved)
      : !c.permutation_file.empty()
          ? load_permutations(c.permutation_file)
          : make_permutation_set(c.permutations, c.seed,
                                 c.permutation_criterion == "max-min" ? PermutationCriterion::max_min
                                                                      : PermutationCriterion::max_average);
  if (!saved.empty()) {
    fs::create_directories(c.out_dir);
    save_permutations(saved, perms);
  }
  return perms;
}

Built build_pretext(const TrainConfig& c, const TrainData& d) {
  PretextSampler s;
  s.task = c.task;
  const Shape shape = d.train->image_shape();
  const int64_t size = std::min(shape[1], shape[2]);
  s.context = context_config_for(size);  // the constants without a flag, scaled as the ones with
  s.context.patch = *c.patch;
  s.context.gap = *c.gap;
  s.context.jitter = *c.jitter;
  s.context.color = parse_color_defense(c.color_defense);
  s.context.pixelate = c.pixelate;
  s.jigsaw = jigsaw_config_for(size);
  s.jigsaw.grid = *c.grid;
  s.jigsaw.tile = *c.tile;
  s.jigsaw.grayscale = c.grayscale;
  Built b;
  if (c.task == "jigsaw") {
    s.permutations = permutation_set(c);
    b.permutation_stats = hamming_stats(s.permutations);
  }
  b.outputs = s.classes();
  {  // One sample of the first image: a sampler that does not fit the images fails here, clearly.
    Generator gen(c.seed, 0);
    Tensor x, y;
    make_pretext_batch(s, d.train->gather({0}), {0}, gen, x, y);
  }
  manual_seed(c.seed);
  b.model = models::create(c.model, model_config(c, d.train->channels(), c.task == "jigsaw" ? b.outputs : 0));
  b.model->to(c.device);
  b.task = pretext_task(b.model, s, {d.train, d.test_images}, c.batch_size, c.samples_per_epoch, c.seed, c.eval_images);
  return b;
}

// Colorization: the L channel of crops in, ab bins per cell out (tasks/colorization_task.h).
Built build_colorization(const TrainConfig& c, const TrainData& d) {
  PW_CHECK(c.model.rfind("colorization", 0) == 0, "train: the colorization task needs a colorization network ",
           "(colorization-small), not '", c.model, "'");
  const int64_t side = d.train->image_shape()[1];
  PW_CHECK(*c.crop <= side, "train: --crop ", *c.crop, " does not fit the ", side, "x", side,
           " photos (give --crop at most --image-size)");
  const ColorizationSplit split = colorization_split(*d.train, d.test_images);
  PW_CHECK(!split.train.empty(), "train: colorization: no photos left to train on in '", c.data, "'");
  ColorizationData data{d.train, split.train, d.mean, d.std, Tensor(), Tensor()};
  if (split.held_out.defined() && c.eval_images > 0)
    held_out_crops(split.held_out, d.mean, d.std, *c.crop, c.eval_images, c.seed, data.eval_x, data.eval_ab);
  const std::vector<double> weights = colorization_weights(*d.train, split.train, d.mean, d.std);
  Built b;
  b.outputs = ab_bins().size();
  b.input = {1, *c.crop, *c.crop};
  manual_seed(c.seed);
  b.model = models::create(c.model, model_config(c, 1, b.outputs));
  b.model->to(c.device);
  if (c.progress)
    std::fprintf(
        stderr,
        "train: colorization: %zu photos to train on, %lld held out (%lld evaluation crops), crops of %lld px\n",
        split.train.size(), (long long)(split.held_out.defined() ? split.held_out.size(0) : 0),
        (long long)(data.eval_x.defined() ? data.eval_x.size(0) : 0), (long long)*c.crop);
  b.colorization = std::make_shared<ColorizationEval>();
  b.task =
      colorization_task(b.model, data, weights, *c.crop, c.batch_size, c.samples_per_epoch, c.seed, b.colorization);
  return b;
}

LoopConfig loop_config(const TrainConfig& c, const io::Checkpoint* ck) {
  LoopConfig l;
  l.epochs = *c.epochs;
  l.optimizer = {c.optimizer, c.lr, c.momentum, c.weight_decay, c.schedule, c.clip_grad_norm};
  l.out_dir = c.out_dir;
  l.resume = ck;
  l.stop_after = c.stop_after;
  l.checkpoint_every = c.checkpoint_every;
  l.log_every = c.log_every;
  l.device = c.device;
  l.progress = c.progress;
  l.detect_anomaly = c.detect_anomaly;
  l.label = c.task + " " + c.model;
  l.notes = {{"device", c.device.str()},
             {"precision", precision_of(c.device)},
             {"threads", std::to_string(num_threads())},
             {"nesterov", c.optimizer == "sgd" && c.momentum > 0 ? "true" : "false"}};
  return l;
}

const char* status_of(StopReason s) {
  return s == StopReason::finished ? "finished" : s == StopReason::interrupted ? "interrupted" : "stopped";
}

void write_summary(const TrainResult& r, const TrainData& d) {
  const TrainConfig& c = r.config;
  if (c.out_dir.empty()) return;
  io::Json epochs = io::Json::array();
  for (const EpochRecord& e : r.loop.epochs) {
    io::Json row =
        io::Json::object({{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"train_accuracy", e.train_accuracy}});
    if (e.evaluated) row.set("test_loss", e.eval.loss).set("test_accuracy", e.eval.accuracy);
    epochs.push(row.set("seconds", e.seconds));
  }
  io::Json s = io::Json::object({{"task", c.task},
                                 {"model", c.model},
                                 {"data", c.data},
                                 {"data_kind", d.kind},
                                 {"classes", r.class_names},
                                 {"outputs", r.classes},
                                 {"status", status_of(r.loop.stop)},
                                 {"steps", r.loop.steps},
                                 {"total_steps", r.loop.total_steps},
                                 {"epochs", *c.epochs},
                                 {"batch_size", c.batch_size},
                                 {"optimizer", c.optimizer},
                                 {"lr", c.lr},
                                 {"schedule", c.schedule},
                                 {"seed", c.seed},
                                 {"device", c.device.str()},
                                 {"precision", precision_of(c.device)},
                                 {"threads", num_threads()},
                                 {"parameters", r.parameters},
                                 {"train_seconds", r.loop.train_seconds},
                                 {"samples_per_second", r.loop.samples_per_second},
                                 {"checkpoint", r.checkpoint}});
  if (r.evaluated) s.set("test_loss", r.last.loss).set("test_accuracy", r.last.accuracy);
  if (r.colorization)
    s.set("colorization", io::Json::object({{"held_out_crops", r.colorization->crops},
                                            {"bins", ab_bins().size()},
                                            {"temperature", kAnnealedMeanT},
                                            {"ab_error", r.colorization->ab_error},
                                            {"gray_ab_error", r.colorization->gray_ab_error}}));
  s.set("ranks", r.ranks);
  if (r.ranks > 1) {  // rank 0's view (tasks/data_parallel.h)
    const DataParallelTimes& t = r.data_parallel;
    const double n = (double)std::max<int64_t>(1, t.steps);
    s.set("data_parallel", io::Json::object({{"grad_bucket_mb", c.grad_bucket_mb},
                                             {"sync_batch_norm", c.sync_batch_norm},
                                             {"all_reduces_per_step", t.buckets},
                                             {"gradient_bytes_per_step", t.bytes_per_step},
                                             {"backward_seconds_per_step", t.backward_seconds / n},
                                             {"wait_seconds_per_step", t.wait_seconds / n},
                                             {"all_reduce_alone_seconds_per_step", t.all_reduce_alone_seconds},
                                             {"overlap", t.overlap()}}));
  }
  s.set("epochs_run", epochs);
  write_file_atomic(in_out(c, "summary.json"), s.dump(io::JsonStyle::indented) + "\n");
}

void print_header(const TrainConfig& c, const TrainData& d, const Built& b) {
  if (!c.progress) return;
  const Shape s = d.train->image_shape();
  std::fprintf(
      stderr,
      "train: %s %s on %s (%s: %lld training images %lldx%lldx%lld, %lld test, %lld outputs), %s, %d threads%s%s\n",
      c.task.c_str(), c.model.c_str(), c.data.c_str(), d.kind.c_str(), (long long)d.train->size(), (long long)s[0],
      (long long)s[1], (long long)s[2], (long long)(d.test_images.defined() ? d.test_images.size(0) : 0),
      (long long)b.outputs, c.device.str().c_str(), num_threads(), c.out_dir.empty() ? "" : ", output in ",
      c.out_dir.c_str());
  if (!d.skipped.empty())
    std::fprintf(stderr, "train: %zu images skipped (first: %s)\n", d.skipped.size(), d.skipped[0].c_str());
  for (const std::string& line : b.transfer) std::fprintf(stderr, "from %s: %s\n", c.init_from.c_str(), line.c_str());
}

// Under mpirun with several ranks: the data-parallel state, and rank 0 alone writes and prints.
std::unique_ptr<DataParallel> data_parallel_for(TrainConfig& c) {
  dist::Communicator& w = dist::world();
  if (w.size() == 1) return nullptr;
  PW_CHECK(c.batch_size % w.size() == 0, "train: --batch-size ", c.batch_size, " does not divide among ", w.size(),
           " ranks (the global batch is split evenly; give a multiple of ", w.size(), ")");
  if (w.rank() == 0 && c.progress)
    std::fprintf(stderr, "train: data-parallel over %d ranks (%s): global batch %lld, %lld per rank\n", w.size(),
                 w.backend().c_str(), (long long)c.batch_size, (long long)(c.batch_size / w.size()));
  // One process per GPU: --device cuda means this machine's rank's GPU (not run: no GPU here).
  if (c.device.type == DeviceType::cuda && c.device.index == 0) c.device.index = w.local_rank();
  // On GPUs the gradients go over NCCL where this build has it, device to device; otherwise
  // through host memory over MPI.
  std::unique_ptr<dist::Communicator> nccl;
  if (c.device.type == DeviceType::cuda && dist::built_with_nccl()) nccl = dist::make_nccl(w, c.device.index);
  if (w.rank() == 0 && c.progress)
    std::fprintf(stderr, "train: gradients summed over %s\n",
                 nccl                ? "NCCL on the GPUs"
                 : c.device.is_cpu() ? "MPI"
                                     : "MPI through host memory");
  if (w.rank() != 0) {
    c.out_dir.clear();
    c.progress = false;
  }
  const Device buckets = nccl ? c.device : Device::cpu();
  return std::make_unique<DataParallel>(w, c.grad_bucket_mb, c.sync_batch_norm, std::move(nccl), buckets);
}

TrainResult train_on(TrainConfig c, const TrainData& d, const io::Checkpoint* ck) {
  check_data(c, d);
  resolve_defaults(c, d);
  check_train_config(c);
  const std::unique_ptr<DataParallel> dp = data_parallel_for(c);
  Built b = c.task == "supervised"     ? build_supervised(c, d)
            : c.task == "colorization" ? build_colorization(c, d)
                                       : build_pretext(c, d);
  print_header(c, d, b);
  if (ck && c.progress)
    std::fprintf(stderr, "train: resuming the run in %s at step %lld\n", c.out_dir.c_str(), (long long)ck->step);
  LoopConfig lc = loop_config(c, ck);
  lc.data_parallel = dp.get();
  lc.record = settings_record(c);
  add_data_record(lc.record, d, b.outputs, b.input);
  TrainResult r;
  if (c.keep_initial)
    for (const auto& [name, p] : b.model->named_parameters()) r.initial[name] = p.detach().to(Device::cpu()).clone();
  r.loop = run_training_loop(lc, b.task);
  if (dp) r.ranks = dp->size(), r.data_parallel = dp->times();
  for (const EpochRecord& e : r.loop.epochs)
    if (e.evaluated) r.evaluated = true, r.last = e.eval;
  if (b.colorization && r.evaluated) r.colorization = *b.colorization;
  r.classes = b.outputs;
  r.class_names = d.classes;
  r.parameters = b.model->num_parameters();
  r.transfer = b.transfer;
  r.permutation_stats = b.permutation_stats;
  r.checkpoint = c.out_dir.empty() ? "" : in_out(c, "checkpoint.safetensors");
  r.model = b.model;
  r.config = c;
  if (r.loop.steps > r.loop.first_step || !ck) write_summary(r, d);  // a resume with nothing to do keeps the run's
  return r;
}

TrainResult train(const TrainConfig& asked, const TrainData* data) {
  // A resumed run's task and settings come from its checkpoint: checked once they are known.
  if (!asked.resume) check_train_config(asked);
  // Under mpirun only rank 0 prepares the folder (the others would race with its first files).
  const bool follower = dist::world().rank() != 0;
  const std::optional<io::Checkpoint> ck =
      follower && !asked.resume ? std::optional<io::Checkpoint>() : prepare_out_dir(asked);
  TrainConfig c = asked;
  if (ck) {
    apply_settings_record(c, ck->config, asked.out_dir);
    check_train_config(c);
  } else if (c.task == "colorization" && !c.given.count("data") && c.data == TrainConfig().data) {
    c.data = kColorizationPhotos;  // Fashion-MNIST has no colour
  }
  if (data) return train_on(c, *data, ck ? &*ck : nullptr);
  const TrainData loaded =
      ck ? load_train_data(c, floats_of(*ck, "data.mean"), floats_of(*ck, "data.std")) : load_train_data(c);
  return train_on(c, loaded, ck ? &*ck : nullptr);
}

}  // namespace

TrainResult run_train(const TrainConfig& config) { return train(config, nullptr); }

TrainResult run_train(const TrainConfig& config, const TrainData& data) { return train(config, &data); }

}  // namespace pw::tasks
