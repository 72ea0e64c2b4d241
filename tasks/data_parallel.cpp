// Data-parallel training: see data_parallel.h.
#include "tasks/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "engine/io/json.h"
#include "engine/ops/elementwise.h"
#include "engine/util/error.h"
#include "engine/util/rng.h"
#include "tasks/train_loop.h"

namespace pw::tasks {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Streams of the default generator are spaced this far apart per rank: far above the streams
// the tasks key their own generators with (epoch orders, augmentation, pretext sampling).
constexpr uint64_t kRankStreamStride = uint64_t(1) << 40;

std::vector<float> host_values(const Tensor& t) {
  return t.device() == Device::cpu() ? t.to_vector_f32() : t.to(Device::cpu()).to_vector_f32();
}

uint64_t fnv1a(uint64_t h, const std::vector<float>& v) {
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  for (size_t i = 0; i < v.size() * sizeof(float); ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

}  // namespace

void broadcast_tensor(dist::Communicator& comm, const Tensor& t, int root) {
  PW_CHECK(t.dtype() == DType::f32, "dist: broadcast of a ", dtype_name(t.dtype()), " tensor (f32 only)");
  if (t.device() == Device::cpu() && t.is_contiguous()) {
    comm.broadcast(t.data<float>(), t.numel() * (int64_t)sizeof(float), root);
    t.bump_version();
    return;
  }
  std::vector<float> v = host_values(t);
  comm.broadcast(v.data(), (int64_t)(v.size() * sizeof(float)), root);
  t.copy_(Tensor::from_vector(v, t.shape()).to(t.device()));
}

void check_resume_ranks(const io::Checkpoint& ck, int ranks) {
  const auto it = ck.config.find("dist.ranks");
  const int saved = it == ck.config.end() ? 1 : std::stoi(it->second);
  PW_CHECK(saved == ranks, "resume: the checkpoint was written by a run of ", saved, " rank(s); this run has ", ranks,
           saved == 1 ? " (resume it without mpirun)" : " (resume it with mpirun -np " + std::to_string(saved) + ")");
}

DataParallel::DataParallel(dist::Communicator& comm, double bucket_mb, bool sync_batch_norm,
                           std::unique_ptr<dist::Communicator> gradients, Device bucket_device)
    : comm_(comm),
      own_gradients_(std::move(gradients)),
      gradients_(own_gradients_ ? *own_gradients_ : comm),
      bucket_device_(bucket_device),
      bucket_mb_(bucket_mb),
      sync_batch_norm_(sync_batch_norm) {
  PW_CHECK(own_gradients_ || bucket_device_.is_cpu(), "train: data-parallel: MPI sums host buffers; buckets on ",
           bucket_device_.str(), " need a communicator of device memory (NCCL)");
  PW_CHECK(bucket_mb >= 0, "train: --grad-bucket-mb must be 0 (one all-reduce after backward) or positive, got ",
           bucket_mb);
}

void DataParallel::start(const TrainingTask& task, const std::vector<Tensor>& params, const io::Checkpoint* resume) {
  if (task.batch_rows) {
    const int64_t last = task.batch_rows(task.steps_per_epoch - 1);
    PW_CHECK(last >= size(), "train: data-parallel: the last batch of every epoch has ", last,
             " image(s), fewer than the ", size(),
             " ranks; change --batch-size or --limit-train so that the "
             "training images modulo the batch size is 0 or at least ",
             size());
  }
  nn::Module& model = *task.model;
  model_ = &model;
  params_ = params;
  NoGradGuard no_grad;
  for (const auto& [name, p] : model.named_parameters()) broadcast_tensor(comm_, p, 0);
  sync_buffers();
  // Dropout: a stream per rank, at the offset this rank had reached when the checkpoint was written.
  Generator& g = default_generator();
  uint64_t offset = g.offset();
  if (resume) {
    check_resume_ranks(*resume, size());
    const auto offsets = resume->config.find("dist.generator_offsets");
    if (offsets != resume->config.end())
      offset = (uint64_t)io::parse_json(offsets->second, "dist.generator_offsets").items.at(rank()).value;
  }
  Generator keyed(g.seed(), g.stream() + (uint64_t)rank() * kRankStreamStride);
  keyed.set_offset(offset);
  g = keyed;
  // Buckets over the parameters in reverse order (the order backward completes them).
  const int64_t cap =
      bucket_mb_ > 0 ? std::max<int64_t>(1, (int64_t)(bucket_mb_ * 1024 * 1024 / sizeof(float))) : INT64_MAX;
  offset_.assign(params_.size(), 0);
  bucket_of_.assign(params_.size(), 0);
  buckets_.clear();
  times_.bytes_per_step = 0;
  for (size_t k = params_.size(); k-- > 0;) {
    const int64_t n = params_[k].numel();
    if (buckets_.empty() || (!buckets_.back().params.empty() && buckets_.back().size + n > cap))
      buckets_.emplace_back();
    Bucket& b = buckets_.back();
    offset_[k] = b.size;
    bucket_of_[k] = buckets_.size() - 1;
    b.params.push_back(k);
    b.size += n;
    index_[params_[k].impl_ptr()] = k;
    times_.bytes_per_step += n * (int64_t)sizeof(float);
  }
  for (Bucket& b : buckets_) b.flat = Tensor::zeros({b.size}, DType::f32, bucket_device_);
  times_.buckets = (int64_t)buckets_.size();
}

Batch DataParallel::fetch(const TrainingTask& task, int64_t step) const {
  if (!task.batch_part || !task.batch_rows) return task.batch(step);
  const int64_t rows = task.batch_rows(step);
  PW_CHECK(rows >= size(), "train: data-parallel: a batch of ", rows, " rows cannot feed ", size(), " ranks");
  Batch part = task.batch_part(step, rows * rank() / size(), rows * (rank() + 1) / size());
  part.whole_rows = rows;
  return part;
}

Batch DataParallel::shard(const Batch& global) {
  if (global.whole_rows > 0) {  // fetch() built this rank's rows only
    weight_ = (double)global.x.size(0) / (double)global.whole_rows;
    return global;
  }
  const int64_t rows = global.x.size(0);
  PW_CHECK(global.y.defined() && global.y.size(0) == rows, "train: data-parallel: a batch of ", rows, " inputs has ",
           global.y.defined() ? global.y.size(0) : 0, " labels; cannot split it between ranks");
  PW_CHECK(rows >= size(), "train: data-parallel: a batch of ", rows, " rows cannot feed ", size(), " ranks");
  const int64_t begin = rows * rank() / size(), end = rows * (rank() + 1) / size();
  weight_ = (double)(end - begin) / (double)rows;
  return Batch{global.x.slice(0, begin, end).contiguous(), global.y.slice(0, begin, end).contiguous()};
}

std::unique_ptr<dist::SyncBatchNormScope> DataParallel::batch_norm_scope() {
  return sync_batch_norm_ ? std::make_unique<dist::SyncBatchNormScope>(comm_, weight_) : nullptr;
}

void DataParallel::sync_buffers() {
  const Clock::time_point t0 = Clock::now();
  NoGradGuard no_grad;
  for (const auto& [name, b] : model_->named_buffers())
    if (b.dtype() == DType::f32) broadcast_tensor(comm_, b, 0);
  times_.broadcast_seconds += seconds_since(t0);
}

std::unique_ptr<GradReadyHookGuard> DataParallel::watch_backward() {
  for (Bucket& b : buckets_) b.waiting = (int64_t)b.params.size();
  next_launch_ = 0;
  if (bucket_mb_ == 0) return nullptr;
  return std::make_unique<GradReadyHookGuard>([this](TensorImpl* leaf) { on_ready(leaf); });
}

void DataParallel::on_ready(TensorImpl* leaf) {
  const auto it = index_.find(leaf);
  if (it == index_.end()) return;
  --buckets_[bucket_of_[it->second]].waiting;
  launch_ready_in_order();
  for (size_t k = 0; k < next_launch_; ++k)  // progress the buckets already started
    if (buckets_[k].pending) buckets_[k].pending->test();
}

void DataParallel::launch_ready_in_order() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].waiting == 0) launch(buckets_[next_launch_++]);
}

