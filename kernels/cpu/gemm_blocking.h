// The parts of the CPU SGEMM (kernels/cpu/gemm.cpp) that depend on the vector unit: the
// register-blocked micro-kernels with their tile and cache-block sizes (gemm_micro.cpp), the
// packing of the operands into their panels (gemm_pack.cpp), and the unpacked path for a few
// rows (gemm_small.cpp). Internal to kernels/cpu.
#pragma once
#include <cstdint>

#include "kernels/cpu/gemm.h"

namespace pw::kernels::cpu::gemm_detail {

// C(MR x NR) = alpha * a * b + beta * C, with a an MR-row panel (a[p * MR + i]) and b an
// NR-column panel (b[p * NR + j]) of depth kc, both 64-byte aligned. C is not read when beta == 0.
using MicroKernel = void (*)(int64_t kc, const float* a, const float* b, float* c, int64_t ldc, float alpha,
                             float beta);

// Packs columns [j0, j0 + nr) of op(B)[0..kc) into one NR-column panel, dst[p * NR + j] (64-byte
// aligned), from `b` pointing at op(B)(0, 0) as stored (trans: op(B)(p, j) = b[j * ldb + p]).
// Columns past nr are zero.
using PackB = void (*)(bool trans, int64_t NR, int64_t kc, int64_t j0, int64_t nr, const float* b, int64_t ldb,
                       float* dst);
void pack_b_portable(bool trans, int64_t NR, int64_t kc, int64_t j0, int64_t nr, const float* b, int64_t ldb,
                     float* dst);
void pack_b_avx2(bool trans, int64_t NR, int64_t kc, int64_t j0, int64_t nr, const float* b, int64_t ldb, float* dst);

// Packs op(A)[0..mc) x [0..kc) into MR-row panels, each stored k-major: dst[p * MR + i], from `a`
// pointing at op(A)(0, 0) as stored. Rows past mc are zero.
void pack_a(bool trans, int64_t MR, int64_t mc, int64_t kc, const float* a, int64_t lda, float* dst);

// A micro-kernel and the blocking around it: KC x NR B micro-panels stay in L1 while MR-row A
// micro-panels stream past; an MC x KC A block stays in L2; a KC x NC B block is shared in L3.
struct Blocking {
  int64_t MR, NR, MC, KC, NC;  // MC % MR == 0, NC % NR == 0
  MicroKernel micro;
  PackB pack_b;
  // micro with beta 0 whose C tile is written by non-temporal stores, past the caches, and not
  // fetched first: for a large C written once (a Linear layer's weight gradient, K = batch);
  // c and ldc * 4 must be multiples of 64 bytes. Null where the kernel has none (portable).
  MicroKernel micro_stream;
};

constexpr int64_t kMaxTile = 12 * 32;  // the largest MR * NR of any kernel (edge-tile scratch)

// Below this many multiply-adds (~50^3) one thread is faster than forking a team (measured).
constexpr int64_t kParallelMinMacs = int64_t(1) << 17;

const Blocking& blocking(GemmKernel k);

// C = alpha * op(A) * op(B) + beta * C for M <= kSmallRows rows, reading op(B) once and unpacked:
// the products of a few rows (a Linear layer at batch 1-16, forward and backward) are bound by
// reading B, which the packed path reads twice and writes once. Threads split the columns.
constexpr int64_t kSmallRows = 16;
void sgemm_small_m(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace pw::kernels::cpu::gemm_detail
