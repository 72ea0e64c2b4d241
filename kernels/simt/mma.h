// simt: the tensor-core instructions kernels use through kernels/cuda/mma.cuh -- mma.sync,
// ldmatrix, cp.async -- emulated on the CPU from the PTX ISA's definitions, and the TF32/BF16
// conversions. Included at the end of simt.h; the same names, with the same arguments, are
// inline PTX in mma.cuh under nvcc, so kernel code reads the same in both builds.
//
// mma.sync and ldmatrix are warp collectives: all 32 lanes of a full warp must execute the same
// instruction (the same call site), each with its own fragment registers or row address. simt
// rendezvouses the lanes (a __syncwarp with the full mask, shown as such in deadlock reports),
// each lane leaves its operands in a per-warp slot, and after the rendezvous every lane computes
// its own results from all the slots by the PTX fragment tables (groupID = lane >> 2,
// threadID_in_group = lane % 4); a second rendezvous frees the slots. A lane that has exited, a
// partial warp, or lanes at different instructions are errors (pw::simt::Error naming both sites).
//
// Arithmetic of mma.sync (D = A B + C, FP32 accumulate): the products of TF32 or BF16 inputs are
// exact; simt sums them with C in double and rounds once to fp32. The hardware adds with its own
// internal alignment and truncation, so GPU results may differ in the last bits of an fp32; with
// exactly representable sums (small integers) both are exact. TF32 operands are read with their
// low 13 mantissa bits ignored (tf32_truncate), as the hardware does with unconverted floats.
//
// cp.async: each copy reads its source when issued and is held in the issuing thread's list of
// uncommitted copies; cp_async_commit() closes them into a group; cp_async_wait<N>() performs
// every group but the newest N, in order -- only then are the destination bytes written. Between
// issue and completion the destination holds the poison 0xFF.. (NaN): a GPU may show the old or
// the new bytes in any mix there, and simt makes "read before wait" (or a missing barrier after
// the wait, for another thread's copies) fail loudly instead of passing by luck. Copies still
// pending when a block ends are dropped. src_bytes < the copy's size zero-fills the rest (the
// PTX src-size operand; 0 reads nothing).
#pragma once
#include <cstdint>

#include "kernels/simt/tc_formats.h"

namespace pw::simt {

namespace detail {
enum class TcOp : uint8_t { none, mma_tf32_m16n8k8, mma_bf16_m16n8k16, ldmatrix };
void mma_sync(TcOp op, float* d, const uint32_t* a, const uint32_t* b, const float* c, const Site& site);
void ldmatrix(int matrices, bool trans, uint32_t* r, const void* row, const Site& site);
void cp_async(void* dst, const void* src, int bytes, int src_bytes, const Site& site);
void cp_async_commit(const Site& site);
void cp_async_wait(int newest_pending, const Site& site);
// Drops the calling worker's pending copies (a new block starts: shared.cpp).
void drop_async_copies();
}  // namespace detail

// ---- conversions ----
// cvt.rna.tf32.f32: the TF32 bit pattern (an fp32 with its low 13 bits zero).
inline uint32_t cvt_tf32(float x) { return tf32_round_bits(x); }
// cvt.rn.bf16x2.f32: two floats rounded to bf16, `lo` in the low half.
inline uint32_t cvt_bf16x2(float lo, float hi) { return bf16x2_pack(lo, hi); }

// ---- mma.sync.aligned.row.col.f32 ----
// m16n8k8 .tf32: a[4] (A 16x8), b[2] (B 8x8), c[4], d[4] per lane as in the PTX tables.
inline void mma_tf32_m16n8k8(float* d, const uint32_t* a, const uint32_t* b, const float* c,
                             detail::Site site = detail::Site::current()) {
  PW_SIMT_CLOBBER();
  detail::mma_sync(detail::TcOp::mma_tf32_m16n8k8, d, a, b, c, site);
  PW_SIMT_CLOBBER();
}
// m16n8k16 .bf16: each register holds two bf16 (lower index in the low half).
inline void mma_bf16_m16n8k16(float* d, const uint32_t* a, const uint32_t* b, const float* c,
                              detail::Site site = detail::Site::current()) {
  PW_SIMT_CLOBBER();
  detail::mma_sync(detail::TcOp::mma_bf16_m16n8k16, d, a, b, c, site);
  PW_SIMT_CLOBBER();
}

// ---- ldmatrix.sync.aligned.m8n8{.x1,.x2,.x4}{,.trans}.shared.b16 ----
// `row`: this lane's row address (16 bytes, 16-byte aligned); lanes 0-7 address matrix 0, 8-15
// matrix 1, ... (x1 reads lanes 0-7 only, x2 lanes 0-15). r[j]: this lane's part of matrix j.
#define PW_SIMT_LDMATRIX(NAME, COUNT, TRANS)                                                    \
  inline void NAME(uint32_t* r, const void* row, detail::Site site = detail::Site::current()) { \
    PW_SIMT_CLOBBER();                                                                          \
    detail::ldmatrix(COUNT, TRANS, r, row, site);                                               \
    PW_SIMT_CLOBBER();                                                                          \
  }
PW_SIMT_LDMATRIX(ldmatrix_x1, 1, false)
PW_SIMT_LDMATRIX(ldmatrix_x2, 2, false)
PW_SIMT_LDMATRIX(ldmatrix_x4, 4, false)
PW_SIMT_LDMATRIX(ldmatrix_x1_trans, 1, true)
PW_SIMT_LDMATRIX(ldmatrix_x2_trans, 2, true)
PW_SIMT_LDMATRIX(ldmatrix_x4_trans, 4, true)
#undef PW_SIMT_LDMATRIX

// ---- cp.async.{ca,cg}.shared.global [dst], [src], size, src_bytes ----
// .cg (16 bytes only) bypasses L1 and .ca caches in it: the same on the CPU.
#define PW_SIMT_CP_ASYNC(NAME, BYTES)                                                                                  \
  inline void NAME(void* smem, const void* gmem, int src_bytes = BYTES, detail::Site site = detail::Site::current()) { \
    PW_SIMT_CLOBBER();                                                                                                 \
    detail::cp_async(smem, gmem, BYTES, src_bytes, site);                                                              \
    PW_SIMT_CLOBBER();                                                                                                 \
  }
PW_SIMT_CP_ASYNC(cp_async_cg_16, 16)
PW_SIMT_CP_ASYNC(cp_async_ca_16, 16)
PW_SIMT_CP_ASYNC(cp_async_ca_8, 8)
PW_SIMT_CP_ASYNC(cp_async_ca_4, 4)
#undef PW_SIMT_CP_ASYNC

// cp.async.commit_group
inline void cp_async_commit(detail::Site site = detail::Site::current()) {
  PW_SIMT_CLOBBER();
  detail::cp_async_commit(site);
  PW_SIMT_CLOBBER();
}
// cp.async.wait_group N: every group but the newest N is complete (their bytes written).
template <int N>
inline void cp_async_wait(detail::Site site = detail::Site::current()) {
  static_assert(N >= 0, "cp.async.wait_group takes a count >= 0");
  PW_SIMT_CLOBBER();
  detail::cp_async_wait(N, site);
  PW_SIMT_CLOBBER();
}

}  // namespace pw::simt
