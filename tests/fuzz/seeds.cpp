// The seed inputs of the fuzz targets and the data spec target's sandbox (see seeds.h).
#include "tests/fuzz/seeds.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include <stb/stb_image_write.h>

#include "engine/data/cifar.h"
#include "engine/data/idx.h"
#include "engine/io/checkpoint.h"
#include "engine/io/image.h"
#include "engine/io/safetensors.h"
#include "engine/nn/layers.h"
#include "engine/optim/optimizer.h"
#include "engine/util/error.h"
#include "engine/util/files.h"
#include "tasks/pretext/jigsaw.h"
#include "tests/fuzz/targets.h"

namespace pw::fuzz {
namespace {

using Seeds = std::vector<std::pair<std::string, std::string>>;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A file written by one of the engine's path-taking writers, as bytes.
template <class Write>
std::string via_file(const std::string& name, Write&& write) {
  const std::string path = scratch_dir() + "/seed-" + name;
  write(path);
  std::string bytes = read_file(path);
  std::filesystem::remove(path);
  return bytes;
}

Tensor ramp(const Shape& shape, DType dtype, double scale) {
  Tensor t = Tensor::empty(shape, DType::f64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = (double(i) - 2.5) * scale;
  return t.to(dtype);
}

// A safetensors file written by hand: dtypes the writer does not produce (F16, BF16, I64).
std::string handmade_safetensors() {
  const std::string header = R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                             R"("b":{"dtype":"BF16","shape":[1,2],"data_offsets":[4,8]},)"
                             R"("l":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}})";
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  out += header;
  const uint8_t data[16] = {0x00, 0x3c, 0x00, 0xfc, 0x80, 0x3f, 0xc0, 0x7f, 7, 0, 0, 0, 0, 0, 0, 0};
  out.append(reinterpret_cast<const char*>(data), sizeof data);
  return out;
}

Seeds safetensors_seeds() {
  std::map<std::string, Tensor> tensors = {{"features.0.weight", ramp({2, 3}, DType::f32, 0.5)},
                                           {"d", ramp({2}, DType::f64, 1e-3)},
                                           {"i", ramp({3}, DType::i32, 2)},
                                           {"empty", Tensor::empty({0, 4})},
                                           {"scalar", ramp({}, DType::f32, 1)}};
  return {{"mixed.safetensors", io::serialize_safetensors(tensors, {{"format", "pt"}, {"note", "seed"}})},
          {"empty.safetensors", io::serialize_safetensors({})},
          {"half.safetensors", handmade_safetensors()}};
}

Seeds checkpoint_seeds() {
  auto net = fuzz_network();
  optim::SGD sgd(net->parameters(), 0.1, 0.9);
  for (Tensor& p : net->parameters()) p.set_grad(Tensor::ones(p.shape()));
  sgd.step();
  Generator rng(7, 3);
  rng.next_u32();
  return {{"checkpoint.safetensors",
           via_file("ckpt",
                    [&](const std::string& path) {
                      io::save_checkpoint(path, *net, &sgd, 5, &rng, {{"lr", "0.1"}, {"task", "seed"}});
                    })},
          {"weights.safetensors",
           via_file("weights", [&](const std::string& path) { io::save_state_dict_file(*net, path); })}};
}

Seeds idx_seeds() {
  std::vector<uint8_t> pixels(2 * 3 * 4);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(i * 11);
  const std::string plain = via_file("idx", [&](const std::string& p) {
    data::write_idx_u8(p, {2, 3, 4}, pixels, false);
  });
  const std::string gz = via_file("idx.gz", [&](const std::string& p) {
    data::write_idx_u8(p, {2, 3, 4}, pixels, true);
  });
  // A big-endian f32 vector of two elements (1.0, -2.5) and an i16 matrix.
  const std::string f32("\0\0\x0d\x01\0\0\0\x02\x3f\x80\0\0\xc0\x20\0\0", 16);
  const std::string i16("\0\0\x0b\x02\0\0\0\x01\0\0\0\x02\x01\x02\xff\xfe", 16);
  return {{"u8-plain", '\0' + plain},
          {"u8-gzipped-here", '\1' + plain},
          {"u8-gzip-file", '\0' + gz},
          {"f32-plain", '\0' + f32},
          {"i16-gzipped-here", '\1' + i16}};
}

std::string cifar_records(int n, bool cifar100) {
  std::string out;
  for (int r = 0; r < n; ++r) {
    if (cifar100) out += char(3 + r);
    out += char(r + 1);
    for (int i = 0; i < data::kCifarImageBytes; ++i) out += char((i * 7 + r) & 0xff);
  }
  return out;
}

Seeds cifar_seeds() {
  return {{"cifar10-2", '\0' + cifar_records(2, false)}, {"cifar100-1", '\1' + cifar_records(1, true)}};
}

// Interleaved 8-bit pixels of a w x h image with `comp` channels: a gradient.
std::vector<uint8_t> pattern(int w, int h, int comp) {
  std::vector<uint8_t> p(size_t(w) * h * comp);
  for (size_t i = 0; i < p.size(); ++i) p[i] = uint8_t(i * 37 % 251);
  return p;
}

std::string encode(int kind, int w, int h, int comp) {
  std::string out;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size_t(size));
  };
  const std::vector<uint8_t> p = pattern(w, h, comp);
  const int ok = kind == 0   ? stbi_write_png_to_func(append, &out, w, h, comp, p.data(), w * comp)
                 : kind == 1 ? stbi_write_jpg_to_func(append, &out, w, h, comp, p.data(), 80)
                             : stbi_write_bmp_to_func(append, &out, w, h, comp, p.data());
  PW_CHECK(ok != 0, "fuzz seeds: stb_image_write failed");
  return out;
}

Seeds image_seeds() {
  // The first byte picks the channels asked for: 0 as stored, 1, 3, 4.
  return {{"gray.png", '\0' + encode(0, 5, 4, 1)}, {"rgba.png", '\3' + encode(0, 3, 3, 4)},
          {"rgb.jpg", '\1' + encode(1, 9, 8, 3)},  {"gray.jpg", '\2' + encode(1, 8, 3, 1)},
          {"rgb.bmp", '\0' + encode(2, 4, 3, 3)},  {"rgba.bmp", '\2' + encode(2, 2, 2, 4)}};
}

Seeds json_seeds() {
  return {
      {"object.json", R"({"a": [1, -2.5e3, 0.1, true, false, null], "b": {"c": "x\"y\\z\n\t\u00e9\ud83d\ude00"}})"},
      {"header.json", R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})"},
      {"numbers.json", "[0, -0, 9223372036854775807, -9223372036854775808, 1e308, 2.5E-3, 123456789012345678901]"},
      {"nested.json", "[[[[{\"k\": [[]]}]]], {}, \"\"]"},
      {"string.json", "\"caf\\u00e9 \xe2\x82\xac\""}};
}

