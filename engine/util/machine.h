// What this machine can do at most, measured: the FMA peak of its vector units over the threads
// the kernels use, and its memory bandwidth. `patchwork time` reports every layer against them.
#pragma once

namespace pw {

struct MachinePeaks {
  double gflops = 0;         // f32 multiply-adds x 2 per second, over num_threads() threads
  double bandwidth_gbs = 0;  // bytes read + written per second by a streaming triad, likewise
  int threads = 0;
  int vector_bits = 0;  // the vector width the FMA loop used (256: AVX2, 512: AVX-512)
};

// Independent FMA chains in registers (12 per thread, enough to cover the FMA latency on two
// ports) for about `seconds`; the best of three runs.
double measure_fma_gflops(double seconds = 0.2);
// a[i] = b[i] + s * c[i] over three 64 MiB arrays (far past the caches), counting 12 bytes per
// element; the best of three passes.
double measure_bandwidth_gbs();
MachinePeaks measure_machine();
// The vector width the FMA loop uses (known without measuring).
int fma_vector_bits();

}  // namespace pw
