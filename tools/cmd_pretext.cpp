// `patchwork probe` (linear probes on frozen layers), and the flags every command that reads a
// trained model shares (--checkpoint, --model, --width, --random).
#include <cstdio>
#include <filesystem>

#include "engine/device/device.h"
#include "engine/io/json.h"
#include "engine/util/files.h"
#include "engine/util/threads.h"
#include "tasks/datasets.h"
#include "tasks/load_model.h"
#include "tasks/probe.h"
#include "tools/commands.h"

namespace pw::cli {

void add_data_flags(Args& args) {
  args.flag("data", "",
            "fashion-mnist, mnist:DIR, cifar10:DIR, cifar100:DIR, folder:DIR (a sub-folder per class),\n"
            "images:DIR (unlabeled photos), or a DIR whose kind is guessed (absent: the data the\n"
            "checkpoint was trained on, normalized as it was; fashion-mnist without a checkpoint)")
      .flag("image-size", "", "images are resized to this square size first (absent: the checkpoint's input size)")
      .flag("limit-train", "", "use only the first N training images (absent: all)")
      .flag("limit-test", "", "use only the first N test images (absent: all)")
      .boolean("skip-bad", "skip (and count) images that do not decode instead of stopping");
}

tasks::DataRequest data_request(const Args& args, bool other_data) {
  tasks::DataRequest q;
  if (!args.str("data").empty()) q.data = args.str("data");
  q.image_size = args.maybe_i64("image-size");
  q.limit_train = args.maybe_i64("limit-train");
  q.limit_test = args.maybe_i64("limit-test");
  q.skip_bad = args.on("skip-bad");
  q.other_data = other_data;
  return q;
}

void add_load_model_flags(Args& args) {
  args.flag("checkpoint", "",
            "a checkpoint written by `patchwork train` (its model, width, data and\n"
            "normalization are read from it)")
      .flag("model", "", "the network, for --random or a plain weight file given as --checkpoint")
      .flag("width", "", "small networks: width, for --random or a plain weight file (absent: 1)")
      .boolean("random", "a randomly initialized network (the baseline) instead of a checkpoint");
}

tasks::ModelSource model_source(const Args& args) {
  tasks::ModelSource src;
  if (!args.on("random")) {
    PW_CHECK(!args.str("checkpoint").empty(), "give --checkpoint (or --random with --model)");
    src.checkpoint = args.str("checkpoint");
  }
  src.model = args.str("model");
  src.width = args.maybe_f64("width");
  src.seed = (uint64_t)args.i64("seed");
  return src;
}

std::shared_ptr<nn::Module> load_model(const Args& args, int64_t in_channels, std::string* name) {
  tasks::LoadedModel m = tasks::load_model(model_source(args), in_channels, args.command());
  if (name) *name = m.name;
  return m.model;
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
  add_data_flags(args);
  if (!args.parse(argc, argv, 2)) return 0;
  set_num_threads((int)args.i64("threads"));
  tasks::ProbeRunConfig c;
  c.source = model_source(args);
  c.data = data_request(args, true);
  c.layer = args.str("layer");
  c.probe.max_dims = args.i64("max-dims");
  c.probe.classifier = args.str("classifier");
  c.probe.epochs = args.i64("epochs");
  c.probe.lr = args.f64("lr");
  c.probe.seed = (uint64_t)args.i64("seed");
  c.probe.device = parse_device(args.str("device"));
  c.probe.progress = true;
  c.out = args.str("out");
  const tasks::ProbeRunResult r = tasks::run_probe(c);
  std::fprintf(stderr, "data: %s\n", r.data_summary.c_str());
  std::printf("%-22s %8s %10s %10s\n", "layer", "dims", "train acc", "test acc");
  for (const auto& row : r.rows)
    std::printf("%-22s %8lld %10.4f %10.4f\n", row.layer.c_str(), (long long)row.dims, row.train_accuracy,
                row.test_accuracy);
  return 0;
}

}  // namespace pw::cli
