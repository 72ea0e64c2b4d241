// Host launchers of the seeded bugs (tests/simt_bugs/*.cu): each CUDA kernel comes with a bug
// and its fixed twin, chosen by `fixed`. They are built checked (pw_add_simt_kernels_checked):
// under PW_SIMT_CHECK each bug gives one report of its kind, naming both source lines, and
// each twin none (simt_bugs_test.cpp). The lines a report must name carry a comment
// "// site: NAME" in the .cu file, which the test finds. Pointers are device pointers unless
// said otherwise.
#pragma once
#include <cstddef>

namespace pw::kernels::simt::bugs {

// races.cu (racecheck); each block of `threads` threads, out has blocks * threads elements.
void neighbour_exchange(const int* in, int* out, int blocks, int threads, bool fixed);   // missing __syncthreads
void shared_counter(int* out, int blocks, int threads, bool fixed);                      // s += 1, not atomicAdd
void tree_reduction(const float* x, float* out, int blocks, bool fixed);                 // 256 threads; loop barrier
void warp_reduction(const float* x, float* out, int blocks, bool fixed);                 // 64 threads; no __syncwarp
void double_buffered_gemm(const float* a, const float* b, float* c, int n, bool fixed);  // n % 16 == 0
void block_ids(int* out, int blocks, bool fixed);  // every block writes out[0] (twin: out[block])

// memory.cu (memcheck, initcheck)
void static_shared_before_written(int* out, bool fixed);  // 64 threads
// y[i] = 2 x[i] for i < n, with x and y passed inside a structure (so that the launch's own
// check of pointer arguments does not see them): x may be a host pointer or a freed buffer.
void scale_in_struct(const float* x, float* y, int n);
void scale(const float* x, float* y, int n);                             // x, y as plain arguments
void copy_float4(const float* x, float* y, int offset, int threads);     // float4 loads at x + offset
void reverse_tile(const float* x, float* y, int threads, bool fixed);    // dynamic smem one float short
void neighbour_difference(const float* x, float* y, int n, bool fixed);  // reads x[-1]

// sync.cu (synccheck)
void divergent_barrier(float* out, bool fixed);    // 64 threads
void mismatched_masks(unsigned* out, bool fixed);  // 32 threads

}  // namespace pw::kernels::simt::bugs
