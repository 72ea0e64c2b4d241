// Grad-CAM, Guided Grad-CAM, SmoothGrad and Integrated Gradients: see attribution.h.
#include "tasks/viz/attribution.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "models/layer_walk.h"
#include "tasks/features.h"
#include "tasks/receptive_field.h"
#include "tasks/viz/ascent.h"

namespace pw::tasks::viz {

namespace {

void check_images(const Tensor& images, const char* method) {
  PW_CHECK(images.dim() == 4, method, ": images must be [N, C, H, W], got ", shape_str(images.shape()));
  PW_CHECK(images.size(0) > 0, method, ": no images");
}

void check_map_options(const SaliencyOptions& o, const char* method) {
  PW_CHECK(o.reduce == "max" || o.reduce == "sum" || o.reduce == "l2", method,
           ": the map's reduction must be max, "
           "sum or l2, not '",
           o.reduce, "'");
  PW_CHECK(o.clip_percentile > 0 && o.clip_percentile <= 100, method, ": the clip percentile must be in (0, 100], got ",
           o.clip_percentile);
}

// A [rows, K] mask with a 1 at (i, classes[i]): the score of row i is sum(out * mask, 1).
Tensor class_mask(const std::vector<int64_t>& classes, int64_t K) {
  const int64_t rows = (int64_t)classes.size();
  std::vector<float> mask(rows * K, 0.f);
  for (int64_t i = 0; i < rows; ++i) mask[i * K + classes[i]] = 1.f;
  return Tensor::from_vector(mask, {rows, K});
}

Tensor class_score(const Tensor& out, const std::vector<int64_t>& classes) {
  PW_CHECK(out.dim() == 2, "attribution: the network's output must be [N, classes], got ", shape_str(out.shape()));
  return sum(out * class_mask(classes, out.size(1)).to(out.device()).to(out.dtype()), {1});
}

// The layer Grad-CAM reads: the given name (resolve_layer), or the ReLU after the trunk's last
// convolution.
std::string grad_cam_layer(const nn::Module& model, const models::LayerWalk& walk, const std::string& name) {
  if (!name.empty()) return resolve_layer(model, name);
  std::string last_conv;
  for (const models::LayerInfo& l : walk.layers)
    if (l.kind == models::LayerKind::conv && l.part == models::LayerPart::trunk) last_conv = l.path;
  PW_CHECK(!last_conv.empty(), "Grad-CAM: ", model.type_name(), " has no convolution; give --layer");
  return find_probe_point(model, last_conv).end;
}

// The activations A [N, K, h, w] of layer `at` of the walk and the gradient of the class scores
// with respect to them; everything after the layer runs with a graph, nothing before it does.
struct LayerGradient {
  Tensor activation, gradient;  // cpu
};
LayerGradient layer_gradient(nn::Module& model, const models::LayerWalk& walk, size_t at, const Tensor& images,
                             const std::vector<int64_t>& classes) {
  InputOnlyGuard guard(model);
  ReluRuleGuard rules(ReluRule::grad);
  Tensor h = images.to(model.device());
  {
    NoGradGuard ng;
    for (size_t i = 0; i <= at; ++i) h = models::forward_layer(walk.layers[i], h);
  }
  Tensor a = h.detach().clone();
  a.set_requires_grad(true);
  h = a;
  for (size_t i = at + 1; i < walk.layers.size(); ++i) h = models::forward_layer(walk.layers[i], h);
  sum(class_score(h, classes)).backward();
  PW_CHECK(a.grad().defined(), "Grad-CAM: the class score does not depend on layer ", walk.layers[at].path);
  return {a.detach().to(Device::cpu()).contiguous(), a.grad().to(Device::cpu()).contiguous()};
}

// Divides by the maximum (a map that is all zero stays zero).
std::vector<float> unit_max(const std::vector<double>& v) {
  double top = 0;
  for (double x : v) top = std::max(top, x);
  std::vector<float> out(v.size(), 0.f);
  if (top > 0)
    for (size_t i = 0; i < v.size(); ++i) out[i] = (float)std::clamp(v[i] / top, 0.0, 1.0);
  return out;
}

// The map of a gradient-like tensor [C, H, W] (accumulated in double) as saliency makes it.
std::vector<float> saliency_map(const std::vector<double>& g, int64_t C, int64_t H, int64_t W,
                                const SaliencyOptions& o) {
  return normalize_map(reduce_channels(Tensor::from_vector(g, {C, H, W}), o.reduce), o.clip_percentile);
}

}  // namespace

void integration_rule(const std::string& rule, int64_t steps, std::vector<double>& nodes,
                      std::vector<double>& weights) {
  PW_CHECK(steps > 0, "Integrated Gradients: the number of steps must be positive, got ", steps);
  PW_CHECK(rule == "midpoint" || rule == "trapezoid" || rule == "right",
           "Integrated Gradients: the rule must be "
           "midpoint, trapezoid or right, not '",
           rule, "'");
  nodes.clear();
  weights.clear();
  const double h = 1.0 / (double)steps;
  for (int64_t k = rule == "right" ? 1 : 0; k <= steps; ++k) {
    if (rule == "midpoint" && k == steps) break;
    nodes.push_back(rule == "midpoint" ? ((double)k + 0.5) * h : (double)k * h);
    weights.push_back(rule == "trapezoid" && (k == 0 || k == steps) ? h / 2 : h);
  }
}

ClassScores class_scores(nn::Module& model, const Tensor& images, const std::vector<int64_t>& classes) {
  check_images(images, "attribution");
  const int64_t N = images.size(0);
  PW_CHECK((int64_t)classes.size() == N, "attribution: ", N, " images but ", classes.size(), " classes");
  for (int64_t c : classes)
    PW_CHECK(c >= -1, "attribution: class ", c, " is out of range (-1 means the predicted class)");
  std::vector<float> logits;
  int64_t K = 0;
  {
    nn::EvalModeScope eval(model);
    NoGradGuard ng;
    Tensor out = model(images.to(model.device()));
    PW_CHECK(out.dim() == 2, "attribution: the network's output must be [N, classes], got ", shape_str(out.shape()));
    K = out.size(1);
    logits = out.to_vector_f32();
  }
  ClassScores r;
  r.classes = classes;
  for (int64_t i = 0; i < N; ++i) {
    const auto row = logits.begin() + i * K;
    if (r.classes[i] < 0) r.classes[i] = std::max_element(row, row + K) - row;
    PW_CHECK(r.classes[i] < K, "attribution: class ", r.classes[i], " is out of range (the network has ", K,
             " classes)");
    r.scores.push_back(row[r.classes[i]]);
  }
  return r;
}

InputGradient class_score_gradient(nn::Module& model, const Tensor& images, const std::vector<int64_t>& classes,
                                   ReluRule rule) {
  check_images(images, "attribution");
  PW_CHECK((int64_t)classes.size() == images.size(0), "attribution: ", images.size(0), " images but ", classes.size(),
           " classes");
  return input_gradient(
      model, "", images, [&](const Tensor& out) { return class_score(out, classes); }, rule);
}

std::vector<double> resize_bilinear(const std::vector<double>& map, int64_t h, int64_t w, int64_t H, int64_t W) {
  PW_CHECK(h > 0 && w > 0 && H > 0 && W > 0 && (int64_t)map.size() == h * w, "resize: a ", h, "x", w, " map has ",
           h * w, " values, got ", map.size(), "; target ", H, "x", W);
  // Source coordinate of output index i, clamped to [0, n - 1], as the two neighbours and the weight.
  auto source = [](int64_t i, int64_t n, int64_t N, int64_t& lo, int64_t& hi, double& t) {
    const double s = std::clamp((i + 0.5) * (double)n / (double)N - 0.5, 0.0, (double)(n - 1));
    lo = (int64_t)std::floor(s);
    hi = std::min(lo + 1, n - 1);
    t = s - (double)lo;
  };
  std::vector<double> out(H * W);
  for (int64_t y = 0; y < H; ++y) {
    int64_t y0, y1;
    double ty;
    source(y, h, H, y0, y1, ty);
    for (int64_t x = 0; x < W; ++x) {
      int64_t x0, x1;
      double tx;
      source(x, w, W, x0, x1, tx);
      const double top = (1 - tx) * map[y0 * w + x0] + tx * map[y0 * w + x1];
      const double bottom = (1 - tx) * map[y1 * w + x0] + tx * map[y1 * w + x1];
      out[y * W + x] = (1 - ty) * top + ty * bottom;
    }
  }
  return out;
}

GradCamResult grad_cam(nn::Module& model, const Tensor& images, const std::vector<int64_t>& classes,
                       const GradCamOptions& o) {
  check_images(images, "Grad-CAM");
  const ClassScores cs = class_scores(model, images, classes);
  const models::LayerWalk walk = models::walk_layers(model);
  PW_CHECK(walk.form == models::LayerWalk::Form::classifier || walk.form == models::LayerWalk::Form::sequential,
           "Grad-CAM: a ", model.type_name(),
           " does not run as one chain of layers to its output (a "
           "FeaturesClassifier or a Sequential is needed)");
  GradCamResult r;
  r.layer = grad_cam_layer(model, walk, o.layer);
  size_t at = 0;
  while (at < walk.layers.size() && walk.layers[at].path != r.layer) ++at;
  PW_CHECK(at < walk.layers.size() && walk.layers[at].part == models::LayerPart::trunk, "Grad-CAM: layer ", r.layer,
           " is not in the trunk of ", model.type_name(), "; maps of channels are needed");
  const LayerGradient lg = layer_gradient(model, walk, at, images, cs.classes);
  PW_CHECK(lg.activation.dim() == 4, "Grad-CAM: layer ", r.layer, " gives ", shape_str(lg.activation.shape()),
           ", not maps of channels");
  const int64_t N = images.size(0), K = lg.activation.size(1), h = lg.activation.size(2), w = lg.activation.size(3);
  r.map_height = h, r.map_width = w;
  r.height = images.size(2), r.width = images.size(3);
  r.classes = cs.classes;
  r.scores = cs.scores;
  const std::vector<double> A = lg.activation.to_vector_f64(), G = lg.gradient.to_vector_f64();
  for (int64_t n = 0; n < N; ++n) {
    std::vector<double> alpha(K, 0.0), cam(h * w, 0.0);
    for (int64_t k = 0; k < K; ++k) {
      const double* g = G.data() + (n * K + k) * h * w;
      for (int64_t i = 0; i < h * w; ++i) alpha[k] += g[i];
      alpha[k] /= (double)(h * w);
      const double* a = A.data() + (n * K + k) * h * w;
      for (int64_t i = 0; i < h * w; ++i) cam[i] += alpha[k] * a[i];
    }
    for (double& v : cam) v = std::max(v, 0.0);
    r.maps.push_back(unit_max(resize_bilinear(cam, h, w, r.height, r.width)));
    r.weights.push_back(std::move(alpha));
    r.cams.push_back(std::move(cam));
  }
  if (o.guided) {
    r.guided = class_score_gradient(model, images, cs.classes, ReluRule::guided).grad.contiguous();
    float* p = r.guided.data<float>();
    const int64_t C = images.size(1), HW = r.height * r.width;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < HW; ++i) p[(n * C + c) * HW + i] *= r.maps[n][i];
  }
  return r;
}

