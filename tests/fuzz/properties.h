// Helpers of the fuzz targets' property checks (see targets.h).
#pragma once
#include <map>
#include <stdexcept>
#include <string>

#include "engine/tensor.h"

namespace pw::fuzz {

// What property_failed throws: not a pw::Error, so no target catches it; libFuzzer reports the
// uncaught exception as a crash and saves the input, and the regression test fails on it.
struct PropertyFailure : std::logic_error {
  using std::logic_error::logic_error;
};

// property_failed unless both maps hold the same names, dtypes, shapes and bytes.
void expect_same_tensors(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b,
                         const std::string& what);

// A copy of each tensor (a snapshot that later changes to the originals do not reach).
std::map<std::string, Tensor> clone_all(const std::map<std::string, Tensor>& tensors);

}  // namespace pw::fuzz
