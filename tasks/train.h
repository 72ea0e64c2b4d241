// `patchwork train` as a library call: a run of any task (supervised, rotation, jigsaw,
// context, colorization) on any --data, through the one training loop (tasks/train_loop.h).
//
// A run remembers what it was. Its checkpoint records every setting below marked "the run"
// (as config.<key> strings, with the defaults resolved: the model, the epochs, the schedule,
// the sampler constants), the data's classes and class names, the normalization, and the
// sizes of the splits. So:
//   - `--resume` needs only --out: everything else is read from the checkpoint, and a setting
//     the caller gives (TrainConfig::given) that differs from the checkpoint's is an error
//     naming both values;
//   - a new run refuses an --out that is not empty, unless resume or force (force first
//     removes the files a run writes: checkpoint.safetensors, metrics.jsonl, summary.json,
//     permutations.txt);
//   - summary.json (written when the run ends, finished or not) says what it was and how it went.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "engine/device/device.h"
#include "engine/nn.h"
#include "tasks/colorization_task.h"
#include "tasks/data_parallel.h"
#include "tasks/image_source.h"
#include "tasks/pretext/jigsaw.h"
#include "tasks/train_loop.h"

namespace pw::tasks {

// The photos colorization trains on when --data is not given: Debian's mate-backgrounds.
constexpr const char* kColorizationPhotos = "images:/usr/share/backgrounds/mate/nature";
// Supervised training's epochs when --epochs is absent (README, "Training": what they reach).
constexpr int64_t kSupervisedEpochs = 30;
// Supervised training's label smoothing when --label-smoothing is absent: none. Measured on
// fmnist-cnn (README, "The default recipe"): 0.1 gave 0.9293 test accuracy at 15 epochs against
// 0.9304 without, no gain.
constexpr double kSupervisedLabelSmoothing = 0.0;

struct TrainConfig {
  // ---- the run (recorded in the checkpoint; --resume reads them back) ----
  std::string task = "supervised";           // supervised | rotation | jigsaw | context | colorization
  std::string model;                         // empty: fmnist-cnn, rotation-alexnet-small, ... (the task's default)
  double width = 1;                          // the small networks' channel multiplier
  std::optional<double> dropout;             // every dropout layer's probability; absent: the network's
  std::optional<int64_t> fc6;                // jigsaw networks' per-tile fc6; absent: the network's
  bool batch_norm = true;                    // false: --no-batch-norm (context nets, jigsaw-small)
  bool sync_batch_norm = false;              // mpirun -np N: batch norm over every rank's rows
  std::string data = "fashion-mnist";        // tasks::load_dataset's spec
  std::optional<int64_t> image_size;         // resize to this square first; absent: as they are (folders: 128)
  std::optional<int64_t> limit_train;        // the first N training images; absent: all
  std::optional<int64_t> limit_test;         // the first N test images; absent: all
  bool skip_bad = false;                     // skip images that do not decode
  bool stream = false;                       // folder:/images: decode each batch's files on demand
  int64_t crop_padding = 0;                  // supervised: random crops with this padding (0: none)
  std::optional<bool> flip;                  // supervised: random horizontal flips; absent: default_flip(data)
  std::optional<double> label_smoothing;     // supervised; absent: kSupervisedLabelSmoothing
  std::optional<int64_t> epochs;             // absent: kSupervisedEpochs supervised, 1 pretext
  std::optional<int64_t> samples_per_epoch;  // pretext; absent: one per training image
  int64_t batch_size = 64;                   // images per step (rotation turns each into 4 inputs)
  std::string optimizer = "sgd";             // sgd (Nesterov when momentum > 0) | adam | adamw
  double lr = 0.05, momentum = 0.9, weight_decay = 5e-4;
  std::string schedule;                       // optim::make_schedule spec; empty: onecycle supervised, cosine pretext
  std::optional<double> clip_grad_norm;       // clip the total gradient norm; absent: off
  uint64_t seed = 0;                          // initialization, shuffling, sampling, augmentation, dropout
  std::string init_from;                      // supervised fine-tuning: copy this checkpoint's convolutions first
  std::optional<int64_t> transfer_layers;     // how many (absent: all that fit)
  bool freeze = false;                        // keep the copied layers fixed
  std::optional<int64_t> patch, gap, jitter;  // context sampler; absent: scaled to the image size
  std::string color_defense = "auto";         // context: none | project | drop | auto (project for colour)
  double pixelate = 0;                        // context: probability of pixelating a patch
  std::optional<int64_t> grid, tile;          // jigsaw sampler; absent: scaled to the image size
  double grayscale = 0.3;                     // jigsaw: fraction of images made gray
  int64_t permutations = 100;                 // jigsaw: size of the permutation set
  std::string permutation_criterion = "max-average";  // or max-min
  std::string permutation_file;                       // jigsaw: load the set from this file
  std::optional<int64_t> crop;                        // colorization: crop side; absent: min(32, image size)
  int64_t eval_images = 1000;                         // pretext accuracy on up to this many held-out images (crops)

