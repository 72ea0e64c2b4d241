// safetensors reading and writing: the header checks that make a bad file an error, the dtype
// conversions on reading, and the deterministic writer.
#include "engine/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string_view>
#include <vector>

#include "engine/io/json.h"
#include "engine/util/files.h"

namespace pw::io {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

// ---------------------------------------------------------------- header

struct DTypeInfo {
  const char* name;
  size_t size;
  DType to;
};
constexpr DTypeInfo kDTypes[] = {{"F32", 4, DType::f32}, {"F64", 8, DType::f64},  {"I32", 4, DType::i32},
                                 {"F16", 2, DType::f32}, {"BF16", 2, DType::f32}, {"I64", 8, DType::i32}};

struct Entry {
  std::string name;
  const DTypeInfo* dtype = nullptr;
  Shape shape;
  int64_t begin = 0, end = 0;
};

struct Header {
  std::vector<Entry> entries;
  std::map<std::string, std::string> metadata;
};

std::string range_str(int64_t begin, int64_t end, uint64_t data_start) {
  return detail::concat("bytes ", begin, "..", end, " of the data (file bytes ", data_start + begin, "..",
                        data_start + end, ")");
}

Entry parse_entry(const std::string& name, const JsonValue& v, const std::string& what) {
  const std::string where = what + ": tensor '" + name + "'";
  PW_CHECK(v.kind == JsonValue::object, where, ": expected an object with dtype, shape and data_offsets, got ",
           json_kind_name(v.kind));
  const JsonValue *dtype = nullptr, *shape = nullptr, *offsets = nullptr;
  for (const auto& [key, value] : v.members) {
    const JsonValue** slot = key == "dtype"          ? &dtype
                             : key == "shape"        ? &shape
                             : key == "data_offsets" ? &offsets
                                                     : nullptr;
    PW_CHECK(slot != nullptr, where, ": unexpected key '", key, "' (expected dtype, shape, data_offsets)");
    PW_CHECK(*slot == nullptr, where, ": duplicate key '", key, "'");
    *slot = &value;
  }
  for (auto [slot, key] : {std::pair{dtype, "dtype"}, {shape, "shape"}, {offsets, "data_offsets"}})
    PW_CHECK(slot != nullptr, where, ": missing \"", key, "\"");
  PW_CHECK(dtype->kind == JsonValue::string, where, ": dtype must be a string, got ", json_kind_name(dtype->kind));
  PW_CHECK(shape->kind == JsonValue::array, where, ": shape must be an array, got ", json_kind_name(shape->kind));
  PW_CHECK(offsets->kind == JsonValue::array && offsets->items.size() == 2, where,
           ": data_offsets must be an array of two integers");
  Entry e;
  e.name = name;
  for (const auto& d : kDTypes)
    if (dtype->text == d.name) e.dtype = &d;
  PW_CHECK(e.dtype != nullptr, what, ": unknown dtype '", dtype->text, "' for tensor '", name, "'");
  // extent multiplies the non-zero sizes: the strides of even an empty tensor must fit in int64.
  int64_t numel = 1, extent = 1;
  for (size_t k = 0; k < shape->items.size(); ++k) {
    const JsonValue& d = shape->items[k];
    PW_CHECK(d.kind == JsonValue::number && d.integer && d.value >= 0, where, ": shape entry ", k, " is ",
             d.kind == JsonValue::number ? d.text : json_kind_name(d.kind), ", expected a non-negative integer");
    e.shape.push_back(d.value);
    PW_CHECK(!__builtin_mul_overflow(extent, std::max<int64_t>(d.value, 1), &extent), where, ": shape ",
             shape_str(e.shape), " has too many elements");
    numel *= d.value;
  }
  for (int k = 0; k < 2; ++k) {
    const JsonValue& o = offsets->items[k];
    PW_CHECK(o.kind == JsonValue::number && o.integer && o.value >= 0, where, ": data_offsets[", k, "] is ",
             o.kind == JsonValue::number ? o.text : json_kind_name(o.kind), ", expected a non-negative integer");
  }
  e.begin = offsets->items[0].value;
  e.end = offsets->items[1].value;
  PW_CHECK(e.begin <= e.end, where, ": data_offsets [", e.begin, ", ", e.end, "] begin after they end");
  int64_t need = 0;
  PW_CHECK(!__builtin_mul_overflow(numel, (int64_t)e.dtype->size, &need) && e.end - e.begin == need, where,
           ": data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin, " bytes, but shape ",
           shape_str(e.shape), " of ", e.dtype->name, " needs ", numel, " x ", e.dtype->size, " bytes");
  return e;
}

// Parses and checks the header against a data buffer of `data_size` bytes.
Header parse_header(const std::string& json, uint64_t data_size, const std::string& what) {
  const JsonValue root = parse_json(json, what + ": the header", 8);
  PW_CHECK(root.kind == JsonValue::object, what, ": the header is ", json_kind_name(root.kind), ", expected an object");
  Header h;
  std::set<std::string> names;
  bool have_metadata = false;
  for (const auto& [name, v] : root.members) {
    if (name == "__metadata__") {
      PW_CHECK(!have_metadata, what, ": duplicate \"__metadata__\"");
      PW_CHECK(v.kind == JsonValue::object, what, ": __metadata__ must be an object, got ", json_kind_name(v.kind));
      have_metadata = true;
      for (const auto& [key, value] : v.members) {
        PW_CHECK(value.kind == JsonValue::string, what, ": metadata '", key, "' must be a string, got ",
                 json_kind_name(value.kind));
        PW_CHECK(h.metadata.emplace(key, value.text).second, what, ": duplicate metadata key '", key, "'");
      }
      continue;
    }
    PW_CHECK(names.insert(name).second, what, ": duplicate tensor name '", name, "'");
    h.entries.push_back(parse_entry(name, v, what));
  }
  const uint64_t data_start = 8 + json.size();
  for (const Entry& e : h.entries)
    PW_CHECK((uint64_t)e.end <= data_size, what, ": tensor '", e.name, "': data_offsets [", e.begin, ", ", e.end,
             "] are out of range: the data buffer has ", data_size, " bytes (file bytes ", data_start, "..",
             data_start + data_size, ")");
  // The byte ranges must tile the buffer. Empty tensors occupy no bytes and may sit anywhere.
  std::vector<const Entry*> order;
  for (const Entry& e : h.entries)
    if (e.end > e.begin) order.push_back(&e);
  std::sort(order.begin(), order.end(),
            [](const Entry* a, const Entry* b) { return std::pair(a->begin, a->end) < std::pair(b->begin, b->end); });
  int64_t covered = 0;
  const Entry* last = nullptr;
  for (const Entry* e : order) {
    PW_CHECK(e->begin >= covered, what, ": tensors '", last ? last->name : "", "' (data bytes ", last ? last->begin : 0,
             "..", covered, ") and '", e->name, "' (data bytes ", e->begin, "..", e->end, ") overlap");
    PW_CHECK(e->begin == covered, what, ": ", range_str(covered, e->begin, data_start),
             " are not covered by any tensor");
    covered = e->end;
    last = e;
  }
  PW_CHECK((uint64_t)covered == data_size, what, ": ", range_str(covered, (int64_t)data_size, data_start),
           " are not covered by any tensor");
  return h;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (uint32_t)(h >> 15) << 31, exponent = h >> 10 & 0x1F, mantissa = h & 0x3FF;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    const float v = std::ldexp((float)mantissa, -24);
    return sign ? -v : v;
  }
  const uint32_t bits = exponent == 0x1F ? sign | 0x7F800000u | mantissa << 13  // inf, NaN (payload kept)
                                         : sign | (exponent + 127 - 15) << 23 | mantissa << 13;
  return std::bit_cast<float>(bits);
}

