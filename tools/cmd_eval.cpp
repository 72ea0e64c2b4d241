// `patchwork eval` (top-1 / top-5 accuracy and a confusion-matrix picture of a classifier) and
// `patchwork neighbors` (cosine nearest neighbours of images or patches in a layer's feature
// space, as a picture grid with the similarities in a JSON sidecar).
#include <cstdio>
#include <filesystem>

#include "engine/device/device.h"
#include "engine/io/json.h"
#include "engine/ops.h"
#include "engine/util/files.h"
#include "engine/util/threads.h"
#include "tasks/datasets.h"
#include "tasks/features.h"
#include "tasks/neighbors.h"
#include "tasks/pictures.h"
#include "tasks/probe.h"
#include "tools/commands.h"

namespace pw::cli {

namespace fs = std::filesystem;

namespace {
tasks::DataOptions options(const Args& a) {
  tasks::DataOptions o;
  o.image_size = a.i64("image-size");
  o.limit_train = a.i64("limit-train");
  o.limit_test = a.i64("limit-test");
  o.skip_bad = a.on("skip-bad");
  return o;
}
void data_flags(Args& a) {
  a.flag("data", "fashion-mnist", "fashion-mnist, mnist:DIR, cifar10:DIR, cifar100:DIR, folder:DIR, images:DIR")
      .flag("image-size", "0", "images are resized to this square size first (0: as they are)")
      .flag("limit-train", "-1", "use only the first N training images (-1: all)")
      .flag("limit-test", "-1", "use only the first N test images (-1: all)")
      .boolean("skip-bad", "skip (and count) images that do not decode");
}
}  // namespace

int cmd_eval(int argc, char** argv) {
  Args args("eval", "Evaluate a trained classifier on the test split: top-1 and top-5 accuracy, and the\n"
                    "confusion matrix as a picture (confusion.png: rows = true class, counts in the cells) with\n"
                    "confusion.json.");
  add_load_model_flags(args);
  data_flags(args);
  args.flag("out", "runs/eval", "output directory").flag("seed", "0", "seed").flag("device", "auto", "device")
      .flag("threads", "0", "CPU threads (0: all)");
  if (!args.parse(argc, argv, 2)) return 0;
  set_num_threads((int)args.i64("threads"));
  tasks::Dataset data = tasks::load_dataset(args.str("data"), options(args));
  PW_CHECK(data.test_labels.defined(), "eval: --data must have labels and a test split");
  std::string name;
  auto model = load_model(args, data.test_images.size(1), &name);
  const Device device = parse_device(args.str("device"));
  model->to(device);
  model->eval();
  NoGradGuard ng;
  const int64_t n = data.test_images.size(0);
  int64_t classes = 0, top1 = 0, top5 = 0;
  std::vector<double> confusion;
  const int32_t* lab = data.test_labels.data<int32_t>();
  for (int64_t b = 0; b < n; b += 256) {
    const int64_t e = std::min(n, b + 256);
    Tensor logits = (*model)(data.test_images.slice(0, b, e).contiguous().to(device)).to(Device::cpu()).contiguous();
    if (!classes) {
      classes = logits.size(1);
      confusion.assign(classes * classes, 0);
    }
    const float* p = logits.data<float>();
    for (int64_t i = 0; i < e - b; ++i) {
      const int32_t y = lab[b + i];
      PW_CHECK(y >= 0 && y < classes, "eval: label ", y, " of test image ", b + i, " is outside the model's ", classes,
               " classes");
      int64_t rank = 0, best = 0;
      for (int64_t c = 0; c < classes; ++c) {
        rank += p[i * classes + c] > p[i * classes + y];
        if (p[i * classes + c] > p[i * classes + best]) best = c;
      }
      top1 += rank == 0;
      top5 += rank < 5;
      confusion[y * classes + best] += 1;
    }
  }
  fs::create_directories(args.str("out"));
  // Class names where the dataset has one per output (Fashion-MNIST, CIFAR, folders), else numbers.
  const std::vector<std::string> names = (int64_t)data.classes.size() == classes ? data.classes : std::vector<std::string>{};
  io::write_png((fs::path(args.str("out")) / "confusion.png").string(),
                tasks::labeled_heatmap(confusion, classes, classes, names, names, "true", "predicted"));
  io::Json rows = io::Json::array();
  for (int64_t r = 0; r < classes; ++r) {
    io::Json row = io::Json::array();
    for (int64_t c = 0; c < classes; ++c) row.push((int64_t)confusion[r * classes + c]);
    rows.push(row);
  }
  const io::Json js = io::Json::object({{"model", name}, {"checkpoint", args.str("checkpoint")},
                                        {"data", args.str("data")}, {"images", n}, {"top1", (double)top1 / n},
                                        {"top5", (double)top5 / n}, {"classes", data.classes}, {"confusion", rows}});
  write_file_atomic((fs::path(args.str("out")) / "confusion.json").string(), js.dump(io::JsonStyle::indented) + "\n");
  std::printf("%s on %lld test images: top-1 %.4f, top-5 %.4f; confusion matrix in %s/confusion.png\n", name.c_str(),
              (long long)n, (double)top1 / n, (double)top5 / n, args.str("out").c_str());
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
  data_flags(args);
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
  tasks::Dataset data = tasks::load_dataset(args.str("data"), options(args));
  std::string name;
  auto model = load_model(args, data.train_images.size(1), &name);
  model->to(parse_device(args.str("device")));
  const tasks::ProbePoint point = tasks::find_probe_point(*model, args.str("layer"));
  const int64_t nq = args.i64("queries"), k = args.i64("k"), patch = args.i64("patches");
  PW_CHECK(nq >= 1 && k >= 1, "neighbors: --queries and --k must be positive");
  Tensor base_images, query_images;
  std::vector<int32_t> base_labels, query_labels;
  std::vector<int64_t> exclude;
  if (patch > 0) {
    const int64_t per = args.i64("patches-per-image"), n = data.train_images.size(0), c = data.train_images.size(1);
    const int64_t h = data.train_images.size(2), w = data.train_images.size(3);
    PW_CHECK(patch <= h && patch <= w, "neighbors: --patches ", patch, " is larger than the ", h, "x", w, " images");
    Generator gen((uint64_t)args.i64("seed"), 0x9a7c);
    base_images = tasks::random_patches(data.train_images, per, patch, gen);
    std::vector<int64_t> pick = gen.permutation(n * per);
    pick.resize(std::min<int64_t>(nq, n * per));
    query_images = Tensor::empty({(int64_t)pick.size(), c, patch, patch});
    for (size_t q = 0; q < pick.size(); ++q) query_images.select(0, (int64_t)q).copy_(base_images.select(0, pick[q]));
    exclude = pick;
  } else {
    base_images = data.train_images;
    const bool own = !data.test_images.defined();
    const Tensor& from = own ? data.train_images : data.test_images;
    query_images = from.slice(0, 0, std::min(nq, from.size(0))).contiguous();
    if (data.labeled()) {
      base_labels = data.train_labels.to_vector_i32();
      query_labels = (own ? data.train_labels : data.test_labels).to_vector_i32();
    }
    if (own)
      for (int64_t q = 0; q < query_images.size(0); ++q) exclude.push_back(q);
  }
  const int64_t max_dims = args.i64("max-dims");
  Tensor fb = tasks::extract_features(*model, {point}, base_images, max_dims)[0];
  Tensor fq = tasks::extract_features(*model, {point}, query_images, max_dims)[0];
  tasks::Neighbors nb = tasks::nearest_neighbors(fq, fb, k, exclude);

  const int64_t side = base_images.size(2);
  const int64_t scale = args.i64("scale") > 0 ? args.i64("scale") : std::max<int64_t>(1, 64 / side);
  fs::create_directories(args.str("out"));
  io::write_png((fs::path(args.str("out")) / "neighbors.png").string(),
                tasks::neighbor_grid(query_images, base_images, nb.index, data.mean, data.std, scale, query_labels,
                                     base_labels));
  io::Json js = io::Json::object({{"model", name}, {"checkpoint", args.str("checkpoint")},
                                  {"random", args.on("random")}, {"layer", point.name}, {"data", args.str("data")},
                                  {"patches", patch}, {"k", k}, {"seed", args.i64("seed")}});
  io::Json queries = io::Json::array();
  int64_t agree = 0, total = 0;
  for (size_t q = 0; q < nb.index.size(); ++q) {
    io::Json neighbors = io::Json::array();
    for (size_t j = 0; j < nb.index[q].size(); ++j) {
      neighbors.push(io::Json::array({nb.index[q][j], nb.similarity[q][j]}));
      if (!query_labels.empty()) agree += base_labels[nb.index[q][j]] == query_labels[q], ++total;
    }
    queries.push(io::Json::object({{"neighbors", neighbors}}));
  }
  js.set("queries", queries);
  if (total) js.set("label_agreement", (double)agree / total);
  write_file_atomic((fs::path(args.str("out")) / "neighbors.json").string(), js.dump(io::JsonStyle::indented) + "\n");
  std::printf("%s, layer %s: %zu queries x %lld neighbours", name.c_str(), point.name.c_str(), nb.index.size(), (long long)k);
  if (total) std::printf(", %.1f%% share the query's label", 100.0 * agree / total);
  std::printf("; picture in %s/neighbors.png\n", args.str("out").c_str());
  return 0;
}

}  // namespace pw::cli
