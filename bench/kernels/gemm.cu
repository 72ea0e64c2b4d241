// Development file of the SGEMM ladder, in the style of llm.c's dev/cuda: the CPU reference,
// every version, validation of each against the reference, and timing, in one program.
// C = alpha * op(A) op(B) + beta * C in row-major storage, the semantics of
// kernels/cuda/api/gemm.inc.
//
//   v1 naive            one thread per element of C, K-loop from global memory   ~5-10% of cuBLAS
//   v2 shared 32x32     32x32 tiles of op(A) and op(B) staged in shared memory,
//                       each loaded element reused 32 times                     ~10-15%
//   v3 1-D blocking     64x64 tiles, BK = 8; a thread computes a column of 8
//                       results, the B value kept in a register               ~30-40%
//   v4 2-D blocking     128x128 tiles, BK = 8; a thread computes 8x8 results
//   + float4            from 8 + 8 register values, float4 shared and global
//                       loads (scalar at the edges and on misaligned operands) ~60-75%
//   v5 warp tiling      v4's tile split into 64x32 warp tiles whose lanes own
//                       interleaved 4x4 sub-tiles (conflict-free shared loads),
//                       BK = 16, double-buffered shared memory                ~75-90%
//
// v1, v2, v3 and v5 are the engine's (kernels/cuda/gemm.cu, included below, where each is
// explained and where the dispatcher picks among them by shape); v4 lives only here, for
// study: v5 does everything it does, better. The percentages are expectations for square
// 4096^3 problems on an H100 against cublasSgemm in FP32 (no TF32), from the published
// behaviour of this ladder (Simon Boehm, "How to optimize a CUDA matmul kernel"). Not
// measured on a GPU: no GPU has run this file yet (bench/RESULTS.md).
//
// Validation: every selected version against kernels::cpu::gemm_reference<double> on awkward
// sizes (1, primes, just past every tile and BK), all four transpose combinations, alpha and
// beta (C poisoned with NaN when beta == 0, which must never read it), padded leading
// dimensions and misaligned base pointers (the float4 paths' scalar fallbacks; the padding of
// C holds a sentinel that must survive), and a two-level strided batch; each element within
// the float error bound of its dot product. At the timed size, rows 0, M/2 and M-1 of each
// version's result are checked the same way (C poisoned first) before it is timed.
//
// Timing: C = A B at M x N x K (no transposes, aligned), mean of --iters runs after a warm-up,
// between CUDA events; GFLOP/s = 2 M N K / time, the ratio to the best version and, in the
// nvcc build, to cublasSgemm. It also says which version the engine's dispatcher picks there.
//
// Build and run (bench/CMakeLists.txt; nothing here is in the default build):
//   cmake --build build --target dev_gemm                  simt, any machine
//   ./build/bench/dev_gemm                                 every version, 256^3
//   ./build/bench/dev_gemm 4 130 257 67 --iters 5          v4 only, at 130 x 257 x 67
//   cmake --build build --target dev_gemm_cuda             nvcc (needs the CUDA toolkit)
//   ./build/bench/dev_gemm_cuda [VERSION|all] [M N K]      on a GPU; default every version,
//                                                          4096^3, 10 iterations
// The simt build runs the same CUDA source on the CPU: its validation is as strict as on a GPU
// (run it under PW_SIMT_SCHEDULE=reverse or random:SEED to expose races), its timings are
// CPU timings and say nothing about a GPU. CTest runs `dev_gemm all 33 17 9 --iters 1` on simt
// (dev_gemm_validation) so the ladder keeps compiling and keeps matching the reference.
// Registers and shared memory of every rung:
//   bash tools/kernel_resources.sh 90 bench/kernels/gemm.cu
#include "kernels/cuda/gemm.cu"  // v1, v2, v3, v5, their runner and the dispatcher

#include "bench/kernels/common.cuh"
#include "kernels/cpu/gemm.h"  // the CPU reference

#if defined(__CUDACC__) && defined(PW_DEV_CUBLAS)
#include <cublas_v2.h>
#endif

