// Host launchers of the small CUDA kernels that test simt (tests/simt_kernels/*.cu). The .cu
// files are ordinary CUDA (they also compile with nvcc, into pw::kernels::cuda); test_simt
// links their simt build, so only pw::kernels::simt is declared here. Plain C++: pointers are
// device pointers from cudaMalloc, and every launcher checks its launch.
#pragma once
#include <cstddef>

namespace pw::kernels::simt::test {

// basic.cu
void vector_add(const float* a, const float* b, float* c, int n, int blocks, int threads);
void vector_add4(const float* a, const float* b, float* c, int n, int blocks, int threads);
void block_sum(const float* x, float* partial, int n, int blocks, int threads);
void reverse_blocks(const float* in, float* out, int n, int threads);  // dynamic smem
void rotate_active(const int* in, int* out, int active, int threads);  // early exit
void deep_recursion(int* out, int depth, int threads);
void thread_indices(int* out, int gx, int gy, int gz, int bx, int by, int bz);

// warp.cu
void warp_sum_down(const float* x, float* out, int n, int width, int threads);
void warp_scan_up(const int* x, int* out, int n, int width, int threads);
void warp_allreduce_xor(const float* x, float* out, int n, int width, int threads);
void warp_broadcast(const int* x, int* out, int n, int src_lane, int width, int threads);
void warp_shuffle(const int* x, int* out, int n, int kind, int arg, int width, int threads);
void warp_votes(const int* pred, unsigned* ballot, int* any, int* all, unsigned mask, int n, int threads);
void warp_match_reduce(const int* x, unsigned* match, int* sum, int n, int threads);
void shfl_from_exited_lane(float* out, int threads);
void shfl_mask_without_self(float* out);

// sync.cu
void barrier_votes(const int* pred, int* count, int* all, int* any, int n, int threads);
void racy_neighbour(int* out, int blocks, int threads);   // a missing __syncthreads
void fixed_neighbour(int* out, int blocks, int threads);  // the same with the barrier
void divergent_barrier(float* out, int threads);
void divergent_barrier_lines(int* first, int* second);

// atomics.cu
void histogram(const float* x, int n, float* hist, int bins, int blocks, int threads);
void atomic_ops(int* counters, int n, int blocks, int threads);
void last_block_sum(const float* x, int n, float* partial, unsigned* ticket, float* total, int blocks, int threads);

// fidelity.cu
void exited_lanes(float* shfl, unsigned* ballot, int* sum, int exit_from, int threads);
void smem_tile(float* out, int blocks, int threads, size_t smem_bytes);  // needs threads floats
void stale_static_shared(int* out, int blocks, bool fixed);              // 64 threads per block
void block_order(unsigned* counter, int* order, int gx, int gy);
void spin_wait(int* flag, int threads);  // endless when thread 0 runs first
void divide(int* out, int zero_at, int threads);
void assert_in_kernel(int* out, int blocks, int threads, int block, int thread);
void big_frame(int* out, int threads);  // a 256 KiB stack frame after a barrier

}  // namespace pw::kernels::simt::test
