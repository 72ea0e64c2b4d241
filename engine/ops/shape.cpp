// concat / stack / split / pad: the forward copies into slices of the output, the backward
// slices the upstream gradient (views; the engine copies when it accumulates).
#include "engine/ops/shape.h"

#include <algorithm>

#include "engine/autograd.h"
#include "engine/ops.h"

namespace pw {

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  PW_CHECK(!xs.empty(), "concat: expected at least one tensor");
  for (size_t k = 0; k < xs.size(); ++k) PW_CHECK(xs[k].defined(), "concat: tensor ", k, " is undefined");
  const Tensor& first = xs[0];
  PW_CHECK(first.dim() >= 1, "concat: cannot concatenate 0-d tensors");
  const int64_t d = wrap_dim(dim, first.dim(), "concat");
  Shape out_shape = first.shape();
  out_shape[d] = 0;
  std::vector<int64_t> offsets;
  for (size_t k = 0; k < xs.size(); ++k) {
    const Tensor& x = xs[k];
    PW_CHECK(x.dtype() == first.dtype(), "concat: tensor ", k, " is ", dtype_name(x.dtype()), ", tensor 0 is ",
             dtype_name(first.dtype()));
    PW_CHECK(x.device() == first.device(), "concat: tensor ", k, " is on ", x.device().str(), ", tensor 0 on ",
             first.device().str());
    bool match = x.dim() == first.dim();
    for (int64_t i = 0; match && i < x.dim(); ++i) match = i == d || x.shape()[i] == first.shape()[i];
    PW_CHECK(match, "concat: tensor ", k, " has shape ", shape_str(x.shape()), ", tensor 0 has ",
             shape_str(first.shape()), "; they may differ only in dimension ", d);
    offsets.push_back(out_shape[d]);
    out_shape[d] += x.shape()[d];
  }
  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  for (size_t k = 0; k < xs.size(); ++k) out.slice(d, offsets[k], offsets[k] + xs[k].shape()[d]).copy_(xs[k].detach());
  std::vector<int64_t> sizes;
  for (const Tensor& x : xs) sizes.push_back(x.shape()[d]);
  return record(out, "concat", xs, [d, offsets, sizes](const Tensor& g, const Node& n) {
    std::vector<Tensor> grads(sizes.size());
    for (size_t k = 0; k < sizes.size(); ++k)
      if (n.needs_grad(k)) grads[k] = g.slice(d, offsets[k], offsets[k] + sizes[k]);
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  PW_CHECK(!xs.empty(), "stack: expected at least one tensor");
  for (size_t k = 0; k < xs.size(); ++k) {
    PW_CHECK(xs[k].defined(), "stack: tensor ", k, " is undefined");
    PW_CHECK(xs[k].shape() == xs[0].shape(), "stack: tensor ", k, " has shape ", shape_str(xs[k].shape()),
             ", tensor 0 has ", shape_str(xs[0].shape()), "; all must be equal");
  }
  const int64_t d = wrap_dim(dim, xs[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (const Tensor& x : xs) expanded.push_back(x.unsqueeze(d));
  return concat(expanded, d);
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  PW_CHECK(x.defined(), "split: undefined input");
  PW_CHECK(split_size > 0, "split: split_size must be positive, got ", split_size);
  const int64_t d = wrap_dim(dim, x.dim(), "split");
  const int64_t n = x.shape()[d];
  std::vector<Tensor> chunks;
  for (int64_t start = 0; start < n; start += split_size)
    chunks.push_back(x.slice(d, start, std::min(start + split_size, n)));
  if (chunks.empty()) chunks.push_back(x.slice(d, 0, 0));  // an empty dimension: one empty chunk
  return chunks;
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  PW_CHECK(x.defined(), "pad: undefined input");
  PW_CHECK(pads.size() % 2 == 0, "pad: expected an even number of pads, got ", pads.size());
  PW_CHECK((int64_t)pads.size() <= 2 * x.dim(), "pad: ", pads.size(), " pads for a tensor with ", x.dim(),
           " dimensions (at most two per dimension)");
  // Per dimension: the kept source range [src_begin, src_begin + len) lands at dst_begin.
  const int64_t nd = x.dim();
  Shape out_shape = x.shape();
  std::vector<int64_t> src_begin(nd, 0), dst_begin(nd, 0), len(x.shape());
  for (size_t k = 0; k < pads.size() / 2; ++k) {
    const int64_t d = nd - 1 - (int64_t)k;
    const int64_t lo = pads[2 * k], hi = pads[2 * k + 1], n = x.shape()[d];
    out_shape[d] = n + lo + hi;
    PW_CHECK(out_shape[d] > 0, "pad: dimension ", d, " of size ", n, " padded by (", lo, ", ", hi, ") would have size ",
             out_shape[d]);
    src_begin[d] = std::max<int64_t>(0, -lo);
    dst_begin[d] = std::max<int64_t>(0, lo);
    len[d] = std::max<int64_t>(0, n - std::max<int64_t>(0, -hi) - src_begin[d]);
  }
  auto region = [nd](Tensor t, const std::vector<int64_t>& begin, const std::vector<int64_t>& size) {
    for (int64_t d = 0; d < nd; ++d) t = t.slice(d, begin[d], begin[d] + size[d]);
    return t;
  };
  Tensor out = Tensor::full(out_shape, value, x.dtype(), x.device());
  const bool empty = std::any_of(len.begin(), len.end(), [](int64_t l) { return l == 0; });
  if (!empty) region(out, dst_begin, len).copy_(region(x.detach(), src_begin, len));
  Shape in_shape = x.shape();
  return record(out, "pad", {x}, [=](const Tensor& g, const Node&) {
    Tensor dx = Tensor::zeros(in_shape, g.dtype(), g.device());
    if (!empty) region(dx, src_begin, len).copy_(region(g, dst_begin, len));
    return std::vector<Tensor>{dx};
  });
}

}  // namespace pw
