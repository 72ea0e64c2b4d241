// What a CPU convolution's forward pass does to each output element after its sum: the bias,
// and in inference the batch norm and ReLU that follow the convolution in a network, so that
// they cost no pass of their own over the output (engine/ops/conv.h: conv2d_inference).
#pragma once
#include <cstdint>

namespace pw::kernels::cpu {

// y[n, o, ...] = relu((sum + bias[o]) * scale[o] + shift[o]), each step only where given: bias
// null adds nothing, scale null (then shift too) skips the batch norm, relu false the ReLU.
// scale and shift are a batch norm in eval mode folded per channel by batch_norm_fold
// (kernels/cpu/norm.h), the constants batch_norm_forward uses, and each step is the same
// expression as the separate op's (the bias add of the convolution, batch_norm_forward's
// x * scale + shift, relu's v > 0 ? v : 0), so the fused output equals the three passes'.
// {} is the plain convolution and {bias} the convolution with a bias.
template <typename T>
struct ConvEpilogue {
  const T* bias = nullptr;
  const T* scale = nullptr;
  const T* shift = nullptr;
  bool relu = false;

  // The steps after the bias, for a sum that already holds it.
  T finish(int64_t o, T v) const {
    if (scale) v = v * scale[o] + shift[o];
    if (relu) v = v > T(0) ? v : T(0);
    return v;
  }
  bool empty() const { return !bias && !scale && !relu; }
};

namespace epilogue_detail {
template <bool kBias, bool kScale, bool kRelu, typename T>
void row(T b, T a, T c, const T* in, T* out, int64_t n) {
  for (int64_t p = 0; p < n; ++p) {
    T v = in[p];
    if constexpr (kBias) v = v + b;
    if constexpr (kScale) v = v * a + c;
    if constexpr (kRelu) v = v > T(0) ? v : T(0);
    out[p] = v;
  }
}
template <bool kBias, typename T>
void row_after_bias(const ConvEpilogue<T>& ep, int64_t o, const T* in, T* out, int64_t n) {
  const T b = kBias ? ep.bias[o] : T(0), a = ep.scale ? ep.scale[o] : T(1), c = ep.scale ? ep.shift[o] : T(0);
  if (ep.scale && ep.relu) return row<kBias, true, true>(b, a, c, in, out, n);
  if (ep.scale) return row<kBias, true, false>(b, a, c, in, out, n);
  if (ep.relu) return row<kBias, false, true>(b, a, c, in, out, n);
  row<kBias, false, false>(b, a, c, in, out, n);
}
}  // namespace epilogue_detail

// out[p] = the epilogue of channel o applied to the sums in[p], p < n (in == out is allowed).
template <typename T>
void epilogue_row(const ConvEpilogue<T>& ep, int64_t o, const T* in, T* out, int64_t n) {
  if (ep.bias) return epilogue_detail::row_after_bias<true>(ep, o, in, out, n);
  epilogue_detail::row_after_bias<false>(ep, o, in, out, n);
}

}  // namespace pw::kernels::cpu
