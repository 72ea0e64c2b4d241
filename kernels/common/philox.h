// Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011),
// the one random-number source of patchwork, plus the conversions from its 32-bit words to
// uniform and normal numbers. Header-only and free of engine types so that CPU kernels,
// CUDA kernels (nvcc) and their simt build all compute the same words for the same key.
//
// Keying, shared by every user (engine/util/rng.h documents how fills lay out words):
//   key     = (seed low 32, seed high 32)                       -- the 64-bit seed
//   counter = (block low 32, block high 32, stream low 32, stream high 32)
// where `block` is the index of a 4-word block within the stream, so 32-bit word w of a
// (seed, stream) sequence is word w % 4 of block w / 4. Being counter-based, any word can be
// computed directly from its index: a GPU thread needs no state, only (seed, stream, index).
//
// Integer outputs are bit-identical everywhere. The float conversions below are exact (a
// 24- or 53-bit integer times a power of two), so uniforms are bit-identical too. Normals go
// through log/sqrt/cos/sin, whose last bit may differ between the host libm and CUDA's
// math library; they agree to a few ulp across devices, exactly on one device.
#pragma once
#include <cmath>
#include <cstdint>

#ifndef PW_HD
#ifdef __CUDACC__
#define PW_HD __host__ __device__
#else
#define PW_HD
#endif
#endif

namespace pw::philox {

// Random123's constants: multipliers chosen for avalanche, Weyl increments for the key
// schedule (golden ratio and sqrt(3) - 1, scaled to 32 bits).
inline constexpr uint32_t kM0 = 0xD2511F53u;
inline constexpr uint32_t kM1 = 0xCD9E8D57u;
inline constexpr uint32_t kW0 = 0x9E3779B9u;
inline constexpr uint32_t kW1 = 0xBB67AE85u;

struct Block {
  uint32_t x[4];
};

// One Philox round: two 32x32->64 multiplies, their halves mixed with the other words and
// the round key. A 64-bit product is used instead of __umulhi so the same code serves host
// and device; nvcc turns it into mul.hi / mul.lo.
PW_HD inline Block philox_round(Block c, uint32_t k0, uint32_t k1) {
  const uint64_t p0 = static_cast<uint64_t>(kM0) * c.x[0];
  const uint64_t p1 = static_cast<uint64_t>(kM1) * c.x[2];
  const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
  const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
  Block r;
  r.x[0] = hi1 ^ c.x[1] ^ k0;
  r.x[1] = lo1;
  r.x[2] = hi0 ^ c.x[3] ^ k1;
  r.x[3] = lo0;
  return r;
}

// The full generator: 10 rounds, the key bumped by the Weyl constants between rounds.
PW_HD inline Block philox4x32_10(Block counter, const uint32_t key[2]) {
  uint32_t k0 = key[0], k1 = key[1];
  Block c = philox_round(counter, k0, k1);
  for (int round = 1; round < 10; ++round) {
    k0 += kW0;
    k1 += kW1;
    c = philox_round(c, k0, k1);
  }
  return c;
}

// Block `block` of the (seed, stream) sequence: its 4 words are words 4*block .. 4*block+3.
PW_HD inline Block philox_block(uint64_t seed, uint64_t stream, uint64_t block) {
  const uint32_t key[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  Block counter;
  counter.x[0] = static_cast<uint32_t>(block);
  counter.x[1] = static_cast<uint32_t>(block >> 32);
  counter.x[2] = static_cast<uint32_t>(stream);
  counter.x[3] = static_cast<uint32_t>(stream >> 32);
  return philox4x32_10(counter, key);
}

// Word `index` of the (seed, stream) sequence (word indices span 2^64 words, blocks below
// 2^62). Costs a whole block; a loop over consecutive words should call philox_block once
// per 4 words instead.
PW_HD inline uint32_t philox_u32(uint64_t seed, uint64_t stream, uint64_t index) {
  return philox_block(seed, stream, index / 4).x[index % 4];
}

// [0, 1): the top 24 bits scaled by 2^-24, every value exactly representable in float, so
// `uniform < p` (dropout's keep test) gives the same answer on every device. Never 1.
PW_HD inline float uint_to_uniform01(uint32_t u) {
  return static_cast<float>(u >> 8) * 5.9604644775390625e-8f;  // 2^-24
}

// (0, 1]: the same 24 bits shifted up by one step. Never 0, so it is safe under log().
PW_HD inline float uint_to_uniform01_open0(uint32_t u) {
  return static_cast<float>((u >> 8) + 1u) * 5.9604644775390625e-8f;
}

// [0, 1) in double from two words: 27 bits of `a` above 26 bits of `b` (53 bits), the
// construction of genrand_res53 in the Mersenne Twister reference code.
PW_HD inline double uint2_to_uniform01(uint32_t a, uint32_t b) {
  const uint64_t bits = (static_cast<uint64_t>(a >> 5) << 26) | (b >> 6);
  return static_cast<double>(bits) * 1.1102230246251565404236316680908203125e-16;  // 2^-53
}

// (0, 1] in double: as above, one step up.
PW_HD inline double uint2_to_uniform01_open0(uint32_t a, uint32_t b) {
  const uint64_t bits = (static_cast<uint64_t>(a >> 5) << 26) | (b >> 6);
  return static_cast<double>(bits + 1) * 1.1102230246251565404236316680908203125e-16;
}

struct Normal2f {
  float z0, z1;
};
struct Normal2d {
  double z0, z1;
};

// Box-Muller: two independent standard normals from two words. The radius uses the (0, 1]
// uniform so log() never sees 0; the angle uses the [0, 1) one.
PW_HD inline Normal2f box_muller(uint32_t u_radius, uint32_t u_angle) {
  const float r = sqrtf(-2.0f * logf(uint_to_uniform01_open0(u_radius)));
  const float theta = 6.28318530717958647692f * uint_to_uniform01(u_angle);
  return {r * cosf(theta), r * sinf(theta)};
}

// Box-Muller in double from four words (a 53-bit uniform from each pair).
PW_HD inline Normal2d box_muller_double(uint32_t a0, uint32_t a1, uint32_t b0, uint32_t b1) {
  const double r = sqrt(-2.0 * log(uint2_to_uniform01_open0(a0, a1)));
  const double theta = 6.28318530717958647692 * uint2_to_uniform01(b0, b1);
  return {r * cos(theta), r * sin(theta)};
}

}  // namespace pw::philox
