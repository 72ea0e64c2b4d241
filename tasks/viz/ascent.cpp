#include "tasks/viz/ascent.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "engine/autograd.h"
#include "engine/device/device.h"
#include "engine/ops.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "tasks/features.h"
#include "tasks/receptive_field.h"

namespace pw::tasks::viz {

namespace {

int64_t positive_mod(int64_t a, int64_t n) { return ((a % n) + n) % n; }

void clip_to_range(Tensor& x, const InputSpace& s) {
  const int64_t B = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  float* p = x.data<float>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t c = 0; c < C; ++c) {
      float lo = s.lo(c), hi = s.hi(c);
      for (int64_t i = 0; i < HW; ++i) {
        float& v = p[(b * C + c) * HW + i];
        v = std::clamp(v, lo, hi);
      }
    }
}

void check_space(const InputSpace& s, const char* op) {
  PW_CHECK(s.channels >= 1 && s.height >= 1 && s.width >= 1, op, ": bad input size ", s.channels, "x", s.height, "x",
           s.width);
  PW_CHECK((int64_t)s.mean.size() == s.channels && (int64_t)s.std.size() == s.channels, op, ": need ", s.channels,
           " means and standard deviations, got ", s.mean.size(), " and ", s.std.size());
  for (float v : s.std) PW_CHECK(v > 0, op, ": standard deviations must be positive, got ", v);
}

// Objective values of the current images, without a graph.
std::vector<double> evaluate_objective(nn::Module& model, const std::string& layer, const Tensor& x,
                                       const Objective& objective) {
  InputOnlyGuard guard(model);
  NoGradGuard ng;
  Tensor xin = x.to(model.device());
  Tensor act = layer.empty() ? model(xin) : forward_to(model, layer, xin);
  return objective(act).to_vector_f64();
}

// A mask with weight w at (image b, flat index idx[b]) of an activation of shape `shape`,
// so that sum(activation * mask, per image) picks one value (or a mean, for a whole channel).
Tensor selection_mask(const Shape& shape, const std::vector<int64_t>& channel, bool whole_channel, int64_t y,
                      int64_t x) {
  const int64_t B = shape[0];
  std::vector<float> m((size_t)shape_numel(shape), 0.f);
  const int64_t per = shape_numel(shape) / B;
  if (shape.size() == 2) {
    for (int64_t b = 0; b < B; ++b) m[b * per + channel[b]] = 1.f;
  } else {
    const int64_t H = shape[2], W = shape[3];
    for (int64_t b = 0; b < B; ++b) {
      if (whole_channel) {
        for (int64_t i = 0; i < H * W; ++i) m[b * per + channel[b] * H * W + i] = 1.f / (float)(H * W);
      } else {
        m[b * per + (channel[b] * H + y) * W + x] = 1.f;
      }
    }
  }
  return Tensor::from_vector(m, shape);
}

Tensor per_image_sum(const Tensor& t) {
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < t.dim(); ++d) dims.push_back(d);
  return sum(t, dims);
}

// One image's gradient step: the gradient minus the L2 term, scaled so that the mean change of
// the pixels the objective sees (those with a gradient) is the annealed step, then the decay.
void step_image(float* xb, const float* gb, int64_t n, const AscentOptions& o, int64_t it) {
  // The step is the mean change of the pixels the objective sees: a unit with a small receptive
  // field then moves its field as far as a class model moves the whole image, instead of being
  // slammed into the clipping range.
  std::vector<float> d(n);
  double mean_abs = 0;
  int64_t seen = 0;
  for (int64_t i = 0; i < n; ++i) {
    d[i] = gb[i] - (float)(2 * o.l2) * xb[i];
    if (gb[i] != 0) mean_abs += std::fabs(d[i]), ++seen;
  }
  mean_abs = seen ? mean_abs / (double)seen : 0;
  if (mean_abs > 0) {
    // Annealed to 30% over the run: a fixed normalized step keeps zig-zagging around the
    // optimum (and can end below where it started).
    const double step = o.step * (1.0 - 0.7 * (double)it / (double)o.iterations);
    const float k = (float)(step / mean_abs);
    for (int64_t i = 0; i < n; ++i) xb[i] += k * d[i];
  }
  if (o.decay > 0)
    for (int64_t i = 0; i < n; ++i) xb[i] *= (float)(1 - o.decay);
}

