// Layer paths and partial forward passes: see features.h.
#include "tasks/features.h"

#include <algorithm>
#include <map>

#include "engine/autograd.h"
#include "engine/util/error.h"
#include "models/registry.h"

namespace pw::tasks {

namespace {

using Layers = std::vector<std::pair<std::string, std::shared_ptr<nn::Module>>>;

// One stage of a model's forward pass: a leaf module, or the flatten between the conv part and
// the fully connected part (not a module; kept so forward_collect can replay the pass).
struct Stage {
  std::string path;
  std::shared_ptr<nn::Module> module;  // null: flatten(1)
};

void add_sequential(const std::string& prefix, const std::shared_ptr<nn::Module>& m, std::vector<Stage>& out) {
  if (std::dynamic_pointer_cast<nn::Sequential>(m)) {
    for (auto& [name, child] : m->named_children())
      add_sequential(prefix.empty() ? name : prefix + "." + name, child, out);
    return;
  }
  out.push_back({prefix, m});
}

std::vector<Stage> stages(const nn::Module& model) {
  std::vector<Stage> s;
  if (auto* fc = dynamic_cast<const models::FeaturesClassifier*>(&model)) {
    add_sequential("features", fc->features, s);
    if (fc->avgpool) s.push_back({"avgpool", fc->avgpool});
    s.push_back({"", nullptr});
    add_sequential("classifier", fc->classifier, s);
    return s;
  }
  if (auto* tn = dynamic_cast<const models::TiledNet*>(&model)) {
    add_sequential("features", tn->features, s);
    if (tn->avgpool) s.push_back({"avgpool", tn->avgpool});
    s.push_back({"", nullptr});
    add_sequential("tower", tn->tower, s);
    return s;
  }
  // A plain Sequential (hand-built networks in tests and experiments): its leaves in order.
  if (dynamic_cast<const nn::Sequential*>(&model)) {
    for (auto& [name, child] : model.named_children()) add_sequential(name, child, s);
    return s;
  }
  PW_FAIL("features: cannot read the layers of a ", model.type_name(),
          " (FeaturesClassifier, TiledNet and Sequential models can be read)");
}

std::string layer_list(const std::vector<Stage>& st) {
  std::string s;
  for (const Stage& x : st)
    if (x.module) s += (s.empty() ? "" : ", ") + x.path;
  return s;
}

}  // namespace

std::string short_name(const std::string& path) { return path.substr(path.rfind('.') + 1); }

Shape layer_output_shape(nn::Module& model, const std::string& layer, const Shape& chw) {
  PW_CHECK(chw.size() == 3, "features: an input shape C, H, W is needed, got ", shape_str(chw));
  nn::EvalModeScope eval(model);
  NoGradGuard ng;
  const Tensor x = Tensor::zeros({1, chw[0], chw[1], chw[2]}).to(model.device());
  return (layer.empty() ? model(x) : forward_to(model, layer, x)).shape();
}

Layers model_layers(const nn::Module& model) {
  Layers out;
  for (const Stage& s : stages(model))
    if (s.module) out.emplace_back(s.path, s.module);
  return out;
}

std::vector<Tensor> forward_collect(nn::Module& model, const std::vector<std::string>& paths, const Tensor& x) {
  std::vector<Stage> st = stages(model);
  std::map<std::string, size_t> wanted;
  size_t last = 0;
  for (size_t i = 0; i < paths.size(); ++i) {
    auto it = std::find_if(st.begin(), st.end(), [&](const Stage& s) { return s.module && s.path == paths[i]; });
    PW_CHECK(it != st.end(), "features: ", model.type_name(), " has no layer '", paths[i],
             "'; its layers are: ", layer_list(st));
    wanted[paths[i]] = i;
    last = std::max(last, (size_t)(it - st.begin()));
  }
  std::vector<Tensor> out(paths.size());
  Tensor h = x;
  for (size_t k = 0; k <= last && !paths.empty(); ++k) {
    h = st[k].module ? st[k].module->forward(h) : h.flatten(1);
    if (auto it = wanted.find(st[k].path); st[k].module && it != wanted.end())
      for (size_t i = 0; i < paths.size(); ++i)
        if (paths[i] == st[k].path) out[i] = h;
  }
  return out;
}

Tensor forward_to(nn::Module& model, const std::string& path, const Tensor& x) {
  return forward_collect(model, {path}, x)[0];
}

std::vector<ProbePoint> probe_points(const nn::Module& model) {
  std::vector<Stage> st = stages(model);
  std::vector<ProbePoint> pts;
  for (size_t i = 0; i < st.size(); ++i) {
    if (!st[i].module) continue;
    const nn::Module* m = st[i].module.get();
    if (!dynamic_cast<const nn::Conv2d*>(m) && !dynamic_cast<const nn::Linear*>(m)) continue;
    ProbePoint p{st[i].path, st[i].path};
    for (size_t j = i + 1; j < st.size() && st[j].module; ++j) {
      const nn::Module* n = st[j].module.get();
      if (dynamic_cast<const nn::BatchNorm*>(n)) continue;
      if (dynamic_cast<const nn::ReLU*>(n)) p.end = st[j].path;
      break;
    }
    pts.push_back(p);
  }
  // The network's output layer is the pretext / class prediction itself, not a feature.
  if (dynamic_cast<const models::FeaturesClassifier*>(&model) && !pts.empty()) pts.pop_back();
  return pts;
}

ProbePoint find_probe_point(const nn::Module& model, const std::string& name) {
  std::vector<ProbePoint> pts = probe_points(model);
  std::string known;
  for (const ProbePoint& p : pts) {
    if (p.name == name || short_name(p.name) == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  PW_FAIL("features: ", model.type_name(), " has no probe layer '", name, "'; its layers are: ", known);
}

}  // namespace pw::tasks