// Makes the tensor of `e`; read(dst, begin, n) must fill dst with n bytes of the data at `begin`.
Tensor make_tensor(const Entry& e, const std::function<void(char*, int64_t, int64_t)>& read, const std::string& what) {
  Tensor t = Tensor::empty(e.shape, e.dtype->to);
  const int64_t n = t.numel(), nbytes = e.end - e.begin;
  if (n == 0) return t;
  const std::string name = e.dtype->name;
  if (name == "F32" || name == "F64" || name == "I32") {
    read(static_cast<char*>(t.raw_data()), e.begin, nbytes);
    return t;
  }
  std::vector<char> raw(nbytes);
  read(raw.data(), e.begin, nbytes);
  if (name == "I64") {
    int32_t* out = t.data<int32_t>();
    for (int64_t i = 0; i < n; ++i) {
      int64_t v;
      std::memcpy(&v, raw.data() + 8 * i, 8);
      PW_CHECK(v >= INT32_MIN && v <= INT32_MAX, what, ": tensor '", e.name, "' (I64): element ", i, " is ", v,
               ", which does not fit in i32 (I64 tensors are read as i32)");
      out[i] = (int32_t)v;
    }
    return t;
  }
  float* out = t.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    uint16_t v;
    std::memcpy(&v, raw.data() + 2 * i, 2);
    out[i] = name == "F16" ? half_to_float(v) : std::bit_cast<float>((uint32_t)v << 16);
  }
  return t;
}

