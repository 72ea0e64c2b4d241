// Development file of the conv2d forward pass, in the style of llm.c's dev/cuda: the CPU
// reference, every version, validation of each against the reference, and timing, in one
// program. y[N, O, Ho, Wo] = conv(x, w) + bias with the semantics of kernels/cpu/conv.h
// (PyTorch's conv2d: cross-correlation, NCHW, groups, stride, padding, dilation).
//
//   v1 im2col + SGEMM   per chunk of images, im2col unfolds x into a col buffer
//                       [nb][C*kh*kw][Ho*Wo] in global memory (a pointwise conv skips it:
//                       x already is the col matrix); one SGEMM batched over (image, group)
//                       computes y[n, g] = W_g @ col[n, g] (the engine's dispatcher picks
//                       the rung, v5 for the AlexNet layers); a third kernel adds the bias.
//                       Lives only here, for comparison.
//   v2 implicit GEMM    one launch for every image and group: the GEMM Y_g = W_g @ X_col with
//                       N*Ho*Wo columns, v5's warp tiling (kernels/cuda/gemm_tiles.cuh) with
//                       the B tile gathered from x as it is loaded (no col buffer, no
//                       workspace) and the bias added in the epilogue; kernels/cuda/conv.cu,
//                       included below, where it is explained.
//   v3 ... K-slices     v2 in the tile and K-slices gemm_plan::choose_implicit_conv plans where
//                       the grid would not fill the GPU (AlexNet's 13x13 layers at batch 16: 44-66 tiles
//                       on 132 SMs): partial tiles in a workspace, added in slice order with the
//                       bias by a second kernel. What the engine runs.
//
// Expected on an H100 (not measured on a GPU: no GPU has run this file yet, bench/RESULTS.md):
// v1 pays the col buffer twice in DRAM traffic (written by im2col, read by the GEMM) and
// three launches; v2 avoids both at the price of scalar, less regular loads of x. For the
// AlexNet layers at batch 16 both should run near the SGEMM's speed on the same GEMM shape
// (~75-90% of cuBLAS for v5 at large sizes), v2 ahead by about the cost of im2col; v2 has
// more columns per launch (all images at once), which helps the small 13x13 layers fill the
// GPU. bench/bench_cuda_gemm.cpp compares the engine's forward with cuDNN.
//
// Validation: each selected version against kernels::cpu::conv2d_forward_direct<double> on
// the awkward configurations of the conv tests (stride, padding, dilation, groups,
// depthwise, pointwise, kernel = input) and sizes past the GEMM tiles, with and without bias,
// into a NaN-poisoned y; each element within the float error bound of its sum. v1 also runs
// with a workspace of one image and of two (chunks of images), and must refuse less than one.
// At the timed size, the first and last images of each version's result are checked the same
// way before it is timed.
//
// Timing: a square-image conv with groups 1 and a bias, mean of --iters runs after a warm-up
// between CUDA events; GFLOP/s = 2 N O (C/g) kh kw Ho Wo / time and the ratio to the best.
//
// Build and run (bench/CMakeLists.txt; nothing here is in the default build):
//   cmake --build build --target dev_conv2d_forward            simt, any machine
//   ./build/bench/dev_conv2d_forward                           both versions, AlexNet conv2 at
//                                                              batch 1 (batch 16 on a GPU)
//   ./build/bench/dev_conv2d_forward 2 16 3 224 224 64 11 4 2  v2 on AlexNet conv1, batch 16
//   cmake --build build --target dev_conv2d_forward_cuda       nvcc (needs the CUDA toolkit)
//   ./build/bench/dev_conv2d_forward_cuda [VERSION|all] [N C H W O k stride pad]   on a GPU
// The AlexNet layers (torchvision), as N C H W O k stride pad: conv1 16 3 224 224 64 11 4 2,
// conv2 16 64 27 27 192 5 1 2, conv3 16 192 13 13 384 3 1 1, conv4 16 384 13 13 256 3 1 1,
// conv5 16 256 13 13 256 3 1 1. The simt build runs the same CUDA source on the CPU: its
// validation is as strict as on a GPU, its timings are CPU timings and say nothing about a
// GPU. CTest runs `dev_conv2d_forward all 2 3 9 7 5 3 1 1 --iters 1` on simt
// (dev_conv2d_forward_validation).
#include "kernels/cuda/conv.cu"  // v2, im2col, and the workspace and chunking rules

