// `patchwork time`: per-layer forward and backward time of a network against the machine's
// measured limits (tasks/timing.h).
#include <cstdio>

#include "engine/device/device.h"
#include "engine/ops/conv.h"
#include "engine/util/threads.h"
#include "tasks/timing.h"
#include "tools/commands.h"

namespace pw::cli {

int cmd_time(int argc, char** argv) {
  Args args("time",
            "Where a network's time goes, as Caffe's `caffe time`: every layer timed on its own, forward and\n"
            "(--mode train) backward, with GFLOP/s against the machine's FMA peak, bytes moved against its\n"
            "memory bandwidth (both measured once at start, or given) and its share of the sum over layers;\n"
            "then the whole step (forward with the loss, backward, an SGD step) and images/s. Medians of\n"
            "--iterations runs after one warm-up. FLOPs: 2 x multiply-adds of convolutions and linear layers\n"
            "(as `patchwork summary`), twice that backward; bytes: the minimum a layer must read and write.");
  args.flag("model", "alexnet", "network from the registry (see `patchwork models`)")
      .flag("width", "1", "small networks: width")
      .flag("batch", "16", "images per step")
      .flag("input", "", "one sample as C,H,W (T,C,H,W for tiled networks); absent: the network's native size")
      .flag("mode", "train", "train (forward and backward) or eval (forward only, no graph)")
      .flag("device", "cpu", "cpu, simt or cuda")
      .flag("iterations", "5", "timed runs per measurement (the median is shown)")
      .flag("threads", "", "CPU threads (absent: all)")
      .flag("conv", "automatic",
            "CPU convolution: automatic, im2col, winograd, implicit or direct (engine/ops/conv.h; im2col,\n"
            "winograd and implicit force one algorithm where it applies, for comparisons)")
      .flag("peak-gflops", "", "the machine's FMA peak in GFLOP/s (absent: measured)")
      .flag("bandwidth", "", "its memory bandwidth in GB/s (absent: measured)")
      .flag("seed", "0", "seed of the weights and input")
      .boolean("step-only", "time only the whole step, not every layer (faster; bench/compare_torch.py)")
      .boolean("no-fusion",
               "eval: run every layer of the step on its own, without fusing a Conv2d with the BatchNorm2d\n"
               "and/or ReLU after it (engine/nn/fusion.h), for comparisons");
  if (!args.parse(argc, argv, 2)) return 0;
  const std::optional<int64_t> threads = args.maybe_i64("threads");
  PW_CHECK(!threads || *threads > 0, "time: --threads must be positive, got ", *threads);
  set_num_threads(threads ? (int)*threads : 0);
  set_conv_algorithm(parse_conv_algorithm(args.str("conv")));
  const std::string mode = args.str("mode");
  PW_CHECK(mode == "train" || mode == "eval", "time: --mode must be train or eval, got '", mode, "'");
  tasks::TimeConfig c;
  c.model = args.str("model");
  c.width = args.f64("width");
  c.batch = args.i64("batch");
  if (!args.str("input").empty()) c.input = parse_shape(args.str("input"), "input");
  c.train = mode == "train";
  c.device = parse_device(args.str("device"));
  c.iterations = args.i64("iterations");
  c.peaks.gflops = args.maybe_f64("peak-gflops").value_or(0);
  c.peaks.bandwidth_gbs = args.maybe_f64("bandwidth").value_or(0);
  c.seed = (uint64_t)args.i64("seed");
  c.per_layer = !args.on("step-only");
  c.fusion = !args.on("no-fusion");
  std::printf("%s", tasks::format_time_table(tasks::run_time(c)).c_str());
  return 0;
}

}  // namespace pw::cli
