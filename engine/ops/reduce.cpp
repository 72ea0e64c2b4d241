// Reductions. Multi-dimension sums reduce one dimension at a time (highest first), each as
// a contiguous [outer, R, inner] pass: kernels/cpu/reduce.h on the cpu, kernels/cuda/reduce.cu
// on cuda and simt (f32 only there).
#include "engine/ops/reduce.h"

#include <algorithm>

#include "engine/autograd.h"
#include "engine/device/gpu.h"
#include "engine/ops.h"
#include "kernels/cpu/reduce.h"

namespace pw {

// Scratch device memory of at least `bytes` (undefined when 0), from the caching allocator.
static Tensor gpu_workspace(size_t bytes, Device d) {
  if (bytes == 0) return Tensor();
  return Tensor::empty({(int64_t)((bytes + sizeof(float) - 1) / sizeof(float))}, DType::f32, d);
}

static void split_at(const Shape& s, int64_t d, int64_t& outer, int64_t& R, int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= s[i];
  R = s[d];
  for (size_t i = d + 1; i < s.size(); ++i) inner *= s[i];
}

// Sums dimension d of x (keeping it as size 1), without recording.
static Tensor sum_one_dim(const Tensor& x, int64_t d) {
  Tensor xc = x.contiguous();
  int64_t outer, R, inner;
  split_at(xc.shape(), d, outer, R, inner);
  Shape os = xc.shape();
  os[d] = 1;
  Tensor out = Tensor::empty(os, x.dtype(), x.device());
  if (is_gpu(x.device())) {
    PW_CHECK(x.dtype() == DType::f32, "sum: the ", x.device().str(), " device computes in f32 only");
    on_gpu(x.device(), [&](auto tag) {
      Tensor ws = gpu_workspace(sum_axis_workspace_bytes(tag, outer, R, inner), x.device());
      sum_axis(tag, xc.data<float>(), out.data<float>(), outer, R, inner, ws.defined() ? ws.raw_data() : nullptr);
    });
    return out;
  }
  dispatch_floating(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    kernels::cpu::sum_axis<T>(xc.data<T>(), out.data<T>(), outer, R, inner);
  });
  return out;
}

static std::vector<int64_t> normalize_dims(const std::vector<int64_t>& dims, int64_t nd, const char* op) {
  std::vector<int64_t> r;
  for (int64_t d : dims) r.push_back(wrap_dim(d, nd, op));
  std::sort(r.begin(), r.end());
  PW_CHECK(std::adjacent_find(r.begin(), r.end()) == r.end(), op, ": a dimension is repeated");
  return r;
}

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  PW_CHECK(x.defined(), "sum: undefined tensor argument");
  std::vector<int64_t> dims = normalize_dims(dims_in, x.dim(), "sum");
  if (dims.empty()) return x.clone();  // nothing to reduce
  Tensor r = x.detach();
  for (auto it = dims.rbegin(); it != dims.rend(); ++it) r = sum_one_dim(r, *it);
  Shape kept = r.shape();
  if (!keepdim) {
    Shape s;
    for (int64_t i = 0; i < x.dim(); ++i)
      if (!std::binary_search(dims.begin(), dims.end(), i)) s.push_back(x.shape()[i]);
    r = r.view(s);
  }
  Shape in_shape = x.shape();
  return record(r, "sum", {x}, [in_shape, kept](const Tensor& g, const Node&) {
    return std::vector<Tensor>{g.reshape(kept).expand(in_shape).contiguous()};
  });
}

Tensor sum(const Tensor& x) {
  std::vector<int64_t> all(x.dim());
  for (int64_t i = 0; i < x.dim(); ++i) all[i] = i;
  if (all.empty()) return x.clone();
  return sum(x, all, false);
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  std::vector<int64_t> nd = normalize_dims(dims, x.dim(), "mean");
  int64_t count = 1;
  for (int64_t d : nd) count *= x.shape()[d];
  PW_CHECK(count > 0, "mean: reducing over an empty dimension");
  return mul(sum(x, nd, keepdim), 1.0 / (double)count);
}

Tensor mean(const Tensor& x) {
  PW_CHECK(x.numel() > 0, "mean: empty tensor");
  return mul(sum(x), 1.0 / (double)x.numel());
}

MaxResult max(const Tensor& x, int64_t d, bool keepdim) {
  PW_CHECK(x.defined(), "max: undefined tensor argument");
  d = wrap_dim(d, x.dim(), "max");
  PW_CHECK(x.shape()[d] > 0, "max: dimension ", d, " is empty");
  Tensor xc = x.detach().contiguous();
  int64_t outer, R, inner;
  split_at(xc.shape(), d, outer, R, inner);
  Shape os = x.shape();
  os[d] = 1;
  Tensor values = Tensor::empty(os, x.dtype(), x.device());
  Tensor indices = Tensor::empty(os, DType::i32, x.device());
  if (is_gpu(x.device())) {
    PW_CHECK(x.dtype() == DType::f32, "max: the ", x.device().str(), " device computes in f32 only");
    on_gpu(x.device(), [&](auto tag) {
      Tensor ws = gpu_workspace(max_axis_workspace_bytes(tag, outer, R, inner), x.device());
      max_axis(tag, xc.data<float>(), values.data<float>(), indices.data<int32_t>(), outer, R, inner,
               ws.defined() ? ws.raw_data() : nullptr);
    });
  } else {
    dispatch_floating(x.dtype(), "max", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::max_axis<T>(xc.data<T>(), values.data<T>(), indices.data<int32_t>(), outer, R, inner);
    });
  }
  Tensor kept_idx = indices;
  if (!keepdim) {
    values = values.squeeze(d);
    indices = indices.squeeze(d);
  }
  Shape in_shape = x.shape();
  Shape kept = os;
  values = record(values, "max", {x}, [=](const Tensor& g, const Node&) {
    // Scatter g to the arg-max positions (zeros elsewhere).
    Tensor gc = g.reshape(kept).contiguous();
    Tensor dx = Tensor::empty(in_shape, gc.dtype(), gc.device());
    if (is_gpu(gc.device())) {
      on_gpu(gc.device(), [&](auto tag) {
        max_axis_backward(tag, gc.data<float>(), kept_idx.data<int32_t>(), dx.data<float>(), outer, R, inner);
      });
      return std::vector<Tensor>{dx};
    }
    dispatch_floating(gc.dtype(), "max_backward", [&](auto tag) {
      using T = decltype(tag);
      kernels::cpu::max_axis_backward<T>(gc.data<T>(), kept_idx.data<int32_t>(), dx.data<T>(), outer, R, inner);
    });
    return std::vector<Tensor>{dx};
  });
  // A copy for the caller: the backward's own indices must not be writable from outside.
  return {values, indices.clone()};
}

Tensor argmax(const Tensor& x, int64_t d, bool keepdim) {
  NoGradGuard ng;
  return max(x, d, keepdim).indices;  // one copy; the node is dropped with the values
}

}  // namespace pw