namespace pw::kernels::PW_KERNEL_NS {
namespace {  // the same unnamed namespace as gemm.cu's kernels and runner

// ------------------------------------------------------------------------- v4: 2-D blocking
// Tiles 128 x 128, BK = 8, 256 threads as 16 x 16; thread (ty, tx) owns the 8 x 8 results at
// rows 8*ty.., columns 8*tx... Per k: two float4 shared loads of A's column, two of B's row,
// 64 FMAs on registers (16 shared loads per 64 FMAs). Tiles come in through
// gemm_tiles::TileLoader, float4 global loads where the layout allows it; results go out four
// at a time (store_c4). What v5 adds: the warp tiling (here a warp's B loads are 16 float4s
// 32 bytes apart, two to a bank in each quarter-warp phase; v5's lanes read consecutive
// float4s), BK = 16, and double buffering (v4 waits at a barrier for every tile's global
// loads before it multiplies).
constexpr int kV4BM = 128, kV4BN = 128, kV4BK = 8, kV4TM = 8, kV4TN = 8;
constexpr int kV4Threads = (kV4BM / kV4TM) * (kV4BN / kV4TN);  // 256

template <bool TA, bool TB>
__global__ void __launch_bounds__(kV4Threads) sgemm_v4_blocktile_2d_vec(GemmArgs p) {
  constexpr int BM = kV4BM, BN = kV4BN, BK = kV4BK, TM = kV4TM, TN = kV4TN;
  constexpr int LDA = BM + 4, LDB = BN + 4;  // rows stay 16-byte aligned
  using LoadA = TileLoader<TA, BM, BK, kV4Threads, LDA>;
  using LoadB = TileLoader<!TB, BN, BK, kV4Threads, LDB>;
  __shared__ __align__(16) float As[BK * LDA];  // As[k][m]
  __shared__ __align__(16) float Bs[BK * LDB];  // Bs[k][n]
  const float *A, *B;
  float* C;
  batch_pointers(p, A, B, C);
  const int ty = threadIdx.x / (BN / TN), tx = threadIdx.x % (BN / TN);
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  float acc[TM][TN] = {};
  float4 ra[LoadA::kPerThread], rb[LoadB::kPerThread];
  for (int k0 = 0; k0 < p.K; k0 += BK) {
    LoadA::fetch(A, p.lda, p.vec_a, p.M, p.K, m0, k0, ra);
    LoadB::fetch(B, p.ldb, p.vec_b, p.N, p.K, n0, k0, rb);
    LoadA::stash(ra, As);
    LoadB::stash(rb, Bs);
    __syncthreads();
    for (int k = 0; k < BK; ++k) {
      float a[TM], b[TN];
      load4(&As[k * LDA + ty * TM], &a[0]);
      load4(&As[k * LDA + ty * TM + 4], &a[4]);
      load4(&Bs[k * LDB + tx * TN], &b[0]);
      load4(&Bs[k * LDB + tx * TN + 4], &b[4]);
      for (int i = 0; i < TM; ++i)
        for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
    }
    __syncthreads();
  }
  for (int i = 0; i < TM; ++i) {
    const int m = m0 + ty * TM + i;
    if (m >= p.M) break;
    for (int j = 0; j < TN; j += 4) {
      const int n = n0 + tx * TN + j;
      if (n < p.N) store_c4(p, C, m, n, acc[i][j], acc[i][j + 1], acc[i][j + 2], acc[i][j + 3]);
    }
  }
}

const GemmVersion kBlocktile2d{
    4, "v4 2-D register blocking, float4", kV4BM, kV4BN, dim3(kV4Threads), PW_GEMM_KERNELS(sgemm_v4_blocktile_2d_vec)};

// The whole ladder, in order; v5 in each of its block tiles.
const GemmVersion* const kLadder[] = {&kNaive,    &kShared,         &kBlocktile1d,    &kBlocktile2d,
                                      &kWarptile, &kWarptile128x64, &kWarptile64x128, &kWarptile64x64};

}  // namespace

namespace dev {
namespace {

using Versions = std::vector<const GemmVersion*>;

// ------------------------------------------------------------------------- validation

constexpr float kSentinel = 12345.f;  // the padding of C, which must never change

// How the operands are laid out: leading dimensions are the stored row length plus `pad`
// (rounded up to a multiple of 4 when round_to_4), and the base pointers start `offset`
// floats into their allocations. {true, 0, 0} allows float4 accesses; an odd pad or offset
// forces the scalar fallback.
struct Layout {
  bool round_to_4;
  int64_t pad, offset;
};
int64_t leading_dim(int64_t cols, const Layout& l) {
  int64_t ld = cols + l.pad;
  if (l.round_to_4) ld = (ld + 3) / 4 * 4;
  return std::max<int64_t>(ld, 1);
}

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
  Layout layout;
};

std::string describe(const Case& c) {
  char s[160];
  std::snprintf(s, sizeof s, "%s%s M=%ld N=%ld K=%ld alpha=%g beta=%g ld+%ld%s offset=%ld", c.ta ? "A^T" : "A",
                c.tb ? "B^T" : "B", long(c.M), long(c.N), long(c.K), double(c.alpha), double(c.beta),
                long(c.layout.pad), c.layout.round_to_4 ? " (x4)" : "", long(c.layout.offset));
  return s;
}

// `host` on the device, `offset` floats (holding the sentinel) into its allocation.
struct OffsetBuffer {
  DeviceFloats d;
  int64_t offset;
  OffsetBuffer(const std::vector<float>& host, int64_t offset_) : d(host.size() + size_t(offset_)), offset(offset_) {
    std::vector<float> padded(size_t(offset), kSentinel);
    padded.insert(padded.end(), host.begin(), host.end());
    d.upload(padded);
  }
  float* ptr() const { return d.get() + offset; }
};

// Runs case c with every version into a fresh copy of C and compares all of C, padding
// included, with gemm_reference<double>; counts each version's failed cases in `failed`.
void validate_case(const Versions& versions, const Case& c, uint32_t seed, std::vector<int>& failed) {
  const auto [ta, tb, M, N, K, alpha, beta, layout] = c;
  const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K;
  const int64_t b_rows = tb ? N : K, b_cols = tb ? K : N;
  const int64_t lda = leading_dim(a_cols, layout), ldb = leading_dim(b_cols, layout), ldc = leading_dim(N, layout);
  const std::vector<float> A = random_floats(size_t(a_rows * lda), seed);
  const std::vector<float> B = random_floats(size_t(b_rows * ldb), seed + 1);
  std::vector<float> C = random_floats(size_t(M * ldc), seed + 2);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < ldc; ++j)
      if (j >= N)
        C[size_t(i * ldc + j)] = kSentinel;
      else if (beta == 0.f)
        C[size_t(i * ldc + j)] = NAN;  // must be overwritten, never read