// Zeroes every channel of the pixels of small norm, then of small contribution (Yosinski et al.'s
// clipping), of one image xb [C, HW] with its gradient gb.
void zero_small_pixels(float* xb, const float* gb, int64_t C, int64_t HW, const AscentOptions& o) {
  // Sets every channel of the pixels whose score is below the pct-th percentile to zero.
  auto zero_below = [&](double pct, auto score) {
    if (pct <= 0) return;
    std::vector<float> v(HW);
    for (int64_t i = 0; i < HW; ++i) v[i] = score(i);
    const float t = quantile(v, pct / 100.0);
    for (int64_t i = 0; i < HW; ++i)
      if (v[i] < t)
        for (int64_t ch = 0; ch < C; ++ch) xb[ch * HW + i] = 0.f;
  };
  zero_below(o.norm_percentile, [&](int64_t i) {
    double n2 = 0;
    for (int64_t ch = 0; ch < C; ++ch) n2 += (double)xb[ch * HW + i] * xb[ch * HW + i];
    return (float)std::sqrt(n2);
  });
  zero_below(o.contrib_percentile, [&](int64_t i) {
    double c = 0;
    for (int64_t ch = 0; ch < C; ++ch) c += (double)xb[ch * HW + i] * gb[ch * HW + i];
    return (float)std::fabs(c);
  });
}

AscentResult ascend(nn::Module& model, const InputSpace& s, const std::string& layer, const Objective& objective,
                    int64_t batch, const AscentOptions& o) {
  PW_CHECK(o.iterations >= 1, "gradient ascent: iterations must be positive, got ", o.iterations);
  PW_CHECK(o.step > 0, "gradient ascent: step must be positive, got ", o.step);
  PW_CHECK(o.decay >= 0 && o.decay < 1, "gradient ascent: decay must be in [0, 1), got ", o.decay);
  PW_CHECK(o.jitter >= 0, "gradient ascent: jitter must not be negative, got ", o.jitter);
  PW_CHECK(o.blur_sigma >= 0 && o.blur_every >= 0,
           "gradient ascent: blur sigma and interval must not be negative, got ", o.blur_sigma, " and ", o.blur_every);
  PW_CHECK(o.norm_percentile >= 0 && o.norm_percentile < 100,
           "gradient ascent: the norm percentile must be in [0, 100), got ", o.norm_percentile);
  PW_CHECK(o.contrib_percentile >= 0 && o.contrib_percentile < 100,
           "gradient ascent: the contribution percentile must be in [0, 100), got ", o.contrib_percentile);
  Generator gen(o.seed, /*stream=*/11);
  const int64_t C = s.channels, H = s.height, W = s.width, HW = H * W;
  Tensor x = Tensor::zeros({batch, C, H, W});
  if (o.random_start) gen.fill_normal(x.data<float>(), x.numel(), 0.f, 0.1f);
  AscentResult r;
  r.curve.assign(batch, {});
  for (int64_t it = 0; it < o.iterations; ++it) {
    int64_t dy = 0, dx = 0;
    if (o.jitter > 0) {
      dy = gen.randint(-o.jitter, o.jitter + 1);
      dx = gen.randint(-o.jitter, o.jitter + 1);
    }
    InputGradient ig = input_gradient(model, layer, roll(x, dy, dx), objective);
    Tensor g = roll(ig.grad, -dy, -dx);
    for (int64_t b = 0; b < batch; ++b) r.curve[b].push_back(ig.objective[b]);
    if (it == 0) r.start = evaluate_objective(model, layer, x, objective);
    float* px = x.data<float>();
    const float* pg = g.data<float>();
    for (int64_t b = 0; b < batch; ++b) step_image(px + b * C * HW, pg + b * C * HW, C * HW, o, it);
    // Yosinski et al.'s order: step, decay, blur, then zero pixels of small norm, then pixels of
    // small contribution (measured after the norm clipping), so the last step leaves them zero.
    if (o.blur_every > 0 && o.blur_sigma > 0 && (it + 1) % o.blur_every == 0) gaussian_blur(x, o.blur_sigma);
    if (o.norm_percentile > 0 || o.contrib_percentile > 0) {
      float* px2 = x.data<float>();
      for (int64_t b = 0; b < batch; ++b) zero_small_pixels(px2 + b * C * HW, pg + b * C * HW, C, HW, o);
    }
    if (o.clip) clip_to_range(x, s);
  }
  r.end = evaluate_objective(model, layer, x, objective);
  r.images = x;
  return r;
}

}  // namespace

