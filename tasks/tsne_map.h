// `patchwork tsne` as a library call: a layer's features of the first test images of a data set
// (pooled as the linear probes pool them), their t-SNE map (tasks/tsne.h), the map's measures,
// and tsne.png (points coloured by class, with a legend), tsne-thumbnails.png (the images at
// their points) and tsne.json (settings, KL curve, trustworthiness, agreement, the map itself).
#pragma once
#include <string>

#include "engine/device/device.h"
#include "tasks/datasets.h"
#include "tasks/load_model.h"
#include "tasks/run_record.h"
#include "tasks/tsne.h"

namespace pw::tasks {

struct TsneMapConfig {
  ModelSource source;
  // The test split (the training images of unlabeled data): the checkpoint's data, normalized as it
  // was trained, unless the request names other data (then resized and normalized for the network,
  // as probes and neighbours read it; tasks/run_record: choose_data).
  DataRequest data = other_data_allowed();
  std::string layer = "conv5";  // a probe point: read after its ReLU
  int64_t points = 2000;        // the first N images
  int64_t max_dims = 1024;      // features are average-pooled to at most this many values
  // "l2": each image's features divided by their norm, so that map distances follow cosine
  // similarity as `patchwork neighbors` compares features; "none": as they are.
  std::string normalize = "l2";
  TsneOptions tsne;
  int64_t k = 10;            // neighbours of trustworthiness and class agreement
  int64_t thumbnails = 500;  // images drawn on the thumbnail map (the first ones)
  std::string out_dir = "runs/tsne";
  Device device = Device::cpu();
};

struct TsneMapResult {
  std::string model, layer;
  int64_t points = 0, dims = 0;
  TsneResult map;
  double trustworthiness = 0;
  double agreement = -1;          // share of the k nearest map neighbours with the same class; -1 without labels
  double feature_agreement = -1;  // the same among the k nearest in the features themselves
  double seconds = 0;             // the map's optimization alone
  std::string scatter, thumbnails, json;  // the files written
};

TsneMapResult run_tsne_map(const TsneMapConfig& config);

// Rows of features [N, D] divided by their L2 norm ("l2"; a zero row stays zero), or as they are
// ("none"): TsneMapConfig::normalize ("l2" gives a cpu f32 copy).
Tensor normalize_features(const Tensor& features, const std::string& how);

}  // namespace pw::tasks
