// Which devices exist, their names, and choosing one from a command-line word.
#pragma once
#include <string>
#include <vector>

#include "engine/dtype.h"

namespace pw {

// Parses "cpu", "simt", "cuda", "cuda:N" or "auto" (cuda when a GPU is present, else cpu).
Device parse_device(const std::string& name);
bool device_available(Device d);

struct DeviceInfo {
  Device device;
  bool available;
  std::string description;  // what it is, or why it is not available
};
std::vector<DeviceInfo> list_devices();

// True for the devices whose memory the CPU cannot read directly through engine code
// (cuda, and simt, which pretends to be a GPU: its memory is read only through copies).
inline bool is_gpu(Device d) { return d.type != DeviceType::cpu; }

// Makes sure every op of an op's inputs lives on one device; names the op on error.
void check_same_device(const char* op, Device a, Device b);

}  // namespace pw
