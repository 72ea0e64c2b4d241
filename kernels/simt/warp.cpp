// simt internals: the warp collectives -- a per-warp rendezvous of the lanes named in the
// mask, with CUDA's semantics for masks and widths -- and the description of what a thread
// waits for (used by deadlock reports).
//
// A lane arriving at a collective records its operation, mask and value and suspends. When
// every lane of the group (mask & the lanes that exist in this warp) waits with the same
// mask, the arrival that completes it computes every lane's result and releases them all.
// Lanes of one warp may form several disjoint groups at once (partial masks). A group whose
// lanes disagree on the operation or width is an error. As in PTX, the *_sync forms wait only
// for the lanes of the mask that have not exited: an exited lane leaves every group, so a lane
// that exits may complete a collective its warp-mates wait at (lane_exited), and what a
// shuffle reads from an exited lane is the poison value.
//
// Shuffles follow PTX's shfl.sync definition with the clamp value CUDA's intrinsics pass
// (c = ((32 - width) << 8) | 0x1f, and | 0 for up): the segment of `width` lanes bounds
// idx/down/xor from above and up from below; a source outside the bound gives the caller its
// own value; a source lane that is not in the group gives the poison value 0xFF...
#include <bit>
#include <sstream>

#include "kernels/simt/block.h"
#include "kernels/simt/check.h"

namespace pw::simt::detail {

namespace {

const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::syncwarp: return "__syncwarp";
    case WarpOp::shfl_idx: return "__shfl_sync";
    case WarpOp::shfl_up: return "__shfl_up_sync";
    case WarpOp::shfl_down: return "__shfl_down_sync";
    case WarpOp::shfl_xor: return "__shfl_xor_sync";
    case WarpOp::ballot: return "__ballot_sync";
    case WarpOp::any: return "__any_sync";
    case WarpOp::all: return "__all_sync";
    case WarpOp::match_any: return "__match_any_sync";
    case WarpOp::match_all: return "__match_all_sync";
    case WarpOp::reduce_add: return "__reduce_add_sync";
    case WarpOp::reduce_min_s:
    case WarpOp::reduce_min_u: return "__reduce_min_sync";
    case WarpOp::reduce_max_s:
    case WarpOp::reduce_max_u: return "__reduce_max_sync";
    case WarpOp::reduce_and: return "__reduce_and_sync";
    case WarpOp::reduce_or: return "__reduce_or_sync";
    case WarpOp::reduce_xor: return "__reduce_xor_sync";
  }
  return "warp collective";
}

const char* barrier_name(BarrierOp op) {
  switch (op) {
    case BarrierOp::sync: return "__syncthreads";
    case BarrierOp::count: return "__syncthreads_count";
    case BarrierOp::all: return "__syncthreads_and";
    case BarrierOp::any: return "__syncthreads_or";
  }
  return "__syncthreads";
}

std::string hex(unsigned v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

bool is_shuffle(WarpOp op) {
  return op == WarpOp::shfl_idx || op == WarpOp::shfl_up || op == WarpOp::shfl_down || op == WarpOp::shfl_xor;
}

// The lanes of warp `base / 32` that exist (a block's last warp may be partial).
unsigned existing_lanes(const BlockRun& r, unsigned base) {
  const unsigned k = r.n - base;
  return k >= 32 ? 0xffffffffu : (1u << k) - 1u;
}

uint64_t poison(unsigned bytes) { return bytes >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * bytes)) - 1; }

// Source lane of a shuffle for `lane`, per PTX shfl.sync (see the header comment).
unsigned shuffle_source(WarpOp op, unsigned lane, int arg, int width) {
  const unsigned seg = static_cast<unsigned>(32 - width);  // segmask: bits naming the segment
  const unsigned c = op == WarpOp::shfl_up ? 0u : 0x1fu;
  const int max_lane = static_cast<int>((lane & seg) | (c & ~seg));
  const int min_lane = static_cast<int>(lane & seg);
  const int b = arg & 0x1f;
  int j = static_cast<int>(lane);
  bool ok = false;
  switch (op) {
    case WarpOp::shfl_up:
      j = static_cast<int>(lane) - b;
      ok = j >= max_lane;
      break;
    case WarpOp::shfl_down:
      j = static_cast<int>(lane) + b;
      ok = j <= max_lane;
      break;
    case WarpOp::shfl_xor:
      j = static_cast<int>(lane) ^ b;
      ok = j <= max_lane;
      break;
    default:
      j = min_lane | (b & ~static_cast<int>(seg));
      ok = j <= max_lane;
      break;
  }
  return ok ? static_cast<unsigned>(j) : lane;
}

int32_t as_i32(uint64_t v) { return static_cast<int32_t>(static_cast<uint32_t>(v)); }