  // ---- this invocation (not part of the run) ----
  std::string out_dir;                // checkpoint, metrics.jsonl, summary.json, permutations.txt
  bool resume = false;                // continue the run in out_dir
  bool force = false;                 // start a new run in an out_dir that is not empty
  std::optional<int64_t> stop_after;  // stop after this many steps in total (with a checkpoint)
  std::optional<int64_t> checkpoint_every;
  int64_t log_every = 10;       // metrics.jsonl: a step record every this many steps
  int workers = 2;              // --stream: decoding threads
  bool detect_anomaly = false;  // name the first op that makes a non-finite value (slow)
  Device device = Device::cpu();
  bool progress = true;
  // Data-parallel runs (mpirun -np N): gradient bucket size in MiB; 0: one all-reduce after backward.
  double grad_bucket_mb = 4;
  // Library callers (the study): keep the parameters as training found them (TrainResult::initial).
  bool keep_initial = false;
  // The keys (TrainSetting::key) of the settings the caller gave explicitly; on resume each
  // must agree with the checkpoint. Empty for a library caller that gives none.
  std::set<std::string> given;
};

// A run setting: its key in the checkpoint (config.<key>) and its command-line flag.
struct TrainSetting {
  const char* key;
  const char* flag;
};
// Every run setting, in the order of TrainConfig.
const std::vector<TrainSetting>& train_settings();

// Errors naming the flag and its value for sizes and limits that make no sense (0 or
// negative batch size, epochs, limits, ...), unknown tasks, optimizers, criteria, and flags
// given to a task or data kind they do not apply to.
void check_train_config(const TrainConfig& config);

// Whether supervised training flips images by default (TrainConfig::flip absent), from the
// --data spec and its kind (tasks::data_kind): yes where a mirrored image keeps its class
// (fashion-mnist, CIFAR, folders of photos), no for IDX folders, which may hold digits.
bool default_flip(const std::string& data, const std::string& kind);

// The run's settings as checkpoint strings (every key of train_settings()), and back.
std::map<std::string, std::string> settings_record(const TrainConfig& config);
void apply_settings_record(TrainConfig& config, const std::map<std::string, std::string>& record,
                           const std::string& where);

// The training data of a run: images in memory or streamed from files, already normalized.
struct TrainData {
  std::string kind;  // mnist, cifar10, cifar100, folder, images, memory
  std::shared_ptr<const ImageSource> train;
  Tensor train_labels;               // [N] i32; undefined when unlabeled
  Tensor test_images, test_labels;   // may be undefined
  std::vector<std::string> classes;  // class names (empty when unlabeled)
  std::vector<float> mean, std;      // the normalization applied, per channel
  std::vector<std::string> skipped;  // files left out with skip_bad
};

// Loads config.data as the config says; `mean`/`std` given (a resumed run's): normalize
// with them instead of the training images' own.
TrainData load_train_data(const TrainConfig& config, const std::vector<float>& mean = {},
                          const std::vector<float>& std = {});

struct TrainResult {
  TrainConfig config;      // the run, defaults resolved (after --resume: the checkpoint's)
  LoopResult loop;         // losses, epochs, steps, time, how it stopped
  bool evaluated = false;  // the last evaluation (supervised: the test split; pretext: the
  Evaluation last;         // pretext task on held-out images)
  int64_t classes = 0;     // outputs of the network
  std::vector<std::string> class_names;
  int64_t parameters = 0;
  std::vector<std::string> transfer;  // fine-tuning: one line per copied convolution
  HammingStats permutation_stats;     // jigsaw
  std::string checkpoint;             // its path (empty without out_dir)
  std::shared_ptr<nn::Module> model;  // trained, in eval mode, on the training device
  int ranks = 1;                      // mpirun -np N: N (parameters checked identical on every rank)
  // config.keep_initial: every parameter before the first step of this call (cpu copies; after
  // --init-from, the transferred weights); empty otherwise.
  std::map<std::string, Tensor> initial;
  DataParallelTimes data_parallel;  // rank 0's times, when ranks > 1
  // colorization: the last evaluation of this run on the held-out crops (ab errors against gray)
  std::optional<ColorizationEval> colorization;
};

// Loads config.data and trains.
TrainResult run_train(const TrainConfig& config);
// Trains on data already loaded (tests, the study); config.data is then only recorded.
TrainResult run_train(const TrainConfig& config, const TrainData& data);

}  // namespace pw::tasks
