#include "tasks/viz/inversion.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "tasks/features.h"

namespace pw::tasks::viz {

std::vector<double> inversion_regularizer(const Tensor& x, const InversionOptions& o, double B, Tensor* grad) {
  PW_CHECK(x.dim() == 4, "inversion: images must be [N, C, H, W], got ", shape_str(x.shape()));
  PW_CHECK(B > 0 && o.alpha >= 1 && o.beta >= 1, "inversion: need B > 0, alpha >= 1 and beta >= 1");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), per = C * H * W;
  const std::vector<double> v = x.to(Device::cpu()).to_vector_f64();
  std::vector<double> g(v.size(), 0.0), out(N, 0.0);
  const double na = (double)per, nt = (double)(C * std::max<int64_t>(0, H - 1) * std::max<int64_t>(0, W - 1));
  const double eps = o.beta < 2 ? 1e-8 : 0;  // (v + eps)^(beta/2 - 1) is finite at v = 0
  for (int64_t n = 0; n < N; ++n) {
    const double* p = v.data() + n * per;
    double* q = g.data() + n * per;
    double ra = 0, rt = 0;
    for (int64_t i = 0; i < per; ++i) {
      const double a = std::fabs(p[i]) / B;
      ra += std::pow(a, o.alpha);
      q[i] += o.lambda_alpha / na * o.alpha * std::pow(a, o.alpha - 1) * (p[i] >= 0 ? 1 : -1) / B;
    }
    if (nt > 0)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y + 1 < H; ++y)
          for (int64_t xx = 0; xx + 1 < W; ++xx) {
            const int64_t k = (c * H + y) * W + xx;
            const double d1 = p[k + 1] - p[k], d2 = p[k + W] - p[k];
            const double s = (d1 * d1 + d2 * d2) / (B * B);
            rt += std::pow(s + eps, o.beta / 2);
            // d/dd of (s)^(beta/2) = beta * s^(beta/2 - 1) * d / B^2
            const double f = o.lambda_tv / nt * o.beta * std::pow(s + eps, o.beta / 2 - 1) / (B * B);
            q[k + 1] += f * d1;
            q[k + W] += f * d2;
            q[k] -= f * (d1 + d2);
          }
    out[n] = o.lambda_alpha * ra / na + (nt > 0 ? o.lambda_tv * rt / nt : 0);
  }
  if (grad) *grad = Tensor::from_vector(g, x.shape()).to(x.dtype());
  return out;
}

InversionResult invert_features(nn::Module& model, const InputSpace& s, const std::string& layer_name,
                                const Tensor& images, const InversionOptions& o) {
  PW_CHECK(images.dim() == 4 && images.size(1) == s.channels && (int64_t)s.mean.size() == s.channels &&
               (int64_t)s.std.size() == s.channels,
           "inversion: images must be [N, ", s.channels, ", H, W] with a mean and std per channel, got ",
           shape_str(images.shape()));
  PW_CHECK(o.iterations >= 1 && o.step > 0, "inversion: iterations and step must be positive");
  const std::string layer = layer_name.empty() ? "" : ascent_layer(model, layer_name);
  const int64_t N = images.size(0), per = images.numel() / N;
  // Targets: the features of the given images, and their squared norms.
  Tensor phi0;
  {
    nn::EvalModeScope eval(model);
    NoGradGuard ng;
    Tensor xin = images.contiguous().to(model.device());
    phi0 = (layer.empty() ? model(xin) : forward_to(model, layer, xin)).contiguous();
  }
  std::vector<int64_t> dims;
  for (int64_t d = 1; d < phi0.dim(); ++d) dims.push_back(d);
  std::vector<double> norm = sum(phi0 * phi0, dims).to_vector_f64();
  for (double& v : norm) v = 1.0 / std::max(v, 1e-12);
  const Tensor inv_norm = Tensor::from_vector(norm, {N}).to(phi0.dtype()).to(phi0.device());
  // input_gradient ascends, so the objective is minus the relative feature error.
  auto objective = [&](const Tensor& a) { return sum((a - phi0) * (a - phi0), dims) * inv_norm * -1.0; };

  double B = 0;
  for (int64_t c = 0; c < s.channels; ++c) B += (s.hi(c) - s.lo(c)) / (double)s.channels;
  Generator gen(o.seed, /*stream=*/13);
  Tensor x = Tensor::empty(images.shape());
  gen.fill_normal(x.data<float>(), x.numel(), 0.f, 0.1f);
  InversionResult r;
  for (int64_t it = 0; it < o.iterations; ++it) {
    InputGradient ig = input_gradient(model, layer, x, objective);
    if (it == 0)
      for (double v : ig.objective) r.start.push_back(-v);
    Tensor rg;
    inversion_regularizer(x, o, B, &rg);
    const float* pg = ig.grad.data<float>();
    const float* pr = rg.data<float>();
    float* px = x.data<float>();
    const double step = o.step * (1.0 - 0.9 * (double)it / (double)o.iterations);
    for (int64_t n = 0; n < N; ++n) {
      std::vector<float> d(per);
      double mean_abs = 0;
      for (int64_t i = 0; i < per; ++i) {
        d[i] = pg[n * per + i] - pr[n * per + i];
        mean_abs += std::fabs(d[i]);
      }
      mean_abs /= (double)per;
      if (mean_abs == 0) continue;
      const float k = (float)(step / mean_abs);
      for (int64_t i = 0; i < per; ++i) px[n * per + i] += k * d[i];
    }
    if (o.clip) {
      const int64_t HW = x.size(2) * x.size(3);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < s.channels; ++c)
          for (int64_t i = 0; i < HW; ++i) {
            float& v = px[(n * s.channels + c) * HW + i];
            v = std::clamp(v, s.lo(c), s.hi(c));
          }
    }
  }
  {
    InputGradient last = input_gradient(model, layer, x, objective);
    for (double v : last.objective) r.end.push_back(-v);
  }
  r.images = x;
  return r;
}

}  // namespace pw::tasks::viz
