// Supervised training and evaluation of a classifier on labeled images held in memory.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn.h"
#include "engine/tensor.h"

namespace pw::tasks {

struct SupervisedConfig {
  std::string model = "fmnist-cnn";
  double width = 1;               // small networks (alexnet-small, vgg-small): channel multiplier
  std::string data_dir;           // MNIST-format folder; empty: Debian's Fashion-MNIST
  int64_t epochs = 3;
  int64_t batch_size = 64;
  std::string optimizer = "sgd";  // sgd | adam | adamw
  double lr = 0.05;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  bool nesterov = true;
  std::string schedule = "onecycle";  // see optim::make_schedule
  uint64_t seed = 0;
  int64_t limit_train = -1;       // use only the first N training / test images
  int64_t limit_test = -1;
  std::string out_dir;            // metrics.jsonl, summary.json and checkpoint.safetensors (model,
                                  // optimizer, step, generator, configuration; rewritten after
                                  // every epoch) go here, if not empty
  // Fine-tuning a transferred trunk: the first `transfer_layers` convolutions (-1: all that fit)
  // of the checkpoint's network (a pretext tower, say) are copied into the model before training
  // (models::transfer_features); `freeze` keeps them fixed, otherwise every layer trains.
  std::string init_from;
  int64_t transfer_layers = -1;
  bool freeze = false;
  // Continue from out_dir/checkpoint.safetensors (written after every epoch, at stop_after and on
  // Ctrl-C) exactly where it stopped: the remaining steps give the losses an uninterrupted run
  // gives (the shuffle of every epoch is replayed from the seed; the dropout generator is restored).
  bool resume = false;
  int64_t stop_after = -1;        // stop (with a checkpoint) after this many steps in total
  bool progress = true;
  Device device = Device::cpu();  // where the model trains (cpu, simt or cuda)
};

struct EpochRecord {
  int64_t epoch;
  double train_loss, train_accuracy, test_loss, test_accuracy, seconds;
};

struct SupervisedResult {
  std::vector<EpochRecord> epochs;
  double test_accuracy = 0, test_loss = 0, train_seconds = 0, images_per_second = 0;
  int64_t steps = 0, parameters = 0;
  std::vector<double> losses;          // every step of this run (after a resume: from where it resumed)
  int64_t first_step = 0;              // the step this run started at (0, or where it resumed)
  bool interrupted = false;            // stopped by Ctrl-C or stop_after before the last step
  std::vector<int64_t> confusion;  // classes x classes, row = true label
  std::vector<std::string> transfer;  // one line per copied convolution, when fine-tuning
  std::shared_ptr<nn::Module> model;  // the trained model, in eval mode, on the training device
};

// Fashion-MNIST's pixel mean and standard deviation (train split), used to normalize inputs.
inline constexpr double kFashionMean = 0.2860, kFashionStd = 0.3530;

SupervisedResult train_supervised(const SupervisedConfig& config);

}  // namespace pw::tasks
