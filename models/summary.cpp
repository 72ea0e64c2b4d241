// Model summaries, from the layer walk (models/layer_walk.h). Multiply-adds count what the
// papers' "FLOPs" count: for a convolution, output elements x (input channels / groups) x kernel
// area; for a linear layer, in x out.
#include "models/summary.h"

#include <cstdio>

#include "models/layer_walk.h"

namespace pw::models {

namespace {

// Every output element of a convolution or linear layer is a dot product with one row of its
// weight ([O, C/groups, kh, kw] or [out, in]).
int64_t macs_of(const LayerInfo& l) {
  if (l.kind != LayerKind::conv && l.kind != LayerKind::linear) return 0;
  for (const auto& [name, w] : l.module->named_parameters())
    if (name == "weight") return shape_numel(l.output) * (w.numel() / w.size(0));
  return 0;
}

}  // namespace

std::vector<LayerSummary> summarize(nn::Module& model, const Shape& sample) {
  std::vector<LayerSummary> out;
  for (const LayerInfo& l : walk_layers(model, sample).layers)
    out.push_back({l.path, l.type, l.input, l.output, l.module.get(), l.module->num_parameters(), macs_of(l)});
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
  std::snprintf(buf, sizeof buf, "total: %lld parameters, %lld multiply-adds (%.3f G) per image\n", (long long)params,
                (long long)macs, macs * 1e-9);
  return s + buf;
}

}  // namespace pw::models
