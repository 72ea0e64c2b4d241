// `patchwork tsne`: a t-SNE map of a layer's features (tasks/tsne_map.h). Parses flags into a
// tasks::TsneMapConfig, runs it and prints the map's measures.
#include <cstdio>

#include "engine/device/device.h"
#include "engine/util/threads.h"
#include "tasks/tsne_map.h"
#include "tools/commands.h"

namespace pw::cli {

int cmd_tsne(int argc, char** argv) {
  Args a("tsne",
         "A t-SNE map (van der Maaten and Hinton 2008) of a layer's features, as DeCAF showed its layers, of the\n"
         "first --points test images (the training images of unlabeled data) of the checkpoint's data: exact up\n"
         "to --exact-up-to points, Barnes-Hut (van der Maaten 2014) above, with the settings of the reference\n"
         "implementation (perplexity 30, early exaggeration 12 for 250 iterations, momentum 0.5 then 0.8, gains).\n"
         "Features are average-pooled to at most --max-dims values, as the linear probes pool them. Writes\n"
         "tsne.png (points by class, with a legend), tsne-thumbnails.png (the images at their points) and\n"
         "tsne.json (settings, the KL divergence every 50 iterations, the trustworthiness of the map, the share\n"
         "of each point's --k nearest map neighbours of its class, the map itself).");
  add_load_model_flags(a);
  add_data_flags(a);
  a.flag("layer", "conv5", "the layer (conv3, fc6, ...: read after its ReLU)")
      .flag("points", "2000", "the first N images")
      .flag("max-dims", "1024", "features are average-pooled to at most this many values")
      .flag("normalize", "l2",
            "l2: each image's features divided by their norm (distances follow cosine\n"
            "similarity, as in `patchwork neighbors`); none: as they are")
      .flag("perplexity", "30", "perplexity of the input affinities")
      .flag("method", "auto", "exact, barnes-hut, or auto (exact up to --exact-up-to points)")
      .flag("exact-up-to", "1000", "auto: the largest map computed exactly")
      .flag("theta", "0.5", "Barnes-Hut: cells with half-width / distance below theta are taken whole")
      .flag("iterations", "1000", "gradient steps")
      .flag("learning-rate", "auto", "step size (auto: max(N / 12 / 4, 50))")
      .flag("k", "10", "neighbours of the trustworthiness and class agreement")
      .flag("thumbnails", "500", "images drawn on tsne-thumbnails.png (the first ones)")
      .flag("out", "runs/tsne", "output directory")
      .flag("seed", "0", "seed of the map's start (and of random weights)")
      .flag("device", "auto", "where the network runs: auto, cpu, simt or cuda (t-SNE runs on the CPU)")
      .flag("threads", "0", "CPU threads (0: all)");
  if (!a.parse(argc, argv, 2)) return 0;
  set_num_threads((int)a.i64("threads"));
  tasks::TsneMapConfig c;
  c.source = model_source(a);
  c.data = data_request(a, true);
  c.layer = a.str("layer");
  c.points = a.i64("points");
  c.max_dims = a.i64("max-dims");
  c.normalize = a.str("normalize");
  c.tsne.perplexity = a.f64("perplexity");
  c.tsne.method = a.str("method");
  c.tsne.exact_up_to = a.i64("exact-up-to");
  c.tsne.theta = a.f64("theta");
  c.tsne.iterations = a.i64("iterations");
  c.tsne.learning_rate = a.str("learning-rate") == "auto" ? 0 : a.f64("learning-rate");
  c.tsne.seed = (uint64_t)a.i64("seed");
  c.k = a.i64("k");
  c.thumbnails = a.i64("thumbnails");
  c.out_dir = a.str("out");
  c.device = parse_device(a.str("device"));
  const tasks::TsneMapResult r = tasks::run_tsne_map(c);
  std::printf("t-SNE of %s (%s): %lld points, %lld dims, %s, KL %.4f after %lld iterations (%.1f s)\n", r.layer.c_str(),
              r.model.c_str(), (long long)r.points, (long long)r.dims, r.map.exact ? "exact" : "Barnes-Hut", r.map.kl,
              (long long)c.tsne.iterations, r.seconds);
  std::printf("trustworthiness (k = %lld) %.4f", (long long)c.k, r.trustworthiness);
  if (r.agreement >= 0)
    std::printf(", %lld-NN class agreement %.4f (in the features themselves %.4f)", (long long)c.k, r.agreement,
                r.feature_agreement);
  std::printf("\nwrote %s, %s and %s\n", r.scatter.c_str(), r.thumbnails.c_str(), r.json.c_str());
  return 0;
}

}  // namespace pw::cli
