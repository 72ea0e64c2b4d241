// Fuzz targets of the binary file formats: safetensors, checkpoints, IDX, CIFAR batches, images
// (see targets.h for what each checks).
#include <zlib.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/data/cifar.h"
#include "engine/data/idx.h"
#include "engine/io/checkpoint.h"
#include "engine/io/image.h"
#include "engine/io/safetensors.h"
#include "engine/nn/layers.h"
#include "engine/optim/optimizer.h"
#include "engine/util/error.h"
#include "tests/fuzz/properties.h"
#include "tests/fuzz/seeds.h"
#include "tests/fuzz/targets.h"

namespace pw::fuzz {
namespace {

std::string as_string(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace

bool safetensors(const uint8_t* data, size_t size) {
  const std::string bytes = as_string(data, size);
  io::SafetensorsFile parsed, read;
  std::string parse_error, read_error;
  try {
    parsed = io::parse_safetensors(bytes, "fuzz");
  } catch (const Error& e) {
    parse_error = e.what();
  }
  try {
    read = io::read_safetensors(write_scratch("input.safetensors", data, size));
  } catch (const Error& e) {
    read_error = e.what();
  }
  if (parse_error.empty() != read_error.empty())
    property_failed("safetensors: parse_safetensors and read_safetensors disagree: parse says '" +
                    (parse_error.empty() ? std::string("accepted") : parse_error) + "', read says '" +
                    (read_error.empty() ? std::string("accepted") : read_error) + "'");
  if (!parse_error.empty()) return false;
  expect_same_tensors(parsed.tensors, read.tensors, "safetensors: parse vs read");
  if (parsed.metadata != read.metadata) property_failed("safetensors: parse and read give different metadata");
  // What was accepted is written back and read again unchanged (F16, BF16 and I64 come back as
  // the f32 / i32 they were read as).
  const io::SafetensorsFile again =
      io::parse_safetensors(io::serialize_safetensors(parsed.tensors, parsed.metadata), "fuzz (rewritten)");
  expect_same_tensors(parsed.tensors, again.tensors, "safetensors: read vs rewritten");
  if (parsed.metadata != again.metadata) property_failed("safetensors: the metadata changed when rewritten");
  return true;
}

bool checkpoint(const uint8_t* data, size_t size) {
  const std::string path = write_scratch("input.ckpt.safetensors", data, size);
  auto net = fuzz_network();
  optim::SGD sgd(net->parameters(), 0.1, 0.9);
  Generator rng(1, 2);
  const std::map<std::string, Tensor> before = clone_all(net->state_dict());
  bool accepted = true;
  try {
    const io::Checkpoint ckpt = io::read_checkpoint(path);
    io::restore_checkpoint(ckpt, *net, &sgd, &rng);
  } catch (const Error&) {
    // Nothing may have changed.
    expect_same_tensors(before, net->state_dict(), "checkpoint: a refused restore changed the network");
    if (rng.seed() != 1 || rng.stream() != 2 || rng.offset() != 0)
      property_failed("checkpoint: a refused restore changed the generator");
    accepted = false;
  }
  try {
    io::read_weights(path);
    io::load_state_dict_file(*fuzz_network(), path, /*strict=*/false);
    accepted = true;  // a plain weight file is accepted here
  } catch (const Error&) {
  }
  return accepted;
}

bool idx(const uint8_t* data, size_t size) {
  if (size == 0) return false;
  std::string content = as_string(data + 1, size - 1);
  if (data[0] & 1) {
    // gzip with zlib's deflateInit2 (window bits 15 + 16: a gzip header and trailer).
    z_stream z{};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      property_failed("idx: deflateInit2 failed");
    std::string out(deflateBound(&z, content.size()) + 32, '\0');
    z.next_in = reinterpret_cast<Bytef*>(content.data());
    z.avail_in = static_cast<uInt>(content.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    const int r = deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    if (r != Z_STREAM_END) property_failed("idx: deflate did not finish");
    content = std::move(out);
  }
  const std::string path = write_scratch(data[0] & 1 ? "input.idx.gz" : "input.idx",
                                         reinterpret_cast<const uint8_t*>(content.data()), content.size());
  try {
    const data::IdxArray a = data::read_idx(path);
    const int64_t element = data::idx_element_size(a.type_code);
    if (element == 0 || int64_t(a.bytes.size()) != a.count() * element)
      property_failed("idx: an accepted file holds " + std::to_string(a.bytes.size()) + " bytes for " +
                      std::to_string(a.count()) + " elements of type " + std::to_string(a.type_code));
    return true;
  } catch (const Error&) {
    return false;
  }
}

bool cifar(const uint8_t* data, size_t size) {
  if (size == 0) return false;
  const bool cifar100 = data[0] & 1;
  const std::string path = write_scratch(cifar100 ? "train.bin" : "data_batch_1.bin", data + 1, size - 1);
  try {
    const data::LabeledImages all = data::load_cifar(path, true);
    const data::LabeledImages one = data::load_cifar(path, true, 1);
    const int64_t record = (cifar100 ? 2 : 1) + data::kCifarImageBytes;
    const int64_t n = int64_t(size - 1) / record;
    if (all.images.shape() != Shape{n, 3, 32, 32} || all.labels.shape() != Shape{n} ||
        one.images.shape() != Shape{1, 3, 32, 32})
      property_failed("cifar: an accepted batch of " + std::to_string(n) + " records gives images " +
                      shape_str(all.images.shape()) + " and labels " + shape_str(all.labels.shape()));
    return true;
  } catch (const Error&) {
    return false;
  }
}

bool image(const uint8_t* data, size_t size) {
  if (size == 0) return false;
  static const int kChannels[4] = {0, 1, 3, 4};
  const int channels = kChannels[data[0] & 3];
  ++data;
  --size;
  try {
    // Through the engine's guards: stb_image must not read a bad JPEG even for its header.
    const io::ImageInfo info = io::read_image_info(data, size, "fuzz");
    if (info.width * info.height > (int64_t{1} << 20)) return false;  // see targets.h
    const io::Image img = io::decode_image(data, size, "fuzz", channels);
    io::check_image(img, "fuzz");
    if (channels != 0 && img.channels != channels)
      property_failed("image: asked for " + std::to_string(channels) + " channels, got " +
                      std::to_string(img.channels));
    for (float v : img.pixels)
      if (!(v >= 0.0f && v <= 1.0f)) property_failed("image: a pixel value " + std::to_string(v) + " outside [0, 1]");
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace pw::fuzz
