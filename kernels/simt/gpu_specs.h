// simt-profile: the GPUs whose time simt-profile estimates (kernels/simt/README.md, "Profile").
// Public specification values only, one row per GPU, with where each number comes from. An
// estimate made from them is a model (bandwidth, shared-memory and FP32 throughput bounds), not
// a measurement. Macro-free.
#pragma once
#include <string>
#include <vector>

namespace pw::simt {

struct GpuSpec {
  const char* name;
  int sms;                        // streaming multiprocessors
  double clock_ghz;               // boost clock
  double dram_bytes_per_s;        // HBM bandwidth
  double fp32_flops_per_s;        // FP32 peak (FMA = 2 FLOPs), without tensor cores
  int max_threads_per_sm;         // resident threads
  int max_blocks_per_sm;          // resident blocks
  int registers_per_sm;           // 32-bit registers
  int register_granularity;       // registers are allocated per warp in units of this many
  int shared_bytes_per_sm;        // shared memory (carve-out at its maximum)
  int shared_reserved_per_block;  // the system's share of each block's shared memory
  int shared_granularity;         // shared memory is allocated in units of this many bytes
  const char* source;
};

// H100 SXM5: NVIDIA H100 Tensor Core GPU datasheet (FP32 67 TFLOPS, 3.35 TB/s HBM3) and
// "NVIDIA H100 Tensor Core GPU Architecture" whitepaper (132 SMs, 1.98 GHz boost for the SXM5
// part's FP32 figure: 132 x 128 FP32 lanes x 2 x 1.98 GHz = 66.9 TFLOPS; 228 KB of shared memory
// per SM, 65536 registers, 2048 threads, 32 blocks); CUDA occupancy calculator for compute
// capability 9.0 (1 KB reserved per block, 128-byte shared allocation unit, 256-register unit).
// H200 SXM: NVIDIA H200 datasheet (4.8 TB/s HBM3e, FP32 67 TFLOPS): the same GH100 chip and
// clocks as H100 SXM, with faster memory.
inline const std::vector<GpuSpec>& gpu_specs() {
  static const auto* specs = new std::vector<GpuSpec>{
      // never destroyed: the profile is written at exit
      {"H100 SXM", 132, 1.98, 3.35e12, 67e12, 2048, 32, 65536, 256, 228 * 1024, 1024, 128,
       "NVIDIA H100 datasheet and Hopper whitepaper (SXM5)"},
      {"H200", 132, 1.98, 4.8e12, 67e12, 2048, 32, 65536, 256, 228 * 1024, 1024, 128, "NVIDIA H200 datasheet (SXM)"},
  };
  return *specs;
}

// The GPU named `name` ("H100 SXM", "h100", "H200"; case and spaces ignored, "h100" alone names
// the SXM part); throws pw::simt::Error naming the known ones otherwise.
const GpuSpec& gpu_spec(const std::string& name);

}  // namespace pw::simt
