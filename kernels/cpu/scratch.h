// Grow-only buffers of the calling thread for the CPU kernels' temporaries (im2col columns,
// per-thread weight-gradient sums, LRN's backward ratios, Winograd's transformed planes, the
// few-row SGEMM's rows of A and sums).
// Allocated per call they were fresh pages every time (page faults showed at 4.5% of AlexNet's
// training step and in Winograd's profile); kept, a steady step touches only memory it already
// has. Each slot grows to the largest request it sees and stays; the contents are uninitialised.
// The old buffer is freed before the new one is taken, so the peak is the new size.
#pragma once
#include <cstddef>
#include <memory>

namespace pw::kernels::cpu {

enum ScratchSlot {
  kConvTasks,
  kConvWeightSums,
  kConvPackedWeights,
  kConvImplicitWeights,
  kWinogradPackedU,
  kLrnRatios,
  kWinogradU,
  kWinogradV,
  kWinogradM,
  kWinogradFlipped,
  kGemmRows,
  kGemmRowSums,
  kScratchSlots
};

template <typename T>
T* thread_scratch(ScratchSlot slot, size_t n) {
  thread_local std::unique_ptr<T[]> buffers[kScratchSlots];
  thread_local size_t sizes[kScratchSlots] = {};
  if (sizes[slot] < n) {
    buffers[slot].reset();
    buffers[slot].reset(new T[n]);
    sizes[slot] = n;
  }
  return buffers[slot].get();
}

// n floats, 64-byte aligned (the SGEMM's packed panels: kernels/cpu/gemm.h, PackedA).
struct alignas(64) ScratchLine {
  float v[16];
};
inline float* aligned_thread_scratch(ScratchSlot slot, size_t n) {
  return reinterpret_cast<float*>(thread_scratch<ScratchLine>(slot, (n + 15) / 16));
}

}  // namespace pw::kernels::cpu
