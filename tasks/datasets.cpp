// Loading any dataset kind into normalized tensors: see datasets.h.
#include "tasks/datasets.h"

#include <cmath>
#include <filesystem>
#include <tuple>

#include "engine/data/cifar.h"
#include "engine/data/folder.h"
#include "engine/data/mnist.h"
#include "engine/data/transforms.h"
#include "engine/ops.h"
#include "engine/util/error.h"
#include "tasks/image_source.h"

namespace pw::tasks {

namespace fs = std::filesystem;

namespace {

// The filesystem calls here take an error_code: a path the system refuses (too long, not
// readable) is an answer ("no"), not a std::filesystem_error escaping the library.
bool has_mnist_files(const std::string& dir) {
  std::error_code ec;
  for (const char* f : {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"})
    if (fs::exists(fs::path(dir) / f, ec)) return true;
  return false;
}

bool has_class_folders(const std::string& dir) {
  std::error_code ec, type_ec;
  for (fs::directory_iterator it(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->is_directory(type_ec) && it->path().filename().string()[0] != '.') return true;
  return false;
}

Tensor resize_to(const Tensor& images, int64_t size) {
  if (size <= 0 || (images.size(2) == size && images.size(3) == size)) return images;
  NoGradGuard ng;
  return resize(images, size, size, ResizeMode::bilinear).contiguous();
}

Tensor to_channels(const Tensor& images, int channels) {
  if (channels <= 0 || images.size(1) == channels) return images;
  PW_CHECK(images.size(1) == 1 && channels == 3, "data: cannot turn ", images.size(1), "-channel images into ",
           channels);
  return concat({images, images, images}, 1).contiguous();
}

Tensor take(const Tensor& t, int64_t limit) {
  if (limit < 0 || limit >= t.size(0)) return t;
  return t.slice(0, 0, limit).contiguous();
}

void normalize(Dataset& d, const DataOptions& o) {
  const int64_t c = d.train_images.size(1), hw = d.train_images.size(2) * d.train_images.size(3);
  if (o.mean.empty() && o.std.empty()) {
    channel_stats(d.train_images, d.mean, d.std);
  } else {
    PW_CHECK((int64_t)o.mean.size() == c && (int64_t)o.std.size() == c, "data: the normalization has ", o.mean.size(),
             " means and ", o.std.size(), " standard deviations for ", c, "-channel images");
    d.mean = o.mean;
    d.std = o.std;
  }
  for (Tensor* t : {&d.train_images, &d.test_images}) {
    if (!t->defined()) continue;
    float* q = t->data<float>();
    for (int64_t i = 0; i < t->size(0); ++i)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t k = 0; k < hw; ++k) q[(i * c + ch) * hw + k] = (q[(i * c + ch) * hw + k] - d.mean[ch]) / d.std[ch];
  }
}

Tensor labels_tensor(const std::vector<int32_t>& v) { return Tensor::from_vector(v, {(int64_t)v.size()}); }

}  // namespace

std::pair<std::string, std::string> data_kind(const std::string& spec) {
  const auto colon = spec.find(':');
  std::string kind = colon == std::string::npos ? "" : spec.substr(0, colon);
  std::string path = colon == std::string::npos ? spec : spec.substr(colon + 1);
  if (spec == "fashion-mnist") return {"mnist", data::default_fashion_mnist_dir()};
  if (kind.empty()) {
    std::error_code ec;
    PW_CHECK(fs::is_directory(path, ec), "data: '", spec, "' is neither a dataset kind (fashion-mnist, mnist:DIR, ",
             "cifar10:DIR, cifar100:DIR, folder:DIR, images:DIR) nor a folder");
    kind = has_mnist_files(path) ? "mnist" : has_class_folders(path) ? "folder" : "images";
  }
  return {kind, path};
}

Dataset load_dataset(const std::string& spec, const DataOptions& o) {
  Dataset d;
  std::tie(d.kind, d.path) = data_kind(spec);
  if (d.kind == "mnist" || d.kind == "cifar10" || d.kind == "cifar100") {
    data::LabeledImages tr, te;
    if (d.kind == "mnist") {
      tr = data::load_mnist_format(d.path, true, o.limit_train);
      te = data::load_mnist_format(d.path, false, o.limit_test);
    } else {
      tr = data::load_cifar(d.path, true, o.limit_train);
      te = data::load_cifar(d.path, false, o.limit_test);
    }
    d.train_images = to_channels(resize_to(tr.images, o.image_size), o.channels);
    d.test_images = to_channels(resize_to(te.images, o.image_size), o.channels);
    d.train_labels = tr.labels;
    d.test_labels = te.labels;
    d.classes = tr.class_names;
  } else if (d.kind == "folder" || d.kind == "images") {
    const int64_t size = o.image_size > 0 ? o.image_size : 128;
    data::ImageList list = d.kind == "folder" ? data::list_image_folder(d.path) : data::list_flat_folder(d.path, true);
    data::LoadedImages loaded = data::load_images(list, o.channels > 0 ? o.channels : 3, o.skip_bad);
    d.skipped = loaded.skipped;
    d.classes = loaded.classes;
    std::vector<io::Image> train, test;
    std::vector<int32_t> train_y, test_y;
    // Deterministic split: within each class, every k-th image (k = round(1 / test_fraction)) is a test image.
    const int64_t every =
        o.test_fraction > 0 && d.kind == "folder" ? std::max<int64_t>(2, std::lround(1 / o.test_fraction)) : 0;
    std::vector<int64_t> seen(std::max<size_t>(1, d.classes.size()), 0);
    for (size_t i = 0; i < loaded.images.size(); ++i) {
      const int32_t label = loaded.labels.empty() ? 0 : loaded.labels[i];
      const bool to_test = every > 0 && (++seen[label] % every == 0);
      (to_test ? test : train).push_back(fit_square(loaded.images[i], size));
      if (!loaded.labels.empty()) (to_test ? test_y : train_y).push_back(label);
      if (!to_test) d.train_paths.push_back(loaded.paths[i]);
    }
    PW_CHECK(!train.empty(), "data: no training images in '", d.path, "'");
    d.train_images = take(data::to_tensor(train), o.limit_train);
    if (!test.empty()) d.test_images = take(data::to_tensor(test), o.limit_test);
    if (d.kind == "folder") {
      d.train_labels = take(labels_tensor(train_y), o.limit_train);
      if (!test_y.empty()) d.test_labels = take(labels_tensor(test_y), o.limit_test);
    }
    if ((int64_t)d.train_paths.size() > d.train_images.size(0)) d.train_paths.resize(d.train_images.size(0));
  } else {
    PW_FAIL("data: unknown kind '", d.kind, "' in '", spec,
            "' (fashion-mnist, mnist:DIR, cifar10:DIR, cifar100:DIR, folder:DIR, images:DIR)");
  }
  normalize(d, o);
  return d;
}

std::string data_summary(const std::string& spec, const Dataset& d) {
  std::string s = spec + " (" + d.kind + "), " + std::to_string(d.train_images.size(0)) + " training images " +
                  shape_str(d.train_images.shape());
  if (d.test_images.defined()) s += ", " + std::to_string(d.test_images.size(0)) + " test images";
  if (!d.skipped.empty()) s += ", " + std::to_string(d.skipped.size()) + " skipped (first: " + d.skipped[0] + ")";
  return s;
}

}  // namespace pw::tasks
