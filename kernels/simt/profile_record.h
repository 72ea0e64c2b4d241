// simt internals: the recording side of simt-profile (profile.h), fed by the checker
// (check.cpp) while a launch runs with profiling on. Launches with profiling run on one worker
// (as checked launches do), so one recorder serves them all.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/simt/block.h"

namespace pw::simt::detail {

// The internal check bit that turns recording on for a launch (beside the Check bits).
inline constexpr unsigned kCheckProfile = 16;

void profile_launch_begin(const LaunchDesc& desc);
void profile_block_begin();  // matches the previous block's accesses into warp requests
// An access of kernel code to global (shared == false) or shared memory by thread `thread`
// of the block (its linear index), from the instruction at `site`.
void profile_access(unsigned thread, uintptr_t a, size_t bytes, unsigned how, const void* site, bool shared);
void profile_launch_end(uint64_t hooks);
// PW_SIMT_PROFILE=FILE turns profiling on and writes FILE (and FILE.md) at exit;
// PW_SIMT_PROFILE_RESOURCES=TSV loads ptxas's registers and shared memory per kernel.
void profile_from_environment();  // once, before profiling() first answers
void profile_turn_on();           // what PW_SIMT_PROFILE does (set_profiling would recurse)
// The kernel's signature ("void pw::kernels::simt::k(float*)") from its line information
// (addr2line), or "" without it; cached.
const std::string& kernel_signature(const void* kernel);

}  // namespace pw::simt::detail
