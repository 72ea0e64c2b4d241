// The study's maps and movement measures (study_stages.h): how far each trunk's conv1 moved from
// its initialization, t-SNE maps of each trunk's conv5 (as DeCAF's figure), and Grad-CAM of the
// supervised network. Each is a library call the command line uses too (tsne, grad_cam).
#include <algorithm>
#include <cmath>

#include "engine/ops.h"
#include "engine/util/error.h"
#include "tasks/features.h"
#include "tasks/pictures.h"
#include "tasks/study_stages.h"
#include "tasks/tsne.h"
#include "tasks/tsne_map.h"
#include "tasks/tsne_pictures.h"
#include "tasks/viz/attribution.h"
#include "tasks/viz/filters.h"
#include "tasks/viz/saliency.h"

namespace pw::tasks::study {

namespace {

// Mean over rows of the cosine between row o of a and row o of b (weights [O, ...], same shape).
double mean_row_cosine(const Tensor& a, const Tensor& b) {
  PW_CHECK(a.shape() == b.shape(), "conv1 movement: shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()));
  const std::vector<float> va = a.to(Device::cpu()).to_vector_f32(), vb = b.to(Device::cpu()).to_vector_f32();
  const int64_t rows = a.size(0), d = a.numel() / rows;
  double total = 0;
  for (int64_t o = 0; o < rows; ++o) {
    double ab = 0, aa = 0, bb = 0;
    for (int64_t i = o * d; i < (o + 1) * d; ++i)
      ab += (double)va[i] * vb[i], aa += (double)va[i] * va[i], bb += (double)vb[i] * vb[i];
    total += aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 1.0;
  }
  return total / (double)rows;
}

}  // namespace

void first_of_each_class(const FashionSplits& f, std::vector<int64_t>& pick, std::vector<int64_t>& cls) {
  const std::vector<int32_t> ty = f.test_y.to_vector_i32();
  for (int32_t k = 0; k < 10; ++k)
    for (size_t i = 0; i < ty.size(); ++i)
      if (ty[i] == k) {
        pick.push_back((int64_t)i), cls.push_back(k);
        break;
      }
}

double conv1_init_cosine(const nn::Module& model, const std::map<std::string, Tensor>& initial) {
  if (initial.empty()) return -1;
  const Tensor& w = viz::find_conv(model, "conv1").weight;
  for (const auto& [name, p] : model.named_parameters())
    if (p.impl_ptr() == w.impl_ptr()) {
      const auto it = initial.find(name);
      PW_CHECK(it != initial.end(), "conv1 movement: no initial value of '", name, "'");
      return mean_row_cosine(w, it->second);
    }
  PW_FAIL("conv1 movement: conv1's weight is not a parameter of the model");
}

int64_t tsne_maps(const StudyConfig& c, const FashionSplits& f, std::vector<TrunkResult>& trunks,
                  const Models& models) {
  const int64_t n = std::min<int64_t>(c.tsne_points, f.test_x.size(0));
  const Tensor images = f.test_x.slice(0, 0, n).contiguous();
  const std::vector<int32_t> all = f.test_y.to_vector_i32(), labels(all.begin(), all.begin() + n);
  TsneOptions o;
  o.seed = c.seed;
  o.kl_every = 0;
  o.method = "barnes-hut";  // 3x faster than exact at 1000 points (5.6 s against 17.7 s, measured)
  for (size_t i = 0; i < trunks.size(); ++i) {
    const ProbePoint point = find_probe_point(*models[i], "conv5");
    const Tensor x = normalize_features(extract_features(*models[i], {point}, images, 1024)[0], "l2");
    const TsneResult map = tsne(x, o);
    trunks[i].tsne_agreement = neighbor_agreement(map.y, labels, 10);
    trunks[i].tsne_png = save_picture(c, "tsne_" + trunks[i].name + ".png",
                                      tsne_scatter(map.y, labels, f.data.classes, trunks[i].name + " conv5", 420));
  }
  return n;
}

std::string gradcam_picture(const StudyConfig& c, const FashionSplits& f, nn::Module& supervised) {
  std::vector<int64_t> pick, cls;
  first_of_each_class(f, pick, cls);
  std::vector<Tensor> rows;
  for (int64_t i : pick) rows.push_back(f.test_x.select(0, i));
  viz::GradCamOptions go;
  go.guided = false;
  const viz::GradCamResult cam = viz::grad_cam(supervised, stack(rows, 0), cls, go);
  std::vector<io::Image> cells;
  for (size_t i = 0; i < pick.size(); ++i) {
    const io::Image img = to_image(f.test_x.select(0, pick[i]), f.data.mean, f.data.std);
    cells.push_back(upscale(img, 3));
    cells.push_back(upscale(viz::overlay(img, cam.maps[i]), 3));
  }
  return save_picture(c, "gradcam.png", grid(cells, 4, 3));
}

}  // namespace pw::tasks::study
