// `patchwork eval` (top-1 / top-5 accuracy and a confusion-matrix picture of a classifier),
// `patchwork classify` (image files through a classifier: its top classes) and
// `patchwork neighbors` (cosine nearest neighbours of images or patches in a layer's feature
// space, as a picture grid with the similarities in a JSON sidecar).
#include <cstdio>

#include "engine/device/device.h"
#include "engine/util/threads.h"
#include "tasks/classify.h"
#include "tasks/datasets.h"
#include "tasks/evaluate.h"
#include "tasks/neighbors.h"
#include "tools/commands.h"

namespace pw::cli {

int cmd_eval(int argc, char** argv) {
  Args args("eval",
            "Evaluate a trained classifier on the test split: top-1 and top-5 accuracy, and the\n"
            "confusion matrix as a picture (confusion.png: rows = true class, counts in the cells) with\n"
            "confusion.json.");
  add_load_model_flags(args);
  add_data_flags(args);
  args.flag("out", "runs/eval", "output directory")
      .flag("seed", "0", "seed")
      .flag("device", "auto", "device")
      .flag("threads", "0", "CPU threads (0: all)");
  if (!args.parse(argc, argv, 2)) return 0;
  set_num_threads((int)args.i64("threads"));
  tasks::EvalConfig c;
  c.source = model_source(args);
  c.data = data_request(args, false);
  c.out_dir = args.str("out");
  c.device = parse_device(args.str("device"));
  const tasks::EvalResult r = tasks::run_eval(c);
  std::printf("%s on %lld test images of %s: top-1 %.4f, top-5 %.4f; confusion matrix in %s\n", r.model.c_str(),
              (long long)r.evaluation.images, r.data.c_str(), r.evaluation.accuracy, r.evaluation.top5,
              r.picture.c_str());
  return 0;
}

int cmd_classify(int argc, char** argv) {
  Args args("classify",
            "Classify image files with a network trained by `patchwork train` (supervised): each file is\n"
            "decoded, converted to the network's channels, shrunk and centre-cropped to its input size and\n"
            "normalized as its training data was (all read from the checkpoint); prints the --top classes\n"
            "and their probabilities per file, or JSON with --json.");
  args.positional("IMAGE", "image files (JPEG, PNG, BMP, GIF, TGA, PSD, HDR, PIC, PNM)")
      .flag("checkpoint", "", "a checkpoint written by a supervised `patchwork train` run")
      .flag("top", "5", "classes shown per image")
      .boolean("json", "print the results as JSON")
      .flag("device", "auto", "auto, cpu, simt or cuda")
      .flag("threads", "0", "CPU threads (0: all)");
  if (!args.parse(argc, argv, 2)) return 0;
  set_num_threads((int)args.i64("threads"));
  PW_CHECK(!args.str("checkpoint").empty(), "classify: give --checkpoint");
  tasks::ClassifyConfig c;
  c.source.checkpoint = args.str("checkpoint");
  c.images = args.positionals();
  c.top = args.i64("top");
  c.device = parse_device(args.str("device"));
  const tasks::ClassifyResult r = tasks::run_classify(c);
  if (args.on("json")) {
    std::printf("%s\n", tasks::classify_json(c, r).dump(io::JsonStyle::indented).c_str());
    return 0;
  }
  for (size_t i = 0; i < r.predictions.size(); ++i) {
    std::printf("%s:", c.images[i].c_str());
    for (const tasks::ClassScore& s : r.predictions[i]) std::printf("  %s %.3f", s.name.c_str(), s.probability);
    std::printf("\n");
  }
  return 0;
}

int cmd_neighbors(int argc, char** argv) {
  Args args("neighbors",
            "Nearest neighbours by cosine similarity in a layer's feature space. Each row of the picture is a\n"
            "query (blue frame) and its --k nearest training images, framed green when their label matches\n"
            "the query's and red when not (no frame for unlabeled data). With --patches P, random P x P\n"
            "patches of the training images are used instead of whole images (queries and base alike).\n"
            "Writes neighbors.png and neighbors.json (indices, similarities, every parameter and the seed).");
  add_load_model_flags(args);
  add_data_flags(args);
  args.flag("layer", "conv5", "the layer (conv3, features.conv3, fc6, ...)")
      .flag("queries", "8", "number of queries (the first test images, or random patches)")
      .flag("k", "8", "neighbours per query")
      .flag("patches", "0", "patch size; 0: whole images")
      .flag("patches-per-image", "64", "with --patches: random patches drawn from each training image")
      .flag("max-dims", "9216", "features are pooled to at most this many values")
      .flag("scale", "0", "picture magnification (0: automatic)")
      .flag("out", "runs/neighbors", "output directory")
      .flag("seed", "0", "seed of the patch positions")
      .flag("device", "auto", "device")
      .flag("threads", "0", "CPU threads (0: all)");
  if (!args.parse(argc, argv, 2)) return 0;
  set_num_threads((int)args.i64("threads"));
  tasks::NeighborsConfig c;
  c.source = model_source(args);
  c.data = data_request(args, true);
  c.layer = args.str("layer");
  c.queries = args.i64("queries");
  c.k = args.i64("k");
  c.patch = args.i64("patches");
  c.patches_per_image = args.i64("patches-per-image");
  c.max_dims = args.i64("max-dims");
  c.scale = args.i64("scale");
  c.seed = (uint64_t)args.i64("seed");
  c.out_dir = args.str("out");
  c.device = parse_device(args.str("device"));
  const tasks::NeighborsResult r = tasks::run_neighbors(c);
  std::printf("%s, layer %s: %zu queries x %lld neighbours", r.model.c_str(), r.layer.c_str(), r.neighbors.index.size(),
              (long long)c.k);
  if (r.label_agreement >= 0) std::printf(", %.1f%% share the query's label", 100.0 * r.label_agreement);
  std::printf("; picture in %s\n", r.picture.c_str());
  return 0;
}

}  // namespace pw::cli