float quantile(std::vector<float> v, double q) {
  PW_CHECK(!v.empty(), "quantile of nothing");
  size_t k = (size_t)std::clamp<double>(std::floor(q * (double)v.size()), 0, (double)v.size() - 1);
  std::nth_element(v.begin(), v.begin() + (ptrdiff_t)k, v.end());
  return v[k];
}

InputGradient input_gradient(nn::Module& model, const std::string& layer, const Tensor& x, const Objective& objective,
                             ReluRule rule) {
  PW_CHECK(x.dim() == 4, "input gradient: images must be [N, C, H, W], got ", shape_str(x.shape()));
  InputOnlyGuard guard(model);
  ReluRuleGuard rules(rule);
  Tensor xin = x.detach().to(model.device()).clone();
  xin.set_requires_grad(true);
  Tensor act = layer.empty() ? model(xin) : forward_to(model, layer, xin);
  Tensor obj = objective(act);
  PW_CHECK(obj.dim() == 1 && obj.size(0) == x.size(0),
           "input gradient: the objective must give one value per image, got ", shape_str(obj.shape()));
  sum(obj).backward();
  InputGradient r;
  PW_CHECK(xin.grad().defined(), "input gradient: the objective does not depend on the input");
  r.grad = xin.grad().to(Device::cpu());
  r.objective = obj.detach().to_vector_f64();
  return r;
}

std::string ascent_layer(const nn::Module& model, const std::string& name) {
  const auto layers = model_layers(model);
  for (const auto& [path, m] : layers)
    if (path == name) return path;
  // A short name: the last layer before the probe point's ReLU (its batch norm when it has one,
  // else the conv/linear itself), so the unit is the one the ReLU passes on, scale included.
  const ProbePoint p = find_probe_point(model, name);
  if (p.end == p.name) return p.name;
  for (size_t i = 1; i < layers.size(); ++i)
    if (layers[i].first == p.end) return layers[i - 1].first;
  return p.name;
}

AscentOptions yosinski_set(int which) {
  AscentOptions o;
  switch (which) {
    case 1: o.blur_sigma = 0.5, o.blur_every = 4, o.norm_percentile = 50, o.iterations = 500; break;
    case 2: o.decay = 0.3, o.norm_percentile = 20, o.iterations = 750; break;
    case 3: o.decay = 1e-4, o.blur_sigma = 1.0, o.blur_every = 4, o.iterations = 1000; break;
    case 4: o.blur_sigma = 0.5, o.blur_every = 4, o.contrib_percentile = 90, o.iterations = 1000; break;
    default: PW_FAIL("Yosinski et al. published hyperparameter sets 1 to 4, not ", which);
  }
  return o;
}

AscentResult class_model(nn::Module& model, const InputSpace& s, const std::vector<int64_t>& classes, bool probability,
                         const AscentOptions& o) {
  check_space(s, "class model");
  PW_CHECK(!classes.empty(), "class model: no classes given");
  // One forward pass to learn the number of classes, so that a bad class is a clear error.
  const Shape out = layer_output_shape(model, "", {s.channels, s.height, s.width});
  PW_CHECK(out.size() == 2, "class model: the network's output must be [N, classes], got ", shape_str(out));
  const int64_t K = out[1];
  for (int64_t c : classes)
    PW_CHECK(c >= 0 && c < K, "class model: class ", c, " is out of range (the network has ", K, " classes)");
  auto objective = [classes, probability](const Tensor& logits) {
    Tensor mask = selection_mask(logits.shape(), classes, false, 0, 0).to(logits.device()).to(logits.dtype());
    Tensor v = probability ? softmax(logits, 1) : logits;
    return per_image_sum(v * mask);
  };
  return ascend(model, s, "", objective, (int64_t)classes.size(), o);
}

