// Reliability of the library: anomaly detection (the first op, forward or backward, that makes a
// non-finite value), the training loop stopping at a non-finite step, writes that a full disk or
// a file-size limit cannot turn into a damaged file, whole-line appends, and out-of-memory errors
// that say what was asked and what is in use. The command line's side: test_cli_faults and
// test_cli_kills.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <thread>

#include "engine/autograd.h"
#include "engine/device/allocator.h"
#include "engine/io/checkpoint.h"
#include "engine/nn.h"
#include "engine/ops.h"
#include "engine/util/error.h"
#include "engine/util/files.h"
#include "engine/util/rng.h"
#include "tasks/train_loop.h"
#include "tests/support/json_files.h"

namespace pw {
namespace {

namespace fs = std::filesystem;

std::string scratch(const std::string& name) {
  const std::string d = ::testing::TempDir() + "pw_reliability_" + name + "_" + std::to_string(::getpid());
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void expect_has(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "missing: " << part << "\nin: " << text;
}

// A small network: conv 3->4 (3x3), ReLU, flatten, linear 4*6*6 -> 5.
std::shared_ptr<nn::Sequential> small_net() {
  manual_seed(3);
  auto net = std::make_shared<nn::Sequential>();
  net->push_back("conv", std::make_shared<nn::Conv2d>(3, 4, 3));
  net->push_back("relu", std::make_shared<nn::ReLU>());
  net->push_back("flatten", std::make_shared<nn::Flatten>());
  net->push_back("fc", std::make_shared<nn::Linear>(4 * 6 * 6, 5));
  return net;
}

void plant_nan(Tensor& t, int64_t at) {
  std::vector<float> v = t.to_vector_f32();
  v[at] = std::numeric_limits<float>::quiet_NaN();
  NoGradGuard no_grad;
  t.copy_(Tensor::from_vector(v, t.shape()));
}

// ---- anomaly detection ----

TEST(Anomaly, FirstNonFiniteFindsNanAndInfInAnyLayout) {
  Tensor t = Tensor::zeros({3, 4});
  EXPECT_EQ(first_non_finite(t), -1);
  plant_nan(t, 6);
  EXPECT_EQ(first_non_finite(t), 6);
  EXPECT_EQ(first_non_finite(t.transpose(0, 1)), 2 * 3 + 1);  // (1, 2) of t is (2, 1) of the view [4, 3]
  EXPECT_EQ(first_non_finite(Tensor::full({2}, INFINITY, DType::f64)), 0);
  EXPECT_EQ(first_non_finite(Tensor::zeros({2}, DType::i32)), -1);
}

TEST(Anomaly, NamesTheForwardOpOfAPlantedNanWithItsShapes) {
  auto net = small_net();
  auto conv = std::dynamic_pointer_cast<nn::Conv2d>(net->at(0));
  plant_nan(conv->weight, 5);
  const Tensor x = Tensor::randn({2, 3, 8, 8});
  EXPECT_NO_THROW((*net)(x));  // off: nothing is checked
  DetectAnomalyGuard on;
  const std::string e = error_of([&] { (*net)(x); });
  expect_has(e, "detect-anomaly: the forward of op 'conv2d' produced a non-finite value (nan at element");
  expect_has(e, "of [2, 4, 6, 6]");
  expect_has(e, "its inputs: [2, 3, 8, 8], [4, 3, 3, 3], [4]");
  expect_has(e, "its input 1 [4, 3, 3, 3] was already non-finite (a leaf: a parameter, a buffer or the data)");
}

TEST(Anomaly, NamesTheFirstOpWhoseOutputIsNonFiniteFromFiniteInputs) {
  DetectAnomalyGuard on;
  const Tensor x = Tensor::from_vector(std::vector<float>{1, 0, 2}, {3}).set_requires_grad(true);
  const std::string e = error_of([&] { sum(div(Tensor::ones({3}), x)); });
  expect_has(e, "the forward of op 'div' produced a non-finite value (inf at element 1 of [3])");
  expect_has(e, "every input was finite");
}

TEST(Anomaly, NamesTheBackwardOpThatMadeANonFiniteGradient) {
  // sqrt(0) = 0 is finite; its gradient 1 / (2 sqrt(0)) is not.
  const Tensor x = Tensor::from_vector(std::vector<float>{4, 0, 1}, {3}).set_requires_grad(true);
  Tensor loss = sum(sqrt(x));
  loss.backward();  // off: the gradient is simply inf
  EXPECT_TRUE(std::isinf(x.grad().to_vector_f32()[1]));
  DetectAnomalyGuard on;
  Tensor again = sum(sqrt(x));
  const std::string e = error_of([&] { again.backward(); });
  expect_has(e,
             "detect-anomaly: the backward of op 'sqrt' produced a non-finite gradient for its input 0 "
             "(inf at element 1 of [3]) from a finite upstream gradient [3]; the op's inputs: [3], its output: [3]");
}

TEST(Anomaly, NamesAPlantedNanInABackwardRuleInsideANetwork) {
  auto net = small_net();
  DetectAnomalyGuard on;
  const Tensor x = Tensor::randn({2, 3, 8, 8});
  Tensor h = (*net->at(0))(x);
  // A layer whose backward rule plants a NaN: the walk must stop at it, not at the conv below.
  h = record(h.detach().clone(), "planted_layer", {h}, [](const Tensor& g, const Node&) {
    Tensor bad = g.clone();
    plant_nan(bad, 3);
    return std::vector<Tensor>{bad};
  });
  Tensor out = (*net->at(3))((*net->at(2))((*net->at(1))(h)));
  Tensor loss = sum(out);
  const std::string e = error_of([&] { loss.backward(); });
  expect_has(e,
             "the backward of op 'planted_layer' produced a non-finite gradient for its input 0 (nan at element 3 "
             "of [2, 4, 6, 6]) from a finite upstream gradient [2, 4, 6, 6]");
}

TEST(Anomaly, TheGuardRestoresTheModeAndItIsPerThread) {
  EXPECT_FALSE(AnomalyMode::enabled());
  {
    DetectAnomalyGuard on;
    EXPECT_TRUE(AnomalyMode::enabled());
    bool other = true;
    std::thread([&] { other = AnomalyMode::enabled(); }).join();
    EXPECT_FALSE(other);
  }
  EXPECT_FALSE(AnomalyMode::enabled());
}

// ---- the training loop stops at the first non-finite step ----

tasks::TrainingTask task_with_nan_at(int64_t bad_step) {
  manual_seed(1);
  tasks::TrainingTask task;
  task.model = std::make_shared<nn::Linear>(4, 3);
  task.steps_per_epoch = 5;
  task.batch = [bad_step](int64_t step) {
    Generator g(7, (uint64_t)step);
    Tensor x = Tensor::randn({6, 4}, DType::f32, &g);
    if (step + 1 == bad_step) plant_nan(x, 2);  // the data of the bad step (1-based)
    return tasks::Batch{x, Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 0, 1, 2}, {6})};
  };
  return task;
}

TEST(TrainLoopFaults, StopsAtTheFirstNonFiniteStepKeepingTheLastCheckpoint) {
  const std::string dir = scratch("nan_step");
  tasks::TrainingTask task = task_with_nan_at(4);
  tasks::LoopConfig c;
  c.epochs = 2;
  c.out_dir = dir;
  c.progress = false;
  c.checkpoint_every = 1;
  c.log_every = 1;
  const std::string e = error_of([&] { tasks::run_training_loop(c, task); });
  expect_has(e,
             "train: stopped at step 4 of 10: the loss is nan; the first parameter whose gradient is not finite "
             "is 'weight' [3, 4] (nan at element");
  expect_has(e, "the last checkpoint (step 3, " + dir + "/checkpoint.safetensors) is kept as it was");
  expect_has(e, "--detect-anomaly");
  const io::Checkpoint ck = io::read_checkpoint(dir + "/checkpoint.safetensors");
  EXPECT_EQ(ck.step, 3);
  for (const auto& [name, t] : ck.model) EXPECT_EQ(first_non_finite(t), -1) << name;
  // metrics.jsonl: the three good steps, no record of the bad one.
  const std::string metrics = testing::read_text(dir + "/metrics.jsonl");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 3) << metrics;
  EXPECT_EQ(metrics.find("nan"), std::string::npos) << metrics;
  fs::remove_all(dir);
}

