// simt: the number formats of the tensor cores, on the CPU -- TF32 and BF16 -- with the rounding
// the GPU's conversion instructions and mma.sync apply. Used by simt's emulation of the
// tensor-core instructions (kernels/simt/mma.h) and by the tests' CPU references, so that both
// round alike. Macro-free: the engine and tests may include it.
//
//   tf32_round(x)      cvt.rna.tf32.f32: round to a 10-bit mantissa, to nearest, ties AWAY from
//                      zero; the result is an fp32 bit pattern whose low 13 bits are zero.
//   tf32_truncate(x)   what mma.sync .tf32 does with an operand that was not converted: it reads
//                      only the top 19 bits (sign, exponent, 10 mantissa bits) and ignores the
//                      low 13, i.e. it rounds toward zero. (The PTX ISA calls such an operand's
//                      low bits ignored; kernels convert with cvt.rna first to halve the error.)
//   bf16_round(x)      cvt.rn.bf16.f32: round to nearest, ties to even, to bfloat16 (the top 16
//                      bits of an fp32). NaN becomes the canonical NaN 0x7FFF.
//   bf16_to_float(h)   exact.
// Infinities pass through all of them; a NaN stays a NaN.
#pragma once
#include <bit>
#include <cstdint>

namespace pw::simt {

inline bool fp32_is_inf_or_nan(uint32_t bits) { return (bits & 0x7F800000u) == 0x7F800000u; }

inline uint32_t tf32_round_bits(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  if (fp32_is_inf_or_nan(u)) return (u & 0x007FFFFFu) ? (u | 0x00400000u) & 0xFFFFE000u : u;  // NaN stays quiet
  // Adding half of the 13 dropped bits' weight rounds ties away from zero (the sign is apart);
  // a carry out of the mantissa moves into the exponent, as it must (up to infinity).
  return (u + 0x1000u) & 0xFFFFE000u;
}
inline float tf32_round(float x) { return std::bit_cast<float>(tf32_round_bits(x)); }

inline float tf32_truncate(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  if (fp32_is_inf_or_nan(u) && (u & 0x007FFFFFu)) return x;  // a NaN whose payload is only in the low bits stays NaN
  return std::bit_cast<float>(u & 0xFFFFE000u);
}

inline uint16_t bf16_round(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  if (fp32_is_inf_or_nan(u) && (u & 0x007FFFFFu)) return 0x7FFFu;
  // Round to nearest even: add 0x7FFF plus the lowest kept bit, then drop 16 bits.
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
inline float bf16_to_float(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }
inline float bf16_rounded(float x) { return bf16_to_float(bf16_round(x)); }

// Two bf16 in one 32-bit register, as mma.sync and cvt.rn.bf16x2.f32 hold them: the element
// with the lower index in the low half.
inline uint32_t bf16x2_pack(float lo, float hi) {
  return static_cast<uint32_t>(bf16_round(lo)) | (static_cast<uint32_t>(bf16_round(hi)) << 16);
}

}  // namespace pw::simt
