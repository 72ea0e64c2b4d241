// simt test kernels for the tensor-core instructions (kernels/cuda/mma.cuh, emulated by
// kernels/simt/mma.h): one warp runs one mma.sync on registers the test chose, one ldmatrix on
// rows it chose, and one thread walks cp.async groups through commit and wait_group, taking
// snapshots of shared memory. Ordinary CUDA; test_simt_tc links their simt build.
#include "kernels/cuda/compat.cuh"
#include "kernels/cuda/mma.cuh"
#include "tests/simt_kernels/tc/tc_kernels.h"

namespace pw::kernels::PW_KERNEL_NS {

// Lane l passes a[4 l ..], b[2 l ..], c[4 l ..] and writes d[4 l ..]. The error cases: threads
// past 32 (a partial warp), the lane `exit_lane` returning first, or (split_sites) the odd lanes
// calling the same mma from another line.
__global__ void mma_regs_kernel(int shape, const uint32_t* a, const uint32_t* b, const float* c, float* d,
                                int exit_lane, int split_sites) {
  const int l = threadIdx.x;
  if (l == exit_lane) return;
  const uint32_t ra[4] = {a[4 * l], a[4 * l + 1], a[4 * l + 2], a[4 * l + 3]};
  const uint32_t rb[2] = {b[2 * l], b[2 * l + 1]};
  float acc[4] = {c[4 * l], c[4 * l + 1], c[4 * l + 2], c[4 * l + 3]};
  if (split_sites && l % 2)
    mma_tf32_m16n8k8(acc, ra, rb, acc);
  else if (shape == 0)
    mma_tf32_m16n8k8(acc, ra, rb, acc);
  else
    mma_bf16_m16n8k16(acc, ra, rb, acc);
  for (int i = 0; i < 4; ++i) d[4 * l + i] = acc[i];
}

// 32 rows of eight 16-bit values staged in shared memory; lane l's row address is row
// row_of_lane[l] (plus `misalign` bytes). out[4 l + j] = the lane's register j.
__global__ void ldmatrix_kernel(const uint16_t* rows, const int* row_of_lane, int matrices, int trans, uint32_t* out,
                                int misalign) {
  __shared__ __align__(16) uint16_t S[32 * 8 + 8];
  const int l = threadIdx.x;
  for (int i = 0; i < 8; ++i) S[8 * l + i] = rows[8 * l + i];
  __syncthreads();
  const void* row = reinterpret_cast<const char*>(&S[8 * row_of_lane[l]]) + misalign;
  uint32_t r[4] = {0, 0, 0, 0};
  if (matrices == 1) trans ? ldmatrix_x1_trans(r, row) : ldmatrix_x1(r, row);
  if (matrices == 2) trans ? ldmatrix_x2_trans(r, row) : ldmatrix_x2(r, row);
  if (matrices == 4) trans ? ldmatrix_x4_trans(r, row) : ldmatrix_x4(r, row);
  for (int j = 0; j < 4; ++j) out[4 * l + j] = r[j];
}

// One thread, 16 floats of shared memory, three committed groups and one uncommitted copy;
// snap[16 s ..] is shared memory (as bits) at step s (see tc_kernels.h).
__global__ void cp_async_groups_kernel(const float* src, unsigned* snap) {
  __shared__ __align__(16) float S[16];
  for (int i = 0; i < 16; ++i) S[i] = 0.0f;
  const auto take = [&](int s) {
    for (int i = 0; i < 16; ++i) snap[16 * s + i] = __float_as_uint(S[i]);
  };
  cp_async_cg_16(&S[0], &src[0]);  // group 0: S[0..3]
  cp_async_commit();
  cp_async_ca_8(&S[4], &src[4]);  // group 1: S[4..6]
  cp_async_ca_4(&S[6], &src[6]);
  cp_async_commit();
  cp_async_ca_16(&S[8], &src[8], 8);  // group 2: S[8..9] from src, S[10..11] zero-filled
  cp_async_commit();
  cp_async_ca_4(&S[12], &src[12], 0);  // uncommitted: S[12] zero-filled
  take(0);
  cp_async_wait<2>();
  take(1);
  cp_async_wait<1>();
  take(2);
  cp_async_wait<0>();
  take(3);
  cp_async_commit();
  cp_async_wait<0>();
  take(4);
}

// A copy of `bytes` at float offset `offset` of shared memory: the alignment errors.
__global__ void cp_async_misaligned_kernel(const float* src, int offset, int bytes) {
  __shared__ __align__(16) float S[8];
  if (bytes == 16) cp_async_cg_16(&S[offset], src);
  if (bytes == 8) cp_async_ca_8(&S[offset], src);
  cp_async_commit();
  cp_async_wait<0>();
}

// phase 0: issue a copy of src[0..3] into S[0..3] and exit without waiting.
// phase 1: write 7 to S[0..3], wait for all groups, and report S[0..3]: a copy left pending by
// an earlier block must not land here.
__global__ void cp_async_left_pending_kernel(const float* src, float* out, int phase) {
  __shared__ __align__(16) float S[4];
  if (phase == 0) {
    cp_async_cg_16(&S[0], src);
    cp_async_commit();
    return;
  }
  for (int i = 0; i < 4; ++i) S[i] = 7.0f;
  cp_async_wait<0>();
  for (int i = 0; i < 4; ++i) out[i] = S[i];
}

namespace test_tc {

void mma_regs(int shape, const uint32_t* a, const uint32_t* b, const float* c, float* d, int threads, int exit_lane,
              bool split_sites) {
  PW_LAUNCH(mma_regs_kernel, 1, threads, 0, 0)(shape, a, b, c, d, exit_lane, split_sites ? 1 : 0);
  PW_CUDA_CHECK_LAUNCH();
}
void ldmatrix(const uint16_t* rows, const int* row_of_lane, int matrices, bool trans, uint32_t* out, int misalign) {
  PW_LAUNCH(ldmatrix_kernel, 1, 32, 0, 0)(rows, row_of_lane, matrices, trans ? 1 : 0, out, misalign);
  PW_CUDA_CHECK_LAUNCH();
}
void cp_async_groups(const float* src, unsigned* snap) {
  PW_LAUNCH(cp_async_groups_kernel, 1, 1, 0, 0)(src, snap);
  PW_CUDA_CHECK_LAUNCH();
}
void cp_async_misaligned(const float* src, int offset, int bytes) {
  PW_LAUNCH(cp_async_misaligned_kernel, 1, 1, 0, 0)(src, offset, bytes);
  PW_CUDA_CHECK_LAUNCH();
}
void cp_async_left_pending(const float* src, float* out, int phase) {
  PW_LAUNCH(cp_async_left_pending_kernel, 1, 1, 0, 0)(src, out, phase);
  PW_CUDA_CHECK_LAUNCH();
}

}  // namespace test_tc

}  // namespace pw::kernels::PW_KERNEL_NS
