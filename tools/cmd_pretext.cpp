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