// A run that died in the middle of a metrics line (a full disk) resumes: the part line is dropped.
TEST(TrainLoopFaults, AResumeDropsAMetricsLineCutShort) {
  const std::string dir = scratch("torn_line");
  tasks::LoopConfig c;
  c.epochs = 1;
  c.out_dir = dir;
  c.progress = false;
  c.log_every = 1;
  c.stop_after = 2;
  tasks::TrainingTask task = task_with_nan_at(-1);
  tasks::run_training_loop(c, task);
  std::ofstream(dir + "/metrics.jsonl", std::ios::app) << "{\"step\": 3, \"lo";
  const io::Checkpoint ck = io::read_checkpoint(dir + "/checkpoint.safetensors");
  c.resume = &ck;
  c.stop_after.reset();
  tasks::TrainingTask again = task_with_nan_at(-1);
  tasks::run_training_loop(c, again);
  EXPECT_NO_THROW(testing::parse_every_json_file(dir));
  const std::string metrics = testing::read_text(dir + "/metrics.jsonl");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 6) << metrics;  // steps 1-5, the epoch
  fs::remove_all(dir);
}

TEST(TrainLoopFaults, WithDetectAnomalyNamesTheOp) {
  tasks::TrainingTask task = task_with_nan_at(2);
  tasks::LoopConfig c;
  c.progress = false;
  c.detect_anomaly = true;
  const std::string e = error_of([&] { tasks::run_training_loop(c, task); });
  // nn::Linear is matmul(x, weight.t()) + bias: the matmul is the first op with a NaN out.
  expect_has(e, "detect-anomaly: the forward of op 'matmul' produced a non-finite value");
  expect_has(e, "its input 0 [6, 4] was already non-finite (a leaf");
  EXPECT_FALSE(AnomalyMode::enabled());
}