  // The reference, and |alpha| |op(A)| |op(B)| + |beta| |C| for the error bound.
  std::vector<double> Ad(A.begin(), A.end()), Bd(B.begin(), B.end()), ref(C.begin(), C.end());
  std::vector<double> Aabs(Ad.size()), Babs(Bd.size()), tol(ref.size());
  for (size_t i = 0; i < Ad.size(); ++i) Aabs[i] = std::abs(Ad[i]);
  for (size_t i = 0; i < Bd.size(); ++i) Babs[i] = std::abs(Bd[i]);
  for (size_t i = 0; i < ref.size(); ++i) tol[i] = beta == 0.f ? 0.0 : std::abs(ref[i]);
  cpu::gemm_reference<double>(ta, tb, M, N, K, alpha, Ad.data(), lda, Bd.data(), ldb, beta, ref.data(), ldc);
  cpu::gemm_reference<double>(ta, tb, M, N, K, std::abs(alpha), Aabs.data(), lda, Babs.data(), ldb, std::abs(beta),
                              tol.data(), ldc);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < ldc; ++j) {
      const size_t e = size_t(i * ldc + j);
      if (j >= N)
        ref[e] = kSentinel, tol[e] = 0.0;
      else
        tol[e] = sum_tolerance(K, tol[e]);
    }

  const OffsetBuffer dA(A, layout.offset), dB(B, layout.offset);
  for (size_t v = 0; v < versions.size(); ++v) {
    const OffsetBuffer dC(C, layout.offset);
    run(GemmBatch{}, ta, tb, M, N, K, alpha, dA.ptr(), lda, dB.ptr(), ldb, beta, dC.ptr(), ldc, versions[v]);
    const std::vector<float> out = dC.d.download();
    if (!matches(out.data() + layout.offset, ref.data(), tol.data(), ref.size(),
                 std::string(versions[v]->name) + ", " + describe(c) + ", C", size_t(ldc)))
      ++failed[v];
  }
}

