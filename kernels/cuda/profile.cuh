// The launcher's annotations for simt-profile (kernels/simt/README.md, "Profile"):
//   PW_PROFILE_FLOPS(2.0 * m * n * k);       // the FLOPs of the next PW_LAUNCH on this thread
//   PW_LAUNCH(kernel, grid, block, smem, stream)(...);
// Nothing under nvcc; under simt the count goes with the next launch into the profile, where it
// is the FLOP bound of the launch's estimated time. Count what the kernel computes (an FMA is
// two FLOPs), not what a smarter kernel would.
#pragma once
#include "kernels/cuda/compat.cuh"

#ifdef __CUDACC__
#define PW_PROFILE_FLOPS(flops) ((void)0)
#else
#include "kernels/simt/profile.h"
#define PW_PROFILE_FLOPS(flops) ::pw::simt::profile_next_launch_flops(static_cast<double>(flops))
#endif