// ---- writes ----

std::string content_of(const std::string& path) { return testing::read_text(path); }

int temporaries_in(const std::string& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    n += e.path().filename().string().find(".tmp.") != std::string::npos;
  return n;
}

TEST(Files, AtomicWriteReplacesTheFileAndLeavesNoTemporary) {
  const std::string dir = scratch("atomic");
  write_file_atomic(dir + "/sub/a.txt", "first");
  write_file_atomic(dir + "/sub/a.txt", "second");
  EXPECT_EQ(content_of(dir + "/sub/a.txt"), "second");
  EXPECT_EQ(temporaries_in(dir + "/sub"), 0);
  // A writer that fails leaves the old file and no temporary.
  EXPECT_THROW(write_file_atomic_with(dir + "/sub/a.txt",
                                      [](const std::string& tmp) {
                                        std::ofstream(tmp) << "half";
                                        PW_FAIL("the writer failed");
                                      }),
               Error);
  EXPECT_EQ(content_of(dir + "/sub/a.txt"), "second");
  EXPECT_EQ(temporaries_in(dir + "/sub"), 0);
  fs::remove_all(dir);
}

// In a child with RLIMIT_FSIZE below the new content's size: the write fails with EFBIG (SIGXFSZ
// ignored, as the command line does), naming the file and the limit; the old file stays.
TEST(Files, AFileSizeLimitIsAClearErrorAndTheOldFileStays) {
  const std::string dir = scratch("fsize");
  const std::string path = dir + "/weights.bin", message = dir + "/message.txt";
  write_file_atomic(path, std::string(1000, 'a'));
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{4096, 4096};
    setrlimit(RLIMIT_FSIZE, &lim);
    std::string text = "(no error)";
    try {
      write_file_atomic(path, std::string(10000, 'b'));
    } catch (const Error& e) {
      text = e.what();
    }
    std::ofstream(message) << text;
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  const std::string e = content_of(message);
  expect_has(e, "cannot write '" + path + "': File too large (the file-size limit, ulimit -f, is 4096 bytes)");
  expect_has(e, "the previous '" + path + "' is untouched");
  EXPECT_EQ(content_of(path), std::string(1000, 'a'));
  EXPECT_EQ(temporaries_in(dir), 0);
  fs::remove_all(dir);
}

// The same limit on an append: the error names the file, and no part of the line stays.
TEST(Files, AFileSizeLimitOnAnAppendLeavesOnlyWholeLines) {
  const std::string dir = scratch("fsize_append");
  const std::string path = dir + "/metrics.jsonl", message = dir + "/message.txt";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit lim{110, RLIM_INFINITY};  // four lines of 25 bytes fit, the fifth stops after 10
    setrlimit(RLIMIT_FSIZE, &lim);
    std::string text = "(no error)";
    try {
      AppendFile f(path, true);
      for (int i = 0; i < 10; ++i) f.line("{\"step\": " + std::to_string(i) + ", \"loss\": 1.5}");
    } catch (const Error& e) {
      text = e.what();
    }
    lim.rlim_cur = RLIM_INFINITY;  // for the message
    setrlimit(RLIMIT_FSIZE, &lim);
    std::ofstream(message) << text;
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  expect_has(content_of(message), "cannot append to '" + path +
                                      "': File too large (the file-size limit, ulimit -f, "
                                      "is 110 bytes) (a line of 25 bytes)");
  const std::string text = content_of(path);
  std::string four;
  for (int i = 0; i < 4; ++i) four += "{\"step\": " + std::to_string(i) + ", \"loss\": 1.5}\n";
  EXPECT_EQ(text, four);
  fs::remove_all(dir);
}

