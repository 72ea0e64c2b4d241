// CPU matrix multiply: the reference triple loop and the fast blocked SGEMM.
//
// The fast path follows Goto / BLIS. Five loops around a register-blocked micro-kernel:
//
//   for jc in [0, N) step NC            B block  KC x NC packed once, shared by all threads (L3)
//     for pc in [0, K) step KC
//       pack op(B)[pc.., jc..] into NR-column panels          (threads share the work)
//       for ic in this thread's rows step MC     A block MC x KC packed per thread (L2)
//         pack op(A)[ic.., pc..] into MR-row panels
//         for jr in this thread's columns step NR            B micro-panel KC x NR (L1)
//           for ir in [0, MC) step MR                          A micro-panel MR x KC
//             micro-kernel: C[ir.., jr..] (MR x NR) += A micro-panel * B micro-panel
//
// Packing does the transposes and pads edge panels with zeros, so the micro-kernel always
// sees MR x NR tiles with unit-stride operands; partial tiles of C are computed into a
// scratch tile and copied out. The micro-kernels (12 x 32 AVX-512, 6 x 16 AVX2) and their
// block sizes are in gemm_micro.cpp, chosen at run time. Products of at most sixteen rows skip
// all of this and stream B once, unpacked (gemm_small.cpp).
//
// Threads: a tm x tn grid. The rows of C are split into tm groups of whole MR panels, the
// columns of each NC block into tn groups of whole NR panels (tn > 1 only when C is wide and
// short). All threads pack the shared B block together, then each packs its own A block.
// Small problems run on the calling thread (a parallel region costs microseconds).
//
// Measured with the AVX2 kernel (bench/bench_gemm.cpp, 2 Zen 3 cores, medians of 5, a few %
// run to run): 154-180 GFLOP/s for square 256-2048, 0.92-1.01x OpenBLAS; conv-like shapes
// (tall/skinny, transposed) 0.8-0.95x.
#include "kernels/cpu/gemm.h"

#include <omp.h>

#ifdef __SSE__
#include <xmmintrin.h>  // _mm_sfence
#endif

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <vector>

#include "kernels/cpu/gemm_blocking.h"

namespace pw::kernels::cpu {

// Each C(i, j) is the sum over p = 0, 1, ..., K-1 in that order, in T, then alpha and beta are
// applied: the definition. The loop order follows op(B)'s storage so that it is read along its
// rows: dot products when B is stored transposed, a row of running sums (i, p, j) otherwise,
// where the dot-product order would read a column of B per element, one cache miss per
// multiply-add on the large f64 Linear layers of the reference runs. The sums are the same.
// Rows of C are independent, so they are split over threads.
template <typename T>
void gemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                    const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  // One row of sums per thread, allocated before the region: out of memory there is an
  // exception the caller sees (thrown inside a region it would end the program).
  std::vector<T> sums(size_t(omp_get_max_threads()) * size_t(N));
#pragma omp parallel for schedule(static) if (M > 1 && M * N * K > (int64_t(1) << 18))
  for (int64_t i = 0; i < M; ++i) {
    T* sum = sums.data() + size_t(omp_get_thread_num()) * size_t(N);
    std::fill(sum, sum + N, T(0));
    auto a = [&](int64_t p) { return trans_a ? A[p * lda + i] : A[i * lda + p]; };
    if (trans_b) {
      for (int64_t j = 0; j < N; ++j)
        for (int64_t p = 0; p < K; ++p) sum[j] += a(p) * B[j * ldb + p];
    } else {
      for (int64_t p = 0; p < K; ++p) {
        const T ap = a(p);
        for (int64_t j = 0; j < N; ++j) sum[j] += ap * B[p * ldb + j];
      }
    }
    for (int64_t j = 0; j < N; ++j) {
      T& c = C[i * ldc + j];
      c = beta == T(0) ? alpha * sum[j] : alpha * sum[j] + beta * c;  // beta == 0: C is not read
    }
  }
}

template void gemm_reference<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                                    int64_t, float, float*, int64_t);
template void gemm_reference<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                                     const double*, int64_t, double, double*, int64_t);

