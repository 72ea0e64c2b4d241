// Development file of the conv2d data gradient, in the style of llm.c's dev/cuda: the CPU
// reference, every version, validation of each against the reference, and timing, in one
// program. dx[N, C, H, W] = the gradient of conv2d with respect to its input for an upstream
// gradient dy[N, O, Ho, Wo], with the semantics of kernels/cpu/conv.h (PyTorch's conv2d:
// cross-correlation, NCHW, groups, stride, padding, dilation).
//
//   v1 GEMM + col2im    per chunk of images, one SGEMM batched over (image, group) computes
//                       col[n, g] = W_g^T @ dy[n, g] into a col buffer [nb][C*kh*kw][Ho*Wo]
//                       in global memory, then col2im folds it into dx in gather form (one
//                       thread per dx element sums its taps). What the engine ran until
//                       2026-12-07; lives only here, for comparison.
//   v2 implicit GEMM    one launch for every image and group: dX_g = W_g^T @ dY_col with
//                       N*H*W columns, the forward's kernel (kernels/cuda/conv.cu, included
//                       below, where it is explained) with dy gathered in col2im's form as the
//                       B tile is loaded and W's columns as the A tile: no col buffer. Its K
//                       (O/groups x taps) is cut into the slices gemm_plan::choose_implicit_conv
//                       plans so that the grid fills the GPU (partial tiles in the workspace,
//                       added in slice order by a second kernel). What the engine runs (a
//                       pointwise conv excepted: both versions run its batched GEMM, the dx
//                       planes being the GEMM's output).
//
// Expected on an H100 (not measured on a GPU: no GPU has run this file yet, bench/RESULTS.md):
// v1 writes the col buffer (kh*kw times dx's size) and reads it back, two launches per chunk;
// v2 reads dy through a gather whose taps are tested for the stride, more scalar loads but no
// col traffic, and adds the partial tiles of its K-slices when it has them. simt-profile's
// estimates of both are in bench/RESULTS.md (PW_SIMT_PROFILE=FILE with dev_conv2d_backward_data_checked).
//
// Validation: each selected version against kernels::cpu::conv2d_backward_data_direct<double>
// on the awkward configurations of the conv tests (stride, padding, dilation, groups,
// depthwise, pointwise, kernel = input) and sizes past the GEMM tiles in both input and output
// channels, into a NaN-poisoned dx; each element within the float error bound of its sum. v1
// also runs with a workspace of one image and of two (chunks of images), and must refuse less
// than one. At the timed size, the first and last images of each version's result are checked
// the same way before it is timed.
//
// Timing: a square-image conv with groups 1, mean of --iters runs after a warm-up between CUDA
// events; GFLOP/s = 2 N O (C/g) kh kw Ho Wo / time and the ratio to the best.
//
// Build and run (bench/CMakeLists.txt; nothing here is in the default build):
//   cmake --build build --target dev_conv2d_backward_data        simt, any machine
//   ./build/bench/dev_conv2d_backward_data                       both versions, AlexNet conv2
//                                                                at batch 1 (batch 16 on a GPU)
//   cmake --build build --target dev_conv2d_backward_data_cuda   nvcc (needs the CUDA toolkit)
//   ./build/bench/dev_conv2d_backward_data_cuda [VERSION|all] [N C H W O k stride pad]   on a GPU
// The AlexNet layers are listed in bench/kernels/conv2d_forward.cu. The simt build runs the same
// CUDA source on the CPU: its validation is as strict as on a GPU, its timings are CPU timings.
// CTest runs `dev_conv2d_backward_data all 2 3 9 7 5 3 2 1 --iters 1` on simt
// (dev_conv2d_backward_data_validation).
#include "kernels/cuda/conv.cu"  // v2, is_pointwise, the chunking rules

#include "bench/kernels/common.cuh"
#include "bench/kernels/conv_problems.cuh"
#include "kernels/cpu/conv.h"  // the CPU reference

