// The fuzz targets: one entry function per parser of outside data. libFuzzer calls them through
// tests/fuzz/fuzz_main.cpp (PW_FUZZ=ON, tools/fuzz.sh); the normal build calls the same functions
// on every file of tests/fuzz_regressions/<name>/ (tests/test_fuzz_regressions.cpp).
//
// An entry returns true when the input was accepted, false when the parser refused it with a
// pw::Error (the expected outcome for most inputs). Anything else is a bug that the fuzzer reports:
// a sanitizer report, another exception escaping, a broken property that the entry checks (a
// reader that disagrees with itself, a value that does not survive a write and a read), a hang.
//
// Several parsers read paths, not bytes: their entries write the input to a scratch file first
// (scratch_dir(): $PW_FUZZ_SCRATCH, else /dev/shm or the temporary folder, one folder per process).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace pw::fuzz {

using Entry = bool (*)(const uint8_t* data, size_t size);

// safetensors: parse_safetensors on the bytes and read_safetensors on the same bytes in a file
// must agree (both refuse, or both give the same names, dtypes, shapes, values and metadata).
bool safetensors(const uint8_t* data, size_t size);
// The checkpoint loader: read_checkpoint, then restore_checkpoint into a small network (conv,
// batch norm, linear), an SGD optimizer and a generator; read_weights and a non-strict
// load_state_dict_file too (accepted: either path took the file). A refused restore must leave
// the network as it was.
bool checkpoint(const uint8_t* data, size_t size);
// IDX: the first byte chooses how the rest is stored: odd, gzip-compressed here (so mutations of
// the IDX structure reach the gzip path); even, written as it is (plain IDX, and gzip streams the
// fuzzer corrupts directly). read_idx on that file.
bool idx(const uint8_t* data, size_t size);
// CIFAR batches: the first byte chooses CIFAR-10 (even: data_batch_1.bin) or CIFAR-100 (odd:
// train.bin); the rest is the file; load_cifar with no limit and with a limit of one record.
bool cifar(const uint8_t* data, size_t size);
// Image decoding (stb_image behind our guards): the first byte chooses the channels asked for
// (0, 1, 3 or 4); read_image_info, then decode_image on the rest. Images of more than 2^20 pixels
// are only checked by the guards, not decoded (one would take seconds and hundreds of MB per input; the guard's
// limit of 2^28 pixels is tested in test_datasets / test_pictures).
bool image(const uint8_t* data, size_t size);
// The JSON reader: parse_json; an accepted value is written back with io::Json in each style and
// must parse again to the same value (strings exactly, numbers to the same double or integer).
bool json(const uint8_t* data, size_t size);
// The jigsaw permutation file: load_permutations; an accepted set is saved and read back equal.
bool permutations(const uint8_t* data, size_t size);
// The --data spec: the first line is the spec, resolved by data_kind and loaded by load_dataset
// inside a sandbox folder of small datasets (mnist/, cifar10/, cifar100/, folder/, images/);
// the second line, if any, is "size channels limit_train limit_test skip_bad test_fraction".
// Specs naming a path outside the sandbox (absolute, "..", "~") and "fashion-mnist" (60,000 real
// images) are not loaded.
bool data_spec(const uint8_t* data, size_t size);
// The flag parser: the input split at NUL bytes is argv; parse against a fixed set of flags, then
// every typed getter, parse_shape and parse_indices on each value, and json() must parse.
bool args(const uint8_t* data, size_t size);

struct Target {
  const char* name;  // the folder under tests/fuzz_regressions/ and the program fuzz_<name>
  Entry entry;
};
inline constexpr Target kTargets[] = {
    {"safetensors", safetensors},
    {"checkpoint", checkpoint},
    {"idx", idx},
    {"cifar", cifar},
    {"image", image},
    {"json", json},
    {"permutations", permutations},
    {"data_spec", data_spec},
    {"args", args},
};

// The entry of `name`, or nullptr.
Entry find_target(const std::string& name);

// A folder for the scratch files of this process, created on first use.
const std::string& scratch_dir();
// Writes bytes to scratch_dir()/name and returns the path.
std::string write_scratch(const std::string& name, const uint8_t* data, size_t size);

// A failed property: prints `what` and aborts, so that libFuzzer saves the input.
[[noreturn]] void property_failed(const std::string& what);

}  // namespace pw::fuzz