namespace {

using gemm_detail::Blocking;

using gemm_detail::kParallelMinMacs;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// C(mc x nc) (+)= alpha * packed A block * packed B columns; pb starts at the first panel.
// stream: full tiles at 64-byte aligned addresses go through bk.micro_stream (beta is 0).
void macro_kernel(const Blocking& bk, int64_t mc, int64_t nc, int64_t kc, const float* pa, const float* pb, float* c,
                  int64_t ldc, float alpha, float beta, bool stream) {
  const int64_t MR = bk.MR, NR = bk.NR;
  alignas(64) float tile[gemm_detail::kMaxTile];
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int64_t nr = std::min(NR, nc - jr);
    for (int64_t ir = 0; ir < mc; ir += MR) {
      const int64_t mr = std::min(MR, mc - ir);
      float* cij = c + ir * ldc + jr;
      if (mr == MR && nr == NR) {
        const bool aligned = reinterpret_cast<uintptr_t>(cij) % 64 == 0;
        (stream && aligned ? bk.micro_stream : bk.micro)(kc, pa + ir * kc, pb + jr * kc, cij, ldc, alpha, beta);
        continue;
      }
      // Edge tile: compute the full tile into scratch, then merge only the valid part.
      bk.micro(kc, pa + ir * kc, pb + jr * kc, tile, NR, alpha, 0.f);
      for (int64_t i = 0; i < mr; ++i)
        for (int64_t j = 0; j < nr; ++j) {
          float& y = cij[i * ldc + j];
          y = beta == 0.f ? tile[i * NR + j] : tile[i * NR + j] + beta * y;
        }
    }
  }
}

// Grow-only 64-byte-aligned scratch, one per calling thread: packing buffers are reused
// across calls so small problems pay no allocation or page faults.
struct Scratch {
  float* data = nullptr;
  size_t size = 0;
  ~Scratch() { std::free(data); }
  float* get(size_t floats) {
    if (floats > size) {
      std::free(data);
      data = nullptr;
      size = 0;
      const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
      data = static_cast<float*>(std::aligned_alloc(64, bytes));
      if (!data) throw std::bad_alloc();
      size = floats;
    }
    return data;
  }
};

struct Problem {
  const Blocking* bk;
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
  const float *A, *B;
  int64_t lda, ldb, ldc;
  float* C;
  const float* packed_a;  // op(A) packed whole (pack_a_operand), or null: each thread packs its blocks
  bool stream;            // C written by non-temporal stores (streams_c)
  float* buf;             // per-thread packing buffers, stride floats apart
  int64_t bfloats;        // of which the packed B panels (then the packed A block)
  int64_t stride;
  int tm, tn;  // thread grid
};

// One thread's share of the five loops. nt is the actual team size (1 when run inline).
//
// Each thread packs the B panels of its own columns and the A blocks of its own rows into its own
// buffers, so threads never wait for each other. With a B block shared by the team every KC step
// took two barriers: at batch-1 convolution sizes (AlexNet's conv4: 256 x 169 x 3456, 14 steps of
// ~70 us) two threads that slept at once at a barrier (OMP_WAIT_POLICY=passive alone) were no
// faster than one; with the commands' short spin the change measured 0.97-1.18x on AlexNet's
// conv shapes and 1.06x on 1024^3 (bench/RESULTS.md). The price is B packed once per row of the
// thread grid, a 1 / (rows of C per thread) share of the work.
void run_thread(const Problem& P, int t, int nt) {
  const Blocking& bk = *P.bk;
  const int64_t MR = bk.MR, NR = bk.NR;
  // A nested or limited runtime may give a smaller team than asked for: then split rows.
  const bool planned = nt == P.tm * P.tn;
  const int tm = planned ? P.tm : nt, tn = planned ? P.tn : 1;
  const int ti = t / tn, tj = t % tn;
  const int64_t mpanels = ceil_div(P.M, MR);
  const int64_t m0 = std::min(P.M, mpanels * ti / tm * MR);
  const int64_t m1 = std::min(P.M, mpanels * (ti + 1) / tm * MR);
  float* bbuf = P.buf + t * P.stride;
  float* abuf = bbuf + P.bfloats;
  if (m0 >= m1) return;

  for (int64_t jc = 0; jc < P.N; jc += bk.NC) {
    const int64_t nc = std::min(bk.NC, P.N - jc);
    const int64_t npanels = ceil_div(nc, NR);
    const int64_t q0 = npanels * tj / tn, q1 = npanels * (tj + 1) / tn;
    const int64_t n0 = q0 * NR, n1 = std::min(nc, q1 * NR);
    if (n0 >= n1) continue;
    for (int64_t pc = 0; pc < P.K; pc += bk.KC) {
      const int64_t kc = std::min(bk.KC, P.K - pc);
      const float* b = P.tb ? P.B + jc * P.ldb + pc : P.B + pc * P.ldb + jc;
      for (int64_t q = q0; q < q1; ++q)
        bk.pack_b(P.tb, NR, kc, q * NR, std::min(NR, nc - q * NR), b, P.ldb, bbuf + (q - q0) * NR * kc);
      const float beta = pc == 0 ? P.beta : 1.f;  // later k blocks accumulate
      for (int64_t ic = m0; ic < m1; ic += bk.MC) {
        const int64_t mc = std::min(bk.MC, m1 - ic);
        const float* pa = abuf;
        if (P.packed_a) {  // the k block at pc holds every row panel, each MR x kc; ic is a multiple of MR
          pa = P.packed_a + pc * ceil_div(P.M, MR) * MR + ic * kc;
        } else {
          const float* a = P.ta ? P.A + pc * P.lda + ic : P.A + ic * P.lda + pc;
          gemm_detail::pack_a(P.ta, MR, mc, kc, a, P.lda, abuf);
        }
        macro_kernel(bk, mc, n1 - n0, kc, pa, bbuf, P.C + ic * P.ldc + jc + n0, P.ldc, P.alpha, beta, P.stream);
      }
    }
  }
#ifdef __SSE__
  if (P.stream) _mm_sfence();  // the non-temporal stores are visible before the caller (or a barrier) goes on
#endif
}

