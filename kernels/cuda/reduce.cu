// Reductions over the middle axis of a contiguous [outer, R, inner] block -- the GPU side of
// sum / mean and max / argmax (the engine reduces one dimension at a time) -- and the max
// backward scatter. Pairs with kernels/cpu/reduce.cpp.
//
// One kernel shape serves every (R, inner). A "column" is one output element (o, i); its R
// inputs sit `inner` floats apart. A block of 256 threads is a bx x by grid: bx adjacent
// columns (adjacent i, so a warp's loads are coalesced when inner >= 32) times by threads
// along R. The plan (make_plan) picks the shape from the sizes:
//   long R, inner == 1  -> bx = 1,   by = 256: a block per row (the classic row reduction)
//   long R, inner >= 32 -> bx = 32,  by = 8:   a warp-wide strip of columns per block
//   short R             -> by ~ R/4, bx = the rest: many columns per block, down to one
//                          thread per column (bx = 256, by = 1) for R <= 4
// Each thread folds its strided share of R serially; the by partial results of a column are
// then combined by a butterfly of warp shuffles (the by-lanes that share a warp) and a fixed-
// order pass over shared memory (one value per warp). When there are too few columns to fill
// the GPU and R is long, R is also split into chunks over gridDim.y; each chunk writes a
// partial result to a workspace laid out [outer, chunks, inner], and a second launch of the
// same kernel reduces that (R = chunks) into the output. Every order is fixed by the sizes, so
// the result is bit-for-bit deterministic (no atomics).
//
// The reduction is a policy: SumOp (float, accumulated in float, as cuBLAS/PyTorch do; the
// CPU reference accumulates in double, so results agree to rounding) and MaxOp ((value, index)
// pairs, combined with the CPU's rule: the first NaN wins, else the larger value, ties go to
// the lower index -- associative and commutative, so any tree gives the CPU's answer).
//
// Expected on a GPU: memory-bound; ~80-90% of DRAM bandwidth for large inputs of either shape
// (a single streaming read of x). Not yet measured on a GPU.
#include "kernels/cuda/compat.cuh"

#define PW_LAUNCHER_NS PW_KERNEL_NS
#include "kernels/cuda/api.h"
#undef PW_LAUNCHER_NS