// The lanes of warp `base` that have exited.
unsigned exited_lanes(const BlockRun& r, unsigned base) {
  unsigned m = 0;
  for (unsigned g = existing_lanes(r, base); g; g &= g - 1) {
    const unsigned lane = static_cast<unsigned>(std::countr_zero(g));
    if (r.state[base + lane] == ThreadState::done) m |= 1u << lane;
  }
  return m;
}

// Every lane of `group` (in warp `base`) waits with the same mask: compute and release.
void complete(BlockRun& r, unsigned base, unsigned group) {
  const ThreadRec& lead = r.th[base + static_cast<unsigned>(std::countr_zero(group))];
  for (unsigned g = group; g; g &= g - 1) {
    const ThreadRec& th = r.th[base + static_cast<unsigned>(std::countr_zero(g))];
    if (th.warp_op != lead.warp_op || th.width != lead.width || th.bytes != lead.bytes)
      throw Error("simt: the lanes of one warp collective (mask " + hex(lead.mask) +
                  ") disagree: " + op_name(lead.warp_op) + " (width " + std::to_string(lead.width) + ") at " +
                  describe_site(lead.site) + " and " + op_name(th.warp_op) + " (width " + std::to_string(th.width) +
                  ") at " + describe_site(th.site));
  }
  const WarpOp op = lead.warp_op;
  unsigned ballot = 0;
  uint64_t sum = 0, band = ~uint64_t{0}, bor = 0, bxor = 0;
  int32_t smin = INT32_MAX, smax = INT32_MIN;
  uint32_t umin = UINT32_MAX, umax = 0;
  bool all_equal = true;
  for (unsigned g = group; g; g &= g - 1) {
    const unsigned lane = static_cast<unsigned>(std::countr_zero(g));
    const ThreadRec& th = r.th[base + lane];
    if (th.value != 0) ballot |= 1u << lane;
    const uint32_t u = static_cast<uint32_t>(th.value);
    sum += u;
    band &= u;
    bor |= u;
    bxor ^= u;
    smin = std::min(smin, as_i32(th.value));
    smax = std::max(smax, as_i32(th.value));
    umin = std::min(umin, u);
    umax = std::max(umax, u);
    all_equal = all_equal && th.value == lead.value;
  }
  for (unsigned g = group; g; g &= g - 1) {
    const unsigned lane = static_cast<unsigned>(std::countr_zero(g));
    ThreadRec& th = r.th[base + lane];
    uint64_t out = 0;
    switch (op) {
      case WarpOp::syncwarp: break;
      case WarpOp::shfl_idx:
      case WarpOp::shfl_up:
      case WarpOp::shfl_down:
      case WarpOp::shfl_xor: {
        const unsigned src = shuffle_source(op, lane, th.arg, th.width);
        out = (group >> src) & 1u ? r.th[base + src].value : poison(th.bytes);
        break;
      }
      case WarpOp::ballot: out = ballot; break;
      case WarpOp::any: out = ballot != 0; break;
      case WarpOp::all: out = ballot == group; break;
      case WarpOp::match_any: {
        unsigned m = 0;
        for (unsigned h = group; h; h &= h - 1) {
          const unsigned other = static_cast<unsigned>(std::countr_zero(h));
          if (r.th[base + other].value == th.value) m |= 1u << other;
        }
        out = m;
        break;
      }
      case WarpOp::match_all: out = all_equal ? (uint64_t{1} << 32) | group : 0; break;
      case WarpOp::reduce_add: out = static_cast<uint32_t>(sum); break;
      case WarpOp::reduce_min_s: out = static_cast<uint32_t>(smin); break;
      case WarpOp::reduce_min_u: out = umin; break;
      case WarpOp::reduce_max_s: out = static_cast<uint32_t>(smax); break;
      case WarpOp::reduce_max_u: out = umax; break;
      case WarpOp::reduce_and: out = static_cast<uint32_t>(band); break;
      case WarpOp::reduce_or: out = static_cast<uint32_t>(bor); break;
      case WarpOp::reduce_xor: out = static_cast<uint32_t>(bxor); break;
    }
    th.result = out;
    r.state[base + lane] = ThreadState::ready;
  }
  r.at_warp -= static_cast<unsigned>(std::popcount(group));
  if (r.checks) check_warp_joined(r, base, group);
}

// Completes the collective of `group` if each of its lanes waits there with `mask`.
void complete_if_all_here(BlockRun& r, unsigned base, unsigned group, unsigned mask) {
  for (unsigned g = group; g; g &= g - 1) {
    const unsigned u = base + static_cast<unsigned>(std::countr_zero(g));
    if (r.state[u] != ThreadState::waiting || r.th[u].at_barrier || r.th[u].mask != mask) return;
  }
  complete(r, base, group);
}

