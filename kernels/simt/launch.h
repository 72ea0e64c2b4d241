// simt: kernel launch. launch(kernel, grid, block, smem, stream, args...) is what
// `kernel<<<grid, block, smem, stream>>>(args...)` becomes in the simt build (through
// PW_LAUNCH in kernels/cuda/compat.cuh). The arguments are converted to the kernel's parameter
// types and copied once, as CUDA copies them into the parameter buffer; every thread of every
// block then calls the kernel with them. Macro-free.
//
// A launch runs to completion before it returns, after the work queued before it on its stream. A bad
// configuration (no blocks, more than 1024 threads per block, too much dynamic shared memory)
// does not throw: it sets the last error, as a CUDA launch does, for PW_CUDA_CHECK_LAUNCH()
// to report. A kernel that fails while running (deadlock, bad warp mask) throws pw::simt::Error,
// and so does a pointer argument that is not device memory (a host pointer, a freed buffer):
// every argument of pointer type is checked against the live allocations before the launch.
#pragma once
#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernels/simt/runtime.h"

namespace pw::simt {

namespace detail {
struct LaunchDesc {
  void (*invoke)(const void* pack);  // runs the calling thread's share of the kernel
  const void* pack;                  // the kernel pointer and its converted arguments
  const void* kernel;                // identity, for cudaFuncSetAttribute limits
  dim3 grid, block;
  size_t smem;
  const char* name;  // as written at the launch (PW_LAUNCH), for reports
  const char* file;  // where PW_LAUNCH is (nullptr when launched otherwise), for PW_SIMT_CHECK's reports
  unsigned line;
};
void launch_kernel(const LaunchDesc& desc);
// Throws pw::simt::Error unless `p` is null or points into (or just past) a live device
// allocation: argument `index` (from 1) of the launch of `kernel`.
void check_pointer_argument(const char* kernel, size_t index, const void* p);
// Before work that runs at once on `stream` (a launch): runs what must come first -- the queued
// work of the stream, or for the null stream that of every blocking stream (streams.cpp).
void before_stream_work(cudaStream_t stream);

template <class Tuple, size_t... I>
void check_pointer_arguments(const char* kernel, const Tuple& args, std::index_sequence<I...>) {
  auto one = [&](size_t index, const auto& a) {
    using T = std::decay_t<decltype(a)>;
    if constexpr (std::is_pointer_v<T> && !std::is_function_v<std::remove_pointer_t<T>>)
      check_pointer_argument(kernel, index, static_cast<const void*>(a));
  };
  (one(I + 1, std::get<I>(args)), ...);
}
}  // namespace detail

// `name`: the kernel as written at the launch site (PW_LAUNCH passes it, and the site's file
// and line), for reports.
template <typename... P, typename... A>
void launch_at(const char* name, const char* file, unsigned line, void (*kernel)(P...), dim3 grid, dim3 block,
               size_t smem, cudaStream_t stream, A&&... args) {
  static_assert(sizeof...(P) == sizeof...(A),
                "simt launch: the number of arguments differs from the kernel's parameters");
  detail::before_stream_work(stream);  // then the launch runs at once, in its stream's order
  using Args = std::tuple<std::decay_t<P>...>;
  struct Pack {
    void (*kernel)(P...);
    Args args;
  };
  const Pack pack{kernel, Args(std::forward<A>(args)...)};
  detail::check_pointer_arguments(name, pack.args, std::index_sequence_for<P...>{});
  const detail::LaunchDesc desc{[](const void* p) {
                                  const Pack& pk = *static_cast<const Pack*>(p);
                                  std::apply(pk.kernel, pk.args);
                                },
                                &pack,
                                reinterpret_cast<const void*>(kernel),
                                grid,
                                block,
                                smem,
                                name,
                                file,
                                line};
  detail::launch_kernel(desc);
}
template <typename... P, typename... A>
void launch_named(const char* name, void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                  A&&... args) {
  launch_at(name, nullptr, 0, kernel, grid, block, smem, stream, std::forward<A>(args)...);
}
template <typename... P, typename... A>
void launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream, A&&... args) {
  launch_named("a kernel", kernel, grid, block, smem, stream, std::forward<A>(args)...);
}

// launcher(kernel, grid, block, smem, stream)(args...): the two-step form PW_LAUNCH expands
// to, so that a launch reads like CUDA's kernel<<<...>>>(args...).
template <typename... P>
struct Launcher {
  void (*kernel)(P...);
  dim3 grid, block;
  size_t smem;
  cudaStream_t stream;
  const char* name;
  const char* file;
  unsigned line;
  template <typename... A>
  void operator()(A&&... args) const {
    launch_at(name, file, line, kernel, grid, block, smem, stream, std::forward<A>(args)...);
  }
};
// The file and line default to the caller's: PW_LAUNCH's site.
template <typename... P>
Launcher<P...> launcher(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                        const char* name = "a kernel", const char* file = __builtin_FILE(),
                        unsigned line = __builtin_LINE()) {
  return {kernel, grid, block, smem, stream, name, file, line};
}

}  // namespace pw::simt