#include "bench/kernels/common.cuh"
#include "bench/kernels/conv_problems.cuh"
#include "kernels/cpu/conv.h"  // the CPU reference

namespace pw::kernels::PW_KERNEL_NS {
namespace {  // the same unnamed namespace as conv.cu's kernels and helpers

// ------------------------------------------------------------------------- v1: im2col + SGEMM

// y[n, o, p] += bias[o].
__global__ void bias_add_kernel(float* __restrict__ y, const float* __restrict__ bias, int64_t O, int64_t P,
                                int64_t total) {
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x)
    y[idx] += bias[(idx / P) % O];
}

// The col buffer of one image [C*kh*kw][Ho*Wo] (none for a pointwise conv), in chunks of
// images by the weight gradient's rule (kernels/cuda/conv.cu).
int64_t im2col_floats_per_image(const ConvGeometry& g) { return is_pointwise(g) ? 0 : g.C * g.kh * g.kw * g.Ho * g.Wo; }
int64_t im2col_workspace_floats(const ConvGeometry& g) {
  return chunked_workspace_floats(g, im2col_floats_per_image(g));
}

void conv2d_forward_im2col(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                           float* workspace, int64_t workspace_floats) {
  const int64_t P = g.Ho * g.Wo, HW = g.H * g.W, Kt = g.C * g.kh * g.kw;
  const int64_t G = g.groups, Cg = g.C / G, Og = g.O / G, Kg = Cg * g.kh * g.kw;
  if (g.N * g.O * P == 0) return;
  const bool pointwise = is_pointwise(g);
  const int64_t nb_max = chunk_images(g, im2col_floats_per_image(g), workspace_floats, "conv2d_forward_im2col");
  for (int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.N - n0);
    const float* B = x + n0 * g.C * HW;  // pointwise: the input planes are the col matrix
    GemmBatch batch;
    batch.count = nb * G;
    batch.inner = G;
    batch.a_inner = Og * Kg;  // W_g, the same for every image
    batch.b_outer = g.C * HW;
    batch.b_inner = Cg * HW;
    if (!pointwise) {
      const int64_t total = nb * Kt * P;
      PW_LAUNCH(im2col_kernel<int64_t>, grid_blocks(total, kThreads), kThreads, 0, 0)
      (B, dims_of(g), nb, workspace, Kt * P, P);
      PW_CUDA_CHECK_LAUNCH();
      B = workspace;
      batch.b_outer = Kt * P;
      batch.b_inner = Kg * P;
    }
    batch.c_outer = g.O * P;
    batch.c_inner = Og * P;
    sgemm_batched(Tag{}, batch, false, false, Og, P, Kg, 1.0f, w, Kg, B, P, 0.0f, y + n0 * g.O * P, P);
  }
  if (bias) {
    const int64_t total = g.N * g.O * P;
    PW_LAUNCH(bias_add_kernel, grid_blocks(total, kThreads), kThreads, 0, 0)(y, bias, g.O, P, total);
    PW_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

namespace dev {
namespace {

// ------------------------------------------------------------------------- the versions

struct ConvVersion {
  int number;
  const char* name;
  // y = conv(x, w) + bias with `workspace_floats` of scratch memory (-1: as much as it asks).
  void (*run)(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
              int64_t workspace_floats);
};

void run_im2col(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                int64_t workspace_floats) {
  if (workspace_floats < 0) workspace_floats = im2col_workspace_floats(g);
  DeviceFloats ws(size_t(std::max<int64_t>(workspace_floats, 1)));
  conv2d_forward_im2col(g, x, w, bias, y, ws.get(), workspace_floats);
}
void run_implicit(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int64_t) {
  conv2d_forward_implicit(Tag{}, g, x, w, bias, y);  // no workspace: one K-slice
}
int64_t planned_workspace_floats(const ConvGeometry& g) { return conv2d_workspace_floats(Tag{}, g, ConvPass::forward); }
void run_planned(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y,
                 int64_t workspace_floats) {
  if (workspace_floats < 0) workspace_floats = planned_workspace_floats(g);
  DeviceFloats ws(size_t(std::max<int64_t>(workspace_floats, 1)));
  conv2d_forward_implicit(Tag{}, g, x, w, bias, y, ws.get(), workspace_floats);
}

const ConvVersion kVersions[] = {{1, "v1 im2col + SGEMM", run_im2col},
                                 {2, "v2 implicit GEMM", run_implicit},
                                 {3, "v3 implicit GEMM, planned K-slices", run_planned}};
using Versions = std::vector<const ConvVersion*>;

// ------------------------------------------------------------------------- problems

// Random x, w and bias of a geometry on the host and the device.
struct Operands {
  std::vector<float> x, w, b;
  DeviceFloats dx, dw, db;
  Operands(const ConvGeometry& g, uint32_t seed)
      : x(random_floats(size_t(g.N * g.C * g.H * g.W), seed)),
        w(random_floats(size_t(g.O * (g.C / g.groups) * g.kh * g.kw), seed + 1)),
        b(random_floats(size_t(g.O), seed + 2)),
        dx(x),
        dw(w),
        db(b) {}
};

// The reference of images [n0, n0 + count) and its error bound, from the direct convolution
// in double over the values and over their absolute values.
void reference(const ConvGeometry& g, const Operands& op, bool bias, int64_t n0, int64_t count,
               std::vector<double>& ref, std::vector<double>& tol) {
  ConvGeometry s = g;  // the CPU kernels take the same geometry
  s.N = count;
  const size_t image = size_t(g.C * g.H * g.W);
  std::vector<double> x(op.x.begin() + n0 * image, op.x.begin() + (n0 + count) * image), w(op.w.begin(), op.w.end()),
      b(op.b.begin(), op.b.end());
  ref.assign(size_t(count * g.O * g.Ho * g.Wo), 0.0);
  tol.assign(ref.size(), 0.0);
  cpu::conv2d_forward_direct<double>(s, x.data(), w.data(), {bias ? b.data() : nullptr}, ref.data());
  for (auto* v : {&x, &w, &b})
    for (double& e : *v) e = std::abs(e);
  cpu::conv2d_forward_direct<double>(s, x.data(), w.data(), {bias ? b.data() : nullptr}, tol.data());
  const int64_t terms = (g.C / g.groups) * g.kh * g.kw + 1;
  for (double& t : tol) t = sum_tolerance(terms, t);
}

// ------------------------------------------------------------------------- validation

// Runs each version on g into a poisoned y and compares all of it with the reference;
// counts each version's failed cases in `failed`.
void validate_case(const Versions& versions, const ConvGeometry& g, bool bias, uint32_t seed,
                   std::vector<int>& failed) {
  const Operands op(g, seed);
  std::vector<double> ref, tol;
  reference(g, op, bias, 0, g.N, ref, tol);
  DeviceFloats y(ref.size());
  for (size_t v = 0; v < versions.size(); ++v) {
    y.poison();
    versions[v]->run(g, op.dx.get(), op.dw.get(), bias ? op.db.get() : nullptr, y.get(), -1);
    if (!matches(y.download().data(), ref.data(), tol.data(), ref.size(),
                 std::string(versions[v]->name) + ", " + describe(g, bias)))
      ++failed[v];
  }
}

// v1 with workspaces for one image and for two (plus slack): chunks of 1 and of 2, 2, 1 must
// give the reference; less than one image's worth must be refused with an error.
bool validate_chunks() {
  const ConvGeometry g = geometry(5, 4, 9, 7, 6, 3, 3, 1, 2, 1, 1, 1, 1, 2);
  const Operands op(g, 77);
  std::vector<double> ref, tol;
  reference(g, op, true, 0, g.N, ref, tol);
  const int64_t per_image = im2col_workspace_floats(g) / g.N;
  DeviceFloats y(ref.size());
  bool ok = true;
  for (int64_t floats : {per_image, 2 * per_image + 3}) {
    y.poison();
    run_im2col(g, op.dx.get(), op.dw.get(), op.db.get(), y.get(), floats);
    ok &= matches(y.download().data(), ref.data(), tol.data(), ref.size(),
                  "v1 with a workspace of " + std::to_string(floats) + " floats");
  }
  try {
    run_im2col(g, op.dx.get(), op.dw.get(), op.db.get(), y.get(), per_image - 1);
    std::printf("    MISMATCH v1: a workspace smaller than one image was not refused\n");
    ok = false;
  } catch (const std::runtime_error&) {
  }
  return ok;
}

bool validate(const Versions& versions) {
  // The configurations of tests/support/conv_cases.h, then sizes whose GEMMs cross the tiles.
  // geometry(N, C, H, W, O, kh, kw, stride h, w, pad h, w, dilation h, w, groups)
  const std::pair<ConvGeometry, bool> cases[] = {
      {geometry(2, 3, 7, 6, 4, 3, 3), true},
      {geometry(2, 3, 7, 8, 4, 3, 3, 2, 2, 1, 1), true},
      {geometry(1, 2, 11, 9, 3, 5, 5, 3, 3, 2, 2), true},
      {geometry(2, 3, 9, 7, 2, 3, 2, 2, 3, 1), true},
      {geometry(1, 2, 9, 8, 3, 3, 3, 1, 1, 2, 1, 2), true},
      {geometry(2, 2, 10, 9, 2, 2, 3, 2, 1, 1, 2, 3, 2), true},
      {geometry(2, 4, 6, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2), true},
      {geometry(1, 6, 7, 7, 4, 3, 2, 2, 2, 1, 1, 1, 1, 2), false},
      {geometry(2, 3, 6, 7, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3), true},  // depthwise
      {geometry(1, 3, 5, 6, 6, 3, 3, 2, 1, 1, 0, 1, 1, 3), true},  // depthwise x2
      {geometry(2, 5, 5, 7, 3, 2, 2), false},
      {geometry(2, 5, 4, 3, 7, 1, 1), true},  // pointwise: no im2col
      {geometry(2, 3, 5, 6, 4, 1, 1, 2, 2), true},
      {geometry(1, 3, 3, 4, 2, 1, 1, 1, 1, 1, 1), false},
      {geometry(2, 3, 4, 5, 2, 4, 5), true},  // kernel = input
      {geometry(1, 5, 13, 11, 3, 7, 5, 2, 3, 3, 2), true},
      {geometry(3, 7, 19, 17, 67, 3, 3, 1, 1, 1, 1), true},  // past the tiles
      {geometry(2, 9, 15, 13, 33, 3, 3, 2, 1, 1, 1, 1, 1, 3), true},
      {geometry(2, 37, 9, 11, 131, 1, 1), true},              // pointwise, many channels
      {geometry(1, 3, 31, 29, 5, 11, 11, 4, 4, 2, 2), true},  // AlexNet conv1's shape
  };
  const size_t n_cases = sizeof cases / sizeof cases[0];
  std::printf(
      "validation: %zu configurations per version against "
      "kernels::cpu::conv2d_forward_direct<double>\n",
      n_cases);
  std::vector<int> failed(versions.size(), 0);
  uint32_t seed = 1;
  for (const auto& [g, bias] : cases) validate_case(versions, g, bias, seed += 3, failed);
  bool all = true;
  for (size_t v = 0; v < versions.size(); ++v) {
    std::printf("  %-34s %s (%d of %zu configurations match)\n", versions[v]->name, failed[v] ? "FAILED" : "OK",
                int(n_cases) - failed[v], n_cases);
    all &= failed[v] == 0;
  }
  if (std::find_if(versions.begin(), versions.end(), [](const ConvVersion* v) { return v->number == 1; }) !=
      versions.end()) {
    const bool chunks = validate_chunks();
    std::printf("  %-34s %s\n", "v1 in chunks of images", chunks ? "OK" : "FAILED");
    all &= chunks;
  }
  return all;
}

// ------------------------------------------------------------------------- timing

bool time_versions(const Versions& versions, const ConvGeometry& g, int iters) {
  std::printf("timing: %s, mean of %d runs after a warm-up (the engine runs v3)\n", describe(g, true).c_str(), iters);
  const Operands op(g, 1);
  const size_t image = size_t(g.O * g.Ho * g.Wo);
  std::vector<double> ref_first, tol_first, ref_last, tol_last;
  reference(g, op, true, 0, 1, ref_first, tol_first);
  reference(g, op, true, g.N - 1, 1, ref_last, tol_last);
  DeviceFloats y(size_t(g.N) * image);
  std::vector<Timing> rows;
  bool ok = true;
  for (const ConvVersion* v : versions) {
    y.poison();
    v->run(g, op.dx.get(), op.dw.get(), op.db.get(), y.get(), -1);
    const std::vector<float> out = y.download();
    const bool right =
        matches(out.data(), ref_first.data(), tol_first.data(), image, std::string(v->name) + ", image 0") &&
        matches(out.data() + (g.N - 1) * image, ref_last.data(), tol_last.data(), image,
                std::string(v->name) + ", image " + std::to_string(g.N - 1));
    if (!right) {
      std::printf("  %-34s wrong result at this size: not timed\n", v->name);
      ok = false;
      continue;
    }
    // The workspace is allocated outside the timed runs, as the engine's caching allocator
    // would hand it over.
    const int64_t ws_floats = v->number == 1   ? im2col_workspace_floats(g)
                              : v->number == 3 ? planned_workspace_floats(g)
                                               : 0;
    DeviceFloats ws(size_t(std::max<int64_t>(ws_floats, 1)));
    const double ms = time_ms(
        [&] {
          if (v->number == 1)
            conv2d_forward_im2col(g, op.dx.get(), op.dw.get(), op.db.get(), y.get(), ws.get(), ws_floats);
          else
            conv2d_forward_implicit(Tag{}, g, op.dx.get(), op.dw.get(), op.db.get(), y.get(), ws.get(), ws_floats);
        },
        iters);
    rows.push_back({v->name, ms});
  }
  print_timings(rows, 2.0 * double(g.N) * double(g.O) * double(g.C / g.groups) * double(g.kh) * double(g.kw) *
                          double(g.Ho) * double(g.Wo));
  return ok;
}

}  // namespace

int conv2d_forward_main(int argc, char** argv) {
  const char* usage = "[VERSION|all] [N C H W O k stride pad] [--iters N]   (VERSION 1..3; see the file's header)";
  const Options o = parse_options(argc, argv, {kSimt ? 1 : 16, 64, 27, 27, 192, 5, 1, 2},  // AlexNet conv2
                                  usage);
  Versions versions;
  for (const ConvVersion& v : kVersions)
    if (o.version == 0 || v.number == o.version) versions.push_back(&v);
  if (versions.empty()) {
    std::fprintf(stderr, "dev_conv2d_forward: no version %d (1..3)\n", o.version);
    return 2;
  }
  const std::vector<int64_t>& s = o.sizes;
  const ConvGeometry g = geometry(s[0], s[1], s[2], s[3], s[4], s[5], s[5], s[6], s[6], s[7], s[7]);
  if (g.Ho < 1 || g.Wo < 1) {
    std::fprintf(stderr, "dev_conv2d_forward: the kernel does not fit the padded image\n");
    return 2;
  }
  if (!describe_device("dev_conv2d_forward")) return 2;
  try {
    const bool valid = validate(versions);
    const bool timed = time_versions(versions, g, o.iters);
    return valid && timed ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dev_conv2d_forward: %s\n", e.what());
    return 1;
  }
}

}  // namespace dev
}  // namespace pw::kernels::PW_KERNEL_NS

int main(int argc, char** argv) { return pw::kernels::PW_KERNEL_NS::dev::conv2d_forward_main(argc, argv); }
