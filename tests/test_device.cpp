// The devices' plumbing: memory, copies between devices, fills, the caching allocator (simt, and
// the host cache of cpu tensors), and autograd across a device copy.
#include <cmath>

#include "engine/device/allocator.h"
#include "engine/device/device.h"
#include "engine/device/gpu.h"
#include "engine/device/host_cache.h"
#include "engine/ops.h"
#include "engine/optim.h"
#include "models/registry.h"
#include "tests/support/gradcheck.h"

using namespace pw;

static const Device kSimt{DeviceType::simt, 0};

TEST(Device, ParseAndList) {
  EXPECT_EQ(parse_device("cpu"), Device::cpu());
  EXPECT_EQ(parse_device("simt"), kSimt);
  EXPECT_TRUE(device_available(kSimt));
  EXPECT_THROW(parse_device("tpu"), Error);
  Device a = parse_device("auto");
  EXPECT_TRUE(a == Device::cpu() || a.type == DeviceType::cuda);
  if (!device_available({DeviceType::cuda, 0})) {
    EXPECT_THROW(parse_device("cuda"), Error);
  }
  bool saw_simt = false;
  for (const DeviceInfo& d : list_devices()) saw_simt |= d.device == kSimt && d.available;
  EXPECT_TRUE(saw_simt);
}

