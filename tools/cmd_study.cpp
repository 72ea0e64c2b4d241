// `patchwork study`: the seed papers' experiments at small scale in one run, ending in a report.
#include <cstdio>

#include "engine/device/device.h"
#include "engine/util/threads.h"
#include "tasks/report.h"
#include "tasks/study.h"
#include "tools/commands.h"

namespace pw::cli {

int cmd_study(int argc, char** argv) {
  Args a("study",
         "Reproduce the seed papers' study at small scale, in one run: a small AlexNet-style network trained\n"
         "supervised (the upper bound), by rotation, jigsaw and context prediction on Fashion-MNIST and by\n"
         "colorization of the nature photos (reading their lightness), and a randomly initialized copy,\n"
         "compared on Fashion-MNIST by linear probes at every layer, nearest neighbours, conv1\n"
         "filters (and how far each moved from its initialization) and t-SNE maps of conv5; class models,\n"
         "saliency, Grad-CAM and unit visualizations; jigsaw and context on the nature photos of\n"
         "mate-backgrounds with a patch-retrieval grid and a deep dream. Writes report.html (with its PNGs),\n"
         "summary.json and every checkpoint to --out, and a summary to the terminal.\n\n"
         "Budgets: --quick about 1 minute on a 2-core CPU, the default about 12, --full sized for a GPU.");
  a.boolean("quick", "the small budget (about a minute; used by the tests)")
      .boolean("full", "the large budget (full training set, width 1, many epochs: meant for a GPU)")
      .flag("out", "runs/study", "output directory")
      .flag("photos", "/usr/share/backgrounds/mate/nature", "folder of photos for the photo experiments")
      .flag("dream-photo", "LadyBird.jpg", "the photo (in --photos) of the deep dream; the first photo if missing")
      .flag("device", "auto", "auto (the best present), cpu, simt or cuda")
      .flag("seed", "0", "seed of everything")
      .flag("threads", "0", "CPU threads (0: all)")
      .boolean("quiet", "no progress output");
  if (!a.parse(argc, argv, 2)) return 0;
  PW_CHECK(!(a.on("quick") && a.on("full")), "study: choose one of --quick and --full");
  set_num_threads((int)a.i64("threads"));
  tasks::StudyConfig c = tasks::study_config(a.on("quick") ? "quick" : a.on("full") ? "full" : "default");
  c.out_dir = a.str("out");
  c.photos_dir = a.str("photos");
  c.dream_photo = a.str("dream-photo");
  c.device = parse_device(a.str("device"));
  c.seed = (uint64_t)a.i64("seed");
  c.progress = !a.on("quiet");
  std::string command = "patchwork study";
  for (int i = 2; i < argc; ++i) command += std::string(" ") + argv[i];
  std::fprintf(stderr, "study (%s budget) on %s with %d CPU threads, output in %s\n", c.budget.c_str(),
               c.device.str().c_str(), num_threads(), c.out_dir.c_str());
  tasks::StudyResult r = tasks::run_study(c);
  std::printf("%s", tasks::write_report(r, command).c_str());
  return 0;
}

}  // namespace pw::cli
