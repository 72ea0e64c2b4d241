// Layer-for-layer transfer of convolution trunks (see transfer.h).
#include "models/transfer.h"

#include <cmath>

#include "engine/autograd.h"

namespace pw::models {

namespace {

struct ConvSlot {
  std::string path;
  std::shared_ptr<nn::Conv2d> conv;
  std::string bn_path;
  std::shared_ptr<nn::BatchNorm> bn;  // the batch norm between this conv and the next, if any
};

std::vector<ConvSlot> conv_slots(const nn::Module& m, const char* role) {
  std::shared_ptr<nn::Module> features = m.find("features");  // errors if there is none
  std::vector<ConvSlot> slots;
  for (auto& [name, child] : features->named_children()) {
    if (auto conv = std::dynamic_pointer_cast<nn::Conv2d>(child)) {
      slots.push_back({"features." + name, conv, "", nullptr});
    } else if (auto bn = std::dynamic_pointer_cast<nn::BatchNorm>(child)) {
      if (!slots.empty() && !slots.back().bn) {
        slots.back().bn = bn;
        slots.back().bn_path = "features." + name;
      }
    }
  }
  PW_CHECK(!slots.empty(), "transfer: the ", role, " network (", m.type_name(),
           ") has no convolutions under 'features'");
  return slots;
}

Tensor like(const std::vector<double>& v, const Tensor& dst) {
  return Tensor::from_vector(v, dst.shape()).to(dst.dtype()).to(dst.device());
}

}  // namespace

TransferResult transfer_features(const nn::Module& src, nn::Module& dst, int64_t convolutions, bool freeze) {
  std::vector<ConvSlot> from = conv_slots(src, "source"), to = conv_slots(dst, "destination");
  const int64_t n = convolutions < 0 ? (int64_t)to.size() : convolutions;
  PW_CHECK(n >= 1 && n <= (int64_t)from.size() && n <= (int64_t)to.size(), "transfer: asked for ", convolutions,
           " convolutions; the source has ", from.size(), " and the destination ", to.size());
  // Check everything first, so that a mismatch changes nothing.
  for (int64_t i = 0; i < n; ++i) {
    const nn::Conv2d &a = *from[i].conv, &b = *to[i].conv;
    const bool fold = from[i].bn && !to[i].bn;
    PW_CHECK(a.weight.shape() == b.weight.shape() && a.params.groups == b.params.groups, "transfer: ", from[i].path,
             " weight ", shape_str(a.weight.shape()), " (groups ", a.params.groups, ") does not fit ", to[i].path,
             " weight ", shape_str(b.weight.shape()), " (groups ", b.params.groups, ")");
    // Folding a batch norm produces a bias, so the destination needs one; otherwise biases must match.
    PW_CHECK(fold ? b.bias.defined() : a.bias.defined() == b.bias.defined(), "transfer: ", from[i].path,
             a.bias.defined() ? " has a bias" : " has no bias", fold ? " and is followed by " + from[i].bn_path : "",
             ", but ", to[i].path, b.bias.defined() ? " has one" : " has none");
    if (fold)
      PW_CHECK(from[i].bn->running_mean.defined(), "transfer: ", from[i].bn_path,
               " keeps no running statistics, so it cannot be folded into ", to[i].path);
    if (from[i].bn && to[i].bn) {
      const nn::BatchNorm &x = *from[i].bn, &y = *to[i].bn;
      PW_CHECK(
          x.num_features == y.num_features && x.affine == y.affine && x.track_running_stats == y.track_running_stats,
          "transfer: ", from[i].bn_path, " (", x.num_features, " features, affine ", x.affine, ", running statistics ",
          x.track_running_stats, ") does not fit ", to[i].bn_path, " (", y.num_features, ", ", y.affine, ", ",
          y.track_running_stats, ")");
    }
  }
  TransferResult r;
  NoGradGuard ng;
  for (int64_t i = 0; i < n; ++i) {
    const ConvSlot &s = from[i], &d = to[i];
    std::string line = d.path + " <- " + s.path;
    if (s.bn && !d.bn) {
      const nn::BatchNorm& bn = *s.bn;
      std::vector<double> w = s.conv->weight.to_vector_f64();
      std::vector<double> b =
          s.conv->bias.defined() ? s.conv->bias.to_vector_f64() : std::vector<double>(bn.num_features, 0.0);
      std::vector<double> mean = bn.running_mean.to_vector_f64(), var = bn.running_var.to_vector_f64();
      std::vector<double> gamma = bn.affine ? bn.weight.to_vector_f64() : std::vector<double>(bn.num_features, 1.0);
      std::vector<double> beta = bn.affine ? bn.bias.to_vector_f64() : std::vector<double>(bn.num_features, 0.0);
      const size_t per_out = w.size() / bn.num_features;
      for (int64_t o = 0; o < bn.num_features; ++o) {
        const double scale = gamma[o] / std::sqrt(var[o] + bn.eps);
        for (size_t k = 0; k < per_out; ++k) w[o * per_out + k] *= scale;
        b[o] = (b[o] - mean[o]) * scale + beta[o];
      }
      d.conv->weight.copy_(like(w, d.conv->weight));
      d.conv->bias.copy_(like(b, d.conv->bias));
      line += " (" + s.bn_path + " folded in)";
      r.tensors_copied += 2;
    } else {
      d.conv->weight.copy_(like(s.conv->weight.to_vector_f64(), d.conv->weight));
      if (d.conv->bias.defined()) d.conv->bias.copy_(like(s.conv->bias.to_vector_f64(), d.conv->bias));
      r.tensors_copied += d.conv->bias.defined() ? 2 : 1;
      if (s.bn && d.bn) {
        auto src_sd = s.bn->state_dict();
        for (auto& [name, t] : d.bn->state_dict()) {
          auto it = src_sd.find(name);
          if (it != src_sd.end()) t.copy_(like(it->second.to_vector_f64(), t)), ++r.tensors_copied;
        }
        line += " (with " + d.bn_path + " <- " + s.bn_path + ")";
      }
    }
    if (freeze) {
      for (auto* m : {static_cast<nn::Module*>(d.conv.get()), static_cast<nn::Module*>(d.bn.get())}) {
        if (!m) continue;
        r.parameters_frozen += m->num_parameters();
        m->set_requires_grad(false);
      }
    }
    r.lines.push_back(line);
  }
  return r;
}

}  // namespace pw::models
