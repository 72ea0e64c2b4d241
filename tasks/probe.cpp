// Linear probes: see probe.h.
#include "tasks/probe.h"

#include <chrono>
#include <cmath>
#include <cstring>

#include "engine/io/json.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "engine/util/files.h"
#include "engine/util/progress.h"
#include "tasks/datasets.h"

namespace pw::tasks {

namespace {

Tensor pool_to(const Tensor& f, int64_t max_dims) {
  if (f.dim() == 2) return f;
  PW_CHECK(f.dim() == 4, "probe: a layer output of shape ", shape_str(f.shape()), " cannot be probed");
  const int64_t c = f.size(1), h = f.size(2), w = f.size(3);
  if (c * h * w <= max_dims) return f.flatten(1);
  const int64_t s = std::max<int64_t>(1, (int64_t)std::floor(std::sqrt((double)max_dims / c)));
  return adaptive_avg_pool2d(f, std::min(s, h), std::min(s, w)).flatten(1);
}

// Copies rows [begin, end) of a [N, ...] tensor (cpu) into a fresh contiguous tensor.
Tensor rows(const Tensor& t, const std::vector<int64_t>& order, int64_t begin, int64_t end) {
  Shape s = t.shape();
  s[0] = end - begin;
  Tensor out = Tensor::empty(s, t.dtype());
  const int64_t per = t.numel() / t.size(0), bytes = per * dtype_size(t.dtype());
  const char* src = static_cast<const char*>(t.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (int64_t i = begin; i < end; ++i) std::memcpy(dst + (i - begin) * bytes, src + order[i] * bytes, bytes);
  return out;
}

double accuracy(nn::Linear& lin, const Tensor& f, const Tensor& y, Device device) {
  NoGradGuard ng;
  int64_t correct = 0;
  const int64_t n = f.size(0);
  std::vector<int64_t> ident(n);
  for (int64_t i = 0; i < n; ++i) ident[i] = i;
  for (int64_t b = 0; b < n; b += 1024) {
    const int64_t e = std::min(n, b + 1024);
    std::vector<int32_t> pred = argmax(lin(rows(f, ident, b, e).to(device)), 1).to_vector_i32();
    const int32_t* lab = y.data<int32_t>();
    for (int64_t i = b; i < e; ++i) correct += pred[i - b] == lab[i];
  }
  return (double)correct / std::max<int64_t>(1, n);
}

}  // namespace

std::vector<Tensor> extract_features(nn::Module& trunk, const std::vector<ProbePoint>& points, const Tensor& images,
                                     int64_t max_dims, int64_t batch_size) {
  NoGradGuard ng;
  nn::EvalModeScope eval(trunk);
  std::vector<std::string> ends;
  for (const ProbePoint& p : points) ends.push_back(p.end);
  const int64_t n = images.size(0);
  std::vector<std::vector<Tensor>> parts(points.size());
  for (int64_t b = 0; b < n; b += batch_size) {
    const int64_t e = std::min(n, b + batch_size);
    std::vector<Tensor> outs = forward_collect(trunk, ends, images.slice(0, b, e).contiguous().to(trunk.device()));
    for (size_t k = 0; k < points.size(); ++k) parts[k].push_back(pool_to(outs[k], max_dims).to(Device::cpu()));
  }
  std::vector<Tensor> out;
  for (auto& p : parts) out.push_back(concat(p, 0).contiguous());
  return out;
}

LinearFit fit_linear(const Tensor& train_f, const Tensor& train_y, const Tensor& test_f, const Tensor& test_y,
                     int64_t classes, const ProbeConfig& c) {
  PW_CHECK(c.classifier == "softmax" || c.classifier == "svm", "probe: --classifier must be softmax or svm, got '",
           c.classifier, "'");
  PW_CHECK(train_f.dim() == 2 && test_f.dim() == 2 && train_f.size(1) == test_f.size(1),
           "probe: features must be [N, D] with the same D, got ", shape_str(train_f.shape()), " and ",
           shape_str(test_f.shape()));
  const int64_t n = train_f.size(0), d = train_f.size(1);
  // Standardize with the training statistics (batch norm without affine, eval mode).
  std::vector<double> mean(d, 0), sq(d, 0);
  const float* f = train_f.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) mean[j] += f[i * d + j], sq[j] += (double)f[i * d + j] * f[i * d + j];
  std::vector<float> mu(d), inv(d);
  for (int64_t j = 0; j < d; ++j) {
    mean[j] /= n;
    mu[j] = (float)mean[j];
    inv[j] = (float)(1.0 / std::sqrt(std::max(0.0, sq[j] / n - mean[j] * mean[j]) + 1e-5));
  }
  auto standardize = [&](const Tensor& t) {
    Tensor o = t.clone();
    float* p = o.data<float>();
    for (int64_t i = 0; i < o.size(0); ++i)
      for (int64_t j = 0; j < d; ++j) p[i * d + j] = (p[i * d + j] - mu[j]) * inv[j];
    return o;
  };
  Tensor tr = standardize(train_f), te = standardize(test_f);

