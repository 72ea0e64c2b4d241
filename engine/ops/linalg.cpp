// matmul and linear: shape checks, the transpose-aware GEMM call, and backward via matmul.
#include "engine/ops/linalg.h"

#include "engine/autograd.h"
#include "engine/device/gpu.h"
#include "engine/ops.h"
#include "kernels/cpu/gemm.h"

namespace pw::detail {

void gemm(DType dt, bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const void* A, int64_t lda,
          const void* B, int64_t ldb, double beta, void* C, int64_t ldc) {
  if (dt == DType::f32) {
    kernels::cpu::sgemm(ta, tb, M, N, K, (float)alpha, (const float*)A, lda, (const float*)B, ldb, (float)beta,
                        (float*)C, ldc);
  } else if (dt == DType::f64) {
    kernels::cpu::gemm_reference<double>(ta, tb, M, N, K, alpha, (const double*)A, lda, (const double*)B, ldb, beta,
                                         (double*)C, ldc);
  } else {
    PW_FAIL("gemm: expected f32 or f64, got ", dtype_name(dt));
  }
}

}  // namespace pw::detail

namespace pw {

namespace {
// A 2-D matrix as the GEMM sees it: a pointer, whether it is stored transposed, and its
// leading dimension. Views whose inner stride is 1 (plain) or outer stride is 1 (transposed)
// go straight in; anything else is copied first.
struct MatrixArg {
  Tensor keep;
  bool trans = false;
  int64_t ld = 0;
};

MatrixArg as_matrix(const Tensor& m) {
  int64_t r = m.shape()[0], c = m.shape()[1];
  const Shape& st = m.strides();
  if ((st[1] == 1 || c == 1) && st[0] >= std::max<int64_t>(c, 1)) return {m, false, st[0]};
  if ((st[0] == 1 || r == 1) && st[1] >= std::max<int64_t>(r, 1)) return {m, true, st[1]};
  Tensor cm = m.contiguous();
  return {cm, false, std::max<int64_t>(c, 1)};
}

// The GPU devices: one launch for a 2-D product or for a whole batch (kernels/cuda/gemm.cu).
// Each operand's matrices are read in place when they are plain or transposed (as in
// as_matrix); the batch stride is the dim-0 stride (0 for an expanded batch).
struct GpuOperand {
  Tensor keep;
  bool trans;
  int64_t ld, batch_stride;
};

GpuOperand gpu_operand(const Tensor& t) {
  const int64_t d = t.dim(), r = t.size(d - 2), c = t.size(d - 1);
  const int64_t sr = t.strides()[d - 2], sc = t.strides()[d - 1];
  const int64_t sb = d == 3 ? t.strides()[0] : 0;
  if ((sc == 1 || c == 1) && sr >= std::max<int64_t>(c, 1)) return {t, false, sr, sb};
  if ((sr == 1 || r == 1) && sc >= std::max<int64_t>(r, 1)) return {t, true, sc, sb};
  Tensor cm = t.contiguous();
  return {cm, false, std::max<int64_t>(c, 1), d == 3 ? r * c : 0};
}

Tensor matmul_gpu(const Tensor& a, const Tensor& b) {
  const bool batched = a.dim() == 3;
  const int64_t M = a.size(a.dim() - 2), K = a.size(a.dim() - 1), N = b.size(b.dim() - 1);
  const Shape shape = batched ? Shape{a.size(0), M, N} : Shape{M, N};
  Tensor out = Tensor::empty(shape, DType::f32, a.device());
  if (out.numel() == 0) return out;
  const GpuOperand A = gpu_operand(a), B = gpu_operand(b);
  kernels::GemmBatch batch;
  batch.count = batched ? a.size(0) : 1;
  batch.a_outer = A.batch_stride;
  batch.b_outer = B.batch_stride;
  batch.c_outer = M * N;
  on_gpu(a.device(), [&](auto tag) {
    sgemm_batched(tag, batch, A.trans, B.trans, M, N, K, 1.0f, A.keep.data<float>(), A.ld, B.keep.data<float>(), B.ld,
                  0.0f, out.data<float>(), N);
  });
  return out;
}

Tensor matmul2d(const Tensor& a, const Tensor& b, Tensor out) {
  int64_t M = a.shape()[0], K = a.shape()[1], N = b.shape()[1];
  MatrixArg A = as_matrix(a), B = as_matrix(b);
  if (M * N == 0) return out;
  if (K == 0) {
    out.fill_(0.0);
    return out;
  }
  detail::gemm(a.dtype(), A.trans, B.trans, M, N, K, 1.0, A.keep.raw_data(), A.ld, B.keep.raw_data(), B.ld, 0.0,
               out.raw_data(), N);
  return out;
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  PW_CHECK(a.defined() && b.defined(), "matmul: undefined tensor argument");
  PW_CHECK(a.dtype() == b.dtype(), "matmul: dtype mismatch, ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  PW_CHECK(is_floating(a.dtype()), "matmul: expected floating-point tensors");
  PW_CHECK((a.dim() == 2 && b.dim() == 2) || (a.dim() == 3 && b.dim() == 3),
           "matmul: expected two 2-D or two 3-D tensors, got shapes ", shape_str(a.shape()), " and ",
           shape_str(b.shape()));
  int64_t ka = a.shape()[a.dim() - 1], kb = b.shape()[b.dim() - 2];
  PW_CHECK(ka == kb, "matmul: inner dimensions differ: ", shape_str(a.shape()), " @ ", shape_str(b.shape()));
  PW_CHECK(a.dim() == 2 || b.shape()[0] == a.shape()[0], "matmul: batch sizes differ: ", shape_str(a.shape()), " @ ",
           shape_str(b.shape()));
  check_same_device("matmul", a.device(), b.device());
  Tensor out;
  Tensor da = a.detach(), db = b.detach();
  if (is_gpu(a.device())) {
    PW_CHECK(a.dtype() == DType::f32, "matmul: the ", a.device().str(), " device computes in f32 only, got ",
             dtype_name(a.dtype()));
    out = matmul_gpu(da, db);
  } else if (a.dim() == 2) {
    out = matmul2d(da, db, Tensor::empty({a.shape()[0], b.shape()[1]}, a.dtype(), a.device()));
  } else {
    int64_t B = a.shape()[0];
    out = Tensor::empty({B, a.shape()[1], b.shape()[2]}, a.dtype(), a.device());
    for (int64_t i = 0; i < B; ++i) matmul2d(da.select(0, i), db.select(0, i), out.select(0, i));
  }
  return record(out, "matmul", {a, b}, [da, db](const Tensor& g, const Node& n) {
    int64_t nd = da.dim();
    Tensor ga, gb;
    if (n.needs_grad(0)) ga = matmul(g, db.transpose(nd - 2, nd - 1));
    if (n.needs_grad(1)) gb = matmul(da.transpose(nd - 2, nd - 1), g);
    return std::vector<Tensor>{ga, gb};
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  PW_CHECK(x.defined() && weight.defined(), "linear: undefined tensor argument");
  PW_CHECK(weight.dim() == 2, "linear: weight must be 2-D [out, in], got ", shape_str(weight.shape()));
  PW_CHECK(x.dim() == 2, "linear: input must be 2-D [batch, features], got ", shape_str(x.shape()));
  PW_CHECK(x.shape()[1] == weight.shape()[1], "linear: input has ", x.shape()[1], " features, weight expects ",
           weight.shape()[1]);
  // One node of its own rather than matmul(x, weight.t()): the weight's gradient is then
  // g^T x, computed straight into the weight's [out, in] layout, instead of x^T g in the
  // transposed layout followed by a strided copy of the whole weight (on AlexNet's fc6 at batch
  // 16, a 9216 x 4096 transpose that cost more than the products themselves).
  const Tensor dx = x.detach(), dw = weight.detach();
  Tensor y = record(matmul(dx, dw.t()), "linear", {x, weight}, [dx, dw](const Tensor& g, const Node& n) {
    Tensor gx, gw;
    if (n.needs_grad(0)) gx = matmul(g, dw);
    if (n.needs_grad(1)) gw = matmul(g.t(), dx);
    return std::vector<Tensor>{gx, gw};
  });
  if (!bias.defined()) return y;
  PW_CHECK(bias.dim() == 1 && bias.shape()[0] == weight.shape()[0], "linear: bias has shape ", shape_str(bias.shape()),
           ", expected [", weight.shape()[0], "]");
  return add(y, bias);
}

}  // namespace pw
