// Tensor creation, views, copies and printing. Views record autograd nodes like any op.
#include "engine/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <numeric>
#include <sstream>

#include "engine/autograd.h"
#include "engine/device/gpu.h"
#include "engine/device/upload.h"
#include "engine/ops.h"
#include "engine/util/rng.h"
#include "kernels/cpu/copy.h"

namespace pw {

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s)
    PW_CHECK(!__builtin_mul_overflow(n, d, &n), "tensor: shape ", shape_str(s),
             " has more elements than fit in 64 bits");
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = (int64_t)s.size() - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  int64_t w = d < 0 ? d + ndim : d;
  PW_CHECK(w >= 0 && w < ndim, op, ": dimension ", d, " is out of range for a tensor with ", ndim, " dimensions");
  return w;
}

TensorImpl& Tensor::impl() const {
  PW_CHECK(impl_ != nullptr, "tensor: use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "size")]; }

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;
  int64_t expect = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;
    if (strides()[i] != expect) return false;
    expect *= shape()[i];
  }
  return true;
}

// ---------------------------------------------------------------- creation

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) PW_CHECK(d >= 0, "tensor: negative dimension in shape ", shape_str(shape));
  const int64_t numel = shape_numel(shape);
  uint64_t bytes = 0;
  PW_CHECK(!__builtin_mul_overflow((uint64_t)numel, (uint64_t)dtype_size(dtype), &bytes), "tensor: shape ",
           shape_str(shape), " of ", dtype_name(dtype), " needs more bytes than fit in 64 bits");
  auto impl = std::make_shared<TensorImpl>();
  try {
    impl->storage = std::make_shared<Storage>((size_t)bytes, device);
  } catch (const Error& e) {  // out of memory: say which tensor asked
    PW_FAIL("tensor ", shape_str(shape), " ", dtype_name(dtype), ": ", e.what());
  }
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t = empty({n}, DType::f64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < n; ++i) p[i] = (double)i;
  return dtype == DType::f64 ? t : t.to(dtype);
}

template <typename T>
static Tensor from_values(const std::vector<T>& v, const Shape& shape) {
  PW_CHECK((int64_t)v.size() == shape_numel(shape), "from_vector: ", v.size(), " values do not fill shape ",
           shape_str(shape));
  Tensor t = Tensor::empty(shape, dtype_of<T>());
  if (!v.empty()) std::memcpy(t.data<T>(), v.data(), v.size() * sizeof(T));
  return t;
}
Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& s) { return from_values(v, s); }
Tensor Tensor::from_vector(const std::vector<double>& v, const Shape& s) { return from_values(v, s); }
Tensor Tensor::from_vector(const std::vector<int32_t>& v, const Shape& s) { return from_values(v, s); }

Tensor Tensor::randn(const Shape& shape, DType dtype, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  Tensor t = empty(shape, dtype);
  dispatch_floating(dtype, "randn", [&](auto tag) {
    using T = decltype(tag);
    g.fill_normal(t.data<T>(), t.numel(), T(0), T(1));
  });
  return t;
}

Tensor Tensor::rand(const Shape& shape, double lo, double hi, DType dtype, Generator* gen) {
  Generator& g = gen ? *gen : default_generator();
  Tensor t = empty(shape, dtype);
  dispatch_floating(dtype, "rand", [&](auto tag) {
    using T = decltype(tag);
    g.fill_uniform(t.data<T>(), t.numel(), T(lo), T(hi));
  });
  return t;
}

// ---------------------------------------------------------------- data access

template <typename T>
T* Tensor::data() const {
  PW_CHECK(dtype() == dtype_of<T>(), "tensor: data<", dtype_name(dtype_of<T>()), ">() on a ", dtype_name(dtype()),
           " tensor");
  return static_cast<T*>(impl().storage->data()) + impl().offset;
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template int32_t* Tensor::data<int32_t>() const;

void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data()) + impl().offset * dtype_size(dtype());
}

double Tensor::item() const {
  PW_CHECK(numel() == 1, "item: tensor has ", numel(), " elements (shape ", shape_str(shape()), ")");
  return to_vector_f64()[0];
}