namespace pw::kernels::PW_KERNEL_NS {

namespace {

constexpr int kThreads = 256;              // every reduction block: 8 full warps
constexpr int64_t kTargetBlocks = 1024;    // enough blocks to fill a large GPU several times over
constexpr int64_t kMinRowsPerThread = 16;  // a chunk gives each by-thread at least this much work
constexpr int64_t kMaxGridX = 8192;        // more tiles than this are looped over (grid-stride)

int64_t pow2_ceil(int64_t v) {
  int64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}
int log2_exact(int64_t p) {
  int l = 0;
  while ((int64_t{1} << l) < p) ++l;
  return l;
}

struct Plan {
  int log2_bx = 0;  // block = (1 << log2_bx) columns x by rows, bx * by == kThreads
  int by = 1;
  int64_t tiles = 0;      // ceil(columns / bx)
  int64_t chunks = 1;     // blocks along R; > 1 means a second pass over partial results
  int64_t chunk_len = 0;  // rows of R per chunk
};

Plan make_plan(int64_t outer, int64_t R, int64_t inner, bool allow_split) {
  Plan p;
  const int64_t cols = outer * inner;
  // At least a warp's width of adjacent columns when inner allows it (coalescing), then as
  // many threads along R as R can feed with ~4 elements each, the rest across columns.
  const int64_t bx_min = inner >= 32 ? 32 : pow2_ceil(inner);
  int64_t by = pow2_ceil((R + 3) / 4);
  if (by > kThreads / bx_min) by = kThreads / bx_min;
  const int64_t bx = kThreads / by;
  p.log2_bx = log2_exact(bx);
  p.by = (int)by;
  p.tiles = (cols + bx - 1) / bx;
  p.chunk_len = R;
  if (allow_split && p.tiles < kTargetBlocks && R > by * kMinRowsPerThread) {
    int64_t chunks = (kTargetBlocks + p.tiles - 1) / p.tiles;
    const int64_t most = (R + by * kMinRowsPerThread - 1) / (by * kMinRowsPerThread);
    if (chunks > most) chunks = most;
    if (chunks > 1) {
      p.chunk_len = (R + chunks - 1) / chunks;
      p.chunks = (R + p.chunk_len - 1) / p.chunk_len;  // every chunk non-empty
    }
  }
  return p;
}

// ---- reduction policies ----

struct SumOp {
  using Val = float;
  __device__ __forceinline__ static Val identity() { return 0.0f; }
  __device__ __forceinline__ static Val combine(Val a, Val b) { return a + b; }
  __device__ __forceinline__ static Val shfl_xor(unsigned mask, Val v, int lane_mask) {
    return __shfl_xor_sync(mask, v, lane_mask);
  }
};

struct ArgMax {
  float v;
  int32_t i;
};

struct MaxOp {
  using Val = ArgMax;
  // Loses to every element: -inf ties with a real -inf, and the real index is lower.
  __device__ __forceinline__ static Val identity() { return {-INFINITY, INT32_MAX}; }
  __device__ __forceinline__ static Val combine(Val a, Val b) {
    const bool a_nan = isnan(a.v), b_nan = isnan(b.v);
    if (a_nan || b_nan) {
      if (a_nan && b_nan) return a.i < b.i ? a : b;
      return a_nan ? a : b;
    }
    if (a.v != b.v) return a.v > b.v ? a : b;
    return a.i < b.i ? a : b;
  }
  __device__ __forceinline__ static Val shfl_xor(unsigned mask, Val a, int lane_mask) {
    return {__shfl_xor_sync(mask, a.v, lane_mask), __shfl_xor_sync(mask, a.i, lane_mask)};
  }
};

// Where values come from (k: the element's offset, r: its position along R) and go to.
struct LoadFloat {
  const float* x;
  __device__ __forceinline__ float operator()(int64_t k, int64_t) const { return x[k]; }
};
struct LoadArgMaxInput {
  const float* x;
  __device__ __forceinline__ ArgMax operator()(int64_t k, int64_t r) const { return {x[k], (int32_t)r}; }
};
struct LoadArgMaxPartial {  // second pass: the pair a first-pass chunk found
  const float* v;
  const int32_t* i;
  __device__ __forceinline__ ArgMax operator()(int64_t k, int64_t) const { return {v[k], i[k]}; }
};
struct StoreFloat {
  float* y;
  __device__ __forceinline__ void operator()(int64_t k, float v) const { y[k] = v; }
};
struct StoreArgMax {
  float* v;
  int32_t* i;
  __device__ __forceinline__ void operator()(int64_t k, ArgMax a) const {
    v[k] = a.v;
    i[k] = a.i;
  }
};

// Block (tile of bx columns, chunk blockIdx.y of R). With chunks == 1 the result goes to
// out[o * inner + i], else to the partial slot out[(o * chunks + chunk) * inner + i].
template <class Op, class Load, class Store>
__global__ void __launch_bounds__(kThreads)
    reduce_axis_kernel(Load load, Store store, int64_t R, int64_t inner, int64_t cols, int log2_bx, int by,
                       int64_t tiles, int64_t chunk_len, int64_t chunks) {
  using Val = typename Op::Val;
  __shared__ Val slots[kThreads];
  const int bx = 1 << log2_bx;
  const int tx = threadIdx.x & (bx - 1), ty = threadIdx.x >> log2_bx;
  // by-rows that share a warp (bx < 32), and the offsets of the butterfly over them.
  const int rows_per_warp = bx >= 32 ? 1 : (32 >> log2_bx);
  const int groups = by / rows_per_warp;  // values per column left after the warp step (<= 8)
  const int64_t chunk = blockIdx.y;
  const int64_t r_begin = chunk * chunk_len;
  const int64_t r_end = r_begin + chunk_len < R ? r_begin + chunk_len : R;

  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {  // uniform per block
    const int64_t c = tile * bx + tx;
    const bool valid = c < cols;
    int64_t o = 0, i = 0;
    Val acc = Op::identity();
    if (valid) {
      o = c / inner;
      i = c - o * inner;
      const int64_t base = o * R * inner + i;
      for (int64_t r = r_begin + ty; r < r_end; r += by) acc = Op::combine(acc, load(base + r * inner, r));
    }
    for (int lane_mask = 16; lane_mask >= bx; lane_mask >>= 1)
      acc = Op::combine(acc, Op::shfl_xor(0xffffffffu, acc, lane_mask));
    if (ty % rows_per_warp == 0) slots[(ty / rows_per_warp) * bx + tx] = acc;
    __syncthreads();
    if (ty == 0 && valid) {
      Val total = slots[tx];
      for (int g = 1; g < groups; ++g) total = Op::combine(total, slots[g * bx + tx]);
      store(chunks == 1 ? c : (o * chunks + chunk) * inner + i, total);
    }
    __syncthreads();  // slots are rewritten by the next tile
  }
}

template <class Op, class Load, class Store>
void launch_reduce(const Plan& p, Load load, Store store, int64_t R, int64_t inner, int64_t cols) {
  const dim3 grid((unsigned)(p.tiles < kMaxGridX ? p.tiles : kMaxGridX), (unsigned)p.chunks);
  PW_LAUNCH((reduce_axis_kernel<Op, Load, Store>), grid, kThreads, 0, 0)
  (load, store, R, inner, cols, p.log2_bx, p.by, p.tiles, p.chunk_len, p.chunks);
  PW_CUDA_CHECK_LAUNCH();
}

void check_sizes(const char* what, int64_t outer, int64_t R, int64_t inner) {
  if (outer < 0 || R < 0 || inner < 0) throw CudaError(std::string(what) + ": negative size");
  if (R >= INT32_MAX) throw CudaError(std::string(what) + ": reduction length does not fit in int32");
}

__global__ void max_backward_kernel(const float* __restrict__ g, const int32_t* __restrict__ idx,
                                    float* __restrict__ dx, int64_t R, int64_t inner, int64_t n) {
  for (int64_t k = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; k < n; k += (int64_t)gridDim.x * blockDim.x) {
    const int64_t i = k % inner, rest = k / inner;
    const int64_t r = rest % R, o = rest / R;
    const int64_t out = o * inner + i;
    dx[k] = idx[out] == r ? g[out] : 0.0f;
  }
}

}  // namespace

size_t sum_axis_workspace_bytes(Tag, int64_t outer, int64_t R, int64_t inner) {
  const Plan p = make_plan(outer, R, inner, true);
  return p.chunks > 1 ? (size_t)(outer * p.chunks * inner) * sizeof(float) : 0;
}

void sum_axis(Tag tag, const float* x, float* y, int64_t outer, int64_t R, int64_t inner, void* workspace) {
  check_sizes("sum_axis", outer, R, inner);
  const int64_t cols = outer * inner;
  if (cols == 0) return;
  const Plan p = make_plan(outer, R, inner, true);
  if (p.chunks == 1) {
    launch_reduce<SumOp>(p, LoadFloat{x}, StoreFloat{y}, R, inner, cols);
    return;
  }
  if (workspace == nullptr || sum_axis_workspace_bytes(tag, outer, R, inner) == 0)
    throw CudaError("sum_axis: this size needs the workspace of sum_axis_workspace_bytes");
  float* partial = static_cast<float*>(workspace);
  launch_reduce<SumOp>(p, LoadFloat{x}, StoreFloat{partial}, R, inner, cols);
  launch_reduce<SumOp>(make_plan(outer, p.chunks, inner, false), LoadFloat{partial}, StoreFloat{y}, p.chunks, inner,
                       cols);
}

size_t max_axis_workspace_bytes(Tag, int64_t outer, int64_t R, int64_t inner) {
  const Plan p = make_plan(outer, R, inner, true);
  return p.chunks > 1 ? (size_t)(outer * p.chunks * inner) * (sizeof(float) + sizeof(int32_t)) : 0;
}

void max_axis(Tag tag, const float* x, float* values, int32_t* indices, int64_t outer, int64_t R, int64_t inner,
              void* workspace) {
  check_sizes("max_axis", outer, R, inner);
  if (R == 0) throw CudaError("max_axis: empty reduction");
  const int64_t cols = outer * inner;
  if (cols == 0) return;
  const Plan p = make_plan(outer, R, inner, true);
  if (p.chunks == 1) {
    launch_reduce<MaxOp>(p, LoadArgMaxInput{x}, StoreArgMax{values, indices}, R, inner, cols);
    return;
  }
  if (workspace == nullptr || max_axis_workspace_bytes(tag, outer, R, inner) == 0)
    throw CudaError("max_axis: this size needs the workspace of max_axis_workspace_bytes");
  const int64_t count = outer * p.chunks * inner;
  float* pv = static_cast<float*>(workspace);
  int32_t* pi = reinterpret_cast<int32_t*>(pv + count);
  launch_reduce<MaxOp>(p, LoadArgMaxInput{x}, StoreArgMax{pv, pi}, R, inner, cols);
  launch_reduce<MaxOp>(make_plan(outer, p.chunks, inner, false), LoadArgMaxPartial{pv, pi},
                       StoreArgMax{values, indices}, p.chunks, inner, cols);
}

void max_axis_backward(Tag, const float* grad, const int32_t* indices, float* dx, int64_t outer, int64_t R,
                       int64_t inner) {
  check_sizes("max_axis_backward", outer, R, inner);
  const int64_t n = outer * R * inner;
  if (n == 0) return;
  int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > 8192) blocks = 8192;
  PW_LAUNCH(max_backward_kernel, (int)blocks, kThreads, 0, 0)(grad, indices, dx, R, inner, n);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace pw::kernels::PW_KERNEL_NS