// Whether C is written past the caches: it is only written (beta 0, one k block), larger than
// the caches would keep for its reader, and its rows are 64-byte aligned. A Linear layer's weight
// gradient (K = batch) wrote its 151 MB (AlexNet's fc6) at 11-17 GB/s, each line read before it
// was written (bench/RESULTS.md, "Linear layers at small batch").
constexpr int64_t kStreamBytes = int64_t(8) << 20;
bool streams_c(const Blocking& bk, int64_t M, int64_t N, int64_t K, float beta, const float* C, int64_t ldc) {
  return bk.micro_stream && beta == 0.f && K <= bk.KC && M * N * int64_t(sizeof(float)) >= kStreamBytes &&
         ldc * int64_t(sizeof(float)) % 64 == 0 && reinterpret_cast<uintptr_t>(C) % 64 == 0;
}

// Picks the thread grid tm x tn (tm * tn == nt) that costs a thread least: the multiply-adds of
// its tile (per k) plus the packing of its rows of A and columns of B, each packed element
// counted as kPackCost multiply-adds. A thread packs every B column of its tile, so with few
// rows per thread packing B is no longer small beside the product: AlexNet's conv1 at batch 1
// (64 x 3025 x 363) split by rows had each of two threads pack all 4.4 MB of B for 36 rows.
// Ties go to splitting rows, which packs no A block twice.
constexpr int64_t kPackCost = 8;  // ~1/4 cycle to pack a float, 32 multiply-adds a cycle (AVX-512)
void choose_grid(const Blocking& bk, int64_t M, int64_t N, int nt, int& tm, int& tn) {
  int64_t best = -1;
  for (int m = nt; m >= 1; --m) {
    if (nt % m) continue;
    const int n = nt / m;
    const int64_t rows = ceil_div(ceil_div(M, bk.MR), m) * bk.MR, cols = ceil_div(ceil_div(N, bk.NR), n) * bk.NR;
    const int64_t cost = rows * cols + kPackCost * (rows + cols);
    if (best < 0 || cost < best) best = cost, tm = m, tn = n;
  }
}

// C = beta * C where the product is empty (A and B are not read); true if that was the case.
bool empty_product(int64_t M, int64_t N, int64_t K, float alpha, float beta, float* C, int64_t ldc) {
  if (K > 0 && alpha != 0.f) return false;
  if (beta == 1.f) return true;
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
  return true;
}

