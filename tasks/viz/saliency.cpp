#include "tasks/viz/saliency.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/util/error.h"
#include "tasks/viz/ascent.h"

namespace pw::tasks::viz {

namespace {

// Black -> red -> yellow -> white, for t in [0, 1].
void heat_colour(float t, float& r, float& g, float& b) {
  t = std::clamp(t, 0.f, 1.f);
  r = std::min(1.f, 3 * t);
  g = std::clamp(3 * t - 1, 0.f, 1.f);
  b = std::clamp(3 * t - 2, 0.f, 1.f);
}

io::Image as_rgb(const io::Image& img) {
  if (img.channels == 3) return img;
  PW_CHECK(img.channels == 1, "picture: expected a gray or RGB image, got ", img.channels, " channels");
  io::Image out = io::Image::filled(3, img.height, img.width);
  for (int64_t c = 0; c < 3; ++c)
    std::copy(img.pixels.begin(), img.pixels.end(), out.pixels.begin() + c * img.height * img.width);
  return out;
}

}  // namespace

std::vector<float> reduce_channels(const Tensor& grad, const std::string& how) {
  PW_CHECK(grad.dim() == 3, "saliency: a gradient [C, H, W] is needed, got ", shape_str(grad.shape()));
  PW_CHECK(how == "max" || how == "sum" || how == "l2", "saliency: --reduce must be max, sum or l2, not '", how, "'");
  const int64_t C = grad.size(0), HW = grad.size(1) * grad.size(2);
  std::vector<double> g = grad.to_vector_f64();
  std::vector<float> m(HW, 0.f);
  for (int64_t i = 0; i < HW; ++i) {
    double acc = 0;
    for (int64_t c = 0; c < C; ++c) {
      double v = g[c * HW + i];
      if (how == "max")
        acc = std::max(acc, std::fabs(v));
      else if (how == "sum")
        acc += std::fabs(v);
      else
        acc += v * v;
    }
    m[i] = (float)(how == "l2" ? std::sqrt(acc) : acc);
  }
  return m;
}

std::vector<float> normalize_map(std::vector<float> map, double percentile) {
  PW_CHECK(percentile > 0 && percentile <= 100, "saliency: the clip percentile must be in (0, 100], got ", percentile);
  if (map.empty()) return map;
  float top = quantile(map, std::min(1.0, percentile / 100.0));
  if (top <= 0) top = *std::max_element(map.begin(), map.end());
  if (top <= 0) return std::vector<float>(map.size(), 0.f);
  for (float& v : map) v = std::clamp(v / top, 0.f, 1.f);
  return map;
}

SaliencyResult saliency(nn::Module& model, const Tensor& images, const std::vector<int64_t>& classes,
                        const SaliencyOptions& o) {
  PW_CHECK(images.dim() == 4, "saliency: images must be [N, C, H, W], got ", shape_str(images.shape()));
  const int64_t N = images.size(0);
  PW_CHECK((int64_t)classes.size() == N, "saliency: ", N, " images but ", classes.size(), " classes");
  SaliencyResult r;
  r.height = images.size(2);
  r.width = images.size(3);
  r.classes = classes;
  // Classes given as -1 are the network's prediction; the output size is checked here too.
  PW_CHECK(o.reduce == "max" || o.reduce == "sum" || o.reduce == "l2",
           "saliency: --reduce must be max, sum or l2, not '", o.reduce, "'");
  for (int64_t c : classes) PW_CHECK(c >= -1, "saliency: class ", c, " is out of range (-1 means the predicted class)");
  std::vector<float> logits;
  int64_t K = 0;
  {
    nn::EvalModeScope eval(model);  // put back even if the forward pass throws
    NoGradGuard ng;
    Tensor out = model(images.to(model.device()));
    PW_CHECK(out.dim() == 2, "saliency: the network's output must be [N, classes], got ", shape_str(out.shape()));
    K = out.size(1);
    r.outputs = K;
    logits = out.to_vector_f32();
  }
  for (int64_t i = 0; i < N; ++i) {
    const auto first = logits.begin() + i * K, last = first + K;
    const int64_t best = std::max_element(first, last) - first;
    double total = 0;
    for (auto it = first; it != last; ++it) total += std::exp((double)*it - (double)first[best]);
    r.predicted.push_back(best);
    r.probability.push_back(1.0 / total);
    if (r.classes[i] < 0) r.classes[i] = best;
    PW_CHECK(r.classes[i] < K, "saliency: class ", r.classes[i], " is out of range (the network has ", K, " classes)");
  }
  std::vector<float> mask(N * K, 0.f);
  for (int64_t i = 0; i < N; ++i) mask[i * K + r.classes[i]] = 1.f;
  Tensor m = Tensor::from_vector(mask, {N, K});
  InputGradient ig = input_gradient(
      model, "", images, [&](const Tensor& out) { return sum(out * m.to(out.device()).to(out.dtype()), {1}); }, o.rule);
  r.gradient = ig.grad;
  r.scores = ig.objective;
  for (int64_t i = 0; i < N; ++i)
    r.maps.push_back(normalize_map(reduce_channels(ig.grad.select(0, i), o.reduce), o.clip_percentile));
  return r;
}

Box saliency_box(const std::vector<float>& map, const io::Image& image, double fg, double bg) {
  const int64_t H = image.height, W = image.width, C = image.channels, HW = H * W;
  PW_CHECK((int64_t)map.size() == HW && HW > 0, "saliency box: the map has ", map.size(), " values, the image ", H, "x",
           W);
  PW_CHECK(bg >= 0 && bg < fg && fg < 1, "saliency box: need 0 <= background < foreground < 1 quantiles, got ", bg,
           " and ", fg);
  const float hi = quantile(map, fg), lo = quantile(map, bg);
  // Seeds: 2 foreground, 1 background, 0 undecided; the mean colour of each seed set.
  std::vector<int> seed(HW, 0);
  std::vector<double> mean_fg(C, 0), mean_bg(C, 0);
  int64_t n_fg = 0, n_bg = 0;
  for (int64_t i = 0; i < HW; ++i) {
    if (map[i] >= hi && map[i] > lo)
      seed[i] = 2;
    else if (map[i] <= lo)
      seed[i] = 1;
    if (!seed[i]) continue;
    auto& m = seed[i] == 2 ? mean_fg : mean_bg;
    for (int64_t c = 0; c < C; ++c) m[c] += image.pixels[c * HW + i];
    (seed[i] == 2 ? n_fg : n_bg)++;
  }
  PW_CHECK(n_fg > 0, "saliency box: the map is flat (no foreground)");
  for (int64_t c = 0; c < C; ++c) mean_fg[c] /= (double)n_fg, mean_bg[c] /= (double)std::max<int64_t>(1, n_bg);
  std::vector<char> fgmask(HW, 0);
  for (int64_t i = 0; i < HW; ++i) {
    if (seed[i]) {
      fgmask[i] = seed[i] == 2;
      continue;
    }
    double dfg = 0, dbg = 0;
    for (int64_t c = 0; c < C; ++c) {
      double v = image.pixels[c * HW + i];
      dfg += (v - mean_fg[c]) * (v - mean_fg[c]);
      dbg += (v - mean_bg[c]) * (v - mean_bg[c]);
    }
    fgmask[i] = n_bg == 0 || dfg <= dbg;
  }
  std::vector<char> seen(HW, 0);
  Box best;
  double best_score = -1;
  for (int64_t start = 0; start < HW; ++start) {
    if (seen[start] || seed[start] != 2) continue;
    std::vector<int64_t> stack{start};
    seen[start] = 1;
    Box b{start / W, start % W, start / W + 1, start % W + 1};
    double score = 0;  // the saliency the region holds: a large dark region of little saliency loses
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      score += map[p];
      const int64_t y = p / W, x = p % W;
      b.y0 = std::min(b.y0, y), b.x0 = std::min(b.x0, x), b.y1 = std::max(b.y1, y + 1), b.x1 = std::max(b.x1, x + 1);
      for (int64_t dy = -1; dy <= 1; ++dy)
        for (int64_t dx = -1; dx <= 1; ++dx) {
          const int64_t yy = y + dy, xx = x + dx;
          if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
          const int64_t q = yy * W + xx;
          if (seen[q] || !fgmask[q]) continue;
          seen[q] = 1;
          stack.push_back(q);
        }
    }
    if (score > best_score) best_score = score, best = b;
  }
  return best;
}