// synccheck: lanes that wait for each other with different masks can never meet (each group
// completes only when all its lanes wait with its mask): reported when the second arrives,
// with both sites, instead of as a deadlock when the block can no longer move.
void synccheck_masks(const BlockRun& r, unsigned base, unsigned lane, WarpOp op, unsigned mask, const Site& site) {
  const unsigned others = mask & existing_lanes(r, base) & ~exited_lanes(r, base) & ~(1u << lane);
  for (unsigned g = others; g; g &= g - 1) {
    const unsigned u = base + static_cast<unsigned>(std::countr_zero(g));
    const ThreadRec& th = r.th[u];
    if (r.state[u] != ThreadState::waiting || th.at_barrier || th.mask == mask || !((th.mask >> lane) & 1u)) continue;
    throw Error("simt synccheck: mismatched warp masks in " + std::string(r.desc->name) + ", block " + block_coords(r) +
                ": thread " + thread_coords(r, base + lane) + " calls " + op_name(op) + " with mask " + hex(mask) +
                " at " + describe_site(site) + " while thread " + thread_coords(r, u) + " waits at " +
                op_name(th.warp_op) + " with mask " + hex(th.mask) + " at " + describe_site(th.site) +
                " (every lane named in a mask must call the collective with the same mask)");
  }
}

}  // namespace

uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t value, unsigned bytes, int arg, int width,
                         const Site& site) {
  const CheckPause pause;
  BlockRun& r = current_block(op_name(op));
  const unsigned t = r.cur, lane = t % 32, base = t - lane;
  if (!((mask >> lane) & 1u))
    throw Error("simt: " + std::string(op_name(op)) + " at " + describe_site(site) + ": thread " + std::to_string(t) +
                " (lane " + std::to_string(lane) + ") calls it with mask " + hex(mask) +
                ", which does not include its own lane");
  if (is_shuffle(op) && (width < 1 || width > 32 || !std::has_single_bit(static_cast<unsigned>(width))))
    throw Error("simt: " + std::string(op_name(op)) + " at " + describe_site(site) + ": width " +
                std::to_string(width) + " is not a power of two in [1, 32]");
  if (r.checks & check_synccheck) synccheck_masks(r, base, lane, op, mask, site);
  const unsigned group = mask & existing_lanes(r, base) & ~exited_lanes(r, base);
  ThreadRec& me = r.th[t];
  r.state[t] = ThreadState::waiting;
  me.at_barrier = false;
  me.warp_op = op;
  me.mask = mask;
  me.value = value;
  me.bytes = bytes;
  me.arg = arg;
  me.width = width;
  me.site = site;
  ++r.at_warp;
  complete_if_all_here(r, base, group, mask);
  suspend_current(r);
  return me.result;
}

void lane_exited(BlockRun& r, unsigned t) {
  const unsigned lane = t % 32, base = t - lane;
  const unsigned alive = existing_lanes(r, base) & ~exited_lanes(r, base);
  for (unsigned g = alive; g; g &= g - 1) {
    const unsigned u = base + static_cast<unsigned>(std::countr_zero(g));
    const ThreadRec& th = r.th[u];
    if (r.state[u] == ThreadState::waiting && !th.at_barrier && ((th.mask >> lane) & 1u))
      complete_if_all_here(r, base, th.mask & alive, th.mask);
  }
}

unsigned active_mask() {
  const BlockRun& r = current_block("__activemask");
  const unsigned base = r.cur - r.cur % 32;
  unsigned m = 0;
  for (unsigned g = existing_lanes(r, base); g; g &= g - 1) {
    const unsigned lane = static_cast<unsigned>(std::countr_zero(g));
    if (r.state[base + lane] != ThreadState::done) m |= 1u << lane;
  }
  return m;
}

std::string describe_thread(const BlockRun& r, unsigned t) {
  const ThreadRec& th = r.th[t];
  switch (r.state[t]) {
    case ThreadState::done: return "exited";
    case ThreadState::not_started: return "not started";
    case ThreadState::running: return "running";
    case ThreadState::ready: return "released, not yet resumed";
    case ThreadState::waiting: break;
  }
  if (th.at_barrier) return std::string(barrier_name(th.barrier_op)) + " at " + describe_site(th.site);
  std::string what = std::string(op_name(th.warp_op)) + " (mask " + hex(th.mask) + ") at " + describe_site(th.site);
  const unsigned base = t - t % 32;
  unsigned exited = 0;
  for (unsigned g = th.mask & existing_lanes(r, base); g; g &= g - 1) {
    const unsigned lane = static_cast<unsigned>(std::countr_zero(g));
    if (r.state[base + lane] == ThreadState::done) exited |= 1u << lane;
  }
  if (exited) what += "; the lanes " + hex(exited) + " of its mask have exited";
  return what;
}

[[noreturn]] void trap(const Site& site) {
  const CheckPause pause;
  throw Error("simt: __trap() at " + describe_site(site));
}

}  // namespace pw::simt::detail
