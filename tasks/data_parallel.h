// Data-parallel training for the one training loop (tasks/train_loop): every rank holds the whole
// model, trains on its rows of each step's global batch, and the ranks' gradients are summed
// before the optimizer steps, so every rank steps identically and the run equals one process
// with the same global batch (up to float rounding; batch norm keeps per-rank statistics, as in
// PyTorch DDP, so networks with batch norm differ from one process by design).
//
// - start(): parameters and buffers broadcast from rank 0; the default generator (dropout) keyed
//   to a stream of its own per rank, so dropout masks differ between ranks and are reproducible.
// - fetch(), shard(): rank r trains on rows [r*B/N, (r+1)*B/N) of the step's batch, and builds
//   only those rows: each rank reads its share of the epoch's order (supervised training skips
//   the augmentation draws of the rows before it; each pretext image draws from its own window of
//   the step's stream), so the rows equal one process's. shard() cuts the rows of a whole batch
//   for a task that cannot build parts.
// - Gradients: each rank's gradient is weighted by its share of the batch's rows and summed
//   over the ranks, in flat f32 buckets: host memory summed over MPI, or, on GPUs with NCCL,
//   device memory summed over NCCL (never through the host). With buckets (bucket_mb > 0) a bucket's all-reduce starts
//   during backward as soon as the autograd engine reports its last parameter's gradient complete (GradReadyHook),
//   buckets in a fixed order on every rank (MPI's rule), parameters in reverse order (the order backward finishes
//   them); finish() waits for them. bucket_mb = 0: one all-reduce after backward. Both give the same sums (each element
//   is the same sum of the same N numbers).
// - --sync-batch-norm: batch norm with the statistics of the whole global batch
//   (engine/dist/sync_batch_norm.h), so that such networks too equal one process.
// - Buffers (batch-norm running statistics) are broadcast from rank 0 before every step, as
//   PyTorch DDP does, so every rank holds rank 0's and checkpoints describe one model.
// - put(): the checkpoint notes every rank's generator offset and the rank count; resume()
//   refuses another rank count.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/autograd.h"
#include "engine/dist/comm.h"
#include "engine/dist/sync_batch_norm.h"
#include "engine/io/checkpoint.h"
#include "engine/nn.h"

namespace pw::tasks {

struct Batch;
struct TrainingTask;

// Where a step's time went, summed over the steps of a run (this rank's view).
struct DataParallelTimes {
  int64_t steps = 0;
  double backward_seconds = 0;   // backward, including the bucket copies and starts during it
  double wait_seconds = 0;       // after backward: waiting for all-reduces, averaging, copying back
  double broadcast_seconds = 0;  // buffers from rank 0 before each step
  int64_t bytes_per_step = 0;    // f32 gradient bytes all-reduced per step (each rank sends and receives)
  int64_t buckets = 0;           // all-reduces per step
  // One step's all-reduces alone (measure_all_reduce(): the same buckets, blocking, no backward
  // to hide behind); 0 when not measured. The overlap achieved is what of it the wait after
  // backward no longer shows: overlap() = 1 - wait per step / this, within [0, 1] (a lower bound:
  // the wait also copies the sums back into the gradients).
  double all_reduce_alone_seconds = 0;
  double overlap() const;
};

class DataParallel {
 public:
  // `gradients`: the communicator that sums the gradients, when it is not `comm` (NCCL: its
  // buckets live on `bucket_device`, the GPU, and never pass through the host); null: `comm`,
  // with buckets in host memory. Everything else (broadcasts, statistics, batch norm) uses `comm`.
  DataParallel(dist::Communicator& comm, double bucket_mb, bool sync_batch_norm = false,
               std::unique_ptr<dist::Communicator> gradients = nullptr, Device bucket_device = Device::cpu());
  int rank() const { return comm_.rank(); }
  int size() const { return comm_.size(); }
  dist::Communicator& comm() { return comm_; }

  // Before the first step (after a resume's restore): broadcast, generator streams, buckets; a
  // task whose epochs end in a batch with fewer rows than ranks is refused here, not at that step.
  void start(const TrainingTask& task, const std::vector<Tensor>& params, const io::Checkpoint* resume);
  // Step s's batch as this rank needs it: only its rows when the task can build them
  // (TrainingTask::batch_part), else the whole batch (shard() keeps the rows). Worker thread.
  Batch fetch(const TrainingTask& task, int64_t step) const;
  // This rank's rows of a step's batch (as they are when fetch() built only those); remembers
  // the share for the gradient weights.
  Batch shard(const Batch& global);
  // --sync-batch-norm: the scope for a step's forward (after shard()); null when off.
  std::unique_ptr<dist::SyncBatchNormScope> batch_norm_scope();
  // Broadcast the buffers from rank 0 (before a step's forward).
  void sync_buffers();
  // Installs the gradient hook for one backward walk (bucketed mode); null in one-shot mode.
  std::unique_ptr<GradReadyHookGuard> watch_backward();
  // After backward: every parameter's gradient is the weighted sum over the ranks.
  void finish_gradients();
  // Step statistics summed over the ranks: {loss * count, correct, count}; returns whether any
  // rank was interrupted (Ctrl-C), so that every rank stops after the same step.
  bool reduce_stats(double& loss_times_count, int64_t& correct, int64_t& count, bool interrupted);
  // Collective: the rank count and every rank's generator offset, for the checkpoint.
  void put(std::map<std::string, std::string>& config);
  // Collective, at the end of a run: the buffers from rank 0 once more, then throws naming the
  // ranks whose parameters or buffers differ from rank 0's.
  void check_identical(const nn::Module& model);
  // Collective, at the end of a run: times one step's all-reduces alone (median of 3) for the
  // overlap figure; the gradients are not touched.
  void measure_all_reduce();
  void add_backward_seconds(double s) { times_.backward_seconds += s; }
  const DataParallelTimes& times() const { return times_; }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    int64_t size = 0;            // floats
    Tensor flat;                 // [size] f32 on bucket_device_: the gradients, then their sums
    int64_t waiting = 0;         // parameters not yet ready in this walk
    std::unique_ptr<dist::Pending> pending;
  };
  void on_ready(TensorImpl* leaf);
  void launch(Bucket& b);
  void launch_ready_in_order();

  dist::Communicator& comm_;
  std::unique_ptr<dist::Communicator> own_gradients_;
  dist::Communicator& gradients_;  // comm_ or *own_gradients_
  Device bucket_device_;
  double bucket_mb_;
  bool sync_batch_norm_;
  nn::Module* model_ = nullptr;
  std::vector<Tensor> params_;
  std::vector<int64_t> offset_;  // of each parameter in its bucket's buffer
  std::vector<size_t> bucket_of_;
  std::unordered_map<TensorImpl*, size_t> index_;
  std::vector<Bucket> buckets_;
  size_t next_launch_ = 0;
  double weight_ = 1;  // this rank's share of the step's rows
  DataParallelTimes times_;
};

// Resuming `ck` with `ranks` processes: refused, naming both counts, when the checkpoint was
// written by a run of another rank count (the data order and dropout streams would differ).
void check_resume_ranks(const io::Checkpoint& ck, int ranks);

// A tensor's values broadcast from rank `root` to every rank (any device: non-cpu tensors go
// through a host copy).
void broadcast_tensor(dist::Communicator& comm, const Tensor& t, int root);

}  // namespace pw::tasks