SaliencyResult smooth_grad(nn::Module& model, const Tensor& images, const std::vector<int64_t>& classes,
                           const SmoothGradOptions& o) {
  check_images(images, "SmoothGrad");
  PW_CHECK(o.samples > 0, "SmoothGrad: the number of samples must be positive, got ", o.samples);
  PW_CHECK(o.noise >= 0, "SmoothGrad: the noise level must be >= 0, got ", o.noise);
  PW_CHECK(o.batch > 0, "SmoothGrad: the batch must be positive, got ", o.batch);
  check_map_options(o.saliency, "SmoothGrad");
  const ClassScores cs = class_scores(model, images, classes);
  const Tensor x = images.to(Device::cpu()).to(DType::f32).contiguous();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), D = C * H * W;
  SaliencyResult r;
  r.classes = cs.classes;
  r.scores = cs.scores;
  r.height = H, r.width = W;
  Generator gen(o.seed);
  std::vector<float> mean_grad(N * D);
  for (int64_t n = 0; n < N; ++n) {
    const float* xn = x.data<float>() + n * D;
    const auto [lo, hi] = std::minmax_element(xn, xn + D);
    const float sigma = (float)(o.noise * (double)(*hi - *lo));
    std::vector<double> acc(D, 0.0);
    for (int64_t s0 = 0; s0 < o.samples; s0 += o.batch) {
      const int64_t nb = std::min(o.batch, o.samples - s0);
      std::vector<float> noisy(nb * D);
      for (int64_t b = 0; b < nb; ++b) {
        float* dst = noisy.data() + b * D;
        if (sigma > 0) gen.fill_normal(dst, D, 0.f, sigma);
        for (int64_t i = 0; i < D; ++i) dst[i] = sigma > 0 ? dst[i] + xn[i] : xn[i];
      }
      const InputGradient ig = class_score_gradient(model, Tensor::from_vector(noisy, {nb, C, H, W}),
                                                    std::vector<int64_t>(nb, cs.classes[n]), o.saliency.rule);
      const std::vector<float> g = ig.grad.to_vector_f32();
      for (int64_t b = 0; b < nb; ++b)
        for (int64_t i = 0; i < D; ++i) acc[i] += g[b * D + i];
    }
    for (int64_t i = 0; i < D; ++i) acc[i] /= (double)o.samples, mean_grad[n * D + i] = (float)acc[i];
    r.maps.push_back(saliency_map(acc, C, H, W, o.saliency));
  }
  r.gradient = Tensor::from_vector(mean_grad, {N, C, H, W});
  return r;
}

