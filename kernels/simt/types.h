// simt: the CUDA value types on the CPU -- dim3, uint3 and the vector types (float4, int2, ...)
// with their make_* functions, laid out and aligned exactly as in CUDA's vector_types.h so
// that kernels may reinterpret memory for vector loads. Macro-free: the engine may include it.
//
// Everything lives in namespace pw::simt (not the global namespace as in CUDA), so that the
// simt build and the nvcc build of the same kernels can be linked into one binary without two
// different `::dim3` types. kernels/cuda/compat.cuh makes these names visible to kernel code
// through a using-directive in namespace pw::kernels::simt.
#pragma once
#include <cstddef>

namespace pw::simt {

// Vector types. CUDA aligns the 2- and 4-component types to their full size (float4 to 16
// bytes) and leaves the 3-component ones at the alignment of one element.
#define PW_SIMT_VEC2(T, N, A) \
  struct alignas(A) N##2 {    \
    T x, y;                   \
  };                          \
  inline constexpr N##2 make_##N##2(T x, T y) { return {x, y}; }
#define PW_SIMT_VEC3(T, N) \
  struct N##3 {            \
    T x, y, z;             \
  };                       \
  inline constexpr N##3 make_##N##3(T x, T y, T z) { return {x, y, z}; }
#define PW_SIMT_VEC4(T, N, A) \
  struct alignas(A) N##4 {    \
    T x, y, z, w;             \
  };                          \
  inline constexpr N##4 make_##N##4(T x, T y, T z, T w) { return {x, y, z, w}; }
#define PW_SIMT_VEC_ALL(T, N, A2, A4) PW_SIMT_VEC2(T, N, A2) PW_SIMT_VEC3(T, N) PW_SIMT_VEC4(T, N, A4)

PW_SIMT_VEC_ALL(float, float, 8, 16)
PW_SIMT_VEC_ALL(int, int, 8, 16)
PW_SIMT_VEC_ALL(unsigned int, uint, 8, 16)
PW_SIMT_VEC_ALL(signed char, char, 2, 4)
PW_SIMT_VEC_ALL(unsigned char, uchar, 2, 4)
PW_SIMT_VEC_ALL(short, short, 4, 8)
PW_SIMT_VEC_ALL(unsigned short, ushort, 4, 8)
PW_SIMT_VEC2(double, double, 16)
PW_SIMT_VEC3(double, double)
PW_SIMT_VEC2(long long, longlong, 16)
PW_SIMT_VEC2(unsigned long long, ulonglong, 16)

#undef PW_SIMT_VEC_ALL
#undef PW_SIMT_VEC4
#undef PW_SIMT_VEC3
#undef PW_SIMT_VEC2

static_assert(sizeof(float4) == 16 && alignof(float4) == 16, "float4 must match CUDA");
static_assert(sizeof(float2) == 8 && alignof(float2) == 8, "float2 must match CUDA");
static_assert(sizeof(float3) == 12 && alignof(float3) == 4, "float3 must match CUDA");
static_assert(sizeof(int4) == 16 && alignof(int4) == 16, "int4 must match CUDA");
static_assert(sizeof(uint4) == 16 && alignof(uint4) == 16, "uint4 must match CUDA");
static_assert(sizeof(double2) == 16 && alignof(double2) == 16, "double2 must match CUDA");

// Launch dimensions. Unset components are 1, as in CUDA.
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return {x, y, z}; }
};

}  // namespace pw::simt