AscentResult maximize_units(nn::Module& model, const InputSpace& s, const UnitSpec& spec, const AscentOptions& o) {
  check_space(s, "unit visualization");
  PW_CHECK(!spec.units.empty(), "unit visualization: no units given");
  const std::string layer = ascent_layer(model, spec.layer);
  const Shape shape = layer_output_shape(model, layer, {s.channels, s.height, s.width});
  PW_CHECK(shape.size() == 2 || shape.size() == 4, "unit visualization: layer ", layer, " has output ",
           shape_str(shape), "; expected [N, C, H, W] or [N, F]");
  for (int64_t u : spec.units)
    PW_CHECK(u >= 0 && u < shape[1], "unit visualization: unit ", u, " is out of range (", layer, " has ", shape[1],
             shape.size() == 4 ? " channels)" : " features)");
  int64_t y = spec.y, x = spec.x;
  if (shape.size() == 4 && spec.neuron) {
    PW_CHECK(y >= -1 && x >= -1, "unit visualization: position (", y, ", ", x,
             ") must be in the map or -1 (the centre)");
    if (y < 0) y = shape[2] / 2;
    if (x < 0) x = shape[3] / 2;
    PW_CHECK(y < shape[2] && x < shape[3], "unit visualization: position (", y, ", ", x, ") is outside the ", shape[2],
             "x", shape[3], " map of ", layer);
  }
  std::vector<int64_t> units = spec.units;
  bool whole = !spec.neuron;
  auto objective = [units, whole, y, x](const Tensor& a) {
    Tensor mask = selection_mask(a.shape(), units, whole, y, x).to(a.device()).to(a.dtype());
    return per_image_sum(a * mask);
  };
  return ascend(model, s, layer, objective, (int64_t)units.size(), o);
}

DreamResult deep_dream(nn::Module& model, const InputSpace& s, const std::string& layer_name, const Tensor& image,
                       const DreamOptions& o) {
  PW_CHECK(image.dim() == 3 && image.size(0) == (int64_t)s.mean.size(), "deep dream: the image must be [C, H, W] with ",
           s.mean.size(), " channels, got ", shape_str(image.shape()));
  PW_CHECK(o.octaves >= 1, "deep dream: octaves must be positive, got ", o.octaves);
  PW_CHECK(o.octave_scale > 1, "deep dream: the octave scale must be above 1, got ", o.octave_scale);
  PW_CHECK(o.iterations >= 1, "deep dream: iterations must be positive, got ", o.iterations);
  PW_CHECK(o.step > 0, "deep dream: the step must be positive, got ", o.step);
  PW_CHECK(o.jitter >= 0, "deep dream: jitter must not be negative, got ", o.jitter);
  PW_CHECK((int64_t)s.std.size() == image.size(0), "deep dream: need ", image.size(0), " standard deviations, got ",
           s.std.size());
  for (float v : s.std) PW_CHECK(v > 0, "deep dream: standard deviations must be positive, got ", v);
  // The notebook amplifies a ReLU's output (the probe point's end), not the pre-activation, so
  // negative responses are left alone.
  const std::string layer = resolve_layer(model, layer_name);
  const int64_t C = image.size(0);
  // The octave pyramid, largest first.
  std::vector<Tensor> octaves{image.contiguous().reshape({1, C, image.size(1), image.size(2)})};
  for (int64_t i = 1; i < o.octaves; ++i) {
    const Tensor& prev = octaves.back();
    int64_t h = std::max<int64_t>(1, std::llround((double)prev.size(2) / o.octave_scale));
    int64_t w = std::max<int64_t>(1, std::llround((double)prev.size(3) / o.octave_scale));
    octaves.push_back(resize(prev, h, w, ResizeMode::bilinear));
  }
  std::reverse(octaves.begin(), octaves.end());
  auto objective = [](const Tensor& a) {
    const double n = (double)(a.numel() / a.size(0));
    return per_image_sum(a * a) * (0.5 / n);
  };
  Generator gen(o.seed, /*stream=*/12);
  DreamResult r;
  Tensor detail, x;
  for (const Tensor& base : octaves) {
    const int64_t h = base.size(2), w = base.size(3);
    r.sizes.push_back({h, w});
    detail = detail.defined() ? resize(detail, h, w, ResizeMode::bilinear) : Tensor::zeros(base.shape());
    x = (base + detail).contiguous();
    for (int64_t it = 0; it < o.iterations; ++it) {
      int64_t dy = o.jitter ? gen.randint(-o.jitter, o.jitter + 1) : 0;
      int64_t dx = o.jitter ? gen.randint(-o.jitter, o.jitter + 1) : 0;
      InputGradient ig = input_gradient(model, layer, roll(x, dy, dx), objective);
      if (it == 0) r.octave_start.push_back(evaluate_objective(model, layer, x, objective)[0]);
      Tensor g = roll(ig.grad, -dy, -dx);
      const float* pg = g.data<float>();
      double mean_abs = 0;
      for (int64_t i = 0; i < g.numel(); ++i) mean_abs += std::fabs(pg[i]);
      mean_abs /= (double)g.numel();
      if (mean_abs == 0) break;
      // The notebook's step is in 0-255 pixel units; here each channel's unit is its std.
      float* px = x.data<float>();
      const int64_t HW = h * w;
      for (int64_t c = 0; c < C; ++c) {
        const float k = (float)(o.step / 255.0 / s.std[c] / mean_abs);
        for (int64_t i = 0; i < HW; ++i) px[c * HW + i] += k * pg[c * HW + i];
      }
      clip_to_range(x, s);
    }
    r.octave_end.push_back(evaluate_objective(model, layer, x, objective)[0]);
    detail = x - base;
  }
  r.image = x.reshape({C, x.size(2), x.size(3)}).contiguous();
  return r;
}