// The packed path, op(A) packed by each thread (packed_a null) or once before (pack_a_operand).
void sgemm_blocked(const Blocking& bk, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const float* packed_a, const float* B, int64_t ldb, float beta,
                   float* C, int64_t ldc) {
  int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t tiles = ceil_div(M, bk.MR) * ceil_div(N, bk.NR);
  if (M * N * K < kParallelMinMacs) nt = 1;
  nt = int(std::max<int64_t>(1, std::min<int64_t>(nt, tiles)));

  Problem P{&bk,     trans_a, trans_b, M,   N,   K, alpha,    beta,
            A,       B,       lda,     ldb, ldc, C, packed_a, streams_c(bk, M, N, K, beta, C, ldc),
            nullptr, 0,       0,       1,   1};
  choose_grid(bk, M, N, nt, P.tm, P.tn);
  const int64_t kc = std::min(K, bk.KC);
  // A thread's B panels: at most an NC-column block (a smaller team than asked for splits only rows).
  const int64_t panels = ceil_div(std::min(N, bk.NC), bk.NR);
  P.bfloats = ceil_div(panels * bk.NR * kc, 16) * 16;  // keep 64 B alignment
  P.stride = P.bfloats + (packed_a ? 0 : ceil_div(ceil_div(std::min(M, bk.MC), bk.MR) * bk.MR * kc, 16) * 16);
  static thread_local Scratch scratch;
  P.buf = scratch.get(size_t(nt * P.stride));

  if (nt == 1) {
    run_thread(P, 0, 1);
    return;
  }
#pragma omp parallel num_threads(nt)
  run_thread(P, omp_get_thread_num(), omp_get_num_threads());
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M <= 0 || N <= 0 || empty_product(M, N, K, alpha, beta, C, ldc)) return;
  if (M <= gemm_detail::kSmallRows) {
    gemm_detail::sgemm_small_m(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  sgemm_blocked(gemm_detail::blocking(gemm_kernel()), trans_a, trans_b, M, N, K, alpha, A, lda, nullptr, B, ldb, beta,
                C, ldc);
}

int64_t packed_a_floats(int64_t M, int64_t K) {
  if (M <= gemm_detail::kSmallRows || K <= 0) return 0;
  const int64_t MR = gemm_detail::blocking(gemm_kernel()).MR;
  return ceil_div(M, MR) * MR * K;
}

PackedA pack_a_operand(bool trans_a, int64_t M, int64_t K, const float* A, int64_t lda, float* buf) {
  const GemmKernel kernel = gemm_kernel();
  PackedA a{trans_a, M, K, A, lda, nullptr, kernel};
  if (!buf || packed_a_floats(M, K) == 0) return a;
  const Blocking& bk = gemm_detail::blocking(kernel);
  const int64_t Mpad = ceil_div(M, bk.MR) * bk.MR, blocks = ceil_div(K, bk.KC), row_blocks = ceil_div(M, bk.MC);
  // Block (pc, ic) as run_thread would pack it, at the place it reads it from.
#pragma omp parallel for collapse(2) schedule(static) if (Mpad * K > (int64_t(1) << 16) && !omp_in_parallel())
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t r = 0; r < row_blocks; ++r) {
      const int64_t pc = b * bk.KC, kc = std::min(bk.KC, K - pc), ic = r * bk.MC, mc = std::min(bk.MC, M - ic);
      const float* src = trans_a ? A + pc * lda + ic : A + ic * lda + pc;
      gemm_detail::pack_a(trans_a, bk.MR, mc, kc, src, lda, buf + pc * Mpad + ic * kc);
    }
  a.panels = buf;
  return a;
}

void sgemm_packed(const PackedA& a, bool trans_b, int64_t N, float alpha, const float* B, int64_t ldb, float beta,
                  float* C, int64_t ldc) {
  if (!a.panels) return sgemm(a.trans, trans_b, a.M, N, a.K, alpha, a.A, a.lda, B, ldb, beta, C, ldc);
  if (a.M <= 0 || N <= 0 || empty_product(a.M, N, a.K, alpha, beta, C, ldc)) return;
  if (a.kernel != gemm_kernel())
    throw std::invalid_argument("sgemm_packed: op(A) was packed for another micro-kernel; pack it again");
  sgemm_blocked(gemm_detail::blocking(a.kernel), a.trans, trans_b, a.M, N, a.K, alpha, a.A, a.lda, a.panels, B, ldb,
                beta, C, ldc);
}

}  // namespace pw::kernels::cpu
