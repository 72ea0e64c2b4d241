// simt-profile (PW_SIMT_PROFILE=FILE; kernels/simt/README.md, "Profile"): the warp-level view
// of every memory access of the kernels built checked (pw_add_simt_kernels_checked), per
// launch and per instruction, and an estimate of each launch's time on a named GPU.
//
// The checked build calls a hook before every load and store of kernel code (check_hooks.cpp).
// With profiling on, each access is recorded with its thread, code address (the instruction),
// address, size and memory space (global, or dynamic or static shared). At the end of each
// block the lanes' accesses are matched into warp requests: the k-th execution of an
// instruction by each lane of a warp forms the warp's k-th request of it. Per request:
// - global memory: the distinct 32-byte sectors it touches, against the ideal (its distinct
//   bytes over 32, rounded up); every sector goes into the launch's footprint (unique sectors
//   read and written: a floor on its DRAM traffic);
// - shared memory: wavefronts, the most distinct 4-byte words any one of the 32 banks must
//   deliver (lanes reading the same word share it: a broadcast is free), against the ideal (its
//   distinct words over 32, rounded up).
// FLOPs come from the launcher (PW_PROFILE_FLOPS in kernels/cuda/profile.cuh, before a launch).
// Macro-free.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/simt/gpu_specs.h"
#include "kernels/simt/types.h"

namespace pw::simt {

// On: every launch (of a checked kernel) is recorded; launches then run on one worker.
void set_profiling(bool on);
bool profiling();
// The FLOPs of the next launch made by this host thread (the launcher's annotation).
void profile_next_launch_flops(double flops);
// Launches made while one lives are not recorded: work that only simt does (the engine's
// allocator poisons reused memory on simt with a fill kernel; a GPU does not).
class ProfilePause {
 public:
  ProfilePause() : was_(profiling()) { set_profiling(false); }
  ~ProfilePause() { set_profiling(was_); }
  ProfilePause(const ProfilePause&) = delete;
  ProfilePause& operator=(const ProfilePause&) = delete;

 private:
  bool was_;
};

enum class ProfileSpace : uint8_t { global, shared };

// One instruction of a launch (a code address in the kernel), over all its warps and blocks.
struct ProfileSite {
  const void* code = nullptr;  // the hook's return address
  ProfileSpace space = ProfileSpace::global;
  bool write = false, atomic = false;
  uint64_t requests = 0;                          // warp-level executions
  uint64_t lane_accesses = 0;                     // thread-level executions
  uint64_t bytes = 0;                             // bytes the lanes asked for
  uint64_t sectors = 0, ideal_sectors = 0;        // global
  uint64_t wavefronts = 0, ideal_wavefronts = 0;  // shared
};

struct ProfileLaunch {
  std::string name;  // as written at the launch (PW_LAUNCH)
  const void* kernel = nullptr;
  std::string file;  // where PW_LAUNCH stands ("" if launched otherwise)
  unsigned line = 0;
  dim3 grid, block;
  size_t dynamic_smem = 0;
  double flops = -1;                             // the launcher's annotation; < 0: none
  uint64_t hooks = 0;                            // accesses the hooks saw (0: the kernel was not built checked)
  uint64_t read_sectors = 0, write_sectors = 0;  // unique 32-byte sectors of global memory
  std::vector<ProfileSite> sites;
};

// The launches recorded since profiling began (or the last reset), in order.
const std::vector<ProfileLaunch>& profile_launches();
void profile_reset();

// What ptxas reports for a kernel (registers per thread, static shared memory per block).
struct KernelResources {
  int registers = 0;
  size_t static_smem = 0;
};
// Reads a table written by `tools/kernel_resources.sh --tsv` (kernel signature, registers,
// static shared memory, tab-separated; the signature as c++filt writes it). Replaces the
// table in use; throws pw::simt::Error when the file cannot be read.
void load_kernel_resources(const std::string& path);

// The estimate for one launch on one GPU (seconds; see the README for the model).
struct LaunchEstimate {
  double dram_s = 0, shared_s = 0, flop_s = 0, total_s = 0;
  const char* bound = "";  // "DRAM", "shared", "FLOP"
  bool resources_known = false;
  int blocks_per_sm = 0;  // occupancy (0: unknown)
  uint64_t waves = 0;     // of resident blocks (0: unknown)
};
LaunchEstimate estimate_launch(const ProfileLaunch& launch, const GpuSpec& gpu);

// The report of profile_launches(): JSON (every launch, every instruction, estimates on every
// GPU of gpu_specs()) and a Markdown table (launches grouped by kernel, launch site and shape,
// sorted by estimated time on the first GPU, then their costliest source lines).
std::string profile_json();
std::string profile_table(size_t top_launches = 15, size_t top_lines = 15);
// Writes profile_json() to `path` and profile_table() to `path`.md.
void profile_write(const std::string& path);

}  // namespace pw::simt