uint64_t read_u64_le(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

void check_header_length(uint64_t n, uint64_t file_size, const std::string& what) {
  PW_CHECK(file_size >= 8, what, ": the file has ", file_size, " bytes, fewer than the 8 that hold the header length");
  PW_CHECK(n <= file_size - 8, what, ": the header length is ", n, " bytes, past the end of the file (", file_size,
           " bytes, so at most ", file_size - 8, " header bytes)");
  PW_CHECK(n <= kMaxSafetensorsHeader, what, ": the header length is ", n, " bytes, more than the limit of ",
           kMaxSafetensorsHeader);
}

}  // namespace

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& what) {
  check_header_length(bytes.size() >= 8 ? read_u64_le(bytes.data()) : 0, bytes.size(), what);
  const uint64_t n = read_u64_le(bytes.data()), data_start = 8 + n;
  Header h = parse_header(bytes.substr(8, n), bytes.size() - data_start, what);
  SafetensorsFile out{{}, std::move(h.metadata)};
  for (const Entry& e : h.entries)
    out.tensors[e.name] = make_tensor(
        e, [&](char* dst, int64_t begin, int64_t len) { std::memcpy(dst, bytes.data() + data_start + begin, len); },
        what);
  return out;
}

namespace {

// An open file with its header read and checked (every entry against the file's size).
struct OpenFile {
  std::ifstream in;
  uint64_t data_start = 0;
  Header header;
};

OpenFile open_safetensors(const std::string& path, const std::string& what) {
  std::error_code ec;
  PW_CHECK(!std::filesystem::is_directory(path, ec), what, ": is a directory");
  OpenFile f;
  f.in.open(path, std::ios::binary);
  PW_CHECK(f.in, what, ": cannot open: ", std::strerror(errno));
  f.in.seekg(0, std::ios::end);
  const std::streamoff end = f.in.tellg();
  PW_CHECK(f.in && end >= 0, what, ": cannot determine the file size");
  const uint64_t file_size = (uint64_t)end;
  f.in.seekg(0);
  char len[8] = {};
  if (file_size >= 8) f.in.read(len, 8);
  check_header_length(read_u64_le(len), file_size, what);
  std::string json(read_u64_le(len), '\0');
  f.in.read(json.data(), (std::streamsize)json.size());
  PW_CHECK(f.in, what, ": read error in the header");
  f.data_start = 8 + json.size();
  f.header = parse_header(json, file_size - f.data_start, what);
  return f;
}

}  // namespace

