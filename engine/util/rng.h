// pw::Generator: the engine's random-number generator, a cursor over one Philox 4x32-10
// sequence (kernels/common/philox.h) named by (seed, stream), plus the process-wide default.
//
// The state is only (seed, stream, offset), where offset counts 32-bit words consumed, so a
// generator is saved and restored by those three numbers, and a kernel on any device can
// produce the same values from them without sharing state.
//
// Word layout. "word w" means philox_u32(seed, stream, w), i.e. word w % 4 of block w / 4.
// Scalar draws take the next words in order, starting at offset:
//   next_u32        1 word
//   uniform         1 word  u -> uint_to_uniform01(u), in [0, 1)
//   uniform_double  2 words a, b -> uint2_to_uniform01(a, b), in [0, 1)
//   normal          2 words r, t -> box_muller(r, t).z0 (z1 is dropped, so the state stays
//                   three numbers)
//   randint         1 word per try when hi - lo <= 2^32, else 2 words (high, low) per try;
//                   tries that fall in the biased tail are rejected and redrawn
// Bulk fills are defined per element so that a GPU thread can compute element i alone.
// A fill of n > 0 elements first rounds offset up to a multiple of 4, call it `start`
// (so every fill begins on a fresh block), then:
//   fill_uniform  float   element i <- word start + i
//   fill_uniform  double  element i <- words start + 2i, start + 2i + 1
//   fill_normal   float   pair p = i / 2 <- box_muller(word start + 2p, word start + 2p + 1);
//                         even i takes z0, odd i takes z1
//   fill_normal   double  pair p = i / 2 <- box_muller_double(words start + 4p .. + 3);
//                         even i takes z0, odd i takes z1
// and finally sets offset to (start + words used) rounded up to a multiple of 4. A fill of
// 0 elements changes nothing. Values are mapped as lo + (hi - lo) * u and mean + std * z.
//
// Uniform [0, 1) values and all integers are bit-identical on every device. The affine maps
// above and normals (libm vs CUDA math) may differ in the last bit across devices (nvcc
// fuses multiply-adds); on one device and build they are exactly reproducible.
//
// A Generator is not thread-safe; give each thread its own (fork a stream per worker).
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "engine/util/error.h"

namespace pw {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t stream = 0);

  uint64_t seed() const { return seed_; }
  uint64_t stream() const { return stream_; }
  // 32-bit words consumed so far; set_offset(o) makes the next draw start at word o.
  uint64_t offset() const { return offset_; }
  void set_offset(uint64_t offset) { offset_ = offset; }

  uint32_t next_u32();
  float uniform();                          // [0, 1)
  double uniform_double();                  // [0, 1), 53 bits
  float normal();                           // standard normal
  int64_t randint(int64_t lo, int64_t hi);  // uniform on [lo, hi), unbiased; needs lo < hi

  void fill_uniform(float* out, int64_t n, float lo, float hi);
  void fill_uniform(double* out, int64_t n, double lo, double hi);
  void fill_normal(float* out, int64_t n, float mean, float std);
  void fill_normal(double* out, int64_t n, double mean, double std);

  // Fisher-Yates from the back: for i = n-1 down to 1, swap v[i] with v[randint(0, i + 1)].
  template <typename T>
  void shuffle(std::vector<T>& v) {
    for (int64_t i = static_cast<int64_t>(v.size()) - 1; i > 0; --i) {
      using std::swap;
      swap(v[i], v[randint(0, i + 1)]);
    }
  }
  // A random permutation of 0 .. n-1 (shuffle of the identity).
  std::vector<int64_t> permutation(int64_t n);

  // An independent sequence: same seed, another stream, offset 0.
  Generator fork(uint64_t stream) const { return Generator(seed_, stream); }

 private:
  uint32_t word(uint64_t index);  // word `index` of this sequence, through a one-block cache
  uint64_t fill_start();          // rounds offset up to a block boundary for a bulk fill
  void fill_end(uint64_t start, uint64_t words_used);

  uint64_t seed_;
  uint64_t stream_;
  uint64_t offset_ = 0;
  // The last block computed, so that sequential scalar draws cost one Philox call per 4 words.
  bool cache_valid_ = false;
  uint64_t cache_block_ = 0;
  uint32_t cache_words_[4] = {0, 0, 0, 0};
};

// The process-wide generator used when a caller passes none; seed 0, stream 0 at start.
// Not thread-safe, like any Generator: seed it before starting workers.
Generator& default_generator();
// Resets the default generator to (seed, stream 0, offset 0).
void manual_seed(uint64_t seed);

}  // namespace pw
