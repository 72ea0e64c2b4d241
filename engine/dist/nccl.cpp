// engine/dist: the NCCL backend, for one process per GPU (compiled to nothing unless CMake found
// nccl.h and libnccl beside the CUDA toolkit, and MPI to bootstrap it). Rank 0 creates the
// unique id and broadcasts it over the MPI world; every rank then joins with ncclCommInitRank on
// its own GPU. Buffers are device pointers; collectives run on the default stream and are
// synchronized before returning (the engine's kernels run on the default stream too).
// Built here; never run on this project's machines so far (no GPU): "not run".
#include "engine/dist/comm.h"

#include "engine/util/error.h"

#if PW_HAVE_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

namespace pw::dist {

namespace {

#define PW_NCCL_CHECK(call)                                                                                            \
  do {                                                                                                                 \
    const ncclResult_t rc_ = (call);                                                                                   \
    PW_CHECK(rc_ == ncclSuccess, "dist: ", #call, " failed: ", ncclGetErrorString(rc_), " (", __FILE__, ":", __LINE__, \
             ")");                                                                                                     \
  } while (0)
#define PW_CUDART_CHECK(call)                                                                                          \
  do {                                                                                                                 \
    const cudaError_t rc_ = (call);                                                                                    \
    PW_CHECK(rc_ == cudaSuccess, "dist: ", #call, " failed: ", cudaGetErrorString(rc_), " (", __FILE__, ":", __LINE__, \
             ")");                                                                                                     \
  } while (0)

class Nccl : public Communicator {
 public:
  Nccl(Communicator& bootstrap, int device) : boot_(bootstrap) {
    PW_CUDART_CHECK(cudaSetDevice(device));
    ncclUniqueId id;
    if (boot_.rank() == 0) PW_NCCL_CHECK(ncclGetUniqueId(&id));
    boot_.broadcast(&id, sizeof id, 0);
    PW_NCCL_CHECK(ncclCommInitRank(&comm_, boot_.size(), id, boot_.rank()));
  }
  ~Nccl() override { ncclCommDestroy(comm_); }
  int rank() const override { return boot_.rank(); }
  int size() const override { return boot_.size(); }
  int local_rank() const override { return boot_.local_rank(); }
  std::string backend() const override { return "nccl"; }
  void all_reduce_sum(float* data, int64_t n) override { reduce(data, n, ncclFloat32); }
  void all_reduce_sum(double* data, int64_t n) override { reduce(data, n, ncclFloat64); }
  void broadcast(void* data, int64_t bytes, int root) override {
    PW_NCCL_CHECK(ncclBroadcast(data, data, (size_t)bytes, ncclUint8, root, comm_, nullptr));
    PW_CUDART_CHECK(cudaStreamSynchronize(nullptr));
  }
  void barrier() override { boot_.barrier(); }
  [[noreturn]] void abort(int code) override {
    ncclCommAbort(comm_);
    boot_.abort(code);  // MPI_Abort ends the job
    PW_FAIL("dist: abort(", code, ") returned (library code never exits)");
  }

 private:
  void reduce(void* data, int64_t n, ncclDataType_t type) {
    PW_NCCL_CHECK(ncclAllReduce(data, data, (size_t)n, type, ncclSum, comm_, nullptr));
    PW_CUDART_CHECK(cudaStreamSynchronize(nullptr));
  }
  Communicator& boot_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

bool built_with_nccl() { return true; }
std::unique_ptr<Communicator> make_nccl(Communicator& bootstrap, int device_index) {
  PW_CHECK(bootstrap.backend() == "mpi" || bootstrap.size() == 1,
           "dist: NCCL is bootstrapped over MPI; the world here is '", bootstrap.backend(), "'");
  return std::make_unique<Nccl>(bootstrap, device_index);
}

}  // namespace pw::dist

#else

namespace pw::dist {
bool built_with_nccl() { return false; }
std::unique_ptr<Communicator> make_nccl(Communicator&, int) {
  PW_FAIL(
      "dist: this patchwork was built without NCCL (CMake looks for nccl.h and libnccl under the CUDA "
      "toolkit, and for MPI to bootstrap it)");
}
}  // namespace pw::dist

#endif
