// Classifier evaluation and `patchwork eval` (see evaluate.h).
#include "tasks/evaluate.h"

#include <algorithm>
#include <filesystem>

#include "engine/io/image.h"
#include "engine/io/json.h"
#include "engine/ops.h"
#include "engine/util/files.h"
#include "tasks/pictures.h"

namespace pw::tasks {

namespace fs = std::filesystem;

namespace {

void check_labels(const Tensor& labels, int64_t num_classes) {
  const std::vector<int32_t> v = labels.to_vector_i32();
  for (size_t i = 0; i < v.size(); ++i)
    PW_CHECK(v[i] >= 0 && v[i] < num_classes, "evaluate: label ", v[i], " of image ", i, " is outside the model's ",
             num_classes, " classes");
}

// Adds one batch of logits [B, classes] (cpu, f32) with labels y to the counts.
void count_batch(const Tensor& logits, const std::vector<int32_t>& y, Evaluation& ev, int64_t& top1, int64_t& top5) {
  const int64_t classes = ev.classes;
  const float* p = logits.data<float>();
  for (size_t i = 0; i < y.size(); ++i) {
    const float* row = p + i * classes;
    const int32_t truth = y[i];
    // rank: the classes ahead of the true one, a tie going to the smaller index as in argmax, so
    // that top-1 and the confusion matrix's diagonal agree.
    int64_t rank = 0, best = 0;
    for (int64_t c = 0; c < classes; ++c) {
      rank += row[c] > row[truth] || (row[c] == row[truth] && c < truth);
      if (row[c] > row[best]) best = c;
    }
    top1 += rank == 0;
    top5 += rank < 5;
    ev.confusion[truth * classes + best]++;
  }
}

}  // namespace

Evaluation evaluate(nn::Module& model, const Tensor& images, const Tensor& labels, int64_t batch_size,
                    int64_t num_classes) {
  PW_CHECK(batch_size > 0, "evaluate: batch size must be positive, got ", batch_size);
  PW_CHECK(num_classes > 0, "evaluate: the number of classes must be positive, got ", num_classes);
  PW_CHECK(images.dim() >= 1 && labels.dim() == 1 && images.size(0) == labels.size(0),
           "evaluate: ", images.dim() ? images.size(0) : 0, " images but labels of shape ", shape_str(labels.shape()));
  check_labels(labels, num_classes);
  NoGradGuard no_grad;
  nn::EvalModeScope eval_mode(model);
  const Device device = model.device();
  Evaluation ev;
  ev.images = images.size(0);
  ev.classes = num_classes;
  ev.confusion.assign(num_classes * num_classes, 0);
  const std::vector<int32_t> y = labels.to_vector_i32();
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0;
  for (int64_t b = 0; b < ev.images; b += batch_size) {
    const int64_t e = std::min(ev.images, b + batch_size);
    Tensor logits = model(images.slice(0, b, e).contiguous().to(device));
    PW_CHECK(logits.dim() == 2 && logits.size(1) == num_classes, "evaluate: the model gives logits of shape ",
             shape_str(logits.shape()), ", expected [", e - b, ", ", num_classes, "]");
    loss_sum += cross_entropy(logits, labels.slice(0, b, e).contiguous().to(device), Reduction::sum).item();
    std::vector<int32_t> batch_labels(y.begin() + b, y.begin() + e);
    count_batch(logits.to(Device::cpu()).contiguous(), batch_labels, ev, top1, top5);
  }
  const double n = std::max<int64_t>(ev.images, 1);
  ev.loss = loss_sum / n;
  ev.accuracy = top1 / n;
  ev.top5 = top5 / n;
  return ev;
}

int64_t output_width(nn::Module& model, const Tensor& one_image, Device device) {
  NoGradGuard no_grad;
  nn::EvalModeScope eval_mode(model);
  return model(one_image.contiguous().to(device)).size(1);
}

EvalResult run_eval(const EvalConfig& c) {
  const RunRecord record = read_run_record(c.source.checkpoint);
  require_classifier(record, "eval");
  const DataChoice choice = choose_data(record, c.data, "eval");
  const Dataset data = load_dataset(choice.spec, choice.options);
  PW_CHECK(data.test_labels.defined(), "eval: --data ", choice.spec, " has no labeled test split");
  LoadedModel loaded = load_model(c.source, data.test_images.size(1), "eval");
  loaded.model->to(c.device);
  const int64_t classes = output_width(*loaded.model, data.test_images.slice(0, 0, 1), c.device);
  EvalResult r;
  r.model = loaded.name;
  r.data = choice.spec;
  r.evaluation = evaluate(*loaded.model, data.test_images, data.test_labels, c.batch_size, classes);
  if ((int64_t)record.classes.size() == classes)
    r.class_names = record.classes;
  else if ((int64_t)data.classes.size() == classes)
    r.class_names = data.classes;

  fs::create_directories(c.out_dir);
  r.picture = (fs::path(c.out_dir) / "confusion.png").string();
  r.json = (fs::path(c.out_dir) / "confusion.json").string();
  const Evaluation& ev = r.evaluation;
  const std::vector<double> cells(ev.confusion.begin(), ev.confusion.end());
  io::write_png(r.picture, labeled_heatmap(cells, classes, classes, r.class_names, r.class_names, "true", "predicted"));
  io::Json rows = io::Json::array();
  for (int64_t t = 0; t < classes; ++t)
    rows.push(std::vector<int64_t>(ev.confusion.begin() + t * classes, ev.confusion.begin() + (t + 1) * classes));
  const io::Json js = io::Json::object({{"model", r.model},
                                        {"checkpoint", c.source.checkpoint},
                                        {"data", r.data},
                                        {"images", ev.images},
                                        {"loss", ev.loss},
                                        {"top1", ev.accuracy},
                                        {"top5", ev.top5},
                                        {"classes", r.class_names},
                                        {"confusion", rows}});
  write_file_atomic(r.json, js.dump(io::JsonStyle::indented) + "\n");
  return r;
}

}  // namespace pw::tasks
