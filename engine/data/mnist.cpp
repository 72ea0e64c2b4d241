// MNIST-format loading: validates that images and labels agree before building tensors.
#include "engine/data/mnist.h"

#include <cstdlib>
#include <filesystem>

#include "engine/data/idx.h"
#include "engine/util/error.h"

namespace pw::data {

const std::vector<std::string> kFashionMnistClasses = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                       "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

std::string default_fashion_mnist_dir() {
  if (const char* env = std::getenv("PW_FASHION_MNIST")) return env;
  return "/usr/share/datasets/fashion-mnist";
}

static std::string find_file(const std::string& dir, const std::string& stem) {
  namespace fs = std::filesystem;
  for (const std::string& name : {stem + ".gz", stem}) {
    fs::path p = fs::path(dir) / name;
    std::error_code ec;  // a path the system refuses (too long, say) is not found
    if (fs::exists(p, ec)) return p.string();
  }
  PW_FAIL("mnist: '", stem, "(.gz)' not found in '", dir,
          "' (Fashion-MNIST comes with Debian's dataset-fashion-mnist package)");
}

LabeledImages load_mnist_format(const std::string& dir, bool train, int64_t limit) {
  std::string prefix = train ? "train" : "t10k";
  std::string img_path = find_file(dir, prefix + "-images-idx3-ubyte");
  std::string lbl_path = find_file(dir, prefix + "-labels-idx1-ubyte");
  IdxArray img = read_idx(img_path);
  IdxArray lbl = read_idx(lbl_path);
  PW_CHECK(img.type_code == kIdxU8 && img.dims.size() == 3, "mnist: '", img_path,
           "' should hold unsigned bytes of shape [N, H, W]");
  PW_CHECK(lbl.type_code == kIdxU8 && lbl.dims.size() == 1, "mnist: '", lbl_path,
           "' should hold unsigned bytes of shape [N]");
  PW_CHECK(img.dims[0] == lbl.dims[0], "mnist: '", img_path, "' has ", img.dims[0], " images but '", lbl_path, "' has ",
           lbl.dims[0], " labels");
  int64_t n = img.dims[0], h = img.dims[1], w = img.dims[2];
  if (limit > 0 && limit < n) n = limit;
  LabeledImages out;
  out.images = Tensor::empty({n, 1, h, w});
  out.labels = Tensor::empty({n}, DType::i32);
  float* ip = out.images.data<float>();
  for (int64_t i = 0; i < n * h * w; ++i) ip[i] = img.bytes[i] * (1.0f / 255.0f);
  int32_t* lp = out.labels.data<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    lp[i] = lbl.bytes[i];
    PW_CHECK(lp[i] < 10, "mnist: '", lbl_path, "' has label ", lp[i], " at index ", i, " (expected 0..9)");
  }
  out.class_names = kFashionMnistClasses;
  return out;
}

}  // namespace pw::data