// An error whose message contains every one of `parts`.
template <class F>
void expect_error_naming(F f, std::initializer_list<const char*> parts) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const std::exception& e) {
    for (const char* part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(Device, AnIndexBeyondTheDevicesIsAClearError) {
  EXPECT_EQ(parse_device("simt:0"), kSimt);
  expect_error_naming([] { parse_device("simt:1"); }, {"simt:1", "one GPU"});
  expect_error_naming([] { parse_device("cuda:x"); }, {"bad device index", "cuda:x"});
  expect_error_naming([] { parse_device("cuda:-1"); }, {"bad device index"});
  // Past the GPUs there are (none here, or some on a GPU machine): the error names both.
  expect_error_naming([] { parse_device("cuda:97"); }, {"cuda:97", "not available"});
  // The kernels' own check, below the engine: simt has one device, 0.
  kernels::simt::set_device(kernels::simt::Tag{}, 0);
  expect_error_naming([] { kernels::simt::set_device(kernels::simt::Tag{}, 3); }, {"GPU 3", "1 device found"});
}

TEST(Device, RoundTripKeepsValuesAndLayout) {
  Generator g(11);
  Tensor x = Tensor::randn({5, 7, 3}, DType::f32, &g);
  Tensor on = x.to(kSimt);
  EXPECT_EQ(on.device(), kSimt);
  EXPECT_EQ(on.to_vector_f32(), x.to_vector_f32());
  // A strided view copied to the device and back.
  Tensor t = x.permute({2, 0, 1}).slice(2, 1, 6, 2);
  EXPECT_EQ(t.to(kSimt).to(Device::cpu()).to_vector_f32(), t.to_vector_f32());
  // A strided view taken on the device (the strided-copy kernel runs on simt).
  Tensor dv = on.permute({2, 0, 1}).slice(2, 1, 6, 2);
  EXPECT_EQ(dv.contiguous().to_vector_f32(), t.to_vector_f32());
  // Conversion on the device.
  Tensor ints = Tensor::from_vector(std::vector<int32_t>{1, -2, 3}, {3}).to(kSimt);
  EXPECT_EQ(ints.to(DType::f32).to_vector_f32(), (std::vector<float>{1, -2, 3}));
  EXPECT_DOUBLE_EQ(on.select(0, 2).select(0, 3).select(0, 1).item(), x.to_vector_f32()[2 * 21 + 3 * 3 + 1]);
}

TEST(Device, FillAndCopyInto) {
  Tensor z = Tensor::full({4, 6}, 2.5, DType::f32, kSimt);
  EXPECT_EQ(z.to_vector_f32(), std::vector<float>(24, 2.5f));
  Tensor src = Tensor::arange(6).reshape({1, 6});
  z.slice(0, 1, 2).copy_(src);  // from the cpu into a row of a simt tensor
  std::vector<float> v = z.to_vector_f32();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(v[6 + i], (float)i);
  EXPECT_EQ(v[0], 2.5f);
  EXPECT_EQ(v[12], 2.5f);
}

TEST(Device, FreshAndReusedMemoryIsPoisoned) {
  // simt poisons device memory so that unwritten elements read as NaN.
  { Tensor a = Tensor::full({1000}, 1.0, DType::f32, kSimt); }
  Tensor b = Tensor::empty({1000}, DType::f32, kSimt);  // likely the block `a` had
  for (float f : b.to_vector_f32()) ASSERT_TRUE(std::isnan(f));
}

TEST(Device, CachingAllocatorReusesBlocks) {
  AllocatorStats before = allocator_stats(kSimt);
  for (int i = 0; i < 10; ++i) Tensor t = Tensor::empty({3000}, DType::f32, kSimt);
  AllocatorStats after = allocator_stats(kSimt);
  EXPECT_GE(after.cache_hits - before.cache_hits, 9);
  EXPECT_LE(after.device_mallocs - before.device_mallocs, 1);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  {
    Tensor big = Tensor::empty({1 << 20}, DType::f32, kSimt);
    EXPECT_GE(allocator_stats(kSimt).peak_bytes_in_use, (size_t)4 << 20);
  }
  empty_cache(kSimt);
  EXPECT_EQ(allocator_stats(kSimt).bytes_cached, 0u);
}

TEST(Device, HostCacheReusesBlocksAndGivesThemBack) {
  if (!host_cache::enabled()) GTEST_SKIP() << "the host cache is off (PW_HOST_CACHE_MB=0 or AddressSanitizer)";
  const Device cpu = Device::cpu();
  { Tensor a = Tensor::empty({3 << 20}, DType::f32, cpu); }  // 12 MiB, freed into the cache
  const AllocatorStats before = allocator_stats(cpu);
  EXPECT_GE(before.bytes_cached, size_t(12) << 20);
  { Tensor b = Tensor::empty({3 << 20}, DType::f32, cpu); }
  const AllocatorStats after = allocator_stats(cpu);
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  EXPECT_EQ(after.device_mallocs, before.device_mallocs);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  empty_cache(cpu);
  EXPECT_EQ(allocator_stats(cpu).bytes_cached, 0u);
}

TEST(Device, ASteadyCpuTrainingStepTakesNoTensorMemoryFromTheSystem) {
  // After two warm-up steps, every tensor of a step (activations, gradients, the optimizer's
  // temporaries) comes from the host cache: no block is taken from the system.
  if (!host_cache::enabled()) GTEST_SKIP() << "the host cache is off (PW_HOST_CACHE_MB=0 or AddressSanitizer)";
  models::ModelConfig mc;
  mc.in_channels = 1;
  auto model = models::create("fmnist-cnn", mc);
  model->train(true);
  optim::SGD opt(model->parameters(), 0.01, 0.9);
  const Tensor x = Tensor::randn({8, 1, 28, 28});
  const Tensor y = Tensor::from_vector(std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7}, {8});
  auto step = [&] {
    cross_entropy(model->forward(x), y).backward();
    opt.step();
    opt.zero_grad();
  };
  step();
  step();
  const AllocatorStats warm = allocator_stats(Device::cpu());
  for (int i = 0; i < 3; ++i) step();
  const AllocatorStats after = allocator_stats(Device::cpu());
  EXPECT_EQ(after.device_mallocs, warm.device_mallocs);
  EXPECT_GT(after.cache_hits, warm.cache_hits);
}

TEST(Device, CachingAllocatorSplitsSegmentsAndGivesThemBackAboveTheCacheLimit) {
  empty_cache(kSimt);
  const AllocatorStats before = allocator_stats(kSimt);
  {
    Tensor a = Tensor::full({100}, 1.0, DType::f32, kSimt), b = Tensor::full({100}, 2.0, DType::f32, kSimt);
    EXPECT_GE(allocator_stats(kSimt).splits - before.splits, 2);  // both cut from one 2 MiB segment
    EXPECT_LE(allocator_stats(kSimt).device_mallocs - before.device_mallocs, 1);
    EXPECT_EQ(b.to_vector_f32()[99], 2.0f);
    EXPECT_EQ(a.to_vector_f32()[0], 1.0f);
  }
  EXPECT_GT(allocator_stats(kSimt).bytes_cached, 0u);
  set_cache_limit(kSimt, 0);  // the release policy: whole free segments go back to the device
  EXPECT_EQ(allocator_stats(kSimt).bytes_cached, 0u);
  EXPECT_GT(allocator_stats(kSimt).segments_released, before.segments_released);
  EXPECT_EQ(allocator_stats(kSimt).cache_limit, 0u);
  set_cache_limit(kSimt, SIZE_MAX);
}

TEST(Device, GradientFlowsBackAcrossACopy) {
  Tensor x = pw::testing::random_input({3, 2}, 5).detach().to(DType::f32);
  x.set_requires_grad(true);
  Tensor on = x.to(kSimt);
  EXPECT_TRUE(on.requires_grad());
  sum(mul(on.to(Device::cpu()), 3.0)).backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().device(), Device::cpu());
  EXPECT_EQ(x.grad().to_vector_f32(), std::vector<float>(6, 3.0f));
}

TEST(Device, OutOfMemoryIsAClearError) {
  try {
    Tensor t = Tensor::empty({int64_t(1) << 44}, DType::f32, kSimt);  // 64 TiB
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("out of memory on simt"), std::string::npos) << e.what();
  }
}