Seeds permutation_seeds() {
  const std::string zero_based = via_file(
      "perms", [](const std::string& path) { tasks::save_permutations(path, tasks::make_permutation_set(6, 1)); });
  return {{"zero-based.txt", zero_based},
          {"one-based.txt",
           "# the released files count from 1\n9 8 7 6 5 4 3 2 1\n1 2 3 4 5 6 7 8 9\n\n2 1 3 4 5 6 7 8 9\n"}};
}

Seeds data_spec_seeds() {
  // Line 1: the spec. Line 2: size channels limit_train limit_test skip_bad test_fraction.
  return {{"mnist", "mnist:mnist\n"},
          {"mnist-guessed", "mnist\n8 3 2 1 0 0.2"},
          {"cifar10", "cifar10:cifar10\n"},
          {"cifar100", "cifar100:cifar100\n16 0 -1 1 0 0"},
          {"folder", "folder:folder\n8 3 -1 -1 1 0.5"},
          {"folder-guessed", "folder\n12 1 3 2 1 0.34"},
          {"images", "images:images\n8 3"},
          {"images-of-a-class", "images:folder/cat\n6 4"}};
}

Seeds args_seeds() {
  auto words = [](std::initializer_list<const char*> list) {
    std::string out;
    for (const char* w : list) out += std::string(w) + '\0';
    return out;
  };
  return {{"all",
           words({"--name", "abc", "--count=5", "--rate", "1e3", "--verbose", "--shape", "3,4", "--units", "0-2,5"})},
          {"maybe", words({"--maybe=7", "--verbose=no", "--units", "all"})},
          {"help", words({"--help"})}};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  write_file_atomic(path, bytes);
}

}  // namespace

std::shared_ptr<nn::Module> fuzz_network() {
  auto net = std::make_shared<nn::Sequential>();
  net->push_back("conv", std::make_shared<nn::Conv2d>(1, 2, 3));
  net->push_back("bn", std::make_shared<nn::BatchNorm2d>(2));
  net->push_back("fc", std::make_shared<nn::Linear>(4, 3));
  return net;
}

std::vector<std::pair<std::string, std::string>> seeds(const std::string& target) {
  if (target == "safetensors") return safetensors_seeds();
  if (target == "checkpoint") return checkpoint_seeds();
  if (target == "idx") return idx_seeds();
  if (target == "cifar") return cifar_seeds();
  if (target == "image") return image_seeds();
  if (target == "json") return json_seeds();
  if (target == "permutations") return permutation_seeds();
  if (target == "data_spec") return data_spec_seeds();
  if (target == "args") return args_seeds();
  return {};
}

void write_data_sandbox(const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<uint8_t> pixels(4 * 6 * 6), labels = {0, 3, 9, 1};
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = uint8_t(i * 13);
  fs::create_directories(dir + "/mnist");
  data::write_idx_u8(dir + "/mnist/train-images-idx3-ubyte", {4, 6, 6}, pixels, false);
  data::write_idx_u8(dir + "/mnist/train-labels-idx1-ubyte", {4}, labels, false);
  data::write_idx_u8(dir + "/mnist/t10k-images-idx3-ubyte.gz", {2, 6, 6},
                     std::vector<uint8_t>(pixels.begin(), pixels.begin() + 72), true);
  data::write_idx_u8(dir + "/mnist/t10k-labels-idx1-ubyte.gz", {2}, {5, 2}, true);
  for (int i = 1; i <= 5; ++i)
    write_bytes(dir + "/cifar10/data_batch_" + std::to_string(i) + ".bin", cifar_records(1, false));
  write_bytes(dir + "/cifar10/test_batch.bin", cifar_records(2, false));
  write_bytes(dir + "/cifar100/train.bin", cifar_records(2, true));
  write_bytes(dir + "/cifar100/test.bin", cifar_records(1, true));
  for (const char* cls : {"cat", "dog"})
    for (int i = 0; i < 3; ++i)
      write_bytes(dir + "/folder/" + cls + "/" + std::to_string(i) + (i == 2 ? ".bmp" : ".png"),
                  encode(i == 2 ? 2 : 0, 7 + i, 5, 3));
  write_bytes(dir + "/folder/dog/broken.png", "\x89PNG\r\n\x1a\n not a whole PNG");
  write_bytes(dir + "/images/a.png", encode(0, 6, 6, 1));
  write_bytes(dir + "/images/sub/b.jpg", encode(1, 9, 7, 3));
}

}  // namespace pw::fuzz