io::Image heat_image(const std::vector<float>& map, int64_t H, int64_t W) {
  PW_CHECK((int64_t)map.size() == H * W, "heat image: ", map.size(), " values for ", H, "x", W);
  io::Image out = io::Image::filled(3, H, W);
  for (int64_t i = 0; i < H * W; ++i)
    heat_colour(map[i], out.pixels[i], out.pixels[H * W + i], out.pixels[2 * H * W + i]);
  return out;
}

io::Image overlay(const io::Image& image, const std::vector<float>& map, double alpha) {
  io::Image base = as_rgb(image);
  const int64_t HW = base.height * base.width;
  PW_CHECK((int64_t)map.size() == HW, "overlay: the map has ", map.size(), " values, the image ", HW, " pixels");
  io::Image heat = heat_image(map, base.height, base.width);
  for (int64_t i = 0; i < HW; ++i) {
    const float a = (float)alpha * map[i];
    for (int64_t c = 0; c < 3; ++c) {
      float& v = base.pixels[c * HW + i];
      v = (1 - a) * v + a * heat.pixels[c * HW + i];
    }
  }
  return base;
}

io::Image signed_gradient_image(const Tensor& grad) {
  PW_CHECK(grad.dim() == 3, "gradient picture: [C, H, W] needed, got ", shape_str(grad.shape()));
  std::vector<float> g = grad.to_vector_f32();
  float m = 0;
  for (float v : g) m = std::max(m, std::fabs(v));
  io::Image out = io::Image::filled(grad.size(0), grad.size(1), grad.size(2));
  for (size_t i = 0; i < g.size(); ++i) out.pixels[i] = m > 0 ? 0.5f + g[i] / (2 * m) : 0.5f;
  return out;
}

io::Image draw_box(const io::Image& image, const Box& b, float r, float g, float bl) {
  io::Image out = as_rgb(image);
  const float col[3] = {r, g, bl};
  for (int64_t y = b.y0; y < b.y1; ++y)
    for (int64_t x = b.x0; x < b.x1; ++x) {
      bool edge = y < b.y0 + 2 || y >= b.y1 - 2 || x < b.x0 + 2 || x >= b.x1 - 2;
      if (!edge || y < 0 || x < 0 || y >= out.height || x >= out.width) continue;
      for (int64_t c = 0; c < 3; ++c) out.at(c, y, x) = col[c];
    }
  return out;
}

}  // namespace pw::tasks::viz
