// The top patches of a layer's units over a data set: see top_patches.h.
#include "tasks/top_patches.h"

#include <algorithm>
#include <map>

#include "engine/autograd.h"
#include "engine/util/error.h"
#include "tasks/features.h"
#include "tasks/pictures.h"

namespace pw::tasks {

namespace {

// Puts every module's training flag back when the scope ends, also when an error leaves it.
bool better(const TopPatch& a, const TopPatch& b) {
  return a.activation != b.activation ? a.activation > b.activation : a.image < b.image;
}

}  // namespace

TopPatches top_patches(nn::Module& model, const std::string& layer, const std::vector<int64_t>& units,
                       const Tensor& images, int64_t k, int64_t batch_size) {
  PW_CHECK(k > 0, "top_patches: k must be positive, got ", k);
  PW_CHECK(batch_size > 0, "top_patches: batch size must be positive, got ", batch_size);
  PW_CHECK(!units.empty(), "top_patches: no units given");
  PW_CHECK(images.defined() && images.dim() == 4, "top_patches: images must be [N, C, H, W], got ",
           images.defined() ? shape_str(images.shape()) : std::string("an undefined tensor"));
  TopPatches tp;
  tp.layer = resolve_layer(model, layer);
  // Before running anything: a layer without a receptive field has no patches.
  tp.field = receptive_field(model, tp.layer);
  tp.units = units;
  tp.best.resize(units.size());
  const int64_t N = images.size(0), H = images.size(2), W = images.size(3);

  NoGradGuard ng;
  nn::EvalModeScope eval(model);  // modes put back also on an error
  const Device device = model.device();
  const std::vector<Tensor> params = model.parameters();
  for (int64_t b = 0; b < N; b += batch_size) {
    const int64_t e = std::min(N, b + batch_size);
    Tensor xb = images.slice(0, b, e).to(device);
    if (!params.empty() && params[0].dtype() != xb.dtype()) xb = xb.to(params[0].dtype());
    const Tensor out = forward_to(model, tp.layer, xb);
    PW_CHECK(out.dim() == 4, "top_patches: layer ", tp.layer, " gives ", shape_str(out.shape()),
             ", expected [N, C, H, W]");
    const int64_t C = out.size(1), h = out.size(2), w = out.size(3);
    for (int64_t u : units)
      PW_CHECK(u >= 0 && u < C, "top_patches: unit ", u, " out of range; layer ", tp.layer, " has ", C, " channels");
    const std::vector<float> v = out.to_vector_f32();
    for (size_t j = 0; j < units.size(); ++j) {
      std::vector<TopPatch>& best = tp.best[j];
      for (int64_t i = 0; i < e - b; ++i) {
        const float* plane = v.data() + ((i * C + units[j]) * h) * w;
        const int64_t at = std::max_element(plane, plane + h * w) - plane;  // the first maximum
        best.push_back({b + i, at / w, at % w, plane[at], {}});
      }
      // Keep the list short: the best k so far are all that can still make the final k.
      if ((int64_t)best.size() > 2 * k) {
        std::nth_element(best.begin(), best.begin() + k, best.end(), better);
        best.resize(k);
      }
    }
  }
  for (std::vector<TopPatch>& best : tp.best) {
    std::sort(best.begin(), best.end(), better);
    if ((int64_t)best.size() > k) best.resize(k);
    for (TopPatch& p : best) p.box = input_box(tp.field, p.y, p.x, H, W);
  }
  return tp;
}

io::Image crop_field(const Tensor& image, const ReceptiveField& rf, int64_t y, int64_t x,
                     const std::vector<float>& mean, const std::vector<float>& std) {
  PW_CHECK(image.defined() && image.dim() == 3, "crop_field: an image must be [C, H, W], got ",
           image.defined() ? shape_str(image.shape()) : std::string("an undefined tensor"));
  const int64_t C = image.size(0), H = image.size(1), W = image.size(2);
  const Box field = field_box(rf, y, x), seen = input_box(rf, y, x, H, W);
  io::Image out = io::Image::filled(C, field.height(), field.width(), 0.5f);
  if (seen.height() <= 0 || seen.width() <= 0) return out;
  const io::Image part = to_image(image.slice(1, seen.y0, seen.y1).slice(2, seen.x0, seen.x1), mean, std);
  for (int64_t c = 0; c < C; ++c)
    for (int64_t r = 0; r < part.height; ++r)
      std::copy_n(&part.at(c, r, 0), part.width, &out.at(c, seen.y0 - field.y0 + r, seen.x0 - field.x0));
  return out;
}

io::Image top_patches_grid(const TopPatches& tp, const Tensor& images, const std::vector<float>& mean,
                           const std::vector<float>& std, int64_t scale) {
  PW_CHECK(images.defined() && images.dim() == 4, "top_patches_grid: images must be [N, C, H, W], got ",
           images.defined() ? shape_str(images.shape()) : std::string("an undefined tensor"));
  size_t cols = 1;
  for (const std::vector<TopPatch>& best : tp.best) cols = std::max(cols, best.size());
  const int64_t C = images.size(1);
  const io::Image blank =
      upscale(io::Image::filled(C, tp.field.size[0], tp.field.size[1], 1.f), scale);  // the grid's background
  std::vector<io::Image> cells;
  for (const std::vector<TopPatch>& best : tp.best) {
    for (const TopPatch& p : best) {
      PW_CHECK(p.image >= 0 && p.image < images.size(0), "top_patches_grid: image ", p.image,
               " out of range; the data set has ", images.size(0), " images");
      cells.push_back(upscale(crop_field(images.select(0, p.image), tp.field, p.y, p.x, mean, std), scale));
    }
    cells.insert(cells.end(), cols - best.size(), blank);
  }
  return grid(cells, (int64_t)cols);
}

}  // namespace pw::tasks