// A batch of 2 (outer) x 3 (inner) problems of 37 x 45 x 19 with conv2d's kind of strides: A
// shared across the outer index (stride 0), B's problems misaligned (an odd outer stride and
// a base one float in). C is poisoned; each problem is compared with the reference.
void validate_batch(const Versions& versions, bool tb, uint32_t seed, std::vector<int>& failed) {
  const int64_t M = 37, N = 45, K = 19, outer = 2, inner = 3;
  GemmBatch b;
  b.count = outer * inner;
  b.inner = inner;
  b.a_inner = M * K;
  b.b_outer = inner * K * N + 1;
  b.b_inner = K * N;
  b.c_outer = inner * M * N;
  b.c_inner = M * N;
  const int64_t ldb = tb ? K : N;
  const std::vector<float> A = random_floats(size_t(inner * M * K), seed);
  const std::vector<float> B = random_floats(size_t(outer * b.b_outer), seed + 1);
  const OffsetBuffer dA(A, 0), dB(B, 1);
  for (size_t v = 0; v < versions.size(); ++v) {
    DeviceFloats dC(size_t(outer * inner * M * N));
    dC.poison();
    run(b, false, tb, M, N, K, 1.0f, dA.ptr(), K, dB.ptr(), ldb, 0.0f, dC.get(), N, versions[v]);
    const std::vector<float> out = dC.download();
    bool ok = true;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t a0 = i * b.a_inner, b0 = o * b.b_outer + i * b.b_inner;
        std::vector<double> a(A.begin() + a0, A.begin() + a0 + M * K), bb(B.begin() + b0, B.begin() + b0 + K * N),
            ref(size_t(M * N)), tol(size_t(M * N));
        cpu::gemm_reference<double>(false, tb, M, N, K, 1.0, a.data(), K, bb.data(), ldb, 0.0, ref.data(), N);
        for (double& x : a) x = std::abs(x);
        for (double& x : bb) x = std::abs(x);
        cpu::gemm_reference<double>(false, tb, M, N, K, 1.0, a.data(), K, bb.data(), ldb, 0.0, tol.data(), N);
        for (double& t : tol) t = sum_tolerance(K, t);
        ok &= matches(out.data() + (o * inner + i) * M * N, ref.data(), tol.data(), ref.size(),
                      std::string(versions[v]->name) + ", batch problem (" + std::to_string(o) + ", " +
                          std::to_string(i) + ")" + (tb ? " B^T" : "") + ", C",
                      size_t(N));
      }
    if (!ok) ++failed[v];
  }
}

// Every case on every version; prints one line per version and returns whether all passed.
bool validate(const Versions& versions) {
  struct Size {
    int64_t M, N, K;
  };
  // 1, primes, sizes just above the tiles of every version (8/32 for v1, 32 for v2, 64 for
  // v3, 128 for v4/v5, and BK = 8/16), and degenerate vectors.
  const Size sizes[] = {{1, 1, 1},      {7, 13, 5},  {65, 33, 129}, {130, 257, 67},
                        {129, 129, 17}, {33, 65, 9}, {1, 131, 3},   {131, 1, 2}};
  // Aligned / misaligned base pointers and leading dimensions that are / are not multiples
  // of 4: the float4 paths and their scalar fallbacks.
  const Layout layouts[] = {{true, 0, 0}, {true, 4, 2}, {false, 3, 0}, {false, 2, 3}};
  std::vector<Case> cases;
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    for (const Size& s : sizes) {
      cases.push_back({ta, tb, s.M, s.N, s.K, 1.0f, 0.0f, {true, 0, 0}});
      cases.push_back({ta, tb, s.M, s.N, s.K, -0.75f, 1.0f, {false, 1, 1}});
    }
    for (const Layout& l : layouts)
      for (const Size& s : {Size{131, 133, 37}, Size{12, 20, 16}}) {
        cases.push_back({ta, tb, s.M, s.N, s.K, 1.5f, 0.0f, l});
        cases.push_back({ta, tb, s.M, s.N, s.K, 1.0f, -2.0f, l});
      }
  }
  std::printf(
      "validation: %zu cases + 2 batches per version against "
      "kernels::cpu::gemm_reference<double>\n",
      cases.size());
  std::vector<int> failed(versions.size(), 0);
  uint32_t seed = 1;
  for (const Case& c : cases) validate_case(versions, c, seed += 3, failed);
  for (bool tb : {false, true}) validate_batch(versions, tb, seed += 3, failed);
  bool all = true;
  for (size_t v = 0; v < versions.size(); ++v) {
    const int total = int(cases.size()) + 2;
    std::printf("  %-34s %s (%d of %d cases match)\n", versions[v]->name, failed[v] ? "FAILED" : "OK",
                total - failed[v], total);
    all &= failed[v] == 0;
  }
  return all;
}

// ------------------------------------------------------------------------- timing

#if defined(__CUDACC__) && defined(PW_DEV_CUBLAS)
// Row-major C = A B is column-major C^T = B^T A^T: cuBLAS gets the operands swapped. FP32
// math (no TF32), as our kernels.
void cublas_sgemm(cublasHandle_t h, int64_t M, int64_t N, int64_t K, const float* A, const float* B, float* C) {
  const float one = 1.f, zero = 0.f;
  if (cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, int(N), int(M), int(K), &one, B, int(N), A, int(K), &zero, C, int(N)) !=
      CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error("cublasSgemm failed");
}
#endif

