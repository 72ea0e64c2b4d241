// `patchwork train --task rotation|jigsaw|context` (self-supervised pretext training) and
// `patchwork probe` (linear probes on frozen layers).
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "engine/device/device.h"
#include "engine/io/checkpoint.h"
#include "engine/io/json.h"
#include "engine/io/safetensors.h"
#include "engine/util/files.h"
#include "engine/util/threads.h"
#include "engine/data/folder.h"
#include "tasks/datasets.h"
#include "tasks/image_source.h"
#include "tasks/load_model.h"
#include "tasks/pretext_train.h"
#include "tasks/probe.h"
#include "tools/commands.h"

namespace pw::cli {

namespace {

void add_data_flags(Args& args, const std::string& default_size) {
  args.flag("data", "fashion-mnist",
            "fashion-mnist, mnist:DIR, cifar10:DIR, cifar100:DIR, folder:DIR (a sub-folder per class),\n"
            "images:DIR (unlabeled photos), or a DIR whose kind is guessed")
      .flag("image-size", default_size, "images are resized to this square size first (0: as they are)")
      .flag("limit-train", "-1", "use only the first N training images (-1: all)")
      .flag("limit-test", "-1", "use only the first N test images (-1: all)")
      .boolean("skip-bad", "skip (and count) images that do not decode instead of stopping");
}

tasks::DataOptions data_options(const Args& args) {
  tasks::DataOptions o;
  o.image_size = args.i64("image-size");
  o.limit_train = args.i64("limit-train");
  o.limit_test = args.i64("limit-test");
  o.skip_bad = args.on("skip-bad");
  return o;
}

tasks::Dataset load(const Args& args) {
  tasks::Dataset d = tasks::load_dataset(args.str("data"), data_options(args));
  std::fprintf(stderr, "data: %s (%s), %lld training images %s", args.str("data").c_str(), d.kind.c_str(),
               (long long)d.train_images.size(0), shape_str(d.train_images.shape()).c_str());
  if (d.test_images.defined()) std::fprintf(stderr, ", %lld test images", (long long)d.test_images.size(0));
  if (!d.skipped.empty()) std::fprintf(stderr, ", %zu skipped (first: %s)", d.skipped.size(), d.skipped[0].c_str());
  std::fprintf(stderr, "\n");
  return d;
}

// --stream: the files of folder:DIR (every fifth image of each class held out, at most --limit-test
// of them decoded for the pretext accuracy) or images:DIR (no held-out set), decoded on demand.
std::unique_ptr<tasks::FileSource> open_stream(const Args& args, Tensor* held_out) {
  const std::string spec = args.str("data");
  const auto [kind, dir] = tasks::data_kind(spec);
  PW_CHECK(kind == "folder" || kind == "images", "train: --stream reads folder:DIR or images:DIR, not '", spec, "'");
  tasks::StreamOptions so;
  so.image_size = args.i64("image-size") > 0 ? args.i64("image-size") : 128;
  so.skip_bad = args.on("skip-bad");
  so.workers = (int)args.i64("workers");
  std::vector<std::string> train, test;
  if (kind == "images") {
    train = data::list_flat_folder(dir, true).paths;
  } else {
    data::ImageList list = data::list_image_folder(dir);
    std::map<int32_t, int64_t> seen;
    for (size_t i = 0; i < list.paths.size(); ++i) (++seen[list.labels[i]] % 5 == 0 ? test : train).push_back(list.paths[i]);
  }
  if (args.i64("limit-train") >= 0 && (int64_t)train.size() > args.i64("limit-train")) train.resize(args.i64("limit-train"));
  auto source = std::make_unique<tasks::FileSource>(train, so);
  const int64_t limit = args.i64("limit-test") >= 0 ? args.i64("limit-test") : 1000;
  if ((int64_t)test.size() > limit) test.resize(limit);
  if (!test.empty()) {
    tasks::FileSource t(test, so, source->mean(), source->std());
    std::vector<int64_t> all(test.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = (int64_t)i;
    *held_out = t.gather(all);
  }
  std::fprintf(stderr, "data: %s streamed, %zu training files decoded on demand at %lld px (%d workers), %zu held out\n",
               spec.c_str(), train.size(), (long long)so.image_size, so.workers, test.size());
  return source;
}

}  // namespace

void add_load_model_flags(Args& args) {
  args.flag("checkpoint", "", "a checkpoint written by `patchwork train` (its model and width are read from it)")
      .flag("model", "", "the network, for --random or a plain weight file given as --checkpoint")
      .flag("width", "1", "small networks: width (when not read from a checkpoint)")
      .boolean("random", "a randomly initialized network (the baseline) instead of a checkpoint");
}

tasks::ModelSource model_source(const Args& args) {
  tasks::ModelSource src;
  if (!args.on("random")) {
    PW_CHECK(!args.str("checkpoint").empty(), "give --checkpoint (or --random with --model)");
    src.checkpoint = args.str("checkpoint");
  }
  src.model = args.str("model");
  src.width = args.f64("width");
  src.seed = (uint64_t)args.i64("seed");
  return src;
}

std::shared_ptr<nn::Module> load_model(const Args& args, int64_t in_channels, std::string* name) {
  tasks::LoadedModel m = tasks::load_model(model_source(args), in_channels);
  if (name) *name = m.name;
  return m.model;
}

int cmd_train_pretext(int argc, char** argv) {
  tasks::PretextConfig d;
  Args args("train",
            "Train a network on a self-supervised pretext task, without labels:\n"
            "  rotation  predict which of 0/90/180/270 degrees an image was turned (Gidaris et al. 2018);\n"
            "            all four copies of each image in the same batch\n"
            "  jigsaw    predict which permutation shuffled a 3x3 grid of tiles (Noroozi and Favaro 2016)\n"
            "  context   predict where a patch sits relative to another, one of 8 neighbours (Doersch et al. 2015)\n"
            "Sampler constants default to the papers' values scaled to --image-size (the papers' own at\n"
            "full scale). Writes metrics.jsonl, checkpoint.safetensors (every --checkpoint-every steps and\n"
            "at the end) and, for jigsaw, permutations.txt to --out. Ctrl-C saves a checkpoint and exits;\n"
            "--resume continues exactly where a run stopped.");
  args.flag("task", "rotation", "rotation, jigsaw or context (supervised: see `patchwork train --help`)")
      .flag("model", "", "network (default: rotation-alexnet-small, jigsaw-small, context-small)")
      .flag("width", "1", "small networks: every channel and hidden width times this")
      .flag("epochs", "1", "passes over the images")
      .flag("samples-per-epoch", "0", "samples per epoch (0: one per image; more for a few large photos)")
      .flag("batch-size", "64", "images per step (rotation: x4 inputs)")
      .flag("optimizer", "sgd", "sgd, adam or adamw")
      .flag("lr", "0.05", "peak learning rate")
      .flag("momentum", "0.9", "SGD momentum (Nesterov)")
      .flag("weight-decay", "5e-4", "weight decay")
      .flag("schedule", "cosine", "learning-rate schedule (see `patchwork train --help`)")
      .flag("seed", "0", "seed of initialization, sampling and dropout")
      .flag("device", "auto", "auto, cpu, simt or cuda")
      .flag("threads", "0", "CPU threads (0: all)")
      .flag("out", "runs/pretext", "output directory")
      .flag("checkpoint-every", "0", "steps between checkpoints (0: only at the end)")
      .boolean("resume", "continue from --out/checkpoint.safetensors")
      .flag("stop-after", "-1", "stop after this many steps in total, with a checkpoint (-1: run to the end)")
      .flag("patch", "0", "context: patch size (0: scaled from 96)")
      .flag("gap", "-1", "context: gap between patches (-1: scaled from 48)")
      .flag("jitter", "-1", "context: jitter of the neighbour per axis (-1: scaled from 7)")
      .flag("color-defense", "auto", "context: none, project (green-magenta projection) or drop (auto: project for colour)")
      .flag("pixelate", "0", "context: probability of pixelating a patch (paper 0.33)")
      .flag("grid", "0", "jigsaw: side of the 3x3 grid (0: scaled from 255)")
      .flag("tile", "0", "jigsaw: side of a tile (0: scaled from 64)")
      .flag("grayscale", "0.3", "jigsaw: fraction of colour images made gray")
      .flag("permutations", "100", "jigsaw: size of the permutation set")
      .flag("permutation-criterion", "max-average", "jigsaw: max-average or max-min Hamming distance")
      .flag("permutation-file", "", "jigsaw: load the permutation set from this file instead")
      .boolean("stream", "folder:DIR and images:DIR: decode the files as batches need them instead of loading\n"
                         "them all first (fixed memory, whatever the size of the collection; slower). --image-size 0\n"
                         "means 128, at most --limit-test (default 1000) held-out images are decoded, mean and std\n"
                         "come from 256 files spread over the list, and --skip-bad replaces a bad file by the next")
      .flag("workers", "2", "with --stream: decoding threads")
      .boolean("no-batch-norm", "context nets and jigsaw-small: no batch norm (the CFN paper's jigsaw network has none)")
      .boolean("quiet", "no progress output");
  add_data_flags(args, "0");
  if (!args.parse(argc, argv, 2)) return 0;
  set_num_threads((int)args.i64("threads"));
  tasks::default_pretext_model(args.str("task"));  // an unknown task fails before any loading
  // The training images: all decoded into memory, or (--stream) decoded batch by batch.
  tasks::Dataset data;
  std::unique_ptr<tasks::FileSource> stream;
  Tensor held_out;
  int64_t size = 0, channels = 0;
  if (args.on("stream")) {
    stream = open_stream(args, &held_out);
    size = args.i64("image-size") > 0 ? args.i64("image-size") : 128;
    channels = stream->channels();
  } else {
    data = load(args);
    size = std::min(data.train_images.size(2), data.train_images.size(3));
    channels = data.train_images.size(1);
    held_out = data.test_images;
  }
  tasks::PretextConfig c;
  c.task = args.str("task");
  c.model = args.str("model");
  c.width = args.f64("width");
  c.batch_norm = !args.on("no-batch-norm");
  c.epochs = args.i64("epochs");
  c.samples_per_epoch = args.i64("samples-per-epoch");
  c.batch_size = args.i64("batch-size");
  c.optimizer = args.str("optimizer");
  c.lr = args.f64("lr");
  c.momentum = args.f64("momentum");
  c.weight_decay = args.f64("weight-decay");
  c.schedule = args.str("schedule");
  c.seed = (uint64_t)args.i64("seed");
  c.device = parse_device(args.str("device"));
  c.out_dir = args.str("out");
  c.checkpoint_every = args.i64("checkpoint-every");
  c.resume = args.on("resume");
  c.stop_after = args.i64("stop-after");
  c.progress = !args.on("quiet");
  c.context = tasks::context_config_for(size);
  if (args.i64("patch") > 0) c.context.patch = args.i64("patch");
  if (args.i64("gap") >= 0) c.context.gap = args.i64("gap");
  if (args.i64("jitter") >= 0) c.context.jitter = args.i64("jitter");
  const std::string defense = args.str("color-defense");
  c.context.color = defense == "auto" ? (channels == 3 ? tasks::ColorDefense::project : tasks::ColorDefense::none)
                                      : tasks::parse_color_defense(defense);
  c.context.pixelate = args.f64("pixelate");
  c.jigsaw = tasks::jigsaw_config_for(size);
  if (args.i64("grid") > 0) c.jigsaw.grid = args.i64("grid");
  if (args.i64("tile") > 0) c.jigsaw.tile = args.i64("tile");
  c.jigsaw.grayscale = args.f64("grayscale");
  c.permutations = args.i64("permutations");
  const std::string crit = args.str("permutation-criterion");
  PW_CHECK(crit == "max-average" || crit == "max-min", "train: --permutation-criterion must be max-average or max-min, got '",
           crit, "'");
  c.criterion = crit == "max-min" ? tasks::PermutationCriterion::max_min : tasks::PermutationCriterion::max_average;
  c.permutation_file = args.str("permutation-file");
  if (c.task == "context")
    std::fprintf(stderr, "context: patch %lld, gap %lld, jitter %lld\n", (long long)c.context.patch,
                 (long long)c.context.gap, (long long)c.context.jitter);
  if (c.task == "jigsaw")
    std::fprintf(stderr, "jigsaw: grid %lld, tile %lld, %lld permutations\n", (long long)c.jigsaw.grid,
                 (long long)c.jigsaw.tile, (long long)c.permutations);
  tasks::PretextResult r = stream ? tasks::train_pretext(c, *stream, held_out)
                                  : tasks::train_pretext(c, data.train_images, held_out);
  if (stream && stream->skipped() > 0)
    std::fprintf(stderr, "%lld decodes failed and were replaced by the next file (--skip-bad)\n",
                 (long long)stream->skipped());
  if (c.task == "jigsaw")
    std::printf("permutations: mean Hamming distance %.3f, minimum %d\n", r.permutation_stats.mean,
                r.permutation_stats.minimum);
  char eval_text[96] = "no held-out images";
  if (r.evaluated) std::snprintf(eval_text, sizeof eval_text, "held-out pretext accuracy %.4f", r.eval_accuracy);
  std::printf("%s: %lld steps, last loss %.4f, %s (chance %.4f), %.1fs, %.0f samples/s%s\n", c.task.c_str(),
              (long long)r.steps, r.losses.empty() ? 0.0 : r.losses.back(), eval_text, 1.0 / r.classes, r.seconds,
              r.samples_per_second, r.interrupted ? " (stopped early)" : "");
  return 0;
}

int cmd_probe(int argc, char** argv) {
  Args args("probe",
            "Linear probes: train a linear classifier on the frozen features of a layer of a trained network\n"
            "(or of a randomly initialized one, --random) and report train and test accuracy. Features are\n"
            "average-pooled to at most --max-dims values and standardized (batch norm without affine),\n"
            "as in the standard protocol. --layer all gives one row per convolution and linear layer.");
  add_load_model_flags(args);
  args.flag("layer", "all", "a layer (conv3, features.conv3, fc6, ...) or all")
      .flag("max-dims", "9216", "features are pooled to at most this many values")
      .flag("classifier", "softmax", "softmax (regression) or svm (one-vs-rest, squared hinge)")
      .flag("epochs", "10", "epochs of the linear classifier")
      .flag("lr", "0.001", "its learning rate (Adam, cosine)")
      .flag("seed", "0", "seed")
      .flag("device", "auto", "auto, cpu, simt or cuda")
      .flag("threads", "0", "CPU threads (0: all)")
      .flag("out", "", "write the results as JSON lines to this file too");
  add_data_flags(args, "0");
  if (!args.parse(argc, argv, 2)) return 0;
  set_num_threads((int)args.i64("threads"));
  tasks::Dataset data = load(args);
  PW_CHECK(data.labeled() && data.test_images.defined(), "probe: --data must have labels and a test split");
  std::string model_name;
  auto model = load_model(args, data.train_images.size(1), &model_name);
  Device device = parse_device(args.str("device"));
  model->to(device);
  std::vector<tasks::ProbePoint> points = args.str("layer") == "all"
                                              ? tasks::probe_points(*model)
                                              : std::vector<tasks::ProbePoint>{tasks::find_probe_point(*model, args.str("layer"))};
  tasks::ProbeConfig pc;
  pc.max_dims = args.i64("max-dims");
  pc.classifier = args.str("classifier");
  pc.epochs = args.i64("epochs");
  pc.lr = args.f64("lr");
  pc.seed = (uint64_t)args.i64("seed");
  pc.device = device;
  pc.progress = true;
  const int64_t classes = (int64_t)std::max<size_t>(data.classes.size(), 2);
  std::vector<tasks::ProbeResult> rows = tasks::linear_probe(*model, points, data.train_images, data.train_labels,
                                                             data.test_images, data.test_labels, classes, pc);
  std::printf("%-22s %8s %10s %10s\n", "layer", "dims", "train acc", "test acc");
  std::string lines;  // JSON lines, one per layer
  for (const auto& r : rows) {
    std::printf("%-22s %8lld %10.4f %10.4f\n", r.layer.c_str(), (long long)r.dims, r.train_accuracy, r.test_accuracy);
    lines += io::Json::object({{"model", model_name}, {"random", args.on("random")}, {"layer", r.layer},
                               {"dims", r.dims}, {"train_accuracy", r.train_accuracy},
                               {"test_accuracy", r.test_accuracy}}).dump() + "\n";
  }
  if (!args.str("out").empty()) write_file_atomic(args.str("out"), lines);
  return 0;
}

}  // namespace pw::cli