SafetensorsFile read_safetensors(const std::string& path) {
  const std::string what = "safetensors file '" + path + "'";
  OpenFile f = open_safetensors(path, what);
  SafetensorsFile out{{}, std::move(f.header.metadata)};
  for (const Entry& e : f.header.entries)
    out.tensors[e.name] = make_tensor(
        e,
        [&](char* dst, int64_t begin, int64_t n) {
          f.in.seekg((std::streamoff)(f.data_start + begin));
          f.in.read(dst, n);
          PW_CHECK(f.in && f.in.gcount() == n, what, ": read error in tensor '", e.name, "' at ",
                   range_str(begin, begin + n, f.data_start), "; was the file changed while being read?");
        },
        what);
  return out;
}

std::map<std::string, std::string> read_safetensors_metadata(const std::string& path) {
  return std::move(open_safetensors(path, "safetensors file '" + path + "'").header.metadata);
}

namespace {

// A file's layout: its head (the 8-byte header length and the header) and its tensors in file
// order (on the cpu, contiguous), whose bytes follow the head one after the other.
struct Layout {
  std::string head;
  std::vector<std::pair<const std::string*, Tensor>> order;
};

Layout layout_of(const std::map<std::string, Tensor>& tensors, const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [key, value] : metadata) {
      PW_CHECK(is_valid_utf8(key) && is_valid_utf8(value), "serialize_safetensors: metadata '", key,
               "' is not valid UTF-8");
      meta.set(key, value);
    }
    header.set("__metadata__", std::move(meta));
  }
  // The reference implementation's layout: 8-byte types first, then 4-byte ones (F64, F32, I32),
  // by name within a type, so every tensor is aligned to its element size.
  std::vector<std::pair<const std::string*, Tensor>> order;
  for (const auto& [name, t] : tensors) {
    PW_CHECK(name != "__metadata__", "serialize_safetensors: '__metadata__' is reserved, not a tensor name");
    PW_CHECK(is_valid_utf8(name), "serialize_safetensors: tensor name '", name, "' is not valid UTF-8");
    PW_CHECK(t.defined(), "serialize_safetensors: tensor '", name, "' is undefined");
    order.emplace_back(&name, t.detach().to(Device::cpu()).contiguous());
  }
  const auto rank = [](DType d) { return d == DType::f64 ? 0 : d == DType::f32 ? 1 : 2; };
  std::stable_sort(order.begin(), order.end(),
                   [&](const auto& a, const auto& b) { return rank(a.second.dtype()) < rank(b.second.dtype()); });
  int64_t offset = 0;
  for (const auto& [name, c] : order) {
    const char* dtype = nullptr;
    switch (c.dtype()) {
      case DType::f32: dtype = "F32"; break;
      case DType::f64: dtype = "F64"; break;
      case DType::i32: dtype = "I32"; break;
    }
    PW_CHECK(dtype, "safetensors: tensor '", *name, "' has dtype ", dtype_name(c.dtype()), ", which has no writer");
    const int64_t nbytes = c.numel() * (int64_t)dtype_size(c.dtype());
    header.set(*name,
               Json::object(
                   {{"dtype", dtype}, {"shape", c.shape()}, {"data_offsets", Json::array({offset, offset + nbytes})}}));
    offset += nbytes;
  }
  std::string json = header.dump(JsonStyle::compact);
  json.append((8 - json.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  Layout l;
  l.head.assign(8, '\0');
  const uint64_t n = json.size();
  std::memcpy(l.head.data(), &n, 8);
  l.head += json;
  l.order = std::move(order);
  return l;
}

std::string_view bytes_of(const Tensor& c) {
  return {static_cast<const char*>(c.raw_data()), (size_t)c.numel() * dtype_size(c.dtype())};
}

}  // namespace

std::string serialize_safetensors(const std::map<std::string, Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  const Layout l = layout_of(tensors, metadata);
  std::string out = l.head;
  for (const auto& [name, c] : l.order)
    if (c.numel() > 0) out += bytes_of(c);
  return out;
}

void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // Written piece by piece, never joined in memory: a checkpoint needs no second copy of itself.
  const Layout l = layout_of(tensors, metadata);
  std::vector<std::string_view> pieces = {l.head};
  for (const auto& [name, c] : l.order)
    if (c.numel() > 0) pieces.push_back(bytes_of(c));
  write_file_atomic(path, pieces);
}

}  // namespace pw::io
