// Flags shared by the `patchwork viz` methods (tools/cmd_viz.cpp, tools/cmd_viz_more.cpp): they
// only read flags into the configs of tasks/viz/runs.h.
#pragma once
#include <string>
#include <vector>

#include "tasks/viz/runs.h"
#include "tools/commands.h"

namespace pw::cli {

// --checkpoint, --model, --width, --random, --out, --seed, --device, --threads.
void viz_model_flags(Args& a, const std::string& out);
// --data, --image-size, --skip-bad, absent by default (the checkpoint's data, size and normalization).
void viz_data_flags(Args& a, const std::string& what);
tasks::DataRequest viz_data_request(const Args& a);
// What those flags say, with every flag recorded for the sidecar; sets the CPU threads.
tasks::viz::VizCommon viz_common(const Args& a);

// "all" (or an absent flag): empty, meaning every one; else parse_indices's list.
std::vector<int64_t> indices_or_all(const Args& a, const std::string& name);

// "wrote <png> and <json>".
void print_written(const tasks::viz::VizFiles& files);

}  // namespace pw::cli
