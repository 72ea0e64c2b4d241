// The subcommands that live in their own files (tools/cmd_*.cpp), and helpers they share.
#pragma once
#include "engine/io/image.h"
#include "engine/ops/elementwise.h"
#include "models/registry.h"
#include "tasks/load_model.h"
#include "tasks/run_record.h"
#include "tools/args.h"

namespace pw::cli {

// --classes, --width, --dropout, --fc6, --no-batch-norm: how a registry model is built.
void add_model_flags(Args& args);
models::ModelConfig model_config(const Args& args, int64_t in_channels);

// --data, --image-size, --limit-train, --limit-test, --skip-bad, all absent by default (the
// checkpoint's data, size and normalization); data_request reads them. other_data: the command
// may read other data than the checkpoint's (probe, neighbors).
void add_data_flags(Args& args);
tasks::DataRequest data_request(const Args& args, bool other_data);

// --checkpoint, --model, --width, --random; load_model builds the network they name (reading
// model and width from the checkpoint's metadata) with its weights; needs a --seed flag too.
void add_load_model_flags(Args& args);
tasks::ModelSource model_source(const Args& args);  // what those flags name
std::shared_ptr<nn::Module> load_model(const Args& args, int64_t in_channels, std::string* model_name = nullptr);

int cmd_forward(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_classify(int argc, char** argv);  // tools/cmd_eval.cpp
int cmd_neighbors(int argc, char** argv);
int cmd_train(int argc, char** argv);  // tools/cmd_train.cpp
int cmd_probe(int argc, char** argv);
int cmd_viz(int argc, char** argv);
// Writes <out>/<what>.png and <what>.json ({"method", "flags": every flag, "results"}) through
// tasks::viz::write_viz_outputs and prints their paths.
void write_viz_outputs(const Args& a, const std::string& what, const io::Image& img, const io::Json& results);
// viz filters|class|unit|dream: tools/cmd_viz.cpp; the methods that read data: tools/cmd_viz_more.cpp.
int viz_saliency(int argc, char** argv, ReluRule rule, const std::string& what);  // saliency, guided, deconv
int viz_top_patches(int argc, char** argv);
int viz_sheet(int argc, char** argv);
int viz_invert(int argc, char** argv);
int viz_colorize(int argc, char** argv);
int viz_attribution(int argc,
                    char** argv);        // viz gradcam|smoothgrad|integrated-gradients: tools/cmd_viz_attribution.cpp
int cmd_study(int argc, char** argv);    // tools/cmd_study.cpp
int cmd_time(int argc, char** argv);     // tools/cmd_time.cpp
int cmd_tsne(int argc, char** argv);     // tools/cmd_tsne.cpp
int cmd_profile(int argc, char** argv);  // tools/cmd_profile.cpp
// Runs the whole command line again under patchwork-profile with PW_SIMT_CHECK (--simt-check LIST).
int run_simt_checked(int argc, char** argv);  // tools/cmd_profile.cpp

}  // namespace pw::cli