void DataParallel::launch(Bucket& b) {
  NoGradGuard no_grad;
  for (size_t k : b.params) {
    const Tensor g = params_[k].grad();
    const Tensor dst = b.flat.slice(0, offset_[k], offset_[k] + params_[k].numel());
    if (!g.defined()) {  // unused in this step: contributes zeros, and stays without a gradient
      dst.copy_(Tensor::zeros({params_[k].numel()}, DType::f32, bucket_device_));
      continue;
    }
    dst.copy_(mul(g.reshape({-1}), weight_).to(bucket_device_));
  }
  b.pending = gradients_.start_all_reduce_sum(static_cast<float*>(b.flat.raw_data()), b.size);
}

void DataParallel::finish_gradients() {
  const Clock::time_point t0 = Clock::now();
  for (Bucket& b : buckets_) b.waiting = 0;  // parameters that got no gradient: launch what is left
  launch_ready_in_order();
  NoGradGuard no_grad;
  for (Bucket& b : buckets_) {
    b.pending->wait();
    b.pending.reset();
    b.flat.bump_version();  // written by the transport behind the tensor's back
    for (size_t k : b.params) {
      Tensor& p = params_[k];
      if (!p.grad().defined()) continue;
      // A copy of its own: the bucket is rewritten at the next step.
      p.set_grad(b.flat.slice(0, offset_[k], offset_[k] + p.numel()).reshape(p.shape()).to(p.device()).clone());
    }
  }
  times_.wait_seconds += seconds_since(t0);
  ++times_.steps;
}

