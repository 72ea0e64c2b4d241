// `patchwork forward`: logits (and with labels the loss and every gradient) of a model on given
// weights and inputs, written as safetensors, for checking patchwork against other frameworks.
#include <cstdio>

#include "engine/device/device.h"
#include "engine/io/checkpoint.h"
#include "engine/io/safetensors.h"
#include "tasks/forward.h"
#include "tasks/load_model.h"
#include "tools/commands.h"

namespace pw::cli {

void add_model_flags(Args& args) {
  args.flag("classes", "0", "output classes (0: the network's default)")
      .flag("width", "",
            "small networks only: every channel and hidden width times this (absent: 1, or the\n"
            "checkpoint's)")
      .flag("dropout", "-1", "probability of every dropout layer (-1: the network's default)")
      .flag("fc6", "0", "jigsaw networks: per-tile fc6 width (0: 1024 as released; the paper used 512)")
      .boolean("no-batch-norm",
               "context networks and jigsaw-small: leave out the batch norms (conv3-5; fc6, fc7 in context)");
}

models::ModelConfig model_config(const Args& args, int64_t in_channels) {
  models::ModelConfig c;
  c.num_classes = args.i64("classes");
  c.in_channels = in_channels;
  c.width = args.maybe_f64("width").value_or(1);
  c.dropout = args.f64("dropout");
  c.fc6 = args.i64("fc6");
  c.batch_norm = !args.on("no-batch-norm");
  return c;
}

namespace {

// The network --weights holds: a checkpoint of `patchwork train` is built as its run record says
// (model, width, batch norm, fc6; --model and --width must agree with it), a plain weight file
// as the flags say.
std::shared_ptr<nn::Module> build(const Args& args, int64_t in_channels, std::string& name) {
  const tasks::RunRecord record = tasks::read_run_record(args.str("weights"));
  if (!record.recorded) {
    PW_CHECK(!args.str("model").empty(), "forward: --model is required for a weight file without a run record");
    name = args.str("model");
    auto model = models::create(name, model_config(args, in_channels));
    io::load_state_dict_file(*model, args.str("weights"));
    return model;
  }
  for (const char* flag : {"classes", "fc6", "no-batch-norm"})
    PW_CHECK(!args.given(flag), "forward: --", flag, " is read from the checkpoint '", args.str("weights"), "' (",
             tasks::describe(record), "); leave it out");
  tasks::ModelSource src;
  src.checkpoint = args.str("weights");
  src.model = args.str("model");
  src.width = args.maybe_f64("width");
  src.dropout = args.f64("dropout") >= 0 ? std::optional<double>(args.f64("dropout")) : std::nullopt;
  tasks::LoadedModel loaded = tasks::load_model(src, in_channels, "forward");
  name = loaded.name;
  return loaded.model;
}

// The tensor called `name` in a file, or its only tensor.
Tensor pick(const io::SafetensorsFile& f, const std::string& name, const std::string& path) {
  if (auto it = f.tensors.find(name); it != f.tensors.end()) return it->second;
  PW_CHECK(f.tensors.size() == 1, "forward: ", path, " has no tensor named '", name, "' and holds ", f.tensors.size(),
           " tensors, so which one to use is ambiguous");
  return f.tensors.begin()->second;
}

}  // namespace

int cmd_forward(int argc, char** argv) {
  Args args("forward",
            "Run a network on given weights and input and write the logits; with --labels also the\n"
            "mean cross-entropy loss (\"loss\"), the gradient of every parameter (under the parameter's\n"
            "own name), of the input (\"input.grad\") and, in train mode, the batch-norm running\n"
            "statistics after the pass. Everything is safetensors, so the results can be compared\n"
            "with PyTorch tensor by tensor: tools/torch_compare.py does that in one command.\n"
            "In train mode dropout draws patchwork's own masks; pass --dropout 0 to compare.");
  args.flag("model", "", "network from the registry (see `patchwork models`); read from a checkpoint's record")
      .flag("weights", "", "weights: torchvision names (features.0.weight, ...) or a patchwork checkpoint")
      .flag("input", "", "input tensor [N, C, H, W] (or [N, T, C, H, W]): the tensor 'input' or the only one")
      .flag("labels", "", "optional class indices [N] (I32 or I64): the tensor 'labels' or the only one")
      .flag("output", "", "where to write the results (.safetensors)")
      .flag("mode", "eval", "eval (batch norm on running statistics, no dropout) or train")
      .flag("device", "cpu", "cpu, simt or cuda");
  add_model_flags(args);
  if (!args.parse(argc, argv, 2)) return 0;
  for (const char* required : {"weights", "input", "output"})
    PW_CHECK(!args.str(required).empty(), "forward: --", required, " is required (see patchwork forward --help)");
  const std::string mode = args.str("mode");
  PW_CHECK(mode == "eval" || mode == "train", "forward: --mode must be eval or train, got '", mode, "'");

  io::SafetensorsFile in = io::read_safetensors(args.str("input"));
  Tensor input = pick(in, "input", args.str("input"));
  PW_CHECK(input.dim() >= 4, "forward: the input has shape ", shape_str(input.shape()),
           ", expected [N, C, H, W] or [N, T, C, H, W]");
  Tensor labels;
  if (!args.str("labels").empty()) {
    io::SafetensorsFile lf = args.str("labels") == args.str("input") ? in : io::read_safetensors(args.str("labels"));
    labels = pick(lf, "labels", args.str("labels"));
  }
  std::string name;
  auto model = build(args, input.size(input.dim() - 3), name);
  model->to(parse_device(args.str("device")));
  model->train(mode == "train");
  std::map<std::string, Tensor> out = tasks::forward_with_gradients(*model, input.to(DType::f32), labels);
  io::write_safetensors(args.str("output"), out, {{"model", name}, {"mode", mode}, {"device", args.str("device")}});
  std::printf("wrote %zu tensors to %s", out.size(), args.str("output").c_str());
  if (out.count("loss")) std::printf(" (loss %.6f)", out["loss"].item());
  std::printf("\n");
  return 0;
}

}  // namespace pw::cli