Tensor load_photo(const std::string& path, int64_t longer_side, InputSpace& s, io::Image* shown) {
  PW_CHECK(longer_side >= 8, "photo: the longer side must be at least 8 px, got ", longer_side);
  check_space(s, "photo");
  io::Image photo = io::read_image(path, s.channels == 1 ? 1 : 3);
  const double k = (double)longer_side / (double)std::max(photo.height, photo.width);
  photo = io::resize_bilinear(photo, std::max<int64_t>(1, std::llround(photo.height * k)),
                              std::max<int64_t>(1, std::llround(photo.width * k)));
  s.height = photo.height;
  s.width = photo.width;
  std::vector<float> px = photo.pixels;
  const int64_t HW = photo.height * photo.width;
  for (int64_t c = 0; c < s.channels; ++c)
    for (int64_t i = 0; i < HW; ++i) px[c * HW + i] = (px[c * HW + i] - s.mean[c]) / s.std[c];
  if (shown) *shown = std::move(photo);
  return Tensor::from_vector(px, {s.channels, s.height, s.width});
}

void gaussian_blur(Tensor& images, double sigma) {
  PW_CHECK(images.dim() == 4 && images.dtype() == DType::f32 && !is_gpu(images.device()) && images.is_contiguous(),
           "gaussian blur: needs a contiguous f32 cpu tensor [N, C, H, W]");
  if (sigma <= 0) return;
  const int64_t r = std::max<int64_t>(1, (int64_t)std::ceil(3 * sigma));
  std::vector<float> k(2 * r + 1);
  double total = 0;
  for (int64_t i = -r; i <= r; ++i) total += k[i + r] = (float)std::exp(-(double)(i * i) / (2 * sigma * sigma));
  for (float& v : k) v = (float)(v / total);
  const int64_t planes = images.size(0) * images.size(1), H = images.size(2), W = images.size(3);
  float* p = images.data<float>();
  std::vector<float> tmp(H * W);
  for (int64_t pl = 0; pl < planes; ++pl) {
    float* img = p + pl * H * W;
    // Edges replicate the border pixel, so blurring does not darken the frame.
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        double acc = 0;
        for (int64_t i = -r; i <= r; ++i) acc += k[i + r] * img[y * W + std::clamp<int64_t>(x + i, 0, W - 1)];
        tmp[y * W + x] = (float)acc;
      }
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x) {
        double acc = 0;
        for (int64_t i = -r; i <= r; ++i) acc += k[i + r] * tmp[std::clamp<int64_t>(y + i, 0, H - 1) * W + x];
        img[y * W + x] = (float)acc;
      }
  }
  images.bump_version();
}

Tensor roll(const Tensor& images, int64_t dy, int64_t dx) {
  PW_CHECK(images.dim() == 4, "roll: images must be [N, C, H, W], got ", shape_str(images.shape()));
  Tensor src = images.to(Device::cpu()).to(DType::f32).contiguous();
  if (dy == 0 && dx == 0) return src.clone();
  const int64_t planes = src.size(0) * src.size(1), H = src.size(2), W = src.size(3);
  Tensor out = Tensor::empty(src.shape());
  const float* s = src.data<float>();
  float* d = out.data<float>();
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t y = 0; y < H; ++y)
      for (int64_t x = 0; x < W; ++x)
        d[pl * H * W + positive_mod(y + dy, H) * W + positive_mod(x + dx, W)] = s[pl * H * W + y * W + x];
  return out;
}

}  // namespace pw::tasks::viz
