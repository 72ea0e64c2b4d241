// Element types and devices of a tensor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/util/error.h"

namespace pw {

// f32 is the working type; f64 exists so that every op's reference path can be gradient-checked
// in double precision; i32 holds labels and indices.
enum class DType : uint8_t { f32, f64, i32 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::i32: return 4;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
  }
  return "?";
}

inline bool is_floating(DType t) { return t == DType::f32 || t == DType::f64; }

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::i32;
}

// Calls fn(T{}) with T = float or double according to t; any other type is an error naming `op`.
template <typename Fn>
decltype(auto) dispatch_floating(DType t, const char* op, Fn&& fn) {
  switch (t) {
    case DType::f32: return fn(float{});
    case DType::f64: return fn(double{});
    default: PW_FAIL(op, ": expected a floating-point tensor (f32 or f64), got ", dtype_name(t));
  }
}

enum class DeviceType : uint8_t { cpu, cuda, simt };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;
  static Device cpu() { return {DeviceType::cpu, 0}; }
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  std::string str() const {
    switch (type) {
      case DeviceType::cpu: return "cpu";
      case DeviceType::cuda: return "cuda:" + std::to_string(index);
      case DeviceType::simt: return "simt";
    }
    return "?";
  }
};

}  // namespace pw