namespace pw::kernels::PW_KERNEL_NS {
namespace {  // the same unnamed namespace as conv.cu's kernels and helpers

// ------------------------------------------------------------------------- v1: GEMM + col2im

// The adjoint of im2col in gather form: dx[n, c, ih, iw] = the sum of every col entry that
// im2col would have read from (ih, iw), i.e. over the taps (i, j) with ih = oh*sh - ph + i*dh
// for an integer oh in [0, Ho) (likewise for w). One thread per dx element, a fixed order,
// every element written: deterministic, no zeroing, no atomics.
__global__ void col2im_kernel(const float* __restrict__ col, ConvDims dims, int64_t nb, int64_t img_stride,
                              int64_t row_stride, float* __restrict__ dx) {
  const ConvDims& d = dims;
  const int64_t total = nb * d.C * d.H * d.W;
  for (int64_t idx = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)gridDim.x * blockDim.x) {
    const int64_t iw = idx % d.W, ih = (idx / d.W) % d.H, c = (idx / (d.W * d.H)) % d.C, n = idx / (d.W * d.H * d.C);
    const float* cn = col + n * img_stride;
    float acc = 0.0f;
    for (int64_t i = 0; i < d.kh; ++i) {
      const int64_t th = ih + d.ph - i * d.dh;  // = oh * sh
      if (th < 0) break;                        // th only decreases with i
      if (th % d.sh != 0 || th / d.sh >= d.Ho) continue;
      const int64_t oh = th / d.sh;
      for (int64_t j = 0; j < d.kw; ++j) {
        const int64_t tw = iw + d.pw - j * d.dw;
        if (tw < 0) break;
        if (tw % d.sw != 0 || tw / d.sw >= d.Wo) continue;
        const int64_t k = (c * d.kh + i) * d.kw + j;
        acc += cn[k * row_stride + oh * d.Wo + tw / d.sw];
      }
    }
    dx[idx] = acc;
  }
}

// The col buffer of one image [C*kh*kw][Ho*Wo] (none for a pointwise conv).
int64_t col_floats_per_image(const ConvGeometry& g) { return is_pointwise(g) ? 0 : g.C * g.kh * g.kw * g.Ho * g.Wo; }

void conv2d_backward_data_col2im(const ConvGeometry& g, const float* dy, const float* w, float* dx, float* workspace,
                                 int64_t workspace_floats) {
  const int64_t P = g.Ho * g.Wo, HW = g.H * g.W, Kt = g.C * g.kh * g.kw;
  const int64_t G = g.groups, Cg = g.C / G, Og = g.O / G, Kg = Cg * g.kh * g.kw;
  if (g.N * g.C * HW == 0) return;
  const bool pointwise = is_pointwise(g);
  const int64_t nb_max = chunk_images(g, col_floats_per_image(g), workspace_floats, "conv2d_backward_data_col2im");
  for (int64_t n0 = 0; n0 < g.N; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.N - n0);
    GemmBatch batch;
    batch.count = nb * G;
    batch.inner = G;
    batch.a_inner = Og * Kg;
    batch.b_outer = g.O * P;
    batch.b_inner = Og * P;
    // col[n, g] = W_g^T @ dy[n, g]: W_g is stored [Og][Kg], so it goes in transposed.
    float* C = pointwise ? dx + n0 * g.C * HW : workspace;
    batch.c_outer = pointwise ? g.C * HW : Kt * P;
    batch.c_inner = pointwise ? Cg * HW : Kg * P;
    sgemm_batched(Tag{}, batch, true, false, Kg, P, Og, 1.0f, w, Kg, dy + n0 * g.O * P, P, 0.0f, C, P);
    if (!pointwise) {
      const int64_t total = nb * g.C * HW;
      PW_LAUNCH(col2im_kernel, grid_blocks(total, kThreads), kThreads, 0, 0)
      (workspace, dims_of(g), nb, Kt * P, P, dx + n0 * g.C * HW);
      PW_CUDA_CHECK_LAUNCH();
    }
  }
}

}  // namespace

