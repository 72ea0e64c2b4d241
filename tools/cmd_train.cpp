// `patchwork train`: flags -> tasks::TrainConfig -> tasks::run_train -> one line of results.
// Every task (supervised, rotation, jigsaw, context, colorization) is one set of flags; the library checks
// them, and decides everything else.
#include <algorithm>
#include <cstdio>
#include <string>

#include "engine/device/device.h"
#include "engine/dist/comm.h"
#include "engine/util/error.h"
#include "engine/util/threads.h"
#include "tasks/train.h"
#include "tools/commands.h"

namespace pw::cli {

namespace {

constexpr const char* kSummary =
    "Train a network, supervised or on a self-supervised pretext task, through one training loop:\n"
    "  supervised  a classifier on the labels of --data (its classes, class names, mean and std)\n"
    "  rotation    predict which of 0/90/180/270 degrees an image was turned (Gidaris et al. 2018);\n"
    "              all four copies of each image in the same batch\n"
    "  jigsaw      predict which permutation shuffled a 3x3 grid of tiles (Noroozi and Favaro 2016)\n"
    "  context     predict where a patch sits relative to another, one of 8 neighbours (Doersch et al. 2015)\n"
    "  colorization  predict the colours (262 in-gamut ab bins per cell) of a photo crop from its lightness\n"
    "              (Zhang et al. 2016); photos from --data (absent: images:/usr/share/backgrounds/mate/nature);\n"
    "              ends with the held-out crops' ab error against predicting gray\n"
    "Writes to --out: checkpoint.safetensors (after every epoch, every --checkpoint-every steps, at\n"
    "--stop-after, on Ctrl-C and at the end), metrics.jsonl, summary.json and, for jigsaw, permutations.txt.\n"
    "The checkpoint records the whole run (every setting below, the data's classes and normalization):\n"
    "`patchwork train --resume --out DIR` continues it exactly, with no other flag needed; a flag that\n"
    "contradicts the checkpoint is an error. A new run refuses an --out that is not empty unless --force.\n"
    "Ctrl-C saves a checkpoint and exits with status 130. A step whose loss or gradient is not finite stops the\n"
    "run with an error naming the step, the loss and the parameter, before the update and without a checkpoint\n"
    "(the last good one stays). Flags shown without a default are absent\n"
    "unless given; sizes and limits must be positive.";

void declare_samplers(Args& a) {
  a.section("pretext samplers (absent: the papers' values scaled to the image size)")
      .flag("patch", "", "context: patch size (scaled from 96)")
      .flag("gap", "", "context: gap between patches (scaled from 48)")
      .flag("jitter", "", "context: jitter of the neighbour per axis (scaled from 7)")
      .flag("color-defense", "auto",
            "context: none, project (green-magenta projection), drop, or auto (project for colour)")
      .flag("pixelate", "0", "context: probability of pixelating a patch (paper 0.33)")
      .flag("grid", "", "jigsaw: side of the 3x3 grid (scaled from 255)")
      .flag("tile", "", "jigsaw: side of a tile (scaled from 64)")
      .flag("grayscale", "0.3", "jigsaw: fraction of colour images made gray")
      .flag("permutations", "100", "jigsaw: size of the permutation set")
      .flag("permutation-criterion", "max-average", "jigsaw: max-average or max-min Hamming distance")
      .flag("permutation-file", "", "jigsaw: load the permutation set from this file instead")
      .flag("crop", "",
            "colorization: side of the crops cut from the photos (absent: 32, or the image size if smaller)");
}

void declare(Args& a) {
  a.flag("task", "supervised", "supervised, rotation, jigsaw, context or colorization")
      .flag("model", "",
            "network from the registry (`patchwork models`); absent: fmnist-cnn for supervised,\n"
            "rotation-alexnet-small, jigsaw-small, context-small or colorization-small for the pretext tasks")
      .flag("width", "1", "small networks: every channel and hidden width times this")
      .flag("dropout", "", "probability of every dropout layer (absent: the network's)")
      .flag("fc6", "", "jigsaw networks: per-tile fc6 width (absent: 1024 as released; the paper used 512)")
      .boolean("no-batch-norm",
               "context nets and jigsaw-small: no batch norm (the CFN paper's jigsaw network has none)")
      .boolean("sync-batch-norm",
               "mpirun -np N: batch norm with the statistics of the whole global batch (default:\n"
               "each rank's own rows, as PyTorch DDP; no effect in one process)");
  a.section("data")
      .flag("data", "fashion-mnist",
            "fashion-mnist, mnist:DIR, cifar10:DIR, cifar100:DIR, folder:DIR (a sub-folder per class),\n"
            "images:DIR (unlabeled photos; pretext tasks only), or a DIR whose kind is guessed")
      .flag("image-size", "", "resize the images to this square size first (absent: as they are; folders 128)")
      .flag("limit-train", "", "use only the first N training images (absent: all)")
      .flag("limit-test", "", "use only the first N test images (absent: all; --stream: 1000)")
      .boolean("skip-bad", "skip (and count) images that do not decode instead of stopping")
      .boolean("stream",
               "folder:DIR and images:DIR: decode the files as batches need them instead of loading\n"
               "them all first (fixed memory, whatever the size of the collection; slower); mean and\n"
               "std come from 256 files spread over the list")
      .flag("workers", "2", "with --stream: decoding threads");
  a.section("supervised")
      .flag("crop-padding", "0", "random crops: pad by P pixels (black), cut a window of the image's size (0: none)")
      .boolean("flip",
               "random horizontal flips (absent: on for fashion-mnist, CIFAR and folder:DIR, off for\n"
               "mnist:DIR and other IDX folders; refused on mnist:DIR: a mirrored digit is not the same digit)")
      .boolean("no-flip", "no flips, where --data would flip by default")
      .flag("label-smoothing", "",
            "supervised: train against (1 - E) one-hot + E / classes (absent: 0, plain cross-entropy;\n"
            "the test loss is always plain cross-entropy)")
      .flag("init-from", "",
            "fine-tune: copy the convolutions of this checkpoint's network (a pretext\n"
            "tower, say) into the model first (see --transfer-layers, --freeze)")
      .flag("transfer-layers", "", "with --init-from: how many convolutions to copy (absent: all that fit)")
      .boolean("freeze", "with --init-from: keep the copied layers fixed (otherwise all layers train)");
  a.section("optimization")
      .flag("epochs", "", "passes over the training set (absent: 30 supervised, 1 pretext)")
      .flag("samples-per-epoch", "", "pretext: samples per epoch (absent: one per image; more for a few large photos)")
      .flag("batch-size", "64", "images per step (rotation: x4 inputs)")
      .flag("optimizer", "sgd", "sgd (Nesterov momentum), adam or adamw")
      .flag("lr", "0.05", "peak learning rate")
      .flag("momentum", "0.9", "SGD momentum")
      .flag("weight-decay", "5e-4", "weight decay (decoupled for adamw)")
      .flag("schedule", "",
            "learning-rate schedule over the whole run: constant, cosine[:MIN], onecycle[:PCT],\n"
            "step:N:G, multistep:A,B:G, warmup:N[:F]:<spec> (absent: onecycle supervised, cosine pretext)")
      .flag("clip-grad-norm", "", "clip the total gradient norm to this before each step (absent: no clipping)")
      .flag("seed", "0", "seed of initialization, shuffling, sampling, augmentation and dropout")
      .flag("grad-bucket-mb", "4",
            "mpirun -np N: all-reduce gradients in buckets of this many MiB during backward\n"
            "(0: once after backward)");
  declare_samplers(a);
  a.section("this invocation")
      .flag("out", "runs/train", "output folder")
      .boolean("resume", "continue the run in --out exactly where it stopped (every setting from its checkpoint)")
      .boolean("force", "start a new run in an --out that is not empty (its run's files are removed first)")
      .flag("stop-after", "", "stop after this many steps in total, with a checkpoint (absent: run to the end)")
      .flag("checkpoint-every", "", "also checkpoint every N steps (absent: after each epoch and at the end)")
      .flag("log-every", "10", "metrics.jsonl: a step record every N steps (on a GPU: the loss read then)")
      .flag("device", "auto", "auto, cpu, simt (the CUDA kernels run on the CPU) or cuda")
      .flag("threads", "", "CPU threads (absent: all)")
      .boolean("detect-anomaly",
               "check every op's output and every gradient: the first NaN or inf is an error naming\n"
               "the op (forward or backward) and its shapes (slow; for finding where a run diverges)")
      .boolean("quiet", "no progress output");
}

tasks::TrainConfig config_of(const Args& a) {
  tasks::TrainConfig c;
  c.task = a.str("task");
  c.model = a.str("model");
  c.width = a.f64("width");
  c.dropout = a.maybe_f64("dropout");
  c.fc6 = a.maybe_i64("fc6");
  c.batch_norm = !a.on("no-batch-norm");
  c.sync_batch_norm = a.on("sync-batch-norm");
  c.data = a.str("data");
  c.image_size = a.maybe_i64("image-size");
  c.limit_train = a.maybe_i64("limit-train");
  c.limit_test = a.maybe_i64("limit-test");
  c.skip_bad = a.on("skip-bad");
  c.stream = a.on("stream");
  c.workers = (int)a.i64("workers");
  c.crop_padding = a.i64("crop-padding");
  c.label_smoothing = a.maybe_f64("label-smoothing");
  PW_CHECK(!(a.on("flip") && a.on("no-flip")), "train: --flip and --no-flip contradict each other; give one");
  if (a.on("flip") || a.on("no-flip")) c.flip = a.on("flip");
  c.init_from = a.str("init-from");
  c.transfer_layers = a.maybe_i64("transfer-layers");
  c.freeze = a.on("freeze");
  c.epochs = a.maybe_i64("epochs");
  c.samples_per_epoch = a.maybe_i64("samples-per-epoch");
  c.batch_size = a.i64("batch-size");
  c.optimizer = a.str("optimizer");
  c.lr = a.f64("lr");
  c.momentum = a.f64("momentum");
  c.weight_decay = a.f64("weight-decay");
  c.schedule = a.str("schedule");
  c.clip_grad_norm = a.maybe_f64("clip-grad-norm");
  c.seed = (uint64_t)a.i64("seed");
  c.patch = a.maybe_i64("patch");
  c.gap = a.maybe_i64("gap");
  c.jitter = a.maybe_i64("jitter");
  c.color_defense = a.str("color-defense");
  c.pixelate = a.f64("pixelate");
  c.grid = a.maybe_i64("grid");
  c.tile = a.maybe_i64("tile");
  c.grayscale = a.f64("grayscale");
  c.permutations = a.i64("permutations");
  c.permutation_criterion = a.str("permutation-criterion");
  c.permutation_file = a.str("permutation-file");
  c.crop = a.maybe_i64("crop");
  c.out_dir = a.str("out");
  c.resume = a.on("resume");
  c.force = a.on("force");
  c.stop_after = a.maybe_i64("stop-after");
  c.checkpoint_every = a.maybe_i64("checkpoint-every");
  c.log_every = a.i64("log-every");
  c.device = parse_device(a.str("device"));
  c.progress = !a.on("quiet");
  c.grad_bucket_mb = a.f64("grad-bucket-mb");
  c.detect_anomaly = a.on("detect-anomaly");
  for (const tasks::TrainSetting& s : tasks::train_settings())
    if (*s.flag && a.given(s.flag)) c.given.insert(s.key);
  if (a.given("no-flip")) c.given.insert("flip");
  return c;
}

void print_result(const tasks::TrainResult& r) {
  const tasks::TrainConfig& c = r.config;
  const tasks::LoopResult& l = r.loop;
  if (c.task == "supervised") {  // the dataset's own classes, which the network's outputs are
    std::string names;
    for (size_t k = 0; k < r.class_names.size() && k < 20; ++k) names += (k ? ", " : "") + r.class_names[k];
    std::printf("classes (%zu): %s%s\n", r.class_names.size(), names.c_str(), r.class_names.size() > 20 ? ", ..." : "");
  }
  if (c.task == "jigsaw")
    std::printf("permutations: mean Hamming distance %.3f, minimum %d\n", r.permutation_stats.mean,
                r.permutation_stats.minimum);
  if (l.first_step == l.steps) {
    std::printf("%s %s: nothing to train: the run in %s is at step %lld of %lld\n", c.task.c_str(), c.model.c_str(),
                c.out_dir.c_str(), (long long)l.steps, (long long)l.total_steps);
    return;
  }
  std::string eval = "no held-out images";
  char text[200];
  if (r.evaluated) {
    std::snprintf(text, sizeof text, "%s %.4f (loss %.4f, chance %.4f)",
                  c.task == "supervised" ? "test accuracy" : "held-out pretext accuracy", r.last.accuracy, r.last.loss,
                  1.0 / (double)r.classes);
    eval = text;
  }
  std::printf("%s %s: %lld of %lld steps, last loss %.4f, %s, %.1fs training, %.0f samples/s, %lld parameters\n",
              c.task.c_str(), c.model.c_str(), (long long)l.steps, (long long)l.total_steps,
              l.losses.empty() ? 0.0 : l.losses.back(), eval.c_str(), l.train_seconds, l.samples_per_second,
              (long long)r.parameters);
  if (r.colorization)
    std::printf(
        "held-out colorization: mean ab error %.3f of the annealed mean (T = %.2f) against %.3f for gray "
        "(a = b = 0), on %lld crops\n",
        r.colorization->ab_error, tasks::kAnnealedMeanT, r.colorization->gray_ab_error,
        (long long)r.colorization->crops);
  if (r.ranks > 1) {
    const tasks::DataParallelTimes& t = r.data_parallel;
    const double n = (double)std::max<int64_t>(1, t.steps);
    char mode[96] = "once after backward";
    if (c.grad_bucket_mb > 0)
      std::snprintf(mode, sizeof mode, "in buckets of %g MiB started during backward", c.grad_bucket_mb);
    std::printf(
        "data-parallel over %d ranks: parameters and buffers identical on every rank (checked at the end); "
        "gradients all-reduced %s (%lld all-reduces, %lld bytes per step); rank 0 per step: backward %.4f s "
        "(with bucket starts), waiting for all-reduce after it %.4f s, buffer broadcast %.4f s; the all-reduces "
        "alone %.4f s, so %.0f%% of them overlapped backward\n",
        r.ranks, mode, (long long)t.buckets, (long long)t.bytes_per_step, t.backward_seconds / n, t.wait_seconds / n,
        t.broadcast_seconds / n, t.all_reduce_alone_seconds, 100 * t.overlap());
  }
  if (l.stopped())
    std::printf("%s at step %lld; checkpoint in %s (continue with: patchwork train --resume --out %s)\n",
                l.stop == tasks::StopReason::interrupted ? "interrupted" : "stopped", (long long)l.steps,
                r.checkpoint.c_str(), c.out_dir.c_str());
}

}  // namespace

int cmd_train(int argc, char** argv) {
  Args args("train", kSummary);
  declare(args);
  if (!args.parse(argc, argv, 2)) return 0;
  const std::optional<int64_t> threads = args.maybe_i64("threads");
  PW_CHECK(!threads || *threads > 0, "train: --threads must be positive, got ", threads.value_or(0),
           " (leave it out to use every core)");
  set_num_threads(threads ? (int)*threads : 0);
  tasks::TrainResult r;
  try {
    r = tasks::run_train(config_of(args));
  } catch (const std::exception& e) {  // pw::Error, and std::bad_alloc or a file system error too
    // Under mpirun a failing rank ends the job, so that no other rank waits in a collective.
    dist::Communicator* w = dist::started_world();
    if (!w || w->size() == 1) throw;
    std::fprintf(stderr, "error: rank %d of %d: %s; stopping every rank\n", w->rank(), w->size(), e.what());
    std::fflush(stderr);
    w->abort(1);
  }
  const dist::Communicator* w = dist::started_world();
  if (!w || w->rank() == 0) print_result(r);
  return r.loop.stop == tasks::StopReason::interrupted ? 130 : 0;
}

}  // namespace pw::cli