template <typename Dst>
static void copy_into(const Tensor& src, Dst* dst, const Shape& dst_strides) {
  const int nd = (int)src.dim();
  switch (src.dtype()) {
    case DType::f32:
      kernels::cpu::copy_strided(src.data<float>(), src.strides().data(), dst, dst_strides.data(), src.shape().data(),
                                 nd);
      break;
    case DType::f64:
      kernels::cpu::copy_strided(src.data<double>(), src.strides().data(), dst, dst_strides.data(), src.shape().data(),
                                 nd);
      break;
    case DType::i32:
      kernels::cpu::copy_strided(src.data<int32_t>(), src.strides().data(), dst, dst_strides.data(), src.shape().data(),
                                 nd);
      break;
  }
}

std::vector<float> Tensor::to_vector_f32() const {
  if (is_gpu(device())) return detach().to(Device::cpu()).to_vector_f32();
  std::vector<float> v(numel());
  copy_into(*this, v.data(), contiguous_strides(shape()));
  return v;
}
std::vector<double> Tensor::to_vector_f64() const {
  if (is_gpu(device())) return detach().to(Device::cpu()).to_vector_f64();
  std::vector<double> v(numel());
  copy_into(*this, v.data(), contiguous_strides(shape()));
  return v;
}
std::vector<int32_t> Tensor::to_vector_i32() const {
  if (is_gpu(device())) return detach().to(Device::cpu()).to_vector_i32();
  std::vector<int32_t> v(numel());
  copy_into(*this, v.data(), contiguous_strides(shape()));
  return v;
}

void Tensor::fill_(double value) const {
  int64_t n = numel();
  PW_CHECK(is_contiguous(), "fill_: tensor must be contiguous");
  if (is_gpu(device())) {
    on_gpu(device(), [&](auto tag) { fill(tag, raw_data(), elem_type(dtype()), n, value); });
    bump_version();
    return;
  }
  switch (dtype()) {
    case DType::f32: kernels::cpu::fill(data<float>(), n, (float)value); break;
    case DType::f64: kernels::cpu::fill(data<double>(), n, value); break;
    case DType::i32: kernels::cpu::fill(data<int32_t>(), n, (int32_t)value); break;
  }
  bump_version();
}

void Tensor::copy_(const Tensor& src) const {
  PW_CHECK(src.shape() == shape(), "copy_: source shape ", shape_str(src.shape()), " differs from destination shape ",
           shape_str(shape()));
  if (src.device() != device()) {
    copy_(src.detach().to(device()));
    return;
  }
  if (is_gpu(device())) {
    PW_CHECK(dim() <= kernels::StridedLayout::kMaxDims, "copy_: at most ", kernels::StridedLayout::kMaxDims,
             " dimensions on ", device().str());
    kernels::StridedLayout l;
    l.ndim = (int)dim();
    for (int64_t i = 0; i < dim(); ++i) {
      l.shape[i] = shape()[i];
      l.src_strides[i] = src.strides()[i];
      l.dst_strides[i] = strides()[i];
    }
    on_gpu(device(), [&](auto tag) {
      copy_strided(tag, src.raw_data(), elem_type(src.dtype()), raw_data(), elem_type(dtype()), l);
    });
    bump_version();
    return;
  }
  switch (dtype()) {
    case DType::f32: copy_into(src, data<float>(), strides()); break;
    case DType::f64: copy_into(src, data<double>(), strides()); break;
    case DType::i32: copy_into(src, data<int32_t>(), strides()); break;
  }
  bump_version();
}

// ---------------------------------------------------------------- views

