// Model summaries. Multiply-adds count what the papers' "FLOPs" count: for a convolution,
// output elements x (input channels / groups) x kernel area; for a linear layer, in x out.
#include "models/summary.h"

#include <cstdio>

#include "engine/ops.h"
#include "models/registry.h"

namespace pw::models {

namespace {

int64_t macs_of(const nn::Module& m, const Shape& out) {
  if (auto* c = dynamic_cast<const nn::Conv2d*>(&m))
    return shape_numel(out) * (c->in_channels / c->params.groups) * c->kernel_h * c->kernel_w;
  if (auto* l = dynamic_cast<const nn::Linear*>(&m))
    return shape_numel(out) / l->out_features * l->in_features * l->out_features;
  return 0;
}

void walk(nn::Module& m, const std::string& path, Tensor& x, std::vector<LayerSummary>& out) {
  if (auto* fc = dynamic_cast<FeaturesClassifier*>(&m)) {
    walk(*fc->features, path.empty() ? "features" : path + ".features", x, out);
    if (fc->avgpool) walk(*fc->avgpool, path.empty() ? "avgpool" : path + ".avgpool", x, out);
    x = x.flatten(1);
    walk(*fc->classifier, path.empty() ? "classifier" : path + ".classifier", x, out);
    return;
  }
  if (auto* tn = dynamic_cast<TiledNet*>(&m)) {
    const int64_t n = x.size(0);
    x = x.reshape({n * tn->tiles, x.size(2), x.size(3), x.size(4)});
    walk(*tn->features, path.empty() ? "features" : path + ".features", x, out);
    if (tn->avgpool) walk(*tn->avgpool, path.empty() ? "avgpool" : path + ".avgpool", x, out);
    x = x.flatten(1);
    walk(*tn->tower, path.empty() ? "tower" : path + ".tower", x, out);
    x = x.reshape({n, tn->tiles * x.size(1)});
    walk(*tn->head, path.empty() ? "head" : path + ".head", x, out);
    return;
  }
  if (dynamic_cast<nn::Sequential*>(&m)) {
    for (auto& [name, child] : m.named_children()) walk(*child, path + "." + name, x, out);
    return;
  }
  const Shape input = x.shape();
  x = m.forward(x);
  out.push_back({path, m.type_name(), input, x.shape(), &m, m.num_parameters(), macs_of(m, x.shape())});
}

}  // namespace

std::vector<LayerSummary> summarize(nn::Module& model, const Shape& chw) {
  const bool tiled = dynamic_cast<TiledNet*>(&model) != nullptr;
  PW_CHECK(chw.size() == (tiled ? 4u : 3u), "summary: input must be ", tiled ? "T,C,H,W" : "C,H,W", ", got ",
           shape_str(chw));
  if (tiled) {
    const int64_t tiles = dynamic_cast<TiledNet*>(&model)->tiles;
    PW_CHECK(chw[0] == tiles, "summary: ", model.type_name(), " takes ", tiles, " tiles per sample, got ", chw[0]);
  }
  NoGradGuard ng;
  nn::EvalModeScope eval(model);
  Shape batch1 = chw;
  batch1.insert(batch1.begin(), 1);
  Tensor x = Tensor::zeros(batch1, DType::f32, model.device());
  std::vector<LayerSummary> out;
  walk(model, "", x, out);
  return out;
}

std::string format_summary(const std::vector<LayerSummary>& layers) {
  std::string s;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-24s %-18s %-20s %14s %16s\n", "layer", "type", "output", "parameters",
                "multiply-adds");
  s += buf;
  int64_t params = 0, macs = 0;
  for (const LayerSummary& l : layers) {
    std::snprintf(buf, sizeof buf, "%-24s %-18s %-20s %14lld %16lld\n", l.path.c_str(), l.type.c_str(),
                  shape_str(l.output).c_str(), (long long)l.parameters, (long long)l.macs);
    s += buf;
    params += l.parameters;
    macs += l.macs;
  }
  std::snprintf(buf, sizeof buf, "total: %lld parameters, %lld multiply-adds (%.3f G) per image\n",
                (long long)params, (long long)macs, macs * 1e-9);
  return s + buf;
}

}  // namespace pw::models
