// What the viz runs (tasks/viz/runs_*.cpp) share: the network a run reads, the input space of the
// optimization methods and the images of the data methods, each resolved against the checkpoint's
// run record. Internal to tasks/viz; the public calls are in tasks/viz/runs.h.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "tasks/datasets.h"
#include "tasks/viz/runs.h"

namespace pw::tasks::viz {

// The network's input channels: the record's (a contradicting --channels is an error), else
// --channels, else the first convolution's weights, else 1.
int64_t network_channels(const RunRecord& record, const VizCommon& common, const std::string& command);

// The network of `common` with `channels` input channels, in eval mode on the config's device.
LoadedModel load_network(const VizCommon& common, int64_t channels, const std::string& command);

// The mean and std of the network's inputs: the request's (1 value or one per channel; against the
// record's, an error naming both unless equal), else default_normalization.
void resolve_normalization(const RunRecord& record, int64_t channels, const std::vector<float>& mean,
                           const std::vector<float>& std, const std::string& command, InputSpace& space);

// The input space of class models and units: channels, normalization, and the square size (the
// request's, which must be positive and agree with the record; else the record's; else the
// network's native input).
InputSpace resolve_space(const LoadedModel& network, int64_t channels, const SpaceRequest& request,
                         const std::string& command);

// The images a data method reads: the run's data (choose_data), its test split (or the training
// images of unlabeled data), the chosen rows.
struct VizImages {
  std::string spec;
  Dataset data;
  Tensor images;                // [N, C, H, W], normalized as data.mean / data.std say
  std::vector<int64_t> index;   // the rows chosen
  std::vector<int64_t> labels;  // their labels (empty for unlabeled data)
};
// The rows `index` (each checked against the split's size); no index: the first `first` rows (all
// of a smaller split).
VizImages pick_images(const RunRecord& record, const DataRequest& request, const std::vector<int64_t>& index,
                      int64_t first, const std::string& command);
// The first `limit` images (limit must be positive).
VizImages first_images(const RunRecord& record, const DataRequest& request, int64_t limit, const std::string& command);

// The input space of images a dataset gave.
InputSpace space_of(const VizImages& images);

// The names of a network's `outputs` classes: the record's, else the data's where they have one
// per output, else none.
std::vector<std::string> class_names(const RunRecord& record, int64_t outputs,
                                     const std::vector<std::string>& data_classes = {});

// The whole factor that brings a side of `side` pixels to about 112.
int64_t upscale_factor(int64_t side);

}  // namespace pw::tasks::viz
