// Device discovery and parsing.
#include "engine/device/device.h"

#include "engine/device/gpu.h"

namespace pw {

bool device_available(Device d) {
  switch (d.type) {
    case DeviceType::cpu: return true;
    case DeviceType::simt: return true;
    case DeviceType::cuda:
#if PW_HAVE_CUDA
      return d.index >= 0 && d.index < kernels::cuda::device_count(kernels::cuda::Tag{});
#else
      return false;
#endif
  }
  return false;
}

namespace {

// The N of "cuda:N" / "simt:N" (0 without one), or an error naming the text.
int device_index(const std::string& name, size_t prefix) {
  if (name.size() <= prefix) return 0;
  const std::string digits = name.substr(prefix);
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9)
    PW_FAIL("device: bad device index in '", name, "' (expected a number from 0)");
  return std::stoi(digits);
}

// cuda:N does not exist here: say why, naming N and what there is.
[[noreturn]] void cuda_unavailable(const std::string& name) {
#if PW_HAVE_CUDA
  const int n = kernels::cuda::device_count(kernels::cuda::Tag{});
  if (n > 0)
    PW_FAIL("device: ", name, " is not available: this machine has ", n, " CUDA GPU", n == 1 ? "" : "s", " (cuda:0",
            n == 1 ? "" : " .. cuda:" + std::to_string(n - 1), ")");
  PW_FAIL("device: ", name,
          " is not available: no CUDA GPU was found (try --device simt, which runs the same CUDA kernels on the CPU)");
#else
  PW_FAIL("device: ", name,
          " is not available: this build has no CUDA kernels (the CUDA toolkit was not found at configure time); "
          "--device simt runs them on the CPU");
#endif
}

}  // namespace

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::cpu();
  if (name == "simt" || name.rfind("simt:", 0) == 0) {
    const int index = device_index(name, 5);
    if (index != 0) PW_FAIL("device: ", name, " does not exist: simt models one GPU, simt:0 (or simt)");
    return {DeviceType::simt, 0};
  }
  if (name == "auto") return device_available({DeviceType::cuda, 0}) ? Device{DeviceType::cuda, 0} : Device::cpu();
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    const Device d{DeviceType::cuda, device_index(name, 5)};
    if (!device_available(d)) cuda_unavailable(name);
    return d;
  }
  PW_FAIL("device: unknown device '", name, "' (expected auto, cpu, simt or cuda)");
}

std::vector<DeviceInfo> list_devices() {
  std::vector<DeviceInfo> out;
  out.push_back({Device::cpu(), true, "the CPU kernels (kernels/cpu)"});
  out.push_back(
      {{DeviceType::simt, 0}, true, "the CUDA kernels (kernels/cuda) run on the CPU by the simt execution model"});
#if PW_HAVE_CUDA
  int n = kernels::cuda::device_count(kernels::cuda::Tag{});
  if (n == 0) out.push_back({{DeviceType::cuda, 0}, false, "built, but no CUDA GPU was found"});
  for (int i = 0; i < n; ++i)
    out.push_back({{DeviceType::cuda, i}, true, kernels::cuda::device_description(kernels::cuda::Tag{}, i)});
#else
  out.push_back({{DeviceType::cuda, 0}, false, "not built (no CUDA toolkit at configure time, or PW_CUDA=OFF)"});
#endif
  return out;
}

void check_same_device(const char* op, Device a, Device b) {
  PW_CHECK(a == b, op, ": tensors on different devices, ", a.str(), " and ", b.str());
}

}  // namespace pw
