// engine/dist: the Open MPI backend (compiled to nothing when CMake found no MPI). One thread
// calls MPI (MPI_THREAD_FUNNELED): the loop's batch worker never does. MPI_Finalize runs at
// exit; a failing rank calls abort(), which ends the whole job (MPI_Abort) so that no rank
// waits forever in a collective.
#include "engine/dist/comm.h"

#include "engine/util/error.h"

#if PW_HAVE_MPI
#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace pw::dist {

namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  PW_FAIL("dist: ", what, " failed: ", std::string(text, (size_t)len));
}

class MpiPending : public Pending {
 public:
  MPI_Request request = MPI_REQUEST_NULL;
  void wait() override {
    if (request != MPI_REQUEST_NULL) check(MPI_Wait(&request, MPI_STATUS_IGNORE), "MPI_Wait (all-reduce)");
  }
  bool test() override {
    if (request == MPI_REQUEST_NULL) return true;
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test (all-reduce)");
    return done != 0;
  }
  ~MpiPending() override {
    if (request != MPI_REQUEST_NULL) MPI_Wait(&request, MPI_STATUS_IGNORE);
  }
};

// MPI counts are int: large buffers go in pieces.
constexpr int64_t kMaxCount = int64_t(1) << 30;

class Mpi : public Communicator {
 public:
  Mpi() {
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    std::atexit([] {
      int finalized = 0;
      MPI_Finalized(&finalized);
      if (!finalized) MPI_Finalize();
    });
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_free(&local);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string backend() const override { return "mpi"; }

  void all_reduce_sum(float* data, int64_t n) override { reduce(data, n, MPI_FLOAT); }
  void all_reduce_sum(double* data, int64_t n) override { reduce(data, n, MPI_DOUBLE); }
  std::unique_ptr<Pending> start_all_reduce_sum(float* data, int64_t n) override {
    if (n > kMaxCount) return Communicator::start_all_reduce_sum(data, n);
    auto p = std::make_unique<MpiPending>();
    check(MPI_Iallreduce(MPI_IN_PLACE, data, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &p->request),
          "MPI_Iallreduce");
    return p;
  }
  void broadcast(void* data, int64_t bytes, int root) override {
    PW_CHECK(root >= 0 && root < size_, "dist: broadcast from rank ", root, " of ", size_);
    for (int64_t at = 0; at < bytes; at += kMaxCount)
      check(MPI_Bcast(static_cast<char*>(data) + at, (int)std::min(kMaxCount, bytes - at), MPI_BYTE, root,
                      MPI_COMM_WORLD),
            "MPI_Bcast");
  }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
  [[noreturn]] void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);  // ends every process of the job, this one included
    PW_FAIL("dist: MPI_Abort(", code, ") returned");
  }

 private:
  template <typename T>
  void reduce(T* data, int64_t n, MPI_Datatype type) {
    for (int64_t at = 0; at < n; at += kMaxCount)
      check(MPI_Allreduce(MPI_IN_PLACE, data + at, (int)std::min(kMaxCount, n - at), type, MPI_SUM, MPI_COMM_WORLD),
            "MPI_Allreduce");
  }
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

}  // namespace

bool built_with_mpi() { return true; }
std::unique_ptr<Communicator> make_mpi_world() { return std::make_unique<Mpi>(); }

}  // namespace pw::dist

#else

namespace pw::dist {
bool built_with_mpi() { return false; }
std::unique_ptr<Communicator> make_mpi_world() { return nullptr; }
}  // namespace pw::dist

#endif
