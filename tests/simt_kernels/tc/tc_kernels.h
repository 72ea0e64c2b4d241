// Host launchers of the tensor-core test kernels (tests/simt_kernels/tc/tc_kernels.cu), simt
// build only. Pointers are cudaMalloc'd device pointers; each launcher checks its launch (a
// kernel failing on simt throws pw::simt::Error).
#pragma once
#include <cstdint>

namespace pw::kernels::simt::test_tc {

// One mma.sync per lane: shape 0 = m16n8k8 .tf32, 1 = m16n8k16 .bf16. a: 32 x 4 registers,
// b: 32 x 2, c and d: 32 x 4 (lane-major). `threads` threads in one block; lane `exit_lane`
// (or none: -1) returns before the mma; split_sites: the odd lanes call a tf32 mma on another line.
void mma_regs(int shape, const uint32_t* a, const uint32_t* b, const float* c, float* d, int threads = 32,
              int exit_lane = -1, bool split_sites = false);

// One ldmatrix (.x1/.x2/.x4 by `matrices`, .trans) by one warp. rows: 32 rows of 8 uint16;
// lane l's row address is that of row row_of_lane[l] (+ misalign bytes); out: 32 x 4 registers.
void ldmatrix(const uint16_t* rows, const int* row_of_lane, int matrices, bool trans, uint32_t* out, int misalign = 0);

// src: 16 floats. snap: 5 x 16 bit patterns of shared memory S[16] (zeroed first):
//   0: after issuing group 0 = 16 bytes -> S[0..3], group 1 = 8 + 4 bytes -> S[4..6], group 2 =
//      16 bytes with 8 from src -> S[8..11], and an uncommitted 4-byte zero-fill -> S[12]
//   1: after cp_async_wait<2>   2: after wait<1>   3: after wait<0>   4: after commit + wait<0>
void cp_async_groups(const float* src, unsigned* snap);

// A 16- or 8-byte cp.async to &S[offset] of a 16-byte-aligned S (offset not a multiple: error).
void cp_async_misaligned(const float* src, int offset, int bytes);

// phase 0 leaves a copy pending at exit; phase 1 writes 7s, waits, and reads them back to out.
void cp_async_left_pending(const float* src, float* out, int phase);

}  // namespace pw::kernels::simt::test_tc
