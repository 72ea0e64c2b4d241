// The layer walk: see layer_walk.h. The only place that asks a module what it is (classify) and
// how a container runs its children (collect_*).
#include "models/layer_walk.h"

#include "engine/autograd.h"
#include "engine/util/error.h"
#include "models/registry.h"

namespace pw::models {

namespace {

// One layer's window per axis: kernel, stride, padding, dilation.
struct Window {
  int64_t kernel[2] = {1, 1}, stride[2] = {1, 1}, pad[2] = {0, 0}, dilation[2] = {1, 1};
};

Window pool_window(const Pool2dParams& p) {
  return {{p.kernel_h, p.kernel_w}, {p.stride_h, p.stride_w}, {p.pad_h, p.pad_w}, {p.dilation_h, p.dilation_w}};
}

struct Classified {
  LayerKind kind;
  Window window;  // conv and pools: theirs; per-position kinds: one pixel, stride 1
};

Classified classify(const nn::Module& m) {
  if (auto* c = dynamic_cast<const nn::Conv2d*>(&m)) {
    const Conv2dParams& p = c->params;
    return {LayerKind::conv,
            {{c->kernel_h, c->kernel_w}, {p.stride_h, p.stride_w}, {p.pad_h, p.pad_w}, {p.dilation_h, p.dilation_w}}};
  }
  // ceil_mode only adds windows at the end: the first units' windows are the same.
  if (auto* p = dynamic_cast<const nn::MaxPool2d*>(&m)) return {LayerKind::max_pool, pool_window(p->params)};
  if (auto* p = dynamic_cast<const nn::AvgPool2d*>(&m)) return {LayerKind::avg_pool, pool_window(p->params)};
  if (dynamic_cast<const nn::Linear*>(&m)) return {LayerKind::linear, {}};
  if (dynamic_cast<const nn::AdaptiveAvgPool2d*>(&m)) return {LayerKind::adaptive_pool, {}};
  if (dynamic_cast<const nn::ReLU*>(&m)) return {LayerKind::relu, {}};
  if (dynamic_cast<const nn::BatchNorm*>(&m)) return {LayerKind::batch_norm, {}};
  if (dynamic_cast<const nn::LocalResponseNorm*>(&m)) return {LayerKind::lrn, {}};
  if (dynamic_cast<const nn::Dropout*>(&m)) return {LayerKind::dropout, {}};
  if (dynamic_cast<const nn::Identity*>(&m)) return {LayerKind::identity, {}};
  if (dynamic_cast<const nn::Flatten*>(&m)) return {LayerKind::flatten, {}};
  return {LayerKind::other, {}};
}

std::string join_path(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

// The leaves of m (m itself unless it is a Sequential) at `path`, in `part`.
void collect(const std::string& path, const std::shared_ptr<nn::Module>& m, LayerPart part,
             std::vector<LayerInfo>& out) {
  if (std::dynamic_pointer_cast<nn::Sequential>(m)) {
    for (auto& [name, child] : m->named_children()) collect(join_path(path, name), child, part, out);
    return;
  }
  LayerInfo l;
  l.path = path;
  l.type = m->type_name();
  l.kind = classify(*m).kind;
  l.part = part;
  l.module = m;
  out.push_back(std::move(l));
}

// The first layer that `collect` adds after `first` (if any) runs on the flattened trunk output.
void mark_flatten(std::vector<LayerInfo>& layers, size_t first) {
  if (first < layers.size()) layers[first].flatten_before = true;
}

void collect_classifier(const FeaturesClassifier& fc, LayerWalk& w) {
  collect("features", fc.features, LayerPart::trunk, w.layers);
  if (fc.avgpool) collect("avgpool", fc.avgpool, LayerPart::trunk, w.layers);
  const size_t dense = w.layers.size();
  collect("classifier", fc.classifier, LayerPart::dense, w.layers);
  mark_flatten(w.layers, dense);
}

void collect_tiled(const TiledNet& tn, LayerWalk& w) {
  w.tiles = tn.tiles;
  collect("features", tn.features, LayerPart::trunk, w.layers);
  if (tn.avgpool) collect("avgpool", tn.avgpool, LayerPart::trunk, w.layers);
  const size_t dense = w.layers.size();
  collect("tower", tn.tower, LayerPart::dense, w.layers);
  mark_flatten(w.layers, dense);
  const size_t head = w.layers.size();
  collect("head", tn.head, LayerPart::head, w.layers);
  if (head < w.layers.size()) w.layers[head].join_tiles = tn.tiles;
}

// The field after `l` from the field before it, or why there is none.
std::optional<FieldLoss> extend_field(const LayerInfo& l, ReceptiveField& rf) {
  using Why = FieldLoss::Why;
  if (l.part != LayerPart::trunk) return FieldLoss{Why::after_flatten, l.path, l.type};
  switch (l.kind) {
    case LayerKind::adaptive_pool: return FieldLoss{Why::input_dependent, l.path, l.type};
    case LayerKind::flatten:
    case LayerKind::linear: return FieldLoss{Why::layout_lost, l.path, l.type};
    case LayerKind::other: return FieldLoss{Why::unknown_geometry, l.path, l.type};
    default: break;  // a window (LRN mixes channels only: per position, as ReLU)
  }
  const Window w = classify(*l.module).window;
  for (int a = 0; a < 2; ++a) {
    // The first pixel of unit 0 moves back by the padding, counted in the previous layer's
    // jumps; each further tap of the kernel adds (dilation) of those jumps to the size.
    rf.offset[a] -= w.pad[a] * rf.jump[a];
    rf.size[a] += (w.kernel[a] - 1) * w.dilation[a] * rf.jump[a];
    rf.jump[a] *= w.stride[a];
  }
  return std::nullopt;
}

void add_fields(std::vector<LayerInfo>& layers) {
  ReceptiveField rf;
  std::optional<FieldLoss> loss;
  for (LayerInfo& l : layers) {
    if (!loss) loss = extend_field(l, rf);
    if (loss)
      l.field_loss = loss;
    else
      l.field = rf;
  }
}

void check_sample(const nn::Module& model, const LayerWalk& w, const Shape& sample) {
  const bool tiled = w.form == LayerWalk::Form::tiled;
  PW_CHECK(sample.size() == (tiled ? 4u : 3u), model.type_name(), ": one sample must be ", tiled ? "T,C,H,W" : "C,H,W",
           ", got ", shape_str(sample));
  PW_CHECK(!tiled || sample[0] == w.tiles, model.type_name(), " takes ", w.tiles, " tiles per sample, got ", sample[0]);
}

// The flatten or tile join that runs before layer l.
Tensor before_layer(const LayerInfo& l, const Tensor& x) {
  if (l.flatten_before) return x.flatten(1);
  if (l.join_tiles > 0) {
    const int64_t t = l.join_tiles;
    PW_CHECK(x.dim() == 2 && x.size(0) % t == 0, l.path, ": expects the features of ", t, " tiles per sample as [N*", t,
             ", F], got ", shape_str(x.shape()));
    return x.reshape({x.size(0) / t, t * x.size(1)});
  }
  return x;
}

}  // namespace

LayerWalk walk_layers(const nn::Module& model) {
  LayerWalk w;
  if (auto* fc = dynamic_cast<const FeaturesClassifier*>(&model)) {
    w.form = LayerWalk::Form::classifier;
    collect_classifier(*fc, w);
  } else if (auto* tn = dynamic_cast<const TiledNet*>(&model)) {
    w.form = LayerWalk::Form::tiled;
    collect_tiled(*tn, w);
  } else if (dynamic_cast<const nn::Sequential*>(&model)) {
    w.form = LayerWalk::Form::sequential;
    for (auto& [name, child] : model.named_children()) collect(name, child, LayerPart::trunk, w.layers);
  } else {
    w.form = LayerWalk::Form::single;
    // A non-owning handle: the walk does not outlive the model it reads.
    std::shared_ptr<nn::Module> self(std::shared_ptr<nn::Module>(), const_cast<nn::Module*>(&model));
    collect("", self, LayerPart::trunk, w.layers);
  }
  add_fields(w.layers);
  return w;
}

LayerWalk walk_layers(nn::Module& model, const Shape& sample) {
  LayerWalk w = walk_layers(model);
  check_sample(model, w, sample);
  NoGradGuard ng;
  nn::EvalModeScope eval(model);
  Shape batch = sample;
  batch.insert(batch.begin(), 1);
  Tensor x = Tensor::zeros(batch, DType::f32, model.device());
  if (w.form == LayerWalk::Form::tiled) x = x.reshape({w.tiles, x.size(2), x.size(3), x.size(4)});
  for (LayerInfo& l : w.layers) {
    x = before_layer(l, x);
    l.input = x.shape();
    x = l.module->forward(x);
    l.output = x.shape();
  }
  return w;
}

Tensor forward_layer(const LayerInfo& layer, const Tensor& x) { return layer.module->forward(before_layer(layer, x)); }

}  // namespace pw::models
