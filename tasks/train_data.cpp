// The data of a training run: every --data kind decoded into memory (tasks::load_dataset), or
// the files of folder:DIR / images:DIR decoded batch by batch (--stream). See train.h.
#include <map>

#include "engine/data/folder.h"
#include "engine/util/error.h"
#include "tasks/datasets.h"
#include "tasks/train.h"

namespace pw::tasks {

namespace {

// --stream: folder:DIR (every fifth image of each class held out, as load_dataset splits it, at
// most --limit-test of them, 1000 by default, decoded for evaluation) or images:DIR (nothing
// held out). Mean and std come from 256 files spread over the list, or are given.
TrainData stream_data(const TrainConfig& c, const std::vector<float>& mean, const std::vector<float>& std) {
  const auto [kind, dir] = data_kind(c.data);
  PW_CHECK(kind == "folder" || kind == "images", "train: --stream reads folder:DIR or images:DIR, not '", c.data, "'");
  StreamOptions so;
  so.image_size = c.image_size.value_or(128);
  so.skip_bad = c.skip_bad;
  so.workers = c.workers;
  std::vector<std::string> train, test;
  std::vector<int32_t> train_y, test_y;
  TrainData d;
  d.kind = kind;
  if (kind == "images") {
    train = data::list_flat_folder(dir, true).paths;
  } else {
    const data::ImageList list = data::list_image_folder(dir);
    d.classes = list.classes;
    std::map<int32_t, int64_t> seen;
    for (size_t i = 0; i < list.paths.size(); ++i) {
      const bool held_out = ++seen[list.labels[i]] % 5 == 0;
      (held_out ? test : train).push_back(list.paths[i]);
      (held_out ? test_y : train_y).push_back(list.labels[i]);
    }
  }
  if (c.limit_train && (int64_t)train.size() > *c.limit_train)
    train.resize(*c.limit_train), train_y.resize(train.size());
  const int64_t limit = c.limit_test.value_or(1000);
  if ((int64_t)test.size() > limit) test.resize(limit), test_y.resize(limit);
  auto source =
      mean.empty() ? std::make_shared<FileSource>(train, so) : std::make_shared<FileSource>(train, so, mean, std);
  d.mean = source->mean();
  d.std = source->std();
  if (!train_y.empty()) d.train_labels = Tensor::from_vector(train_y, {(int64_t)train_y.size()});
  if (!test.empty()) {
    FileSource held_out(test, so, d.mean, d.std);
    std::vector<int64_t> all(test.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = (int64_t)i;
    d.test_images = held_out.gather(all);
    d.test_labels = Tensor::from_vector(test_y, {(int64_t)test_y.size()});
  }
  d.train = source;
  return d;
}

}  // namespace

TrainData load_train_data(const TrainConfig& c, const std::vector<float>& mean, const std::vector<float>& std) {
  if (c.stream) return stream_data(c, mean, std);
  DataOptions o;
  o.image_size = c.image_size.value_or(0);
  o.limit_train = c.limit_train.value_or(-1);
  o.limit_test = c.limit_test.value_or(-1);
  o.skip_bad = c.skip_bad;
  o.mean = mean;
  o.std = std;
  Dataset ds = load_dataset(c.data, o);
  TrainData d;
  d.kind = ds.kind;
  d.train = std::make_shared<TensorSource>(ds.train_images);
  d.train_labels = ds.train_labels;
  d.test_images = ds.test_images;
  d.test_labels = ds.test_labels;
  d.classes = ds.classes;
  d.mean = ds.mean;
  d.std = ds.std;
  d.skipped = ds.skipped;
  return d;
}

}  // namespace pw::tasks
