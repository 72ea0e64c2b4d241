// Tensor: shape, strides, dtype, device and a shared storage; views share storage.
// A Tensor is a cheap handle (a shared pointer to its TensorImpl); copying it aliases.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "engine/dtype.h"
#include "engine/storage.h"

namespace pw {

using Shape = std::vector<int64_t>;

class Generator;
struct Node;
class Tensor;

std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::f32;
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient of a leaf
  std::shared_ptr<Node> grad_fn;     // the op that made this tensor (non-leaf)
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation ----
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor arange(int64_t n, DType dtype = DType::f32);
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape);
  static Tensor from_vector(const std::vector<int32_t>& values, const Shape& shape);
  // Random tensors draw from a Philox generator (the process default unless one is given).
  static Tensor randn(const Shape& shape, DType dtype = DType::f32, Generator* gen = nullptr);
  static Tensor rand(const Shape& shape, double lo = 0, double hi = 1, DType dtype = DType::f32,
                     Generator* gen = nullptr);

  // ---- properties ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t dim() const { return (int64_t)impl().shape.size(); }
  int64_t size(int64_t d) const;
  int64_t numel() const { return shape_numel(impl().shape); }
  int64_t offset() const { return impl().offset; }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  TensorImpl* impl_ptr() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_shared() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

  template <typename T>
  T* data() const;  // checks dtype; pointer to element 0 of the view
  void* raw_data() const;
  double item() const;                       // one-element tensor as double
  std::vector<float> to_vector_f32() const;  // any dtype, any layout, copied in logical order
  std::vector<double> to_vector_f64() const;
  std::vector<int32_t> to_vector_i32() const;

  // ---- views (share storage; differentiable) ----
  Tensor reshape(const Shape& shape) const;  // -1 allowed once; copies only if it must
  Tensor view(const Shape& shape) const;     // like reshape, but never copies
  Tensor flatten(int64_t start = 0, int64_t end = -1) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor permute(const std::vector<int64_t>& order) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;  // slice that drops the dim
  Tensor unsqueeze(int64_t d) const;
  Tensor squeeze(int64_t d) const;
  Tensor expand(const Shape& shape) const;  // broadcast view (stride 0)
  Tensor contiguous() const;                // self if already contiguous
  Tensor clone() const;                     // always a fresh contiguous copy
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;  // copies between cpu, simt and cuda
  Tensor detach() const;           // same storage, no graph

  // ---- autograd ----
  bool requires_grad() const { return impl().requires_grad; }
  Tensor& set_requires_grad(bool r);  // leaves only
  bool is_leaf() const { return impl().grad_fn == nullptr; }
  Tensor grad() const { return Tensor(impl().grad); }
  void set_grad(const Tensor& g) { impl().grad = g.impl_; }
  void zero_grad() { impl().grad.reset(); }
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;

  // ---- in-place, outside autograd (optimizers, initializers) ----
  void fill_(double value) const;
  void copy_(const Tensor& src) const;  // same shape; any layouts
  // Code that writes through data<T>() after creation calls this, so that autograd can tell
  // that tensors saved for backward were modified (fill_ and copy_ do it themselves).
  void bump_version() const { impl().storage->bump_version(); }

  std::string str(int64_t max_per_dim = 6) const;

 private:
  TensorImpl& impl() const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Normalizes a possibly negative dimension index against ndim, naming `op` on error.
int64_t wrap_dim(int64_t d, int64_t ndim, const char* op);

}  // namespace pw