TEST(Files, StaleTemporariesOfDeadWritersAreRemoved) {
  const std::string dir = scratch("stale");
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  write_file_atomic(dir + "/checkpoint.safetensors.tmp." + std::to_string(dead) + ".0", "x");
  write_file_atomic(dir + "/checkpoint.safetensors.tmp." + std::to_string(getpid()) + ".0", "mine");
  write_file_atomic(dir + "/other.tmp." + std::to_string(dead) + ".0", "not this name");
  EXPECT_EQ(remove_stale_temporaries(dir, "checkpoint.safetensors"), 1);
  EXPECT_TRUE(fs::exists(dir + "/checkpoint.safetensors.tmp." + std::to_string(getpid()) + ".0"));
  EXPECT_TRUE(fs::exists(dir + "/other.tmp." + std::to_string(dead) + ".0"));
  fs::remove_all(dir);
}

TEST(Files, AppendFileWritesWholeLines) {
  const std::string dir = scratch("append");
  {
    AppendFile f(dir + "/log.jsonl", true);
    f.line("{\"a\":1}");
    f.line("{\"a\":2}");
  }
  {
    AppendFile f(dir + "/log.jsonl", false);
    f.line("{\"a\":3}");
  }
  EXPECT_EQ(content_of(dir + "/log.jsonl"), "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
  AppendFile again(dir + "/log.jsonl", true);
  again.line("x");
  EXPECT_EQ(content_of(dir + "/log.jsonl"), "x\n");
  expect_has(error_of([&] { AppendFile(dir, false); }), "cannot open '" + dir + "' for appending: Is a directory");
  fs::remove_all(dir);
}

// ---- memory ----

TEST(Memory, AnAbsurdTensorIsAClearErrorWithTheSizeAndWhatIsInUse) {
  const Tensor held = Tensor::zeros({1 << 18});                               // 1 MiB, so that something is in use
  const std::string e = error_of([] { Tensor::empty({int64_t(1) << 44}); });  // 64 TiB
  expect_has(e,
             "tensor [17592186044416] f32: out of memory on the cpu: asked for 64.0 TiB (70368744177664 bytes); "
             "tensors hold ");
  expect_has(e, "on the cpu (peak ");
  const std::string overflow = error_of([] { Tensor::empty({int64_t(1) << 61, 2}); });
  expect_has(overflow, "tensor: shape [2305843009213693952, 2] of f32 needs more bytes than fit in 64 bits");
}

TEST(Memory, HostTensorsAreCounted) {
  const AllocatorStats before = allocator_stats(Device::cpu());
  {
    const Tensor t = Tensor::zeros({1 << 20});  // 4 MiB
    const AllocatorStats during = allocator_stats(Device::cpu());
    EXPECT_GE(during.bytes_in_use, before.bytes_in_use + (4u << 20));
    EXPECT_GE(during.peak_bytes_in_use, during.bytes_in_use);
  }
  EXPECT_EQ(allocator_stats(Device::cpu()).bytes_in_use, before.bytes_in_use);
}

// Under an address-space limit (ulimit -v) a tensor that does not fit names the limit.
TEST(Memory, UnderAnAddressSpaceLimitTheErrorNamesTheLimit) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of address space: no ulimit -v can apply";
#endif
  const std::string dir = scratch("rlimit_as");
  const std::string message = dir + "/message.txt";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rlimit lim{size_t(2) << 30, size_t(2) << 30};  // 2 GiB of address space
    setrlimit(RLIMIT_AS, &lim);
    std::string text = "(no error)";
    try {
      Tensor big = Tensor::empty({int64_t(1) << 30});  // 4 GiB
    } catch (const Error& e) {
      text = e.what();
    }
    std::ofstream(message) << text;
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  const std::string e = content_of(message);
  expect_has(e, "out of memory on the cpu: asked for 4.0 GiB (4294967296 bytes)");
  expect_has(e, "the address-space limit (ulimit -v) is 2.0 GiB (2147483648 bytes)");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace pw
