// The launchers of tests/simt_profile/profile_kernels.cu (simt build, checked).
#pragma once

namespace pw::kernels::simt::profile_test {
void strided_load(const float* in, float* out, int stride);
void shared_stride(float* out, int stride);
void loop_load(const float* in, float* out, int threads, int rounds);
void copy(const float* x, float* y, int n, int blocks);
}  // namespace pw::kernels::simt::profile_test