// Rows 0, M/2 and M-1 of C = A B against the reference: a check that the timed kernel
// computes the product at this size too.
bool check_rows(const std::vector<float>& out, const std::vector<float>& A, const std::vector<double>& Bd,
                const std::vector<double>& Babs, int64_t M, int64_t N, int64_t K, const std::string& what) {
  bool ok = true;
  for (int64_t m : {int64_t(0), M / 2, M - 1}) {
    std::vector<double> a(A.begin() + m * K, A.begin() + (m + 1) * K);
    std::vector<double> ref(static_cast<size_t>(N)), tol(static_cast<size_t>(N));
    cpu::gemm_reference<double>(false, false, 1, N, K, 1.0, a.data(), K, Bd.data(), N, 0.0, ref.data(), N);
    for (double& x : a) x = std::abs(x);
    cpu::gemm_reference<double>(false, false, 1, N, K, 1.0, a.data(), K, Babs.data(), N, 0.0, tol.data(), N);
    for (double& t : tol) t = sum_tolerance(K, t);
    ok &=
        matches(out.data() + m * N, ref.data(), tol.data(), size_t(N), what + ", row " + std::to_string(m) + " of C:");
  }
  return ok;
}

bool time_versions(const Versions& versions, int64_t M, int64_t N, int64_t K, int iters) {
  std::printf(
      "timing: C = A B, M=%ld N=%ld K=%ld, mean of %d runs after a warm-up "
      "(the engine's dispatcher picks %s here)\n",
      long(M), long(N), long(K), iters, gemm_plan::choose(M, N, K, 1, false, false, planning_sms()).describe().c_str());
  const std::vector<float> A = random_floats(size_t(M * K), 1), B = random_floats(size_t(K * N), 2);
  std::vector<double> Bd(B.begin(), B.end()), Babs(Bd.size());
  for (size_t i = 0; i < Bd.size(); ++i) Babs[i] = std::abs(Bd[i]);
  const DeviceFloats dA(A), dB(B);
  DeviceFloats dC(size_t(M * N));
  std::vector<Timing> rows;
  bool ok = true;
  for (const GemmVersion* v : versions) {
    auto launch = [&] {
      run(GemmBatch{}, false, false, M, N, K, 1.0f, dA.get(), K, dB.get(), N, 0.0f, dC.get(), N, v);
    };
    dC.poison();
    launch();
    if (!check_rows(dC.download(), A, Bd, Babs, M, N, K, v->name)) {
      std::printf("  %-34s wrong result at this size: not timed\n", v->name);
      ok = false;
      continue;
    }
    rows.push_back({v->name, time_ms(launch, iters)});
  }
#if defined(__CUDACC__) && defined(PW_DEV_CUBLAS)
  cublasHandle_t h;
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) throw std::runtime_error("cublasCreate failed");
  cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
  rows.push_back({"cuBLAS", time_ms([&] { cublas_sgemm(h, M, N, K, dA.get(), dB.get(), dC.get()); }, iters), true});
  cublasDestroy(h);
#endif
  print_timings(rows, 2.0 * double(M) * double(N) * double(K));
  return ok;
}

}  // namespace

int gemm_main(int argc, char** argv) {
  const char* usage = "[VERSION|all] [M N K] [--iters N]   (VERSION 1..5; see the file's header)";
  const int64_t n = kSimt ? 256 : 4096;  // square by default
  const Options o = parse_options(argc, argv, {n, n, n}, usage);
  Versions versions;
  for (const GemmVersion* v : kLadder)
    if (o.version == 0 || v->number == o.version) versions.push_back(v);
  if (versions.empty()) {
    std::fprintf(stderr, "dev_gemm: no version %d (1..5)\n", o.version);
    return 2;
  }
  if (!describe_device("dev_gemm")) return 2;
  try {
    const bool valid = validate(versions);
    const bool timed = time_versions(versions, o.sizes[0], o.sizes[1], o.sizes[2], o.iters);
    return valid && timed ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dev_gemm: %s\n", e.what());
    return 1;
  }
}

}  // namespace dev
}  // namespace pw::kernels::PW_KERNEL_NS

int main(int argc, char** argv) { return pw::kernels::PW_KERNEL_NS::dev::gemm_main(argc, argv); }