namespace dev {
namespace {

// ------------------------------------------------------------------------- the versions

struct Version {
  int number;
  const char* name;
  int64_t (*workspace)(const ConvGeometry& g);  // the floats it asks for
  // dx for dy and w with `workspace_floats` of scratch memory at ws.
  void (*run)(const ConvGeometry& g, const float* dy, const float* w, float* dx, float* ws, int64_t workspace_floats);
};

int64_t col_workspace_floats(const ConvGeometry& g) { return chunked_workspace_floats(g, col_floats_per_image(g)); }
int64_t planned_workspace_floats(const ConvGeometry& g) {
  return conv2d_workspace_floats(Tag{}, g, ConvPass::backward_data);
}

void run_col2im(const ConvGeometry& g, const float* dy, const float* w, float* dx, float* ws, int64_t floats) {
  conv2d_backward_data_col2im(g, dy, w, dx, ws, floats);
}
void run_implicit(const ConvGeometry& g, const float* dy, const float* w, float* dx, float* ws, int64_t floats) {
  conv2d_backward_data(Tag{}, g, dy, w, dx, ws, floats);
}

// Runs v with the workspace it asks for (or `floats` of it when >= 0).
void run_version(const Version& v, const ConvGeometry& g, const float* dy, const float* w, float* dx,
                 int64_t floats = -1) {
  if (floats < 0) floats = v.workspace(g);
  DeviceFloats ws(size_t(std::max<int64_t>(floats, 1)));
  v.run(g, dy, w, dx, ws.get(), floats);
}

const Version kVersions[] = {{1, "v1 GEMM + col2im", col_workspace_floats, run_col2im},
                             {2, "v2 implicit GEMM, planned K-slices", planned_workspace_floats, run_implicit}};
using Versions = std::vector<const Version*>;

// ------------------------------------------------------------------------- problems

// Random dy and w of a geometry on the host and the device.
struct Operands {
  std::vector<float> dy, w;
  DeviceFloats ddy, dw;
  Operands(const ConvGeometry& g, uint32_t seed)
      : dy(random_floats(size_t(g.N * g.O * g.Ho * g.Wo), seed)),
        w(random_floats(size_t(g.O * (g.C / g.groups) * g.kh * g.kw), seed + 1)),
        ddy(dy),
        dw(w) {}
};

// The reference of images [n0, n0 + count) and its error bound, from the direct data gradient
// in double over the values and over their absolute values.
void reference(const ConvGeometry& g, const Operands& op, int64_t n0, int64_t count, std::vector<double>& ref,
               std::vector<double>& tol) {
  ConvGeometry s = g;
  s.N = count;
  const size_t image = size_t(g.O * g.Ho * g.Wo);
  std::vector<double> dy(op.dy.begin() + n0 * image, op.dy.begin() + (n0 + count) * image), w(op.w.begin(), op.w.end());
  ref.assign(size_t(count * g.C * g.H * g.W), 0.0);
  tol.assign(ref.size(), 0.0);
  cpu::conv2d_backward_data_direct<double>(s, dy.data(), w.data(), ref.data());
  for (auto* v : {&dy, &w})
    for (double& e : *v) e = std::abs(e);
  cpu::conv2d_backward_data_direct<double>(s, dy.data(), w.data(), tol.data());
  const int64_t terms = (g.O / g.groups) * g.kh * g.kw;
  for (double& t : tol) t = sum_tolerance(terms, t);
}

// ------------------------------------------------------------------------- validation

void validate_case(const Versions& versions, const ConvGeometry& g, uint32_t seed, std::vector<int>& failed) {
  const Operands op(g, seed);
  std::vector<double> ref, tol;
  reference(g, op, 0, g.N, ref, tol);
  DeviceFloats dx(ref.size());
  for (size_t v = 0; v < versions.size(); ++v) {
    dx.poison();
    run_version(*versions[v], g, op.ddy.get(), op.dw.get(), dx.get());
    if (!matches(dx.download().data(), ref.data(), tol.data(), ref.size(),
                 std::string(versions[v]->name) + ", " + describe(g)))
      ++failed[v];
  }
}

// v1 with workspaces for one image and for two (plus slack): chunks of 1 and of 2, 2, 1 must
// give the reference; less than one image's worth must be refused with an error.
bool validate_chunks() {
  const ConvGeometry g = geometry(5, 4, 9, 7, 6, 3, 3, 1, 2, 1, 1, 1, 1, 2);
  const Operands op(g, 77);
  std::vector<double> ref, tol;
  reference(g, op, 0, g.N, ref, tol);
  const int64_t per_image = col_floats_per_image(g);
  DeviceFloats dx(ref.size());
  bool ok = true;
  for (int64_t floats : {per_image, 2 * per_image + 3}) {
    dx.poison();
    run_version(kVersions[0], g, op.ddy.get(), op.dw.get(), dx.get(), floats);
    ok &= matches(dx.download().data(), ref.data(), tol.data(), ref.size(),
                  "v1 with a workspace of " + std::to_string(floats) + " floats");
  }
  try {
    run_version(kVersions[0], g, op.ddy.get(), op.dw.get(), dx.get(), per_image - 1);
    std::printf("    MISMATCH v1: a workspace smaller than one image was not refused\n");
    ok = false;
  } catch (const std::runtime_error&) {
  }
  return ok;
}

bool validate(const Versions& versions) {
  // The configurations of tests/support/conv_cases.h, then sizes whose GEMMs cross the tiles.
  // geometry(N, C, H, W, O, kh, kw, stride h, w, pad h, w, dilation h, w, groups)
  const ConvGeometry cases[] = {
      geometry(2, 3, 7, 6, 4, 3, 3),
      geometry(2, 3, 7, 8, 4, 3, 3, 2, 2, 1, 1),
      geometry(1, 2, 11, 9, 3, 5, 5, 3, 3, 2, 2),
      geometry(2, 3, 9, 7, 2, 3, 2, 2, 3, 1),
      geometry(1, 2, 9, 8, 3, 3, 3, 1, 1, 2, 1, 2),
      geometry(2, 2, 10, 9, 2, 2, 3, 2, 1, 1, 2, 3, 2),
      geometry(2, 4, 6, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2),
      geometry(1, 6, 7, 7, 4, 3, 2, 2, 2, 1, 1, 1, 1, 2),
      geometry(2, 3, 6, 7, 3, 3, 3, 1, 1, 1, 1, 1, 1, 3),  // depthwise
      geometry(1, 3, 5, 6, 6, 3, 3, 2, 1, 1, 0, 1, 1, 3),  // depthwise x2
      geometry(2, 5, 5, 7, 3, 2, 2),
      geometry(2, 5, 4, 3, 7, 1, 1),  // pointwise: one batched GEMM in both versions
      geometry(2, 3, 5, 6, 4, 1, 1, 2, 2),
      geometry(1, 3, 3, 4, 2, 1, 1, 1, 1, 1, 1),
      geometry(2, 3, 4, 5, 2, 4, 5),  // kernel = input
      geometry(1, 5, 13, 11, 3, 7, 5, 2, 3, 3, 2),
      geometry(3, 67, 19, 17, 7, 3, 3, 1, 1, 1, 1),  // past the tiles in input channels
      geometry(2, 132, 9, 7, 4, 3, 3, 2, 2, 1, 1, 1, 1, 2),
      geometry(2, 37, 9, 11, 131, 3, 3, 1, 1, 1, 1),  // many output channels: a long K
      geometry(1, 3, 31, 29, 5, 11, 11, 4, 4, 2, 2),  // AlexNet conv1's shape
  };
  const size_t n_cases = sizeof cases / sizeof cases[0];
  std::printf("validation: %zu configurations per version against kernels::cpu::conv2d_backward_data_direct<double>\n",
              n_cases);
  std::vector<int> failed(versions.size(), 0);
  uint32_t seed = 1;
  for (const ConvGeometry& g : cases) validate_case(versions, g, seed += 3, failed);
  bool all = true;
  for (size_t v = 0; v < versions.size(); ++v) {
    std::printf("  %-34s %s (%d of %zu configurations match)\n", versions[v]->name, failed[v] ? "FAILED" : "OK",
                int(n_cases) - failed[v], n_cases);
    all &= failed[v] == 0;
  }
  if (std::find_if(versions.begin(), versions.end(), [](const Version* v) { return v->number == 1; }) !=
      versions.end()) {
    const bool chunks = validate_chunks();
    std::printf("  %-34s %s\n", "v1 in chunks of images", chunks ? "OK" : "FAILED");
    all &= chunks;
  }
  return all;
}

// ------------------------------------------------------------------------- timing

bool time_versions(const Versions& versions, const ConvGeometry& g, int iters) {
  std::printf("timing: %s, mean of %d runs after a warm-up (the engine runs v2)\n", describe(g).c_str(), iters);
  const Operands op(g, 1);
  const size_t image = size_t(g.C * g.H * g.W);
  std::vector<double> ref_first, tol_first, ref_last, tol_last;
  reference(g, op, 0, 1, ref_first, tol_first);
  reference(g, op, g.N - 1, 1, ref_last, tol_last);
  DeviceFloats dx(size_t(g.N) * image);
  std::vector<Timing> rows;
  bool ok = true;
  for (const Version* v : versions) {
    dx.poison();
    run_version(*v, g, op.ddy.get(), op.dw.get(), dx.get());
    const std::vector<float> out = dx.download();
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
    const int64_t ws_floats = v->workspace(g);
    DeviceFloats ws(size_t(std::max<int64_t>(ws_floats, 1)));
    const double ms = time_ms([&] { v->run(g, op.ddy.get(), op.dw.get(), dx.get(), ws.get(), ws_floats); }, iters);
    rows.push_back({v->name, ms});
  }
  print_timings(rows, 2.0 * double(g.N) * double(g.O) * double(g.C / g.groups) * double(g.kh) * double(g.kw) *
                          double(g.Ho) * double(g.Wo));
  return ok;
}

int conv2d_backward_data_main(int argc, char** argv) {
  const char* usage = "[VERSION|all] [N C H W O k stride pad] [--iters N]   (VERSION 1..2; see the file's header)";
  const Options o = parse_options(argc, argv, {kSimt ? 1 : 16, 64, 27, 27, 192, 5, 1, 2},  // AlexNet conv2
                                  usage);
  Versions versions;
  for (const Version& v : kVersions)
    if (o.version == 0 || v.number == o.version) versions.push_back(&v);
  if (versions.empty()) {
    std::fprintf(stderr, "dev_conv2d_backward_data: no version %d (1..2)\n", o.version);
    return 2;
  }
  const std::vector<int64_t>& s = o.sizes;
  const ConvGeometry g = geometry(s[0], s[1], s[2], s[3], s[4], s[5], s[5], s[6], s[6], s[7], s[7]);
  if (g.Ho < 1 || g.Wo < 1) {
    std::fprintf(stderr, "dev_conv2d_backward_data: the kernel does not fit the padded image\n");
    return 2;
  }
  if (!describe_device("dev_conv2d_backward_data")) return 2;
  try {
    const bool valid = validate(versions);
    const bool timed = time_versions(versions, g, o.iters);
    return valid && timed ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dev_conv2d_backward_data: %s\n", e.what());
    return 1;
  }
}

}  // namespace
}  // namespace dev
}  // namespace pw::kernels::PW_KERNEL_NS

int main(int argc, char** argv) { return pw::kernels::PW_KERNEL_NS::dev::conv2d_backward_data_main(argc, argv); }