static Tensor make_view(const Tensor& base, Shape shape, Shape strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

static Shape infer_shape(Shape shape, int64_t numel, const char* op) {
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      PW_CHECK(infer < 0, op, ": only one dimension can be -1 in ", shape_str(shape));
      infer = (int64_t)i;
    } else {
      PW_CHECK(shape[i] >= 0, op, ": invalid dimension in ", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    PW_CHECK(known > 0 && numel % known == 0, op, ": cannot infer -1 in ", shape_str(shape), " for ", numel,
             " elements");
    shape[infer] = numel / known;
  }
  PW_CHECK(shape_numel(shape) == numel, op, ": shape ", shape_str(shape), " does not hold ", numel, " elements");
  return shape;
}

// Strides for viewing this tensor's elements in `shape` without a copy, if possible: the new
// shape must split or merge only dimensions that are laid out contiguously with each other
// (PyTorch's rule). Walks both shapes from the innermost dimension in chunks of old dimensions
// that are mutually contiguous.
static bool view_strides(const Tensor& t, const Shape& shape, Shape& out) {
  const Shape& os = t.shape();
  const Shape& ost = t.strides();
  out.assign(shape.size(), 0);
  if (t.numel() == 0 || os.empty()) {
    out = contiguous_strides(shape);
    return true;
  }
  int64_t view_d = (int64_t)shape.size() - 1;
  int64_t chunk_base_stride = ost.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t td = (int64_t)os.size() - 1; td >= 0; --td) {
    tensor_numel *= os[td];
    bool chunk_ends = td == 0 || (os[td - 1] != 1 && ost[td - 1] != tensor_numel * chunk_base_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
      out[view_d] = view_numel * chunk_base_stride;
      view_numel *= shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return false;
    if (td > 0) {
      chunk_base_stride = ost[td - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  return view_d == -1;
}

Tensor Tensor::view(const Shape& shape_in) const {
  Shape s = infer_shape(shape_in, numel(), "view");
  Shape st;
  PW_CHECK(view_strides(*this, s, st), "view: a tensor of shape ", shape_str(shape()), " and strides ",
           shape_str(strides()), " cannot be viewed as ", shape_str(s), " without a copy; use reshape()");
  Shape in_shape = shape();
  Tensor v = make_view(*this, s, st, offset());
  return record(v, "view", {*this},
                [in_shape](const Tensor& g, const Node&) { return std::vector<Tensor>{g.reshape(in_shape)}; });
}

Tensor Tensor::reshape(const Shape& shape_in) const {
  Shape s = infer_shape(shape_in, numel(), "reshape");
  Shape st;
  if (view_strides(*this, s, st)) return view(s);
  return contiguous().view(s);
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  start = wrap_dim(start, dim(), "flatten");
  end = wrap_dim(end, dim(), "flatten");
  PW_CHECK(start <= end, "flatten: start dimension ", start, " is after end dimension ", end);
  Shape s;
  for (int64_t i = 0; i < start; ++i) s.push_back(shape()[i]);
  int64_t m = 1;
  for (int64_t i = start; i <= end; ++i) m *= shape()[i];
  s.push_back(m);
  for (int64_t i = end + 1; i < dim(); ++i) s.push_back(shape()[i]);
  return reshape(s);
}

Tensor Tensor::permute(const std::vector<int64_t>& order) const {
  PW_CHECK((int64_t)order.size() == dim(), "permute: order has ", order.size(), " entries for a tensor with ", dim(),
           " dimensions");
  Shape s(dim()), st(dim());
  std::vector<int64_t> inverse(dim(), -1);
  for (int64_t i = 0; i < dim(); ++i) {
    int64_t d = wrap_dim(order[i], dim(), "permute");
    PW_CHECK(inverse[d] < 0, "permute: dimension ", d, " appears twice");
    inverse[d] = i;
    s[i] = shape()[d];
    st[i] = strides()[d];
  }
  Tensor v = make_view(*this, s, st, offset());
  return record(v, "permute", {*this},
                [inverse](const Tensor& g, const Node&) { return std::vector<Tensor>{g.permute(inverse)}; });
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  std::vector<int64_t> order(dim());
  std::iota(order.begin(), order.end(), 0);
  std::swap(order[wrap_dim(d0, dim(), "transpose")], order[wrap_dim(d1, dim(), "transpose")]);
  return permute(order);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d, dim(), "slice");
  int64_t n = shape()[d];
  PW_CHECK(step >= 1, "slice: step must be positive, got ", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape(), st = strides();
  s[d] = (end - start + step - 1) / step;
  st[d] = strides()[d] * step;
  Tensor v = make_view(*this, s, st, offset() + start * strides()[d]);
  Shape in_shape = shape();
  DType dt = dtype();
  return record(v, "slice", {*this}, [=](const Tensor& g, const Node&) {
    Tensor full = Tensor::zeros(in_shape, dt, g.device());
    full.slice(d, start, end, step).copy_(g);
    return std::vector<Tensor>{full};
  });
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  PW_CHECK(index >= -shape()[d] && index < shape()[d], "select: index ", index, " is out of range for dimension ", d,
           " of size ", shape()[d]);
  if (index < 0) index += shape()[d];
  return slice(d, index, index + 1).squeeze(d);
}

// squeeze and unsqueeze only edit shape and strides, so they are views of any layout.
static Tensor reshaped_view(const Tensor& t, Shape s, Shape st, const char* name) {
  Shape in_shape = t.shape();
  Tensor v = make_view(t, std::move(s), std::move(st), t.offset());
  return record(v, name, {t},
                [in_shape](const Tensor& g, const Node&) { return std::vector<Tensor>{g.reshape(in_shape)}; });
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape(), st = strides();
  int64_t inner = d < dim() ? strides()[d] * shape()[d] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, inner);
  return reshaped_view(*this, s, st, "unsqueeze");
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  PW_CHECK(shape()[d] == 1, "squeeze: dimension ", d, " has size ", shape()[d], ", not 1");
  Shape s = shape(), st = strides();
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return reshaped_view(*this, s, st, "squeeze");
}

Tensor Tensor::expand(const Shape& target) const {
  PW_CHECK((int64_t)target.size() >= dim(), "expand: cannot expand shape ", shape_str(shape()), " to fewer dimensions ",
           shape_str(target));
  int64_t lead = (int64_t)target.size() - dim();
  for (int64_t t : target) PW_CHECK(t >= 0, "expand: negative size in target shape ", shape_str(target));
  Shape st(target.size(), 0);
  for (int64_t i = 0; i < dim(); ++i) {
    int64_t t = target[lead + i];
    if (shape()[i] == t)
      st[lead + i] = strides()[i];
    else
      PW_CHECK(shape()[i] == 1, "expand: cannot expand shape ", shape_str(shape()), " to ", shape_str(target));
  }
  Tensor v = make_view(*this, target, st, offset());
  Shape in_shape = shape();
  return record(v, "expand", {*this},
                [in_shape](const Tensor& g, const Node&) { return std::vector<Tensor>{sum_to(g, in_shape)}; });
}

Tensor Tensor::clone() const {
  Tensor out = Tensor::empty(shape(), dtype(), device());
  out.copy_(*this);
  return record(out, "clone", {*this}, [](const Tensor& g, const Node&) { return std::vector<Tensor>{g}; });
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = Tensor::empty(shape(), dt, device());
  out.copy_(*this);
  if (!is_floating(dt) || !is_floating(dtype())) return out;
  DType back = dtype();
  return record(out, "to", {*this}, [back](const Tensor& g, const Node&) { return std::vector<Tensor>{g.to(back)}; });
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  PW_CHECK(device_available(d), "to: device ", d.str(), " is not available");
  Tensor src = detach().contiguous();
  Tensor out = Tensor::empty(shape(), dtype(), d);
  const size_t bytes = (size_t)numel() * dtype_size(dtype());
  if (is_gpu(src.device()) && is_gpu(d)) {
    // Between two GPU devices: through the host.
    Tensor host = src.to(Device::cpu());
    upload_to_device(d, out.raw_data(), host.raw_data(), bytes);
  } else if (is_gpu(d)) {
    upload_to_device(d, out.raw_data(), src.raw_data(), bytes);  // the host does not wait
  } else {
    on_gpu(src.device(), [&](auto tag) { copy_device_to_host(tag, out.raw_data(), src.raw_data(), bytes); });
  }
  Device back = device();
  return record(out, "to_device", {*this},
                [back](const Tensor& g, const Node&) { return std::vector<Tensor>{g.to(back)}; });
}

Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }

Tensor& Tensor::set_requires_grad(bool r) {
  PW_CHECK(is_leaf(), "set_requires_grad: only leaf tensors can change requires_grad; use detach()");
  PW_CHECK(!r || is_floating(dtype()), "set_requires_grad: ", dtype_name(dtype()), " tensors cannot require grad");
  impl().requires_grad = r;
  return *this;
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const { run_backward(*this, grad, retain_graph); }

// ---------------------------------------------------------------- printing

std::string Tensor::str(int64_t max_per_dim) const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  std::vector<double> v = to_vector_f64();
  Shape cs = contiguous_strides(shape());
  std::function<void(int64_t, int64_t)> rec = [&](int64_t d, int64_t base) {
    if (d == dim()) {
      if (dtype() == DType::i32)
        os << (int64_t)v[base];
      else
        os << std::setprecision(5) << v[base];
      return;
    }
    os << "[";
    int64_t n = shape()[d];
    for (int64_t i = 0; i < n; ++i) {
      if (n > max_per_dim && i == max_per_dim / 2) {
        os << "..., ";
        i = n - max_per_dim / 2;
      }
      rec(d + 1, base + i * cs[d]);
      if (i + 1 < n) os << (d + 1 == dim() ? ", " : ",\n" + std::string(d + 8, ' '));
    }
    os << "]";
  };
  os << "Tensor(";
  rec(0, 0);
  os << ", shape=" << shape_str(shape()) << ", " << dtype_name(dtype());
  if (requires_grad()) os << ", requires_grad";
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace pw
