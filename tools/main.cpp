// The `patchwork` command line: one program, one subcommand per job. Errors become one line
// on stderr and a non-zero exit.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>
#include <thread>

#include "engine/device/allocator.h"
#include "engine/device/device.h"
#include "engine/device/gpu.h"
#include "engine/util/error.h"
#include "engine/util/threads.h"
#include "models/registry.h"
#include "models/summary.h"
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
    "  train      train a classifier (--task supervised) or a pretext task (rotation, jigsaw, context, colorization)\n"
    "  probe      linear probes on the frozen layers of a trained (or random) network\n"
    "  eval       top-1 / top-5 accuracy and a confusion-matrix picture of a trained classifier\n"
    "  classify   the top classes of image files under a trained classifier\n"
    "  neighbors  nearest neighbours of images or patches in a layer's feature space, as a picture\n"
    "  tsne       a t-SNE map of a layer's features, by class and with the images at their points\n"
    "  viz        pictures of what a network learned: filters, class models, saliency, guided backprop,\n"
    "             unit maximization, deep dream (`patchwork viz --help`)\n"
    "  models     list the networks in the registry\n"
    "  summary    each layer of a network: output shape, parameters, multiply-adds\n"
    "  time       per-layer forward and backward time against the machine's measured peak\n"
    "  profile    run a command on simt with every CUDA kernel profiled (sectors, bank conflicts,\n"
    "             estimated H100/H200 time per launch and source line)\n"
    "  forward    logits, loss and gradients of a network on given weights and input (safetensors)\n"
    "  devices    list the compute devices present\n"
    "  version    print the version\n"
    "\n"
    "Run `patchwork <command> --help` for the options of a command.\n"
    "\n"
    "Any command run with --device simt also takes --simt-check LIST (memcheck, racecheck, initcheck,\n"
    "synccheck, comma-separated, or all): its CUDA kernels then run checked (kernels/simt/README.md),\n"
    "by the program patchwork-profile beside this one.\n"
    "\n"
    "Any command also takes --precision fp32|tf32|bf16: the precision of the matrix products on the\n"
    "GPU devices (cuda, simt: linear layers, matmul, the convolutions' gradients; the implicit-GEMM\n"
    "convolution forward stays FP32), as PyTorch's float32_matmul_precision. fp32, the default as in\n"
    "PyTorch, runs the FP32 SGEMMs; tf32 and bf16 run the tensor-core GEMMs with the inputs rounded\n"
    "to that format and FP32 accumulation (weights, activations and gradients stay FP32 in memory).\n"
    "The cpu computes in fp32 whatever it says. The same as PW_PRECISION=...\n";

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
    std::printf("%-7s %-10s %s\n", d.device.str().c_str(), d.available ? "available" : "absent", what.c_str());
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
      .flag("input", "",
            "one sample as C,H,W, or T,C,H,W for the tiled pretext networks\n"
            "(default: the network's native size, see `patchwork models`)");
  pw::cli::add_model_flags(args);
  if (!args.parse(argc, argv, 2)) return 0;
  std::string model = args.str("model");
  pw::Shape chw =
      args.str("input").empty() ? pw::models::info(model).input : pw::cli::parse_shape(args.str("input"), "input");
  auto m = pw::models::create(model, pw::cli::model_config(args, chw.size() >= 3 ? chw[chw.size() - 3] : 3));
  std::printf("%s", pw::models::format_summary(pw::models::summarize(*m, chw)).c_str());
  return 0;
}

// --simt-check LIST anywhere on a command line (not in the checked program itself, which runs
// the command with PW_SIMT_CHECK set instead).
// --precision P (or --precision=P) anywhere on a command line: checked, set as PW_PRECISION (which
// the GPU GEMMs read at their first use, and a child process inherits) and taken out of argv.
void take_precision_flag(int& argc, char** argv) {
  int out = 0;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    const bool joined = a.rfind("--precision=", 0) == 0;
    if (i < 2 || (a != "--precision" && !joined)) {
      argv[out++] = argv[i];
      continue;
    }
    PW_CHECK(joined || i + 1 < argc, "--precision needs a value: fp32, tf32 or bf16");
    const std::string v = joined ? a.substr(12) : argv[++i];
    pw::kernels::parse_matmul_precision(v);  // throws naming a bad value
    ::setenv("PW_PRECISION", v.c_str(), 1);
  }
  argc = out;
  argv[argc] = nullptr;
}

bool wants_simt_check(int argc, char** argv) {
  for (int i = 2; i < argc; ++i)
    if (std::string(argv[i]) == "--simt-check" || std::string(argv[i]).rfind("--simt-check=", 0) == 0) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  pw::choose_wait_policy(argv);  // OpenMP threads wait passively unless OMP_WAIT_POLICY is set
  // Past a file-size limit (ulimit -f) a write then fails with EFBIG, which the writer reports
  // naming the file (keeping the previous one), instead of SIGXFSZ ending the process.
  std::signal(SIGXFSZ, SIG_IGN);
  try {
    std::string cmd = argc > 1 ? argv[1] : "--help";
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::printf("%s", kUsage);
      return 0;
    }
    if (cmd == "version" || cmd == "--version") return cmd_version();
    take_precision_flag(argc, argv);
    if (wants_simt_check(argc, argv)) return pw::cli::run_simt_checked(argc, argv);
    if (cmd == "devices") return cmd_devices(argc, argv);
    if (cmd == "models") return cmd_models(argc, argv);
    if (cmd == "train") return pw::cli::cmd_train(argc, argv);
    if (cmd == "summary") return cmd_summary(argc, argv);
    if (cmd == "forward") return pw::cli::cmd_forward(argc, argv);
    if (cmd == "probe") return pw::cli::cmd_probe(argc, argv);
    if (cmd == "eval") return pw::cli::cmd_eval(argc, argv);
    if (cmd == "classify") return pw::cli::cmd_classify(argc, argv);
    if (cmd == "neighbors") return pw::cli::cmd_neighbors(argc, argv);
    if (cmd == "tsne") return pw::cli::cmd_tsne(argc, argv);
    if (cmd == "viz") return pw::cli::cmd_viz(argc, argv);
    if (cmd == "study") return pw::cli::cmd_study(argc, argv);
    if (cmd == "time") return pw::cli::cmd_time(argc, argv);
    if (cmd == "profile") return pw::cli::cmd_profile(argc, argv);
    std::fprintf(stderr, "patchwork: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
    return 2;
  } catch (const std::bad_alloc&) {  // memory outside tensors (tensors say so as pw::Error)
    std::fprintf(stderr, "patchwork: error: out of memory: an allocation failed (std::bad_alloc); %s\n",
                 pw::memory_in_use_text().c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "patchwork: error: %s\n", e.what());
    return 1;
  }
}
