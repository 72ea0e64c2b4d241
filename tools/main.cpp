// The `patchwork` command line: one program, one subcommand per job. Errors become one line
// on stderr and a non-zero exit.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "engine/device/device.h"
#include "engine/io/json.h"
#include "engine/util/error.h"
#include "engine/util/files.h"
#include "engine/util/threads.h"
#include "models/registry.h"
#include "models/summary.h"
#include "engine/data/mnist.h"
#include "tasks/supervised.h"
#include "tools/args.h"
#include "tools/commands.h"

namespace {

const char* kUsage =
    "usage: patchwork <command> [options]\n"
    "\n"
    "patchwork: a from-scratch deep learning engine (tensors, autograd, layers, hand-written kernels).\n"
    "\n"
    "commands:\n"
    "  study      the seed papers' experiments at small scale, ending in an HTML report\n"
    "  train      train a classifier (--task supervised) or a pretext task (rotation, jigsaw, context)\n"
    "  probe      linear probes on the frozen layers of a trained (or random) network\n"
    "  eval       top-1 / top-5 accuracy and a confusion-matrix picture of a trained classifier\n"
    "  neighbors  nearest neighbours of images or patches in a layer's feature space, as a picture\n"
    "  viz        pictures of what a network learned: filters, class models, saliency, guided backprop,\n"
    "             unit maximization, deep dream (`patchwork viz --help`)\n"
    "  models     list the networks in the registry\n"
    "  summary    each layer of a network: output shape, parameters, multiply-adds\n"
    "  forward    logits, loss and gradients of a network on given weights and input (safetensors)\n"
    "  devices    list the compute devices present\n"
    "  version    print the version\n"
    "\n"
    "Run `patchwork <command> --help` for the options of a command.\n";

int cmd_version() {
  std::printf("patchwork %s\n", PW_VERSION);
  return 0;
}

int cmd_devices(int argc, char** argv) {
  pw::cli::Args args("devices", "List the compute devices this build can use.");
  if (!args.parse(argc, argv, 2)) return 0;
  for (const pw::DeviceInfo& d : pw::list_devices()) {
    std::string what = d.description;
    if (d.device.is_cpu())
      what += ", " + std::to_string(std::thread::hardware_concurrency()) + " hardware threads, " +
              std::to_string(pw::num_threads()) + " used";
    std::printf("%-7s %-10s %s\n", d.device.str().c_str(), d.available ? "available" : "absent",
                what.c_str());
  }
  return 0;
}

int cmd_models(int argc, char** argv) {
  pw::cli::Args args("models", "List the networks in the registry.");
  if (!args.parse(argc, argv, 2)) return 0;
  for (const auto& m : pw::models::list())
    std::printf("%-18s %-14s %s\n", m.name.c_str(), pw::shape_str(m.input).c_str(), m.description.c_str());
  std::printf("%-18s %-14s %s\n", "rotation-<model>", "", "any single-image model above with a 4-way rotation head");
  return 0;
}

int cmd_summary(int argc, char** argv) {
  pw::cli::Args args("summary",
                     "Print each layer of a network: output shape (batch 1), parameters and\n"
                     "multiply-adds (what papers call FLOPs), with totals.");
  args.flag("model", "alexnet", "network from the registry (see `patchwork models`)")
      .flag("input", "", "one sample as C,H,W, or T,C,H,W for the tiled pretext networks\n"
                         "(default: the network's native size, see `patchwork models`)");
  pw::cli::add_model_flags(args);
  if (!args.parse(argc, argv, 2)) return 0;
  std::string model = args.str("model");
  pw::Shape chw = args.str("input").empty() ? pw::models::info(model).input : pw::cli::parse_shape(args.str("input"), "input");
  auto m = pw::models::create(model, pw::cli::model_config(args, chw.size() >= 3 ? chw[chw.size() - 3] : 3));
  std::printf("%s", pw::models::format_summary(pw::models::summarize(*m, chw)).c_str());
  return 0;
}

int cmd_train(int argc, char** argv) {
  // --task other than supervised: the pretext-task trainer, with its own flags.
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    std::string task = a.rfind("--task=", 0) == 0 ? a.substr(7) : (a == "--task" && i + 1 < argc) ? argv[i + 1] : "";
    if (!task.empty() && task != "supervised") return pw::cli::cmd_train_pretext(argc, argv);
  }
  pw::tasks::SupervisedConfig d;
  pw::cli::Args args("train",
                     "Train a classifier on labeled 28x28 images (Fashion-MNIST from Debian's\n"
                     "dataset-fashion-mnist by default), evaluating on the test split after each epoch.\n"
                     "Writes metrics.jsonl, summary.json and checkpoint.safetensors (after every epoch, at\n"
                     "--stop-after and on Ctrl-C) to --out; --resume continues a stopped run exactly.");
  args.flag("data", pw::data::default_fashion_mnist_dir(), "MNIST-format folder (train-/t10k- idx files, .gz or plain)")
      .flag("task", "supervised", "supervised, or a pretext task: rotation, jigsaw, context\n"
                                  "(see `patchwork train --task rotation --help`)")
      .flag("model", d.model, "network from the registry (see `patchwork models`)")
      .flag("width", "1", "small networks (alexnet-small, vgg-small): channel multiplier")
      .flag("init-from", "", "fine-tune: copy the convolutions of this checkpoint's network (a pretext\n"
                             "tower, say) into the model first (see --transfer-layers, --freeze)")
      .flag("transfer-layers", "-1", "with --init-from: how many convolutions to copy (-1: all that fit)")
      .boolean("freeze", "with --init-from: keep the copied layers fixed (otherwise all layers train)")
      .flag("epochs", std::to_string(d.epochs), "passes over the training set")
      .flag("batch-size", std::to_string(d.batch_size), "images per step")
      .flag("optimizer", d.optimizer, "sgd, adam or adamw")
      .flag("lr", "0.05", "peak learning rate")
      .flag("momentum", "0.9", "SGD momentum (Nesterov)")
      .flag("weight-decay", "5e-4", "L2 weight decay (decoupled for adamw)")
      .flag("schedule", d.schedule,
            "learning-rate schedule: constant, cosine, onecycle, step:N:G, multistep:A,B:G, warmup:N:<spec>")
      .flag("seed", "0", "seed of initialization, shuffling and dropout")
      .flag("threads", "0", "CPU threads (0: all)")
      .flag("limit-train", "-1", "use only the first N training images (-1: all 60000)")
      .flag("limit-test", "-1", "use only the first N test images (-1: all 10000)")
      .flag("out", "runs/train", "output directory")
      .boolean("resume", "continue from --out/checkpoint.safetensors exactly where that run stopped")
      .flag("stop-after", "-1", "stop after this many steps in total, with a checkpoint (-1: run to the end)")
      .flag("device", "auto", "auto, cpu, simt (the CUDA kernels run on the CPU) or cuda")
      .boolean("quiet", "no progress output");
  if (!args.parse(argc, argv, 2)) return 0;
  pw::set_num_threads((int)args.i64("threads"));
  pw::tasks::SupervisedConfig c;
  c.data_dir = args.str("data");
  c.model = args.str("model");
  c.width = args.f64("width");
  c.init_from = args.str("init-from");
  c.transfer_layers = args.i64("transfer-layers");
  c.freeze = args.on("freeze");
  PW_CHECK(!c.init_from.empty() || (c.transfer_layers == -1 && !c.freeze),
           "train: --transfer-layers and --freeze need --init-from");
  c.epochs = args.i64("epochs");
  c.batch_size = args.i64("batch-size");
  c.optimizer = args.str("optimizer");
  c.lr = args.f64("lr");
  c.momentum = args.f64("momentum");
  c.weight_decay = args.f64("weight-decay");
  c.schedule = args.str("schedule");
  c.seed = (uint64_t)args.i64("seed");
  c.limit_train = args.i64("limit-train");
  c.limit_test = args.i64("limit-test");
  c.out_dir = args.str("out");
  c.resume = args.on("resume");
  c.stop_after = args.i64("stop-after");
  c.progress = !args.on("quiet");
  c.device = pw::parse_device(args.str("device"));
  std::fprintf(stderr, "training %s on %s, device %s, %d CPU threads, output in %s\n",
               c.model.c_str(), c.data_dir.c_str(), c.device.str().c_str(), pw::num_threads(),
               c.out_dir.c_str());
  pw::tasks::SupervisedResult r = pw::tasks::train_supervised(c);
  if (r.interrupted) {
    std::printf("stopped at step %lld; checkpoint in %s (continue with --resume)\n", (long long)r.steps,
                c.out_dir.c_str());
    return 0;
  }
  std::printf("test accuracy %.4f (loss %.4f) after %lld epochs, %lld steps, %.1fs training, %.0f images/s, %lld parameters\n",
              r.test_accuracy, r.test_loss, (long long)c.epochs, (long long)r.steps, r.train_seconds,
              r.images_per_second, (long long)r.parameters);
  const pw::io::Json summary = pw::io::Json::object(
      {{"model", c.model}, {"epochs", c.epochs}, {"batch_size", c.batch_size}, {"lr", c.lr}, {"seed", c.seed},
       {"threads", pw::num_threads()}, {"test_accuracy", r.test_accuracy}, {"test_loss", r.test_loss},
       {"train_seconds", r.train_seconds}, {"images_per_second", r.images_per_second},
       {"parameters", r.parameters}, {"device", c.device.str()}});
  pw::write_file_atomic((std::filesystem::path(c.out_dir) / "summary.json").string(),
                        summary.dump(pw::io::JsonStyle::indented) + "\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string cmd = argc > 1 ? argv[1] : "--help";
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::printf("%s", kUsage);
      return 0;
    }
    if (cmd == "version" || cmd == "--version") return cmd_version();
    if (cmd == "devices") return cmd_devices(argc, argv);
    if (cmd == "models") return cmd_models(argc, argv);
    if (cmd == "train") return cmd_train(argc, argv);
    if (cmd == "summary") return cmd_summary(argc, argv);
    if (cmd == "forward") return pw::cli::cmd_forward(argc, argv);
    if (cmd == "probe") return pw::cli::cmd_probe(argc, argv);
    if (cmd == "eval") return pw::cli::cmd_eval(argc, argv);
    if (cmd == "neighbors") return pw::cli::cmd_neighbors(argc, argv);
    if (cmd == "viz") return pw::cli::cmd_viz(argc, argv);
    if (cmd == "study") return pw::cli::cmd_study(argc, argv);
    std::fprintf(stderr, "patchwork: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "patchwork: error: %s\n", e.what());
    return 1;
  }
}
