// simt internals: the tensor-core instructions of kernels/simt/mma.h -- mma.sync and ldmatrix as
// warp collectives over the PTX fragment tables, cp.async as per-thread groups of deferred
// copies. The header explains the semantics; this file says how.
//
// Warp collectives: a lane writes its operands into its slot (one per thread of the block, per
// worker, since a block runs to completion on one worker), meets its warp at a full-mask
// __syncwarp, checks that every lane of the warp arrived at the same instruction, computes its
// own results from the slots, and meets the warp again before the slots may be overwritten.
#include <cstring>
#include <deque>
#include <memory>
#include <sstream>
#include <vector>

#include "kernels/simt/block.h"
#include "kernels/simt/check.h"

namespace pw::simt::detail {

namespace {

constexpr unsigned kFullMask = 0xffffffffu;

struct LaneSlot {
  TcOp op = TcOp::none;
  int matrices = 0;  // ldmatrix: .x1 / .x2 / .x4, and .trans
  bool trans = false;
  Site site;
  uint32_t a[4] = {}, b[2] = {};
  float c[4] = {};
  const void* row = nullptr;
};

LaneSlot* slots() {
  static thread_local std::unique_ptr<LaneSlot[]> s(new LaneSlot[kMaxBlockThreads]);
  return s.get();
}

std::string op_name(const LaneSlot& s) {
  switch (s.op) {
    case TcOp::none: return "no tensor-core instruction";
    case TcOp::mma_tf32_m16n8k8: return "mma.sync.m16n8k8.tf32";
    case TcOp::mma_bf16_m16n8k16: return "mma.sync.m16n8k16.bf16";
    case TcOp::ldmatrix: return "ldmatrix.x" + std::to_string(s.matrices) + (s.trans ? ".trans" : "");
  }
  return "a tensor-core instruction";
}

std::string hex_address(const void* p) {
  std::ostringstream os;
  os << p;
  return os.str();
}

// Every lane of the calling thread's warp meets here with its slot filled; returns the warp's
// first thread. Throws when the warp is partial, a lane has exited, or a lane is elsewhere.
unsigned meet_warp(BlockRun& r, const LaneSlot& me, const Site& site) {
  const unsigned t = r.cur, base = t - t % 32;
  if (r.n - base < 32)
    throw Error("simt: " + op_name(me) + " at " + describe_site(site) + ": thread " + std::to_string(t) +
                " is in a warp of " + std::to_string(r.n - base) +
                " threads (the block's last, partial warp); the instruction needs all 32 lanes");
  warp_collective(WarpOp::syncwarp, kFullMask, 0, 0, 0, 32, site);
  for (unsigned lane = 0; lane < 32; ++lane) {
    const unsigned u = base + lane;
    const LaneSlot& other = slots()[u];
    if (r.state[u] == ThreadState::done)
      throw Error("simt: " + op_name(me) + " at " + describe_site(site) + ": lane " + std::to_string(lane) +
                  " (thread " + std::to_string(u) + ") has exited; all 32 lanes must execute it");
    if (other.op != me.op || other.matrices != me.matrices || other.trans != me.trans ||
        !same_site(other.site, me.site))
      throw Error("simt: " + op_name(me) + " at " + describe_site(site) + ": lane " + std::to_string(lane) +
                  " (thread " + std::to_string(u) + ") met the warp at " +
                  (other.op == TcOp::none ? std::string("__syncwarp") : op_name(other)) + " at " +
                  describe_site(r.th[u].site) + "; all 32 lanes must execute the same instruction");
  }
  return base;
}

// The slots are read by every lane until all have left the first rendezvous.
void leave_warp(LaneSlot& me, const Site& site) {
  warp_collective(WarpOp::syncwarp, kFullMask, 0, 0, 0, 32, site);
  me.op = TcOp::none;
}

// ---- the PTX fragment tables (groupID g = lane >> 2, threadID_in_group t = lane % 4) ----
// m16n8k8 .tf32: A[m][k] is a[(m / 8) + 2 (k / 4)] of lane 4 (m % 8) + k % 4;
//                B[k][n] is b[k / 4] of lane 4 n + k % 4.
// m16n8k16 .bf16: A[m][k] is half (k % 2) of a[(m / 8) + 2 (k / 8)] of lane 4 (m % 8) + (k % 8) / 2;
//                 B[k][n] is half (k % 2) of b[k / 8] of lane 4 n + (k % 8) / 2.
// C and D (both): C[m][n] is c[2 (m / 8) + n % 2] of lane 4 (m % 8) + n / 2.
float half_of(uint32_t reg, int k) { return bf16_to_float(static_cast<uint16_t>(k % 2 ? reg >> 16 : reg)); }

float a_element(TcOp op, const LaneSlot* warp, int m, int k) {
  if (op == TcOp::mma_tf32_m16n8k8)
    return tf32_truncate(std::bit_cast<float>(warp[4 * (m % 8) + k % 4].a[m / 8 + 2 * (k / 4)]));
  return half_of(warp[4 * (m % 8) + (k % 8) / 2].a[m / 8 + 2 * (k / 8)], k);
}

float b_element(TcOp op, const LaneSlot* warp, int k, int n) {
  if (op == TcOp::mma_tf32_m16n8k8) return tf32_truncate(std::bit_cast<float>(warp[4 * n + k % 4].b[k / 4]));
  return half_of(warp[4 * n + (k % 8) / 2].b[k / 8], k);
}

// This lane's row address for ldmatrix, checked.
const uint8_t* ldmatrix_row(const BlockRun& r, const LaneSlot* warp, unsigned lane, const LaneSlot& me,
                            const Site& site) {
  const void* p = warp[lane].row;
  const void* alloc = nullptr;
  size_t bytes = 0;
  std::string why;
  if (!p || reinterpret_cast<uintptr_t>(p) % 16 != 0)
    why = "is not 16-byte aligned (each row is 16 bytes)";
  else if (allocation_below(p, &alloc, &bytes) && static_cast<const char*>(p) < static_cast<const char*>(alloc) + bytes)
    why = "points into a cudaMalloc allocation; ldmatrix reads shared memory";
  if (!why.empty())
    throw Error("simt: " + op_name(me) + " at " + describe_site(site) + ": the row address of lane " +
                std::to_string(lane) + " (thread " + std::to_string(r.cur - r.cur % 32 + lane) + "), " +
                hex_address(p) + ", " + why);
  return static_cast<const uint8_t*>(p);
}

}  // namespace

void mma_sync(TcOp op, float* d, const uint32_t* a, const uint32_t* b, const float* c, const Site& site) {
  BlockRun& r = current_block("mma.sync");
  LaneSlot& me = slots()[r.cur];
  me = LaneSlot{op, 0, false, site, {a[0], a[1], a[2], a[3]}, {b[0], b[1]}, {c[0], c[1], c[2], c[3]}, nullptr};
  const unsigned base = meet_warp(r, me, site), lane = r.cur - base;
  const LaneSlot* warp = slots() + base;
  const int k_steps = op == TcOp::mma_tf32_m16n8k8 ? 8 : 16;
  float out[4];
  for (int i = 0; i < 4; ++i) {
    const int m = static_cast<int>(lane / 4) + 8 * (i / 2), n = 2 * static_cast<int>(lane % 4) + i % 2;
    double sum = me.c[i];  // the products are exact in double; one rounding to fp32 at the end
    for (int k = 0; k < k_steps; ++k) sum += double(a_element(op, warp, m, k)) * double(b_element(op, warp, k, n));
    out[i] = static_cast<float>(sum);
  }
  leave_warp(me, site);
  for (int i = 0; i < 4; ++i) d[i] = out[i];  // d may alias c
}

void ldmatrix(int matrices, bool trans, uint32_t* regs, const void* row, const Site& site) {
  BlockRun& r = current_block("ldmatrix");
  // Lanes 0 .. 8 * matrices - 1 each read their row's 16 bytes (what PW_SIMT_CHECK records).
  if (r.cur % 32 < 8u * unsigned(matrices)) check_emulated_access(row, 16, 0, __builtin_return_address(0));
  LaneSlot& me = slots()[r.cur];
  me = LaneSlot{};
  me.op = TcOp::ldmatrix;
  me.matrices = matrices;
  me.trans = trans;
  me.site = site;
  me.row = row;
  const unsigned base = meet_warp(r, me, site), lane = r.cur - base;
  const LaneSlot* warp = slots() + base;
  for (unsigned l = 0; l < 8u * unsigned(matrices); ++l) ldmatrix_row(r, warp, l, me, site);  // only these are read
  uint32_t out[4] = {};
  for (int j = 0; j < matrices; ++j) {
    const unsigned first = 8u * unsigned(j);  // the lanes holding matrix j's row addresses
    if (!trans) {                             // lane i: row i / 4, 16-bit columns 2 (i % 4) and 2 (i % 4) + 1
      std::memcpy(&out[j], static_cast<const uint8_t*>(warp[first + lane / 4].row) + 4 * (lane % 4), 4);
    } else {  // lane i: rows 2 (i % 4) and 2 (i % 4) + 1, 16-bit column i / 4
      uint16_t lo, hi;
      std::memcpy(&lo, static_cast<const uint8_t*>(warp[first + 2 * (lane % 4)].row) + 2 * (lane / 4), 2);
      std::memcpy(&hi, static_cast<const uint8_t*>(warp[first + 2 * (lane % 4) + 1].row) + 2 * (lane / 4), 2);
      out[j] = uint32_t(lo) | (uint32_t(hi) << 16);
    }
  }
  leave_warp(me, site);
  for (int j = 0; j < matrices; ++j) regs[j] = out[j];
}

}  // namespace pw::simt::detail