bool DataParallel::reduce_stats(double& loss_times_count, int64_t& correct, int64_t& count, bool interrupted) {
  double v[4] = {loss_times_count, (double)correct, (double)count, interrupted ? 1.0 : 0.0};
  comm_.all_reduce_sum(v, 4);
  loss_times_count = v[0];
  correct = (int64_t)v[1];
  count = (int64_t)v[2];
  return v[3] > 0;
}

void DataParallel::put(std::map<std::string, std::string>& config) {
  const std::vector<double> offsets = dist::all_gather(comm_, (double)default_generator().offset());
  io::Json list = io::Json::array();
  for (double o : offsets) list.push((int64_t)o);
  config["dist.ranks"] = std::to_string(size());
  config["dist.generator_offsets"] = list.dump();
}

void DataParallel::check_identical(const nn::Module& model) {
  sync_buffers();  // the last step's forward moved every rank's running statistics its own way
  uint64_t h = 1469598103934665603ull;
  for (const auto& [name, p] : model.named_parameters()) h = fnv1a(h, host_values(p));
  for (const auto& [name, b] : model.named_buffers())
    if (b.dtype() == DType::f32) h = fnv1a(h, host_values(b));
  uint64_t root = h;
  comm_.broadcast(&root, sizeof root, 0);
  const std::vector<double> differs = dist::all_gather(comm_, root != h ? 1.0 : 0.0);
  std::string ranks;
  for (size_t r = 0; r < differs.size(); ++r)
    if (differs[r] != 0) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r);
  PW_CHECK(ranks.empty(), "train: data-parallel: the parameters of rank(s) ", ranks,
           " differ from rank 0's at the end of the run (a bug: every rank should step identically)");
}

double DataParallelTimes::overlap() const {
  if (all_reduce_alone_seconds <= 0 || steps <= 0) return 0;
  return std::clamp(1.0 - wait_seconds / (double)steps / all_reduce_alone_seconds, 0.0, 1.0);
}

void DataParallel::measure_all_reduce() {
  std::vector<double> runs;
  for (int rep = 0; rep < 3; ++rep) {
    comm_.barrier();  // every rank starts together, so no rank's time includes waiting for another
    const Clock::time_point t0 = Clock::now();
    for (Bucket& b : buckets_) {
      const Tensor copy = Tensor::zeros({b.size}, DType::f32, bucket_device_);
      gradients_.all_reduce_sum(static_cast<float*>(copy.raw_data()), b.size);
    }
    runs.push_back(seconds_since(t0));
  }
  std::sort(runs.begin(), runs.end());
  times_.all_reduce_alone_seconds = runs[1];
}

}  // namespace pw::tasks
