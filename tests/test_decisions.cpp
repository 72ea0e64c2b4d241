// Decision replay (engine/ops/decisions.h): an f64 run that replays an f32 run's max-pooling
// positions and ReLU active sets follows that run's branch where the two precisions would
// choose differently; tapes are checked op by op and shape by shape.
#include <vector>

#include "engine/ops/decisions.h"
#include "tests/support/gradcheck.h"

using namespace pw;
using pw::testing::expect_error;

namespace {

const Pool2dParams kPair{1, 2, 1, 2};  // 1x2 windows, stride 2: one window over two values

// The gradient of sum(max_pool2d(x)) for x = [a, b] as a 1x1x1x2 tensor.
std::vector<double> pool_gradient(const Tensor& x) {
  Tensor leaf = x.detach();
  leaf.set_requires_grad(true);
  sum(max_pool2d(leaf, kPair)).backward();
  return leaf.grad().to(DType::f64).to_vector_f64();
}

}  // namespace

// f32 rounds 1 + 1e-12 to 1: a tie, resolved to the first element; f64 sees the second as
// larger. Replaying the f32 run routes the f64 gradient (and value) to the first.
TEST(DecisionReplay, MaxPoolFollowsTheRecordedPosition) {
  const Tensor x64 = Tensor::from_vector(std::vector<double>{1.0, 1.0 + 1e-12}, {1, 1, 1, 2});
  const Tensor x32 = x64.to(DType::f32);
  EXPECT_EQ(pool_gradient(x64), (std::vector<double>{0, 1}));
  DecisionTape tape;
  {
    RecordDecisions record(tape);
    EXPECT_EQ(pool_gradient(x32), (std::vector<double>{1, 0}));
  }
  ASSERT_EQ(tape.size(), 1u);
  EXPECT_EQ(tape.entries[0].op, "max_pool2d");
  ReplayDecisions replay(tape);
  Tensor leaf = x64.detach();
  leaf.set_requires_grad(true);
  Tensor y = max_pool2d(leaf, kPair);
  EXPECT_EQ(y.to_vector_f64(), (std::vector<double>{1.0}));  // x64[0], not the larger x64[1]
  sum(y).backward();
  EXPECT_EQ(leaf.grad().to_vector_f64(), (std::vector<double>{1, 0}));
  replay.check_used_up();
}

// An f32 input just above zero and an f64 input just below: replay keeps the unit active.
TEST(DecisionReplay, ReluFollowsTheRecordedActiveSet) {
  DecisionTape tape;
  {
    RecordDecisions record(tape);
    relu(Tensor::from_vector(std::vector<float>{1e-7f, -2.f, 3.f}, {3}));
  }
  ReplayDecisions replay(tape);
  Tensor x = Tensor::from_vector(std::vector<double>{-1e-12, -2.0, 3.0}, {3});
  x.set_requires_grad(true);
  Tensor y = relu(x);
  EXPECT_EQ(y.to_vector_f64(), (std::vector<double>{-1e-12, 0.0, 3.0}));
  sum(y).backward();
  EXPECT_EQ(x.grad().to_vector_f64(), (std::vector<double>{1, 0, 1}));
  replay.check_used_up();
}

TEST(DecisionReplay, RecordingChangesNothing) {
  const Tensor x = pw::testing::random_input({2, 3, 6, 6}, 4, -1, 1, false);
  const Tensor plain = max_pool2d(relu(x), {3, 3, 2, 2});
  DecisionTape tape;
  RecordDecisions record(tape);
  EXPECT_TRUE(pw::testing::all_close(max_pool2d(relu(x), {3, 3, 2, 2}), plain, 0));
  EXPECT_EQ(tape.size(), 2u);
}

TEST(DecisionReplay, MismatchedRunsAreErrors) {
  DecisionTape tape;
  {
    RecordDecisions record(tape);
    relu(Tensor::zeros({4}));
  }
  {  // another op
    ReplayDecisions replay(tape);
    expect_error(
        [] {
          max_pool2d(Tensor::zeros({1, 1, 2, 2}), kPair);
        },
        "decision 1 was recorded by relu with shape [4], replayed by max_pool2d");
  }
  {  // another shape
    ReplayDecisions replay(tape);
    expect_error([] { relu(Tensor::zeros({5})); }, "replayed by relu with shape [5]");
  }
  {  // more ops than recorded
    ReplayDecisions replay(tape);
    relu(Tensor::zeros({4}));
    expect_error([] { relu(Tensor::zeros({4})); }, "asks for decision 2 but the tape holds 1");
  }
  {  // fewer ops than recorded
    ReplayDecisions replay(tape);
    expect_error([&] { replay.check_used_up(); }, "the run used 0 of the tape's 1 decisions");
  }
  {  // only the grad rule
    ReplayDecisions replay(tape);
    expect_error([] { relu(Tensor::zeros({4}), ReluRule::guided); }, "grad rule only");
  }
  {  // one scope at a time
    ReplayDecisions replay(tape);
    DecisionTape other;
    expect_error([&] { RecordDecisions nested(other); }, "already being replayed");
  }
}
