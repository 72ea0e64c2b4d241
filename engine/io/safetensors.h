// Reading and writing safetensors files (the Hugging Face format), the format of patchwork's
// weights and checkpoints (DESIGN: Data and formats).
//
// Layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON (padded with trailing
// spaces), then the data buffer. The JSON maps each tensor name to
//   {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
// with offsets relative to the data buffer, plus an optional "__metadata__" object of
// string -> string. The tensors' byte ranges must cover the buffer exactly: no overlaps, no gaps.
//
// Reading converts F32 -> f32, F64 -> f64, I32 -> i32, F16 and BF16 -> f32 (exactly, subnormals,
// infinities and NaNs included) and I64 -> i32 (an error naming the tensor if a value does not
// fit). Any other dtype is an error. Every problem with a file is a pw::Error naming the file and
// the tensor or byte offset at fault.
//
// Writing stores f32 as F32, f64 as F64 and i32 as I32 and copies tensors from any device and
// layout. It lays the data out as the reference implementation does (Python / Rust safetensors):
// F64 tensors first, then F32, then I32, by name within a dtype, packed right after a header that
// is padded with spaces so that the data starts 8-byte aligned; so every tensor is aligned to its
// element size. The header lists the tensors in that order, after a "__metadata__" with sorted
// keys (omitted when empty). The output depends only on the names, shapes, dtypes, values and
// metadata, so save -> load -> save gives identical bytes, equal to what the reference writes.
#pragma once
#include <map>
#include <string>

#include "engine/tensor.h"

namespace pw::io {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;  // on the cpu, contiguous
  std::map<std::string, std::string> metadata;
};

// The largest header accepted, as in the reference implementation (a guard against garbage).
constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

// Reads a file. Tensor data is read straight into the tensors (the file is not held in memory).
SafetensorsFile read_safetensors(const std::string& path);
// The metadata of a file, from its header alone (checked as read_safetensors checks it; the
// tensors' bytes are not read): what a run record needs from a checkpoint.
std::map<std::string, std::string> read_safetensors_metadata(const std::string& path);
// Parses the bytes of a whole file; `what` names it in error messages.
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& what);

// The bytes of a file holding `tensors` and `metadata`. Undefined tensors and the reserved name
// "__metadata__" are errors.
std::string serialize_safetensors(const std::map<std::string, Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata = {});
// Writes with write_file_atomic, tensor by tensor (the file is never built in memory): a failure
// leaves any existing file untouched.
void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace pw::io