IntegratedGradientsResult integrated_gradients(nn::Module& model, const Tensor& images, const Tensor& baseline,
                                               const std::vector<int64_t>& classes,
                                               const IntegratedGradientsOptions& o) {
  check_images(images, "Integrated Gradients");
  PW_CHECK(o.batch > 0, "Integrated Gradients: the batch must be positive, got ", o.batch);
  check_map_options(o.saliency, "Integrated Gradients");
  const Tensor x = images.to(Device::cpu()).to(DType::f32).contiguous();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), D = C * H * W;
  const Shape one{C, H, W};
  PW_CHECK(baseline.shape() == one || baseline.shape() == x.shape(), "Integrated Gradients: the baseline must be ",
           shape_str(one), " or ", shape_str(x.shape()), ", got ", shape_str(baseline.shape()));
  const Tensor base = (baseline.dim() == 3 ? stack(std::vector<Tensor>(N, baseline), 0) : baseline)
                          .to(Device::cpu())
                          .to(DType::f32)
                          .contiguous();
  const ClassScores cs = class_scores(model, x, classes);
  const ClassScores cb = class_scores(model, base, cs.classes);
  IntegratedGradientsResult r;
  r.classes = cs.classes;
  r.scores = cs.scores;
  r.baseline_scores = cb.scores;
  r.height = H, r.width = W;
  std::vector<double> nodes, weights;
  integration_rule(o.rule, o.steps, nodes, weights);
  std::vector<float> attributions(N * D);
  for (int64_t n = 0; n < N; ++n) {
    const float* xn = x.data<float>() + n * D;
    const float* bn = base.data<float>() + n * D;
    std::vector<double> acc(D, 0.0);  // the weighted sum of the gradients along the path
    for (size_t k0 = 0; k0 < nodes.size(); k0 += (size_t)o.batch) {
      const int64_t nb = std::min<int64_t>(o.batch, (int64_t)(nodes.size() - k0));
      std::vector<float> points(nb * D);
      for (int64_t b = 0; b < nb; ++b) {
        const double a = nodes[k0 + b];
        for (int64_t i = 0; i < D; ++i)  // the ends exactly x' and x
          points[b * D + i] = a == 0 ? bn[i] : a == 1 ? xn[i] : bn[i] + (float)a * (xn[i] - bn[i]);
      }
      const InputGradient ig = class_score_gradient(model, Tensor::from_vector(points, {nb, C, H, W}),
                                                    std::vector<int64_t>(nb, cs.classes[n]));
      const std::vector<float> g = ig.grad.to_vector_f32();
      for (int64_t b = 0; b < nb; ++b)
        for (int64_t i = 0; i < D; ++i) acc[i] += weights[k0 + b] * g[b * D + i];
    }
    double total = 0;
    for (int64_t i = 0; i < D; ++i) {
      acc[i] *= (double)xn[i] - (double)bn[i];
      total += acc[i];
      attributions[n * D + i] = (float)acc[i];
    }
    const double difference = r.scores[n] - r.baseline_scores[n];
    r.sums.push_back(total);
    r.completeness_error.push_back(std::fabs(total - difference) / std::max(std::fabs(difference), 1e-12));
    r.maps.push_back(saliency_map(acc, C, H, W, o.saliency));
  }
  r.attributions = Tensor::from_vector(attributions, {N, C, H, W});
  return r;
}

}  // namespace pw::tasks::viz
