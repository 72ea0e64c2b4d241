// CIFAR-10/100 binary batches: finds the split's files, checks every length before reading,
// then converts records into one images tensor and one labels tensor.
#include "engine/data/cifar.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "engine/util/error.h"

namespace pw::data {

const std::vector<std::string> kCifar10Classes = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                  "dog",      "frog",       "horse", "ship", "truck"};

const std::vector<std::string> kCifar100Classes = {
    "apple",      "aquarium_fish", "baby",         "bear",       "beaver",      "bed",         "bee",
    "beetle",     "bicycle",       "bottle",       "bowl",       "boy",         "bridge",      "bus",
    "butterfly",  "camel",         "can",          "castle",     "caterpillar", "cattle",      "chair",
    "chimpanzee", "clock",         "cloud",        "cockroach",  "couch",       "crab",        "crocodile",
    "cup",        "dinosaur",      "dolphin",      "elephant",   "flatfish",    "forest",      "fox",
    "girl",       "hamster",       "house",        "kangaroo",   "keyboard",    "lamp",        "lawn_mower",
    "leopard",    "lion",          "lizard",       "lobster",    "man",         "maple_tree",  "motorcycle",
    "mountain",   "mouse",         "mushroom",     "oak_tree",   "orange",      "orchid",      "otter",
    "palm_tree",  "pear",          "pickup_truck", "pine_tree",  "plain",       "plate",       "poppy",
    "porcupine",  "possum",        "rabbit",       "raccoon",    "ray",         "road",        "rocket",
    "rose",       "sea",           "seal",         "shark",      "shrew",       "skunk",       "skyscraper",
    "snail",      "snake",         "spider",       "squirrel",   "streetcar",   "sunflower",   "sweet_pepper",
    "table",      "tank",          "telephone",    "television", "tiger",       "tractor",     "train",
    "trout",      "tulip",         "turtle",       "wardrobe",   "whale",       "willow_tree", "wolf",
    "woman",      "worm"};

namespace {

namespace fs = std::filesystem;

const char* kExpectedLayout =
    "data_batch_1.bin .. data_batch_5.bin and test_batch.bin (CIFAR-10) or train.bin and test.bin "
    "(CIFAR-100)";

struct CifarSource {
  std::vector<std::string> files;
  bool cifar100 = false;
};

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

std::vector<std::string> split_files(bool cifar100, bool train) {
  if (cifar100) return {train ? "train.bin" : "test.bin"};
  if (!train) return {"test_batch.bin"};
  std::vector<std::string> names;
  for (int i = 1; i <= 5; ++i) names.push_back("data_batch_" + std::to_string(i) + ".bin");
  return names;
}

CifarSource find_source(const std::string& dir_or_file, bool train) {
  std::error_code ec;
  PW_CHECK(fs::exists(dir_or_file, ec), "cifar: '", dir_or_file, "' does not exist (expected a folder with ",
           kExpectedLayout, ", or one of those files)");
  if (!fs::is_directory(dir_or_file, ec)) {
    const std::string name = fs::path(dir_or_file).filename().string();
    return {{dir_or_file}, name == "train.bin" || name == "test.bin"};
  }
  // The folder itself, or the folder the archives unpack to inside it.
  for (const char* sub : {"", "cifar-10-batches-bin", "cifar-100-binary"}) {
    const fs::path dir = fs::path(dir_or_file) / sub;
    bool cifar100;
    if (is_file(dir / "data_batch_1.bin") || is_file(dir / "test_batch.bin"))
      cifar100 = false;
    else if (is_file(dir / "train.bin") || is_file(dir / "test.bin"))
      cifar100 = true;
    else
      continue;
    CifarSource source{{}, cifar100};
    std::string missing;
    for (const std::string& name : split_files(cifar100, train)) {
      source.files.push_back((dir / name).string());
      if (!is_file(dir / name)) missing += (missing.empty() ? "" : ", ") + name;
    }
    PW_CHECK(missing.empty(), "cifar: '", dir.string(), "' looks like CIFAR-", cifar100 ? 100 : 10, " but lacks ",
             missing, " (the ", train ? "training" : "test", " split needs ",
             cifar100 ? (train ? "train.bin" : "test.bin")
                      : (train ? "data_batch_1.bin .. data_batch_5.bin" : "test_batch.bin"),
             ")");
    return source;
  }
  PW_FAIL("cifar: no CIFAR files in '", dir_or_file, "': expected ", kExpectedLayout,
          " there or in its cifar-10-batches-bin/ or cifar-100-binary/ folder");
}

}  // namespace

LabeledImages load_cifar(const std::string& dir_or_file, bool train, int64_t limit) {
  const CifarSource source = find_source(dir_or_file, train);
  const int64_t label_bytes = source.cifar100 ? 2 : 1;
  const int64_t record = label_bytes + kCifarImageBytes;
  const int64_t classes = source.cifar100 ? 100 : 10;

  // Every length is checked before anything is read or allocated.
  std::vector<int64_t> records_per_file;
  int64_t total = 0;
  for (const std::string& path : source.files) {
    std::error_code ec;
    const uintmax_t length = fs::file_size(path, ec);
    PW_CHECK(!ec, "cifar: cannot read '", path, "': ", ec.message());
    PW_CHECK(length > 0 && length % uintmax_t(record) == 0, "cifar: '", path, "' is ", length,
             " bytes long, not a whole number of CIFAR-", classes, " records of ", record, " bytes (", label_bytes,
             " label byte", label_bytes > 1 ? "s" : "", " + ", kCifarImageBytes, " pixel bytes)");
    int64_t n = int64_t(length / uintmax_t(record));
    if (limit > 0) n = std::min(n, limit - total);
    records_per_file.push_back(n);
    total += n;
    if (limit > 0 && total >= limit) break;
  }

  LabeledImages out;
  out.images = Tensor::empty({total, 3, 32, 32});
  out.labels = Tensor::empty({total}, DType::i32);
  out.class_names = source.cifar100 ? kCifar100Classes : kCifar10Classes;
  float* images = out.images.data<float>();
  int32_t* labels = out.labels.data<int32_t>();
  int64_t done = 0;
  std::vector<uint8_t> bytes;
  for (size_t f = 0; f < records_per_file.size(); ++f) {
    const std::string& path = source.files[f];
    const int64_t n = records_per_file[f];
    errno = 0;
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    PW_CHECK(file != nullptr, "cifar: cannot open '", path, "': ", std::strerror(errno));
    bytes.resize(size_t(n * record));
    const size_t got = std::fread(bytes.data(), 1, bytes.size(), file.get());
    PW_CHECK(got == bytes.size(), "cifar: '", path, "' ended after ", got, " bytes while reading ", bytes.size(),
             " (was it changed while being read?)");
    for (int64_t r = 0; r < n; ++r) {
      const uint8_t* rec = bytes.data() + r * record;
      if (source.cifar100)
        PW_CHECK(rec[0] < 20, "cifar: '", path, "' record ", r, " has coarse label ", int(rec[0]), " (expected 0..19)");
      const int label = rec[label_bytes - 1];
      PW_CHECK(label < classes, "cifar: '", path, "' record ", r, " has ", source.cifar100 ? "fine " : "", "label ",
               label, " (expected 0..", classes - 1, ")");
      labels[done] = label;
      float* dst = images + done * kCifarImageBytes;
      for (int64_t i = 0; i < kCifarImageBytes; ++i) dst[i] = rec[label_bytes + i] / 255.0f;
      ++done;
    }
  }
  return out;
}

}  // namespace pw::data