  Generator gen(c.seed, /*stream=*/0x9b0be);
  nn::Linear lin(d, classes);
  lin.reset_parameters(&gen);
  lin.to(c.device);
  optim::Adam opt(lin.parameters(), c.lr, 0.9, 0.999, 1e-8, c.classifier == "svm" ? 0.0 : c.weight_decay);
  const int64_t steps_per_epoch = (n + c.batch_size - 1) / c.batch_size;
  auto schedule = optim::make_schedule("cosine", c.lr, steps_per_epoch * c.epochs);
  int64_t step = 0;
  for (int64_t epoch = 0; epoch < c.epochs; ++epoch) {
    std::vector<int64_t> order = gen.permutation(n);
    for (int64_t b = 0; b < n; b += c.batch_size) {
      const int64_t e = std::min(n, b + c.batch_size);
      Tensor xb = rows(tr, order, b, e).to(c.device), yb = rows(train_y, order, b, e);
      opt.set_lr(schedule->lr_at(step++));
      opt.zero_grad();
      Tensor scores = lin(xb);
      Tensor loss;
      if (c.classifier == "softmax") {
        loss = cross_entropy(scores, yb.to(c.device));
      } else {
        // One-vs-rest squared hinge: t = +1 for the true class, -1 otherwise;
        // C * mean_i sum_k max(0, 1 - t_ik s_ik)^2 + ||W||^2 / (2 N).
        std::vector<float> t((e - b) * classes, -1.f);
        const int32_t* lab = yb.data<int32_t>();
        for (int64_t i = 0; i < e - b; ++i) t[i * classes + lab[i]] = 1.f;
        Tensor target = Tensor::from_vector(t, {e - b, classes}).to(c.device);
        Tensor margin = relu(1.0 - target * scores);
        loss = sum(margin * margin) * (c.svm_c / (double)(e - b)) + sum(lin.weight * lin.weight) * (0.5 / (double)n);
      }
      loss.backward();
      opt.step();
    }
  }
  return {accuracy(lin, tr, train_y, c.device), accuracy(lin, te, test_y, c.device)};
}

std::vector<ProbeResult> linear_probe(nn::Module& trunk, const std::vector<ProbePoint>& points, const Tensor& train_x,
                                      const Tensor& train_y, const Tensor& test_x, const Tensor& test_y,
                                      int64_t classes, const ProbeConfig& c) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<Tensor> ftr = extract_features(trunk, points, train_x, c.max_dims);
  std::vector<Tensor> fte = extract_features(trunk, points, test_x, c.max_dims);
  const double extract_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<ProbeResult> out;
  Progress progress((int64_t)points.size(), "probing", c.progress);
  for (size_t k = 0; k < points.size(); ++k) {
    auto t1 = std::chrono::steady_clock::now();
    LinearFit fit = fit_linear(ftr[k], train_y, fte[k], test_y, classes, c);
    ProbeResult r;
    r.layer = points[k].name;
    r.dims = ftr[k].size(1);
    r.pooled = {r.dims};
    r.train_accuracy = fit.train_accuracy;
    r.test_accuracy = fit.test_accuracy;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count() +
                extract_s / (double)points.size();
    out.push_back(r);
    progress.update((int64_t)k + 1, {{"test_acc", r.test_accuracy}});
  }
  progress.finish({});
  return out;
}

ProbeRunResult run_probe(const ProbeRunConfig& c) {
  const RunRecord record = read_run_record(c.source.checkpoint);
  const DataChoice choice = choose_data(record, c.data, "probe");
  const Dataset data = load_dataset(choice.spec, choice.options);
  PW_CHECK(data.labeled() && data.test_images.defined(), "probe: ", choice.spec,
           " has no labels or no test split; probes need labeled data (give --data)");
  ProbeRunResult r;
  r.data = choice.spec;
  r.data_summary = data_summary(choice.spec, data);
  LoadedModel loaded = load_model(c.source, data.train_images.size(1), "probe");
  r.model = loaded.name;
  loaded.model->to(c.probe.device);
  const std::vector<ProbePoint> points = c.layer == "all"
                                             ? probe_points(*loaded.model)
                                             : std::vector<ProbePoint>{find_probe_point(*loaded.model, c.layer)};
  const int64_t classes = (int64_t)std::max<size_t>(data.classes.size(), 2);
  r.rows = linear_probe(*loaded.model, points, data.train_images, data.train_labels, data.test_images, data.test_labels,
                        classes, c.probe);
  if (c.out.empty()) return r;
  std::string lines;
  for (const ProbeResult& row : r.rows)
    lines += io::Json::object({{"model", r.model},
                               {"checkpoint", c.source.checkpoint},
                               {"random", c.source.checkpoint.empty()},
                               {"data", r.data},
                               {"layer", row.layer},
                               {"dims", row.dims},
                               {"train_accuracy", row.train_accuracy},
                               {"test_accuracy", row.test_accuracy}})
                 .dump() +
             "\n";
  write_file_atomic(c.out, lines);
  return r;
}

}  // namespace pw::tasks
