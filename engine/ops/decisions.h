// Decision replay: the discrete choices of a forward pass (the position of every max-pooling
// window's maximum, the active set of every ReLU) recorded in one run and imposed on another.
//
// Why: a network's gradient jumps where two values of a pooling window tie or a ReLU input is
// zero. An f32 run and an f64 run of the same weights and input round differently, so near such
// points they may choose differently: a CaffeNet pool1 window whose two largest values differ by
// 1e-8 relative picks one element in f64 and the other in f32, the gradient flows to another
// input, and conv1's weight gradient differs by 6e-3 although every kernel is right. An f64
// reference run that replays the f32 run's choices computes the exact gradient of the branch of
// the function the f32 run took, so the two agree to rounding error and any larger difference is
// a kernel's fault (tests/support/model_gradients.h uses this).
//
//   DecisionTape tape;
//   { RecordDecisions rec(tape); loss32 = ...model32(x32)...; }  // any device
//   { ReplayDecisions rep(tape); loss64 = ...model64(x64)...; }  // cpu: same ops, same order
//   rep.check_used_up() before the scope ends, or tape.size() == rep.used()
//
// The scopes are per thread and do not nest. While replaying, each max_pool2d and relu takes the
// next entry, which must come from the same op with the same shape (else an error naming both);
// max_pool2d then uses the recorded positions for its values and its backward, relu passes the
// recorded active set (only the `grad` rule can be replayed). Backward passes record nothing.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace pw {

struct DecisionTape {
  struct Entry {
    std::string op;   // "max_pool2d" (decision: i32 positions) or "relu" (decision: the output)
    Tensor decision;  // on the recording run's device
  };
  std::vector<Entry> entries;
  size_t size() const { return entries.size(); }
};

class RecordDecisions {
 public:
  explicit RecordDecisions(DecisionTape& tape);  // clears the tape
  ~RecordDecisions();
  RecordDecisions(const RecordDecisions&) = delete;
  RecordDecisions& operator=(const RecordDecisions&) = delete;
};

class ReplayDecisions {
 public:
  explicit ReplayDecisions(const DecisionTape& tape);
  ~ReplayDecisions();
  ReplayDecisions(const ReplayDecisions&) = delete;
  ReplayDecisions& operator=(const ReplayDecisions&) = delete;
  size_t used() const;
  // Throws unless every entry of the tape was replayed (the two runs made the same ops).
  void check_used_up() const;

 private:
  const DecisionTape& tape_;
};

namespace detail {
// For the ops that make decisions (max_pool2d, relu).
bool recording_decisions();
bool replaying_decisions();
void record_decision(const char* op, const Tensor& decision);
// The next entry, checked against op and shape, as a contiguous cpu tensor.
Tensor next_decision(const char* op, const Shape& shape);
}  // namespace detail

}  // namespace pw
