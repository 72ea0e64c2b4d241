// Valid inputs of every fuzz target, made with the writers of the engine: the seed corpora
// (fuzz_make_seeds writes them, tools/fuzz.sh starts from them) and what the regression test
// checks each target accepts. Also the small datasets the data spec target loads.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/nn/module.h"

namespace pw::fuzz {

// (file name, bytes) of the seeds of a target (names as in targets.h); empty for an unknown one.
std::vector<std::pair<std::string, std::string>> seeds(const std::string& target);

// The network the checkpoint target restores into, and its seeds are saved from.
std::shared_ptr<nn::Module> fuzz_network();

// Writes under `dir`: mnist/ (IDX, plain and gzip), cifar10/, cifar100/, folder/<class>/ (PNG and
// BMP, one undecodable file) and images/ (flat, with a sub-folder). A few KB in all.
void write_data_sandbox(const std::string& dir);

}  // namespace pw::fuzz
